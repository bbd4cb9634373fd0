"""Where `score --codes` spends its time, stage by stage, in float32 and with the chip networks in bfloat16; and the
check-set accuracy table in both precisions (the answers must hold, not only the speed).

    python benchmarks/score_speed.py [--n 512] [--batch-size 256] [--no-checkset] [--no-write]

Each stage is timed on the same faces as wall time and as CPU time of this process (all its threads): on a shared,
loaded machine wall time mostly measures the neighbours, CPU time what this work costs.
"""

import argparse
import os
import time

import numpy as np
import torch

from latentedit.core.evaluation import accuracy_rows
from latentedit.device import keep_freed_memory
from latentedit.devtools import load_checkset, machine, write_section
from latentedit.models.analysis import FaceAnalysis, FaceBatch
from latentedit.models.dlib import CHIP_TEMPLATE
from latentedit.models.generators import generator_template, load_generator, render
from latentedit.models.scorers.agegender import AgeScorer
from latentedit.models.scoring import ATTRIBUTES, load_scorers, score_codes

PRECISIONS = ("float32", "bfloat16")
ALL = "**all together (`score_codes`)**"
SMILE = "smile alone (`score_codes`, as `train-boundary --attr smile`)"


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def stages(generator, codes: np.ndarray, precision: str, batch_size: int) -> dict[str, tuple[float, float]]:
    """Seconds (wall, CPU) of each stage of scoring ``codes``, and of the whole ``score_codes``."""
    analysis = FaceAnalysis("cpu", precision)
    scorers = load_scorers(None, analysis)
    images = list(np.concatenate(list(render(generator, codes, batch_size=batch_size, progress=False))))
    score_codes(generator, codes[:batch_size], scorers, batch_size=batch_size, progress=False)  # warm-up
    detected = analysis.detect(images, generator_template(generator))
    found = detected.found

    def fresh() -> FaceBatch:
        return FaceBatch(detected.images, detected.faces)

    def crops(batch: FaceBatch) -> FaceBatch:
        for scale, rotation in AgeScorer.framings:
            batch.crops(64, CHIP_TEMPLATE, scale, rotation)
        batch.crops(32, CHIP_TEMPLATE)
        return batch

    cropped = crops(fresh())  # every crop cached: the network stages below time the networks alone
    probe_chips = cropped.crops(64, CHIP_TEMPLATE)[found]

    def detect(framing) -> None:
        for i in range(0, len(images), batch_size):
            analysis.detect(images[i : i + batch_size], framing)

    def probes() -> None:
        with analysis.chip_inference():
            scorers["smile"].probe(torch.from_numpy(probe_chips).permute(0, 3, 1, 2).float())

    out = {
        "render": timed(lambda: [None for _ in render(generator, codes, batch_size=batch_size, progress=False)]),
        "detect (MTCNN from the framing's box)": timed(lambda: detect(generator_template(generator))),
        "(instead: detect over the whole image pyramid)": timed(lambda: detect(None)),
        "aligned crops (10 framings)": timed(lambda: crops(fresh())),
        "age network (18 views)": timed(lambda: scorers["age"].probabilities(cropped, found)),
        "probes (smile, eyeglasses, gender)": timed(probes),
        "gender network": timed(lambda: scorers["gender"].network.male_probability(cropped, found)),
    }
    out[ALL] = timed(lambda: score_codes(generator, codes, scorers, batch_size=batch_size, progress=False))
    smile = {"smile": scorers["smile"]}
    out[SMILE] = timed(lambda: score_codes(generator, codes, smile, batch_size=batch_size, progress=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-checkset", action="store_true", help="skip the check-set accuracy table")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    codes = generator.sample(args.n, seed=0)
    load = os.getloadavg()[0]
    times = {precision: stages(generator, codes, precision, args.batch_size) for precision in PRECISIONS}
    lines = [
        f"`python benchmarks/score_speed.py --n {args.n}` — dcgan-digiface64, {args.n} rendered codes, batch "
        f"{args.batch_size}, all five attributes, {args.threads} torch threads, CPU.",
        f"Machine: {machine()}; load average {load:.1f} when it started (a shared machine: CPU time is the "
        "measure to compare, wall time includes waiting for the neighbours).",
        "",
        "| stage | float32 wall ms/face | float32 CPU ms/face | bfloat16 wall ms/face | bfloat16 CPU ms/face |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for stage in times["float32"]:
        cells = [f"{1000 * t / args.n:.2f}" for precision in PRECISIONS for t in times[precision][stage]]
        lines.append(f"| {stage} | {' | '.join(cells)} |")
    for label, stage in [("all five attributes", ALL), ("smile alone", SMILE)]:
        total = {p: times[p][stage] for p in PRECISIONS}
        lines += [
            "",
            f"Faces per second, {label}: "
            + "; ".join(
                f"{p}: {args.n / total[p][0]:.0f} wall, {args.n / total[p][1]:.0f} per CPU-second" for p in PRECISIONS
            )
            + ".",
        ]
    if not args.no_checkset:
        checkset, labels = load_checkset()
        tables = {}
        for precision in PRECISIONS:
            scores = score_codes(generator, checkset, load_scorers(None, FaceAnalysis("cpu", precision)))
            tables[precision] = accuracy_rows({a: scores[a] for a in ATTRIBUTES}, labels)
        lines += [
            "",
            "The check-set accuracy table (320 labelled faces, the README's) in both precisions:",
            "",
            "| attribute | measure | float32 | bfloat16 |",
            "| --- | --- | ---: | ---: |",
        ]
        for plain, fast in zip(tables["float32"], tables["bfloat16"]):
            lines.append(f"| {plain.attribute} | {plain.measure} | {plain.cells()[2]} | {fast.cells()[2]} |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Scoring speed by stage (`benchmarks/score_speed.py`)", body)


if __name__ == "__main__":
    keep_freed_memory()  # as the command line does
    main()
