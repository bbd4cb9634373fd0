"""Build the boundaries shipped in boundaries/MODEL/: sample, score every attribute, train, rank.

    python scripts/train_shipped_boundaries.py [--model dcgan-digiface64] [-n 50000] [--work /tmp/le-boundaries]

Faces are detected once and their detections cached in WORK/faces.npz, so that attributes whose scorer is
added later are scored on the same faces without detecting again. WORK keeps z.npy and {attr}_scores.npy
(InterFaceGAN layouts, so `latentedit train-boundary --codes --scores` reproduces any boundary), and
rank_{attr}.png for looking at the result. Prints the README table.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from latentedit.commands.rank import render_ranking
from latentedit.core.boundary import train_boundary
from latentedit.files.boundaries import SHIPPED_DIR, save_boundary
from latentedit.files.outputs import save_png
from latentedit.models.analysis import FaceAnalysis, FaceBatch
from latentedit.models.generators import load_generator, render
from latentedit.models.mtcnn import MTCNN, Face
from latentedit.models.scoring import ATTRIBUTES, load_scorers


def detect_all(generator, codes: np.ndarray, path: Path, batch_size: int) -> list[Face | None]:
    """Largest face per rendered code, cached in ``path``."""
    if not path.exists():
        detector = MTCNN.load(generator.device)
        boxes, scores = np.full((len(codes), 4), np.nan), np.full(len(codes), np.nan)
        landmarks = np.full((len(codes), 5, 2), np.nan)
        start = 0
        batches = render(generator, codes, batch_size=batch_size, progress=False)
        for images in tqdm(batches, total=-(-len(codes) // batch_size), desc="detecting"):
            for i, faces in enumerate(detector.detect(list(images)), start):
                if faces:
                    boxes[i], scores[i], landmarks[i] = faces[0].box, faces[0].score, faces[0].landmarks
            start += len(images)
        np.savez(path, boxes=boxes, scores=scores, landmarks=landmarks)
    data = np.load(path)
    return [
        None if np.isnan(s) else Face(b, float(s), points)
        for b, s, points in zip(data["boxes"], data["scores"], data["landmarks"])
    ]


def score_all(generator, codes, faces, attrs: list[str], work: Path, batch_size: int) -> None:
    todo = [a for a in attrs if not (work / f"{a}_scores.npy").exists()]
    if not todo:
        return
    scorers = load_scorers(todo, FaceAnalysis(generator.device))
    values = {a: np.full(len(codes), np.nan) for a in todo}
    start = 0
    batches = render(generator, codes, batch_size=batch_size, progress=False)
    for images in tqdm(batches, total=-(-len(codes) // batch_size), desc=f"scoring {','.join(todo)}"):
        batch = FaceBatch(list(images), faces[start : start + len(images)])
        for attr, scorer in scorers.items():
            values[attr][start : start + len(images)] = scorer.score(batch)
        start += len(images)
    for attr in todo:
        np.save(work / f"{attr}_scores.npy", values[attr].reshape(-1, 1).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("-n", type=int, default=50000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attrs", default=",".join(ATTRIBUTES))
    parser.add_argument("--work", type=Path, default=Path("/tmp/le-boundaries"))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    torch.manual_seed(0)
    attrs = args.attrs.split(",")
    args.work.mkdir(parents=True, exist_ok=True)
    generator, digest = load_generator(args.model, device=args.device)
    codes = generator.sample(args.n, args.seed)
    np.save(args.work / "z.npy", codes)
    faces = detect_all(generator, codes, args.work / "faces.npz", args.batch_size)
    score_all(generator, codes, faces, attrs, args.work, args.batch_size)

    rows = [
        "| attribute | N (faces found) | chosen per side | validation accuracy | remaining accuracy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for attr in attrs:
        scores = np.load(args.work / f"{attr}_scores.npy")
        meta = {
            "attribute": attr,
            "model": args.model,
            "weights_sha256": digest,
            "space": "z",
            "sample_seed": args.seed,
            "scores": f"latentedit scoring '{attr}' on the rendered faces",
        }
        boundary = train_boundary(codes, scores, name=attr, provenance=meta)
        save_boundary(boundary, SHIPPED_DIR / args.model / f"{attr}.npy", overwrite=True)
        save_png(render_ranking(generator, codes[:2000], boundary), args.work / f"rank_{attr}.png")
        m = boundary.info
        rows.append(
            f"| {attr} | {m.n} ({m.n_valid}) | {m.chosen_per_side} | {m.validation_accuracy:.3f} "
            f"| {m.remaining_accuracy:.3f} |"
        )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
