"""Build the shipped real-or-fake detector (detectors/default.pt) and measure it.

Real faces: the 100 LFW face crops in scikit-image's wheel (skimage/data/lfw_subset.npy, 25x25 grayscale; the
last 100 rows of that file are non-faces and are not used). Fake faces: dcgan-digiface64 samples, plus latent
interpolations and random-direction moves of codes as a stand-in for edited faces (no attribute boundaries
ship yet). Every fake goes through the detector's own preprocessing (MTCNN landmarks, similarity alignment,
Pillow bicubic reduction to 25x25, mean of R, G, B), framed like a randomly chosen LFW crop so that both
classes have the same framing statistics. Both architectures are trained on the same split; the better one
(held-out AUC, then accuracy) is written with its metrics and the comparison in its header.

    pip install scikit-image==0.26.0   # the source of the real faces
    python scripts/build_detector.py [--fakes 1500] [--edits 300] [--out detectors/default.pt] [--threads 2]
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentedit.detection import ARCHITECTURES, Detector, InputSpec, Split, jpeg, metrics, train
from latentedit.errors import LatentEditError
from latentedit.faces import MTCNN
from latentedit.generators import load_generator, render
from latentedit.weights import package_file, sha256_file

SIZE = 25
LFW = ("skimage", "data/lfw_subset.npy")


def lfw_faces() -> tuple[np.ndarray, Path]:
    """The 100 LFW face crops as uint8 (100, 25, 25, 1) gray (scikit-image stores the mean of R, G, B / 255)."""
    path = package_file(*LFW)
    if path is None:
        raise LatentEditError("scikit-image is not installed: pip install scikit-image==0.26.0")
    faces = np.load(path)[:100]
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


def fake_set(generator, codes: np.ndarray, spec: InputSpec, mtcnn: MTCNN, targets: np.ndarray, rng) -> dict:
    """Rendered fakes (64x64 sources), their landmarks and framing targets, and their crops."""
    images = np.concatenate(list(render(generator, codes, "z", 128, progress=True)))
    marks = landmarks_of(list(images), mtcnn)
    keep = [i for i, m in enumerate(marks) if m is not None]
    chosen = targets[rng.integers(0, len(targets), len(keep))]
    crops = np.stack([spec.crop(images[i], marks[i], t) for i, t in zip(keep, chosen)])
    return {"images": images[keep], "targets": chosen, "crops": crops, "rendered": len(codes)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fakes", type=int, default=1500)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("detectors/default.pt"))
    parser.add_argument("--report", type=Path, default=None, help="Also write the measurements as JSON here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    real, lfw_path = lfw_faces()
    mtcnn = MTCNN.load("cpu")
    real_marks = [m for m in landmarks_of([np.repeat(r, 3, 2) for r in real], mtcnn) if m is not None]
    targets = np.stack(real_marks) / SIZE  # LFW framing of each real crop, in crop units
    spec = InputSpec.create(SIZE, "gray", targets.mean(0), "lfw-subset")
    print(f"real: {len(real)} LFW crops, landmarks found in {len(real_marks)}; template {np.round(targets.mean(0), 3).tolist()}")

    generator, digest = load_generator("dcgan-digiface64", "cpu")
    fakes = fake_set(generator, generator.sample(args.fakes, args.seed), spec, mtcnn, targets, rng)
    edits = fake_set(generator, edited_codes(generator, args.edits, args.seed + 10), spec, mtcnn, targets, rng)
    print(f"fake: {len(fakes['crops'])} of {args.fakes} samples and {len(edits['crops'])} of {args.edits} edits had a face")

    split = Split.make(len(real), len(fakes["crops"]), args.seed)
    test_real, test_fake = split.test
    results, detectors = {}, {}
    for architecture in ARCHITECTURES:
        detector, history = train(real, fakes["crops"], spec, architecture, split, args.seed, args.epochs, device="cpu")
        p_real = detector.probabilities(real[test_real])
        found = {
            "held_out": detector.header["held_out"],
            "edits": metrics(np.r_[p_real, detector.probabilities(edits["crops"])],
                             np.r_[np.zeros(len(p_real)), np.ones(len(edits["crops"]))]),
        }
        for how in ("jpeg75", "downscale0.5"):
            reals = np.stack([spec.finish(np.repeat(perturb(r, how), 3, 2)) for r in real[test_real]])
            fake_crops = perturbed_fakes(fakes, test_fake, spec, mtcnn, how)
            found[how] = metrics(np.r_[detector.probabilities(reals), detector.probabilities(fake_crops)],
                                 np.r_[np.zeros(len(reals)), np.ones(len(fake_crops))])
        found["parameters"] = detector.header["parameters"]
        found["epochs_run"] = len(history)
        results[architecture], detectors[architecture] = found, detector
        print(architecture, json.dumps(found))

    best = max(results, key=lambda a: (results[a]["held_out"]["auc"], results[a]["held_out"]["accuracy"]))
    detector = detectors[best]
    detector.header["training"]["data"] = {
        "real": {"source": "scikit-image 0.26.0 wheel, skimage/data/lfw_subset.npy rows 0-99 (LFW face crops)",
                 "sha256": sha256_file(lfw_path), "faces": len(real)},
        "fake": {"source": f"dcgan-digiface64 samples, seed {args.seed}", "weights_sha256": digest,
                 "images": args.fakes, "faces": len(fakes["crops"])},
        "preprocessing": "MTCNN landmarks -> similarity alignment to a random LFW crop's landmarks at 100 px -> "
                         "Pillow bicubic to 25x25 -> mean of R, G, B rounded to a byte (LFW crops used as they are)",
    }
    detector.header["evaluation"] = {"chosen": best, "architectures": results,
                                     "edits": f"{len(edits['crops'])} interpolated or randomly moved codes (stand-in for edits)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    detector.save(args.out)
    print(f"kept {best}; wrote {args.out} ({args.out.stat().st_size} bytes)")
    if args.report:
        args.report.write_text(json.dumps(detector.header["evaluation"], indent=2) + "\n")


if __name__ == "__main__":
    main()
