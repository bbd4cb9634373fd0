"""Speed of inversion, and the PSNR it reaches per step budget, on faces of the generator itself.

    python benchmarks/invert.py [--model dcgan-digiface64] [--faces 16] [--budgets 0,25,50,100,200,400] [--no-write]

Targets are faces rendered from known codes (seed 12, not used to train the encoder), as uint8 images. Each budget
is a full run of ``invert`` with that many iterations (the learning-rate schedule spans the budget) and the default
starts, all faces in one batch. Seconds per face at batch 1 are measured on two faces inverted one at a time
with the default 200 iterations; at batch 16 on 16 faces together. Wall time and CPU time are both reported, with
the load average: other work on the machine slows the wall time.
"""

import argparse
import os
import time
from dataclasses import replace

import numpy as np
import torch

from latentedit.core.inversion import invert
from latentedit.devtools import machine, write_section
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.encoder import load_encoder
from latentedit.models.features import FeatureLoss
from latentedit.models.generators import load_generator, render
from latentedit.specs import InversionSettings

SEED = 12


def timed(generator, targets: np.ndarray, settings: InversionSettings):
    wall, cpu = time.perf_counter(), time.process_time()
    result = invert(
        generator,
        targets,
        features=FeatureLoss(FaceAnalysis(generator.device)),
        encoder=load_encoder(generator, "z"),
        settings=settings,
        progress=False,
    )
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--budgets", default="0,25,50,100,200,400")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()

    generator, _ = load_generator(args.model, device=args.device)
    targets = np.concatenate(list(render(generator, generator.sample(args.faces, SEED))))
    default = InversionSettings()
    timed(generator, targets[:2], replace(default, iterations=2))  # warm-up

    rows = [
        "| iterations | mean PSNR (dB) | min PSNR (dB) | faces ≥ 30 dB | mean SSIM | wall s / face | CPU s / face |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for budget in (int(b) for b in args.budgets.split(",")):
        result, wall, cpu = timed(generator, targets, replace(default, iterations=budget, batch_size=args.faces))
        rows.append(
            f"| {budget} | {result.psnr.mean():.2f} | {result.psnr.min():.2f} "
            f"| {(result.psnr >= 30).sum()}/{args.faces} | {result.ssim.mean():.3f} | {wall / args.faces:.2f} "
            f"| {cpu / args.faces:.2f} |"
        )
        print(rows[-1], flush=True)
    speed = ["| batch | faces | wall s / face | CPU s / face |", "| ---: | ---: | ---: | ---: |"]
    for batch, n in ((1, 2), (16, 16)):
        _, wall, cpu = timed(generator, targets[:n], replace(default, batch_size=batch))
        speed.append(f"| {batch} | {n} | {wall / n:.2f} | {cpu / n:.2f} |")
        print(speed[-1], flush=True)
    start = "the shipped encoder's code" if load_encoder(generator, "z") is not None else "random codes"
    body = "\n".join(
        [
            f"`python benchmarks/invert.py` — model {args.model}, {args.faces} generated faces (seed {SEED}) with "
            "known "
            f"codes, {result.settings.starts} start(s) per face (the first: {start}), all faces in one batch; "
            f"device {generator.device}.",
            f"Machine: {machine()}. Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
            "",
            "PSNR reached per step budget (0 iterations = the best start as it is):",
            "",
            *rows,
            "",
            f"Seconds per face with the default {default.iterations} iterations:",
            "",
            *speed,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Inversion (`benchmarks/invert.py`)", body)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
