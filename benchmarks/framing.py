"""Detection of rendered faces from the generator's framing against MTCNN's whole image pyramid: speed, faces found,
landmarks, yaw readings and the pose boundary trained from them.

    python benchmarks/framing.py [--n 1024] [--boundary-n 8000] [--no-write]

The landmarks' yardstick is the pyramid's own spread: the same faces shifted by one pixel. The pose boundary is
trained on ``--boundary-n`` faces (seed 11, ratio 0.1) with five train/validation splits, each way.
"""

import argparse
import statistics
import time

import numpy as np
import torch

from latentedit.core.boundary import train_boundary
from latentedit.device import keep_freed_memory
from latentedit.devtools import machine, write_section
from latentedit.files.boundaries import resolve_boundary
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import generator_template, load_generator, render
from latentedit.models.mtcnn import framing_prior
from latentedit.models.scorers.pose import yaw_degrees
from latentedit.models.scoring import load_scorers, score_images

BATCH = 256


def landmarks(faces: list) -> np.ndarray:
    """(N, 5, 2) landmarks of the largest face of each image, NaN where none."""
    return np.array([found[0].landmarks if found else np.full((5, 2), np.nan) for found in faces])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--boundary-n", type=int, default=8000)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    analysis = FaceAnalysis("cpu")
    priors = framing_prior(generator_template(generator))
    images = list(np.concatenate(list(render(generator, generator.sample(args.n, 5), batch_size=BATCH))))
    shifted = [np.pad(image, ((0, 0), (1, 0), (0, 0)), mode="edge")[:, :-1] for image in images]  # one px right

    def detect(batch: list, box: np.ndarray | None) -> tuple[list, float]:
        analysis.mtcnn.detect(batch[:BATCH], priors=box)  # warm-up
        start = time.perf_counter()
        faces = [f for i in range(0, len(batch), BATCH) for f in analysis.mtcnn.detect(batch[i : i + BATCH], box)]
        return faces, (time.perf_counter() - start) / len(batch)

    pyramid, pyramid_s = detect(images, None)
    framed, framed_s = detect(images, priors)
    moved = landmarks(detect(shifted, None)[0]) - [1.0, 0.0]
    reference = landmarks(pyramid)

    def apart(other: np.ndarray) -> str:
        both = ~np.isnan(reference).any((1, 2)) & ~np.isnan(other).any((1, 2))
        points = np.abs(other[both] - reference[both]).max((1, 2))
        yaw = np.abs(yaw_degrees(other[both]) - yaw_degrees(reference[both]))
        return (
            f"{np.median(points):.2f} | {np.percentile(points, 90):.2f} | {np.median(yaw):.2f} | "
            f"{np.percentile(yaw, 90):.2f}"
        )

    lines = [
        f"`python benchmarks/framing.py` — dcgan-digiface64; detection on {args.n} rendered faces (seed 5), batch "
        f"{BATCH}, float32, 2 torch threads, CPU. Machine: {machine()}.",
        "",
        "| detection | ms/face (wall) | faces found |",
        "| --- | ---: | ---: |",
        f"| whole image pyramid (before) | {1000 * pyramid_s:.2f} | {sum(map(bool, pyramid))} |",
        f"| from the framing's box, pyramid where none is found | {1000 * framed_s:.2f} | {sum(map(bool, framed))} |",
        "",
        "Against the pyramid's landmarks and yaw readings on the same faces (largest coordinate difference per face):",
        "",
        "| compared with the pyramid | landmarks, median px | p90 px | yaw, median ° | p90 ° |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| from the framing's box | {apart(landmarks(framed))} |",
        f"| (yardstick) the pyramid on the image shifted by one pixel | {apart(moved)} |",
    ]
    codes = generator.sample(args.boundary_n, 11)
    faces = list(np.concatenate(list(render(generator, codes, batch_size=BATCH))))
    scorers = load_scorers(["pose"], analysis)
    shipped = resolve_boundary("pose", generator.name).normal
    lines += [
        "",
        f"Pose boundaries trained on {args.boundary_n} faces (seed 11, ratio 0.1, split seeds 0-4; median over the "
        "splits), against the shipped one (50 000 faces, pyramid):",
        "",
        "| yaw read from | faces found | validation accuracy | remaining accuracy | cosine with the shipped boundary |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, framing in [("the pyramid's landmarks", None), ("the framing's box", generator_template(generator))]:
        scores = score_images(faces, scorers, batch_size=BATCH, framing=framing)["pose"].reshape(-1, 1)
        runs = [train_boundary(codes, scores, name="pose", ratio=0.1, seed=seed) for seed in range(5)]
        lines.append(
            f"| {label} | {np.isfinite(scores).mean():.1%} | "
            f"{statistics.median(r.info.validation_accuracy for r in runs):.3f} | "
            f"{statistics.median(r.info.remaining_accuracy for r in runs):.3f} | "
            f"{statistics.median(float(r.normal @ shipped) for r in runs):.3f} |"
        )
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Detection from the framing (`benchmarks/framing.py`)", body)


if __name__ == "__main__":
    keep_freed_memory()  # as the command line does
    main()
