"""Build the shipped real-or-fake detector (detectors/default.pt) and measure it.

Real faces: the 100 LFW face crops in scikit-image's wheel (skimage/data/lfw_subset.npy, 25x25 grayscale, of
which the central 20x20 window is used; the last 100 rows of that file are non-faces and are not used). Fake
faces: dcgan-digiface64 samples, plus latent interpolations and random-direction moves of codes as a stand-in
for edited faces (no attribute boundaries ship yet). Every fake goes through the detector's own preprocessing (MTCNN landmarks, similarity alignment,
Pillow bicubic reduction to 20x20, mean of R, G, B), framed like a randomly chosen LFW crop so that both
classes have the same framing statistics. Both architectures are trained and measured on the same random splits
(--splits); the one with the better mean held-out AUC (then accuracy) is kept, trained on the first split, and
written with its metrics and the comparison in its header.

    pip install scikit-image==0.26.0   # the source of the real faces
    python scripts/build_detector.py [--fakes 1200] [--edits 300] [--splits 5] [--out detectors/default.pt]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentedit.detection import ARCHITECTURES, Detector, InputSpec, Split, jpeg, metrics, train
from latentedit.errors import LatentEditError
from latentedit.faces import MTCNN, similarity_transform
from latentedit.generators import load_generator, render
from latentedit.weights import package_file, sha256_file

LFW = ("skimage", "data/lfw_subset.npy")
# The central 20x20 window of the 25x25 LFW crops (rows 3-22, columns 1-20: the face sits left of centre). The
# generator frames faces more loosely than LFW, and a crop with LFW's whole framing would reach past most 64x64
# generated images (leaving black borders no real crop has); this tighter window fits inside them.
WINDOW = (slice(3, 23), slice(1, 21))
SIZE = 20


def lfw_faces() -> tuple[np.ndarray, Path]:
    """The 100 LFW face crops as uint8 (100, 20, 20, 1) gray (scikit-image stores the mean of R, G, B / 255)."""
    path = package_file(*LFW)
    if path is None:
        raise LatentEditError("scikit-image is not installed: pip install scikit-image==0.26.0")
    faces = np.load(path)[:100][:, WINDOW[0], WINDOW[1]]
    return np.round(faces * 255).astype(np.uint8)[..., None], path


def landmarks_of(images: list[np.ndarray], mtcnn: MTCNN) -> list[np.ndarray | None]:
    out = []
    for start in range(0, len(images), 64):
        out += [faces[0].landmarks if faces else None for faces in mtcnn.detect(images[start : start + 64])]
    return out


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    omega = np.arccos(np.clip(((a / na) * (b / nb)).sum(1, keepdims=True), -1, 1))
    so = np.sin(omega)
    return (np.sin((1 - t) * omega) / so * a + np.sin(t * omega) / so * b).astype(np.float32)


def edited_codes(generator, n: int, seed: int) -> np.ndarray:
    """Half interpolations between two sampled codes, half codes moved 3 units along a random direction."""
    rng = np.random.default_rng(seed)
    a, b = generator.sample(n, seed), generator.sample(n, seed + 1)
    t = rng.uniform(0.2, 0.8, (n, 1))
    direction = rng.standard_normal(a.shape)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    moved = a + 3.0 * direction.astype(np.float32)
    return np.where(np.arange(n)[:, None] % 2 == 0, slerp(a, b, t), moved).astype(np.float32)


def inside(shape: tuple[int, ...], landmarks: np.ndarray, target: np.ndarray) -> bool:
    """Whether the crop that maps ``landmarks`` onto ``target`` (crop units) lies within the image."""
    matrix = np.vstack([similarity_transform(landmarks, target), [0, 0, 1]])
    corners = np.linalg.inv(matrix) @ np.array([[0, 1, 0, 1], [0, 0, 1, 1], [1, 1, 1, 1]])
    return bool((corners[:2].min() >= -0.5) and (corners[0].max() <= shape[1] + 0.5) and (corners[1].max() <= shape[0] + 0.5))


def fake_set(generator, codes: np.ndarray, spec: InputSpec, mtcnn: MTCNN, targets: np.ndarray, rng) -> dict:
    """Rendered fakes (64x64 sources) framed like a random real crop, their framing targets and crops.

    The generator frames faces loosely and LFW tightly, so a target framing can reach past the 64x64 image and
    leave black borders that no real crop has; up to 20 targets are drawn per face and faces for which none fits
    inside the image are dropped.
    """
    images = np.concatenate(list(render(generator, codes, "z", 128, progress=True)))
    keep, chosen = [], []
    for i, marks in enumerate(landmarks_of(list(images), mtcnn)):
        for target in targets[rng.integers(0, len(targets), 20)] if marks is not None else []:
            if inside(images[i].shape, marks, target):
                keep.append((i, marks))
                chosen.append(target)
                break
    crops = np.stack([spec.crop(images[i], marks, t) for (i, marks), t in zip(keep, chosen)])
    return {"images": images[[i for i, _ in keep]], "targets": np.stack(chosen), "crops": crops, "rendered": len(codes)}


def perturbed_fakes(fakes: dict, idx: np.ndarray, spec: InputSpec, mtcnn: MTCNN, how: str) -> np.ndarray:
    """Test fakes re-prepared from their source after JPEG q75 or a 0.5x downscale (faces re-detected)."""
    images = [perturb(fakes["images"][i], how) for i in idx]
    marks = landmarks_of(images, mtcnn)
    return np.stack([spec.crop(im, m, fakes["targets"][i]) for im, m, i in zip(images, marks, idx) if m is not None])


def perturb(image: np.ndarray, how: str) -> np.ndarray:
    pil = Image.fromarray(image.squeeze())
    if how == "jpeg75":
        pil = jpeg(pil, 75)
    else:
        pil = pil.resize((max(1, pil.width // 2), max(1, pil.height // 2)), Image.BICUBIC)
    return np.asarray(pil).reshape(pil.height, pil.width, -1)


CASES = ("held_out", "edits", "jpeg75", "downscale0.5")


def evaluate(detector: Detector, real: np.ndarray, fakes: dict, edits: dict, split: Split, spec: InputSpec, mtcnn: MTCNN) -> dict:
    """Held-out metrics, on edits (against the held-out reals), and after JPEG q75 or a 0.5x downscale."""
    test_real, test_fake = split.test
    p_real = detector.probabilities(real[test_real])
    found = {"held_out": detector.header["held_out"],
             "edits": metrics(np.r_[p_real, detector.probabilities(edits["crops"])],
                              np.r_[np.zeros(len(p_real)), np.ones(len(edits["crops"]))])}
    for how in ("jpeg75", "downscale0.5"):
        reals = np.stack([spec.finish(np.repeat(perturb(r, how), 3, 2)) for r in real[test_real]])
        fake_crops = perturbed_fakes(fakes, test_fake, spec, mtcnn, how)
        found[how] = metrics(np.r_[detector.probabilities(reals), detector.probabilities(fake_crops)],
                             np.r_[np.zeros(len(reals)), np.ones(len(fake_crops))])
    return found


def summarise(runs: list[dict]) -> dict:
    """Mean and standard deviation over splits of accuracy, AUC and average precision for each case."""
    return {case: {key: [round(float(np.mean([r[case][key] for r in runs])), 4),
                         round(float(np.std([r[case][key] for r in runs])), 4)]
                   for key in ("accuracy", "auc", "average_precision")}
            for case in CASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fakes", type=int, default=1200)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--splits", type=int, default=5, help="Train and compare on this many random splits.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("detectors/default.pt"))
    parser.add_argument("--report", type=Path, default=None, help="Also write the measurements as JSON here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    real, lfw_path = lfw_faces()
    mtcnn = MTCNN.load("cpu")
    full = np.round(np.load(lfw_path)[:100] * 255).astype(np.uint8)
    real_marks = [m for m in landmarks_of([np.repeat(f[..., None], 3, 2) for f in full], mtcnn) if m is not None]
    offset = np.array([WINDOW[1].start, WINDOW[0].start])
    targets = (np.stack(real_marks) - offset) / SIZE  # the framing of each real crop, in crop units
    spec = InputSpec.create(SIZE, "gray", targets.mean(0), "lfw-subset")
    print(f"real: {len(real)} LFW crops ({SIZE}x{SIZE} window), landmarks found in {len(real_marks)}; template {np.round(targets.mean(0), 3).tolist()}")

    generator, digest = load_generator("dcgan-digiface64", "cpu")
    fakes = fake_set(generator, generator.sample(args.fakes, args.seed), spec, mtcnn, targets, rng)
    edits = fake_set(generator, edited_codes(generator, args.edits, args.seed + 10), spec, mtcnn, targets, rng)
    print(f"fake: {len(fakes['crops'])} of {args.fakes} samples and {len(edits['crops'])} of {args.edits} edits had a face that fits the framing")

    results: dict[str, list[dict]] = {a: [] for a in ARCHITECTURES}
    detectors = {}
    for k in range(args.splits):  # the same splits for both architectures; the shipped model is from split 0
        split = Split.make(len(real), len(fakes["crops"]), args.seed + k)
        for architecture in ARCHITECTURES:
            detector, history = train(real, fakes["crops"], spec, architecture, split, args.seed + k, args.epochs,
                                      device="cpu", progress=False)
            found = evaluate(detector, real, fakes, edits, split, spec, mtcnn)
            found["epochs_run"] = len(history)
            results[architecture].append(found)
            detectors.setdefault(architecture, detector)
            print(f"split {k} {architecture}: " + json.dumps({c: found[c] for c in CASES}))

    summary = {a: summarise(runs) for a, runs in results.items()}
    best = max(summary, key=lambda a: (summary[a]["held_out"]["auc"][0], summary[a]["held_out"]["accuracy"][0]))
    detector = detectors[best]
    detector.header["training"]["data"] = {
        "real": {"source": "scikit-image 0.26.0 wheel, skimage/data/lfw_subset.npy rows 0-99 (LFW face crops), "
                            "central window rows 3-22, columns 1-20",
                 "sha256": sha256_file(lfw_path), "faces": len(real)},
        "fake": {"source": f"dcgan-digiface64 samples, seed {args.seed}", "weights_sha256": digest,
                 "images": args.fakes, "faces": len(fakes["crops"])},
        "preprocessing": "MTCNN landmarks -> similarity alignment to a random LFW crop's landmarks at 80 px -> "
                         "Pillow bicubic to 20x20 -> mean of R, G, B rounded to a byte (LFW crops used as they are)",
    }
    detector.header["evaluation"] = {
        "chosen": best,
        "splits": args.splits,
        "summary": summary,
        "shipped_split": results[best][0],
        "parameters": {a: detectors[a].header["parameters"] for a in detectors},
        "edits": f"{len(edits['crops'])} interpolated or randomly moved codes (stand-in for edits)",
        "perturbations": "jpeg75: JPEG quality 75; downscale0.5: half size (bicubic); applied to the source image "
                         "(64x64 fake, faces re-detected; 20x20 real crop, then back to 20x20)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    detector.save(args.out)
    print(f"kept {best}; wrote {args.out} ({args.out.stat().st_size} bytes)")
    if args.report:
        args.report.write_text(json.dumps(detector.header["evaluation"], indent=2) + "\n")


if __name__ == "__main__":
    main()
