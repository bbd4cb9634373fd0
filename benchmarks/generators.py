"""Forward throughput of latentedit's PGGAN, StyleGAN and StyleGAN2 against the reference implementations.

    python benchmarks/generators.py --interfacegan PATH --stylegan2-ada PATH [--resolutions 256 1024]
        [--batch 4 1] [--repeats 3] [--threads 2] [--device cpu] [--out FILE]

PATH are your own checkouts of genforce/interfacegan and NVlabs/stylegan2-ada-pytorch: the reference
networks are imported from there, never from this repository. Both sides run the same random weights
(standard normal; they cost the same as trained ones) on the same batch of Z codes, const noise, truncation
psi 0.7; StyleGAN2 is built like the official FFHQ config (channel_base 32768, conv_clamp 256) in float32.
Repeats are interleaved and the median is reported, with the largest difference between the two outputs.
Peak memory (maximum resident set size) of one 1024x1024 StyleGAN forward at batch 1 is measured in a fresh
process per model. InterFaceGAN's layers keep their equalised-lr scales as NumPy float64, which promotes
activations to float64 under torch >= 2; the benchmark casts those attributes to Python floats after
building its models (its code is not changed).
"""

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from latentedit.device import resolve_device
from latentedit.generators.pggan import PGGANGenerator
from latentedit.generators.stylegan import StyleGANGenerator
from latentedit.generators.stylegan2 import StyleGAN2Generator

FAMILIES = ("pggan", "stylegan", "stylegan2")


def interfacegan_channels(resolution: int) -> list[int]:
    return [512] + [min(512, 16384 >> (i + 1)) for i in range(1, resolution.bit_length() - 1)]


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point() and not name.endswith(("lod", "blur.kernel", "resample_filter", "truncation")):
            scale = 100 if name.startswith("mapping.") and name.endswith("weight") else 0.5 if name.endswith("w_avg") else 1
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * scale)  # mapping: undo lr multiplier 0.01


def float_scales(module: torch.nn.Module) -> torch.nn.Module:
    for layer in module.modules():
        if isinstance(getattr(layer, "scale", None), np.floating):
            layer.scale = float(layer.scale)
    return module


def build(family: str, resolution: int, args) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, reference forward z -> image) on the same weights."""
    if family in ("pggan", "stylegan"):
        sys.path.insert(0, str(Path(args.interfacegan).resolve()))
    if family == "pggan":
        from models.pggan_generator_model import PGGANGeneratorModel

        ours = PGGANGenerator("pggan", interfacegan_channels(resolution))
        randomise(ours)
        reference = float_scales(PGGANGeneratorModel(resolution=resolution))
        reference.load_state_dict(ours.state_dict())
        return ours, reference
    if family == "stylegan":
        from models.stylegan_generator_model import StyleGANGeneratorModel

        fused = [False] + [2 ** (i + 2) >= 128 for i in range(1, resolution.bit_length() - 2)]
        ours = StyleGANGenerator("stylegan", interfacegan_channels(resolution), fused)
        randomise(ours)
        reference = float_scales(StyleGANGeneratorModel(resolution=resolution, truncation_psi=0.7, truncation_layers=8))
        missing, unexpected = reference.load_state_dict(ours.state_dict(), strict=False)
        assert not unexpected and all(k.endswith(("blur.kernel", "truncation.truncation")) for k in missing)
        return ours, reference
    sys.path.insert(0, str(Path(args.stylegan2_ada).resolve()))
    from training.networks import Generator

    kwargs = {
        "z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": resolution, "img_channels": 3,
        "mapping_kwargs": {"num_layers": 8},
        "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "conv_clamp": 256, "num_fp16_res": 0},
    }
    network = Generator(**kwargs)
    randomise(network)
    ours = StyleGAN2Generator.from_config("stylegan2", kwargs, network.state_dict()).configure(0.7, None, "const")
    return ours, StyleGAN2Reference(network)


class StyleGAN2Reference(torch.nn.Module):
    """stylegan2-ada's ``G(z, c)`` as ``forward(z)``: no label, psi 0.7, const noise, float32."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.network(z, None, truncation_psi=0.7, noise_mode="const", force_fp32=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.inference_mode()
def measure(family: str, resolution: int, batch: int, args) -> dict:
    device = resolve_device(args.device)
    ours, reference = build(family, resolution, args)
    ours.eval().to(device)
    reference.eval().to(device)
    z = torch.randn(batch, 512, generator=torch.Generator().manual_seed(1)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run(fn):
        return lambda: (fn(z), sync())

    a, b = ours.synthesize(z), reference(z)  # warm-up, and the parity of this full-size network
    difference = float((a - b).abs().max())
    times = {"ours": [], "reference": []}
    for _ in range(args.repeats):
        times["ours"].append(timed(run(ours.synthesize)))
        times["reference"].append(timed(run(reference)))
    ours_rate, reference_rate = (batch / statistics.median(times[k]) for k in ("ours", "reference"))
    return {
        "family": family, "resolution": resolution, "batch": batch, "ours": ours_rate, "reference": reference_rate,
        "ratio": ours_rate / reference_rate, "max_abs_diff": difference,
    }


@torch.inference_mode()
def peak_memory(family: str, side: str, args) -> dict:
    """Run in a fresh process: maximum RSS after building, and after one 1024x1024 forward at batch 1."""
    ours, reference = build(family, 1024, args)
    fn = ours.eval().synthesize if side == "ours" else reference.eval()
    z = torch.randn(1, 512)
    built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fn(z)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"family": family, "side": side, "built_mib": built, "peak_mib": peak}


def report(rows: list[dict], memory: list[dict], args) -> str:
    lines = [
        "## Generators: forward throughput, latentedit vs reference implementations",
        "",
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
        f"device {args.device}; median of {args.repeats} interleaved runs; same random weights and Z batch on both "
        "sides; StyleGAN truncation psi 0.7 (8 layers for StyleGAN, all for StyleGAN2), const noise, float32.",
        "",
        "| model | resolution | batch | latentedit (img/s) | reference (img/s) | ratio | max abs diff |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    names = {"pggan": "PGGAN (InterFaceGAN port)", "stylegan": "StyleGAN (InterFaceGAN port)", "stylegan2": "StyleGAN2 (stylegan2-ada-pytorch)"}
    for r in rows:
        lines.append(
            f"| {names[r['family']]} | {r['resolution']} | {r['batch']} | {r['ours']:.3g} | {r['reference']:.3g} | "
            f"{r['ratio']:.2f} | {r['max_abs_diff']:.1e} |"
        )
    if memory:
        lines += ["", "Peak memory, one 1024x1024 forward at batch 1 (maximum RSS of a fresh process, MiB):", "",
                  "| model | side | after building | peak |", "| --- | --- | --- | --- |"]
        for m in memory:
            lines.append(f"| {names[m['family']]} | {m['side']} | {m['built_mib']:.0f} | {m['peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfacegan", required=True, help="checkout of genforce/interfacegan")
    parser.add_argument("--stylegan2-ada", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--resolutions", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--batch", nargs="+", type=int, default=[4, 1], help="batch per resolution")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    parser.add_argument("--peak", nargs=2, metavar=("FAMILY", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak:
        print(json.dumps(peak_memory(*args.peak, args)))
        return
    rows = [
        measure(family, resolution, batch, args)
        for resolution, batch in zip(args.resolutions, args.batch)
        for family in args.families
    ]
    for row in rows:
        print(json.dumps(row), flush=True)
    memory = []
    if not args.no_memory:
        for family in [f for f in args.families if f != "pggan"]:
            for side in ("ours", "reference"):
                command = [sys.executable, __file__, "--interfacegan", args.interfacegan, "--stylegan2-ada",
                           args.stylegan2_ada, "--threads", str(args.threads), "--peak", family, side]
                memory.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
                print(json.dumps(memory[-1]), flush=True)
    text = report(rows, memory, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
