"""MTCNN on the embedded generator's faces: detection rate against input upscaling, and the mean landmarks.

    python benchmarks/detection.py [--n 500] [--sides 64,96,128,160] [--template-n 2000]

For each ``min_side`` (64x64 faces are upscaled to it before detection) prints how many of ``--n`` samples
(seed 1) have a face and the images/s; then prints the mean MTCNN landmarks of ``--template-n`` samples (seed 2)
in 64x64 frame units: the ``dcgan-digiface64`` alignment template in latentedit/faces.py.
Measured 2026-11-23 (with the contrast-stretched second try): 485/482/484/481 of 500 at min_side 64/96/128/160,
so 64x64 faces are detected at their own size by default.
"""

import argparse
import time

import numpy as np
import torch

from latentedit.models.generators import load_generator, render
from latentedit.models.mtcnn import MTCNN


def faces_of(generator, n: int, seed: int) -> np.ndarray:
    return np.concatenate(list(render(generator, generator.sample(n, seed), batch_size=250, progress=False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--sides", default="64,96,128,160")
    parser.add_argument("--template-n", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    generator, _ = load_generator("dcgan-digiface64", device=args.device)
    images = faces_of(generator, args.n, seed=1)
    print(f"| min_side | faces found of {args.n} | images/s |\n| ---: | ---: | ---: |")
    for side in map(int, args.sides.split(",")):
        detector = MTCNN.load(args.device, min_side=side)
        start = time.perf_counter()
        found = sum(bool(faces) for faces in detector.detect(list(images)))
        print(f"| {side} | {found} ({found / args.n:.1%}) | {args.n / (time.perf_counter() - start):.0f} |")

    if args.template_n:
        detector = MTCNN.load(args.device)
        images = faces_of(generator, args.template_n, seed=2)
        points = [faces[0].landmarks for faces in detector.detect(list(images)) if faces]
        mean = np.mean(points, axis=0) / generator.resolution
        print(f"mean landmarks of {len(points)} faces with a detection (of {args.template_n}), 64x64 frame units:")
        print(np.array2string(mean, precision=4, separator=", "))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
