"""Throughput of scoring rendered codes (the path of `score --codes`), all available attributes together.

    python benchmarks/score.py [--n 1024] [--batch-size 256] [--repeats 3] [--no-write]

Renders the codes, detects faces and runs every scorer, without writing images. Also times each stage alone on
the same faces (render, detection, each scorer) so that the slowest part is visible. Median of ``--repeats``.
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch

from latentedit.device import keep_freed_memory
from latentedit.devtools import machine, write_section
from latentedit.models.analysis import FaceAnalysis, FaceBatch
from latentedit.models.generators import generator_template, load_generator, render
from latentedit.models.scoring import SCORERS, load_scorers, score_codes


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()

    generator, _ = load_generator(args.model, device=args.device)
    codes = generator.sample(args.n, seed=0)
    analysis = FaceAnalysis(args.device)
    scorers = load_scorers(list(SCORERS), analysis)
    images = list(np.concatenate(list(render(generator, codes, batch_size=args.batch_size, progress=False))))
    batch = analysis.detect(images[: args.batch_size], generator_template(generator))  # warm-up, as score_codes detects

    def fresh_batch() -> FaceBatch:  # detection results without cached crops
        return FaceBatch(batch.images, batch.faces)

    stages = {
        "render": lambda: [None for _ in render(generator, codes, batch_size=args.batch_size, progress=False)],
        "detect (MTCNN)": lambda: [
            analysis.detect(images[i : i + args.batch_size], generator_template(generator))
            for i in range(0, args.n, args.batch_size)
        ],
    }
    stage_rate = {name: args.n / median_time(fn, args.repeats) for name, fn in stages.items()}
    for name, scorer in scorers.items():
        stage_rate[f"{name} (incl. alignment)"] = len(batch) / median_time(
            lambda scorer=scorer: scorer.score(fresh_batch()), args.repeats
        )
    total = median_time(
        lambda: score_codes(generator, codes, scorers, batch_size=args.batch_size, progress=False), args.repeats
    )
    cpu_start = time.process_time()
    result = score_codes(generator, codes, scorers, batch_size=args.batch_size, progress=False)
    cpu = time.process_time() - cpu_start
    rate = args.n / total
    rows = [
        "| stage | faces/s |",
        "| --- | ---: |",
        *(f"| {k} | {v:.0f} |" for k, v in stage_rate.items()),
        f"| **all together (`score --codes`)** | **{rate:.0f}** |",
    ]
    body = "\n".join(
        [
            f"`python benchmarks/score.py` — model {args.model}, {args.n} codes, batch {args.batch_size}, "
            f"attributes {', '.join(scorers)}, median of {args.repeats} runs, device {analysis.device}.",
            f"Machine: {machine()}.",
            "",
            *rows,
            "",
            f"Faces found: {len(result) - result.missing} of {len(result)}. Target: at least 40 faces/s for all five "
            f"attributes together; measured {rate:.0f} faces/s for the {len(scorers)} available, with the load "
            f"average at {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. The whole run used "
            f"{1000 * cpu / args.n:.1f} ms of CPU time per face, i.e. {args.n / cpu:.0f} faces per CPU-second "
            f"(an idle machine with {torch.get_num_threads()} threads gets at most {torch.get_num_threads()}x that).",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Scoring (`benchmarks/score.py`)", body)


if __name__ == "__main__":
    keep_freed_memory()  # as the command line does
    torch.set_num_threads(2)
    main()
