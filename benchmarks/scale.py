"""Scoring on a local Ray cluster: faces/s with 1 and 2 workers, and what each part costs besides its faces.

    python benchmarks/scale.py [--n 256] [--parts 4] [--precision bfloat16] [--no-write]

Runs ``score --codes`` through ``latentedit.commands.ray_parts`` (the code of ``--ray``) on a new local cluster of
1, then 2, CPUs (one actor of one CPU and one torch thread per CPU), and times the cluster's start, the whole job
(parts and merge), a job of one part of one face (the actor's start and model loading, the part's files, the merge),
and what each further part costs on an actor that already holds the models: 64 faces of one batch each, in 64 parts
against 1 part, on one worker.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from latentedit.commands.ray_parts import RayRequest, RaySettings, run_on_ray
from latentedit.commands.score import ScoreRequest
from latentedit.devtools import machine, write_section
from latentedit.models.generators import load_generator
from latentedit.specs import GeneratorSpec, OutputSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--precision", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    root = Path(tempfile.mkdtemp(prefix="latentedit-scale-"))
    codes = root / "z.npy"
    np.save(codes, generator.sample(args.n, seed=0))
    np.save(root / "one.npy", generator.sample(1, seed=1))
    np.save(root / "small.npy", generator.sample(64, seed=2))
    start = time.perf_counter()
    ray.init(address="local", num_cpus=1, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    ray.shutdown()
    cluster = time.perf_counter() - start

    def job(workers: int, source: Path, parts: int, name: str, batch: int = min(64, args.n)) -> float:
        request = ScoreRequest(
            output=OutputSpec(root / name),
            codes_file=source,
            generator=GeneratorSpec(device="cpu"),
            batch_size=batch,
            precision=args.precision,
        )
        began = time.perf_counter()
        run_on_ray(RayRequest(job=request, settings=RaySettings(parts=parts, local_cpus=workers), progress=False))
        return time.perf_counter() - began

    one_face = job(1, root / "one.npy", 1, "one")
    rates = {workers: args.n / job(workers, codes, args.parts, f"w{workers}") for workers in (1, 2)}
    per_part = (job(1, root / "small.npy", 64, "many", 1) - job(1, root / "small.npy", 1, "whole", 1)) / 63
    body = "\n".join(
        [
            f"`python benchmarks/scale.py --n {args.n} --parts {args.parts} --precision {args.precision}` — "
            f"dcgan-digiface64, all five attributes, batch {min(64, args.n)}, parts on Ray actors on a new local "
            "cluster.",
            f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end (shared with other jobs: the "
            "rates below are what this machine gave at the time, not what 2 free cores give).",
            "",
            "| workers | faces/s (job: cluster start, parts, merge) |",
            "| ---: | ---: |",
            *(f"| {w} | {r:.1f} |" for w, r in rates.items()),
            "",
            f"Overheads: a local cluster starts and stops in {cluster:.1f} s; a job of one part of one face takes "
            f"{one_face:.1f} s (cluster start, the actor's start and its loading of the generator and scorers, the "
            f"part's files, the merge). Each further part on an actor that already holds the models costs "
            f"{f'{per_part:.2f} s' if per_part >= 0.01 else 'under 0.01 s'} besides its faces (64 faces in 64 "
            "parts against 1 part, one worker). "
            "Not measured here: several machines, GPUs.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Scaling on Ray (`benchmarks/scale.py`)", body)


if __name__ == "__main__":
    main()
