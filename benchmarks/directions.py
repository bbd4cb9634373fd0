"""Time of SeFa on a 1024x1024 StyleGAN2 checkpoint in the official format (random weights), on the CPU.

    python benchmarks/directions.py [--repeats 5] [--threads 1 2] [--no-write]

The generator is stylegan2-ada's official FFHQ configuration (z and w 512, channel_base 32768, channel_max 512,
conv_clamp 256, 18 W+ layers), filled with seeded random weights (``latentedit.devtools.random_state``; SeFa's cost
depends on the shapes only) and written as an NVIDIA ``.pkl`` like the published ones; latentedit loads it as
users do (``load_generator("stylegan2-ffhq", weights=...)``). Timed: ``sefa(generator, k=10)`` on all 18 style
layers and on layers 0-3, fastest of ``--repeats`` runs after a warm-up, with each number of torch threads; the
load is timed once. The embedded DCGAN is timed too. The section of docs/benchmarks.md is rewritten unless
``--no-write``.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from latentedit.core.directions import sefa
from latentedit.devtools import machine, random_state, write_nvidia_pickle, write_section
from latentedit.models.generators import load_generator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator

TITLE = "Directions: SeFa on a 1024x1024 StyleGAN2 (`benchmarks/directions.py`)"
FFHQ = {
    "z_dim": 512,
    "w_dim": 512,
    "c_dim": 0,
    "img_resolution": 1024,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 8},
    "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "conv_clamp": 256, "architecture": "skip"},
}


def fastest(call, repeats: int) -> tuple[float, float]:
    """The fastest wall-clock time of ``repeats`` calls after a warm-up, and the least process CPU time."""
    call()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        network = StyleGAN2Generator.from_config("ffhq-random", FFHQ)
        network.load_state_dict(random_state(network.state_dict(), 0))
        path = Path(tmp) / "stylegan2-1024-random.pkl"
        write_nvidia_pickle(path, network, FFHQ)
        del network
        start = time.perf_counter()
        generator, _ = load_generator("stylegan2-ffhq", weights=path, device="cpu")
        load = time.perf_counter() - start
        size = path.stat().st_size
    dcgan, _ = load_generator("dcgan-digiface64", device="cpu")
    load_before = os.getloadavg()[0]
    big = "stylegan2-ffhq layout, 1024x1024, random weights"
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        rows += [
            (big, "all 18", threads, fastest(lambda: sefa(generator, k=10), args.repeats)),
            (big, "0-3", threads, fastest(lambda: sefa(generator, k=10, layers="0-3"), args.repeats)),
            ("dcgan-digiface64 (embedded)", "first layer", threads, fastest(lambda: sefa(dcgan, k=10), args.repeats)),
        ]
    load_after = os.getloadavg()[0]
    params = sum(p.numel() for p in generator.parameters())
    lines = [
        (
            f"`python benchmarks/directions.py` — `sefa(generator, k=10)` (the closed form: style weights, column "
            f"normalisation, a 512x512 symmetric eigendecomposition in float64), fastest of {args.repeats} runs "
            "after a "
            f"warm-up (wall clock), and the least CPU time of the process (less sensitive to other work). The "
            f"StyleGAN2 is the official FFHQ configuration with seeded random weights "
            f"({params / 1e6:.1f} M parameters), written as an NVIDIA pickle ({size / 2**20:.0f} MiB) and loaded as "
            f"users load the published one: the load took {load:.2f} s (once, not in the figures below)."
        ),
        (
            f"Machine: {machine().replace(f' ({torch.get_num_threads()} torch threads)', '')}; 1-minute load average "
            f"{load_before:.1f} before and {load_after:.1f} after the timed runs (other work shared the "
            f"{os.cpu_count()} cores)."
        ),
        "",
        "| generator | style layers | torch threads | SeFa wall time (s) | process CPU time (s) "
        "| wall time under 1 s |",
        "| --- | --- | ---: | ---: | ---: | --- |",
        *[
            f"| {name} | {layers} | {threads} | {wall:.3f} | {cpu:.3f} | {'yes' if wall < 1 else 'no'} |"
            for name, layers, threads, (wall, cpu) in rows
        ],
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
