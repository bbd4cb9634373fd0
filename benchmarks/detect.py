"""Throughput of real-or-fake detection with the shipped detector: faces found and classified per second.

    python benchmarks/detect.py [--n 512] [--repeats 3] [--threads 2] [--no-write]

Times, on the same in-memory images (generated 64x64 faces, and the same faces upscaled to 256x256 as a
stand-in for photos): the whole ``detect`` path without file reading (MTCNN, alignment, reduction, classifier),
``--whole-image`` (reduction and classifier only), and the classifier alone on ready crops. Medians of the repeats.
"""

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image

from latentedit.devtools import machine, write_section
from latentedit.models.detector import Detector, face_crops
from latentedit.models.generators import load_generator, render
from latentedit.models.mtcnn import MTCNN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    detector = Detector.load(None, args.device)
    mtcnn = MTCNN.load(args.device)
    generator, _ = load_generator("dcgan-digiface64", device=args.device)
    small = list(np.concatenate(list(render(generator, generator.sample(args.n, 0), batch_size=256, progress=False))))
    large = [np.asarray(Image.fromarray(im).resize((256, 256), Image.BICUBIC)) for im in small]
    spec = detector.spec

    def full(images: list[np.ndarray]) -> int:
        crops, _ = face_crops(images, spec, detector=mtcnn, batch_size=32)
        flat = [c for cs in crops for c in cs]
        detector.probabilities(np.stack(flat))
        return len(flat)

    ready = np.stack([c for cs in face_crops(small, spec, detector=mtcnn)[0] for c in cs])
    cases = {
        "detect, 64x64 images (MTCNN + align + classify)": lambda: full(small),
        "detect, 256x256 images (MTCNN + align + classify)": lambda: full(large),
        "detect --whole-image, 64x64 images": lambda: detector.probabilities(
            np.stack([spec.finish(im) for im in small])
        ),
        "classifier alone on ready crops": lambda: detector.probabilities(ready),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, run in cases.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rows = ["| path | images/s |", "| --- | ---: |"]
    for name, spent in times.items():
        rows.append(f"| {name} | {args.n / statistics.median(spent):.0f} |")
    body = (
        f"Shipped detector ({detector.header.architecture}, {spec.describe()}); {args.n} images, median of "
        f"{args.repeats} runs; {machine()}.\n\n" + "\n".join(rows) + "\n\nMTCNN dominates the cost; the classifier "
        "itself is cheap. Reading and decoding image files is not included."
    )
    print(body)
    if not args.no_write:
        write_section("Real-or-fake detection (benchmarks/detect.py)", body)


if __name__ == "__main__":
    main()
