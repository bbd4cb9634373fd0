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
import gc
import json
import os
import platform
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


def stylegan2_kwargs(resolution: int) -> dict:
    """The official FFHQ configuration (channel_base 32768, conv_clamp 256), in float32."""
    return {
        "z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": resolution, "img_channels": 3,
        "mapping_kwargs": {"num_layers": 8},
        "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "conv_clamp": 256, "num_fp16_res": 0},
    }


def make_ours(family: str, resolution: int) -> torch.nn.Module:
    if family == "pggan":
        ours = PGGANGenerator("pggan", interfacegan_channels(resolution))
    elif family == "stylegan":
        fused = [False] + [2 ** (i + 2) >= 128 for i in range(1, resolution.bit_length() - 2)]  # InterFaceGAN's "auto"
        ours = StyleGANGenerator("stylegan", interfacegan_channels(resolution), fused)
    else:
        ours = StyleGAN2Generator.from_config("stylegan2", stylegan2_kwargs(resolution)).configure(0.7, None, "const")
    randomise(ours)
    return ours


def make_reference(family: str, resolution: int, args) -> torch.nn.Module:
    """The reference network, imported from the user's checkout, with random weights; forward(z) -> image."""
    if family in ("pggan", "stylegan"):
        sys.path.insert(0, str(Path(args.interfacegan).resolve()))
        if family == "pggan":
            from models.pggan_generator_model import PGGANGeneratorModel as Model

            reference = Model(resolution=resolution)
        else:
            from models.stylegan_generator_model import StyleGANGeneratorModel as Model

            reference = Model(resolution=resolution, truncation_psi=0.7, truncation_layers=8)
        randomise(reference)
        return float_scales(reference)
    sys.path.insert(0, str(Path(args.stylegan2_ada).resolve()))
    from training.networks import Generator

    network = Generator(**stylegan2_kwargs(resolution))
    randomise(network)
    return StyleGAN2Reference(network)


def build(family: str, resolution: int, args) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(ours, reference) with the same weights: ours loads the reference's state dict."""
    reference = make_reference(family, resolution, args)
    state = (reference.network if family == "stylegan2" else reference).state_dict()
    ours = make_ours(family, resolution)
    ours.load_state_dict({k: v for k, v in state.items() if not k.endswith(("blur.kernel", "truncation.truncation"))})
    return ours, reference


class StyleGAN2Reference(torch.nn.Module):
    """stylegan2-ada's ``G(z, c)`` as ``forward(z)``: no label, psi 0.7, const noise, float32."""

    def __init__(self, network: torch.nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.network(z, None, truncation_psi=0.7, noise_mode="const", force_fp32=True)


def timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


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
    times = {"ours": [], "reference": []}
    for _ in range(args.repeats):
        times["ours"].append(timed(run(ours.synthesize)))
        times["reference"].append(timed(run(reference)))
    row = {"family": family, "resolution": resolution, "batch": batch, "load": os.getloadavg()[0]}
    for side, samples in times.items():
        row[f"{side}_wall"] = batch / statistics.median(t[0] for t in samples)
        row[f"{side}_cpu"] = batch / statistics.median(t[1] for t in samples)
    row["ratio_wall"], row["ratio_cpu"] = row["ours_wall"] / row["reference_wall"], row["ours_cpu"] / row["reference_cpu"]
    row["max_abs_diff"] = float((a - b).abs().max())
    row["max_abs_diff_clamped"] = float((a.clamp(-1, 1) - b.clamp(-1, 1)).abs().max())
    row["output_max_abs"] = float(b.abs().max())
    return row


def status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@torch.inference_mode()
def peak_memory(family: str, side: str, args) -> dict:
    """Run in a fresh process: resident memory with the model built, and the peak during one 1024x1024 forward
    at batch 1 (the peak mark is reset after building through /proc/self/clear_refs, Linux)."""
    fn = make_ours(family, 1024).eval().synthesize if side == "ours" else make_reference(family, 1024, args).eval()
    z = torch.randn(1, 512)
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    built = status_mib("VmRSS")
    fn(z)
    return {"family": family, "side": side, "built_mib": built, "peak_mib": status_mib("VmHWM")}


def report(rows: list[dict], memory: list[dict], args) -> str:
    names = {"pggan": "PGGAN (InterFaceGAN port)", "stylegan": "StyleGAN (InterFaceGAN port)",
             "stylegan2": "StyleGAN2 (stylegan2-ada-pytorch)"}
    lines = [
        "## Generators: forward throughput, latentedit vs reference implementations",
        "",
        f"{platform.machine()}, torch {torch.__version__}, {args.threads} threads, device {args.device}; median of "
        f"{args.repeats} interleaved runs after a warm-up; the same random weights and Z batch on both sides; "
        "truncation psi 0.7 (8 layers for StyleGAN, all for StyleGAN2), const noise, float32. Throughput per "
        "wall-clock second and per CPU second of the process (the latter is less sensitive to other load on a "
        "shared machine; the 1-minute load average is shown). Max abs diff: between the two outputs, raw "
        "(random weights give outputs far outside [-1, 1]; largest |output| shown) and clamped to [-1, 1].",
        "",
        "| model | res | batch | ours img/s (wall / CPU s) | reference img/s (wall / CPU s) | ratio wall | ratio CPU "
        "| load | max abs diff raw / clamped | max abs output |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {names[r['family']]} | {r['resolution']} | {r['batch']} | {r['ours_wall']:.3g} / {r['ours_cpu']:.3g} "
            f"| {r['reference_wall']:.3g} / {r['reference_cpu']:.3g} | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} "
            f"| {r['load']:.1f} | {r['max_abs_diff']:.1e} / {r['max_abs_diff_clamped']:.1e} | {r['output_max_abs']:.1f} |"
        )
    if memory:
        lines += ["", "Memory of one 1024x1024 forward at batch 1, fresh process per row (MiB): resident with the "
                  "model built, and the peak resident during the forward.", "",
                  "| model | side | built | peak during forward |", "| --- | --- | --- | --- |"]
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
