"""Forward throughput of latentedit's PGGAN, StyleGAN and StyleGAN2 against the reference implementations.

    python benchmarks/generators.py --interfacegan PATH --stylegan2-ada PATH [--resolutions 256 1024]
        [--batch 4 1] [--repeats 5] [--threads 2] [--device cpu] [--variants fp32 fp16 channels-last] [--no-write]

PATH are your own checkouts of genforce/interfacegan and NVlabs/stylegan2-ada-pytorch: the reference
networks are imported from there, never from this repository. Both sides are filled with the same seeded
random weights (tests/parity.py ``random_state``; they cost the same as trained ones) and run the same batch of
Z codes, const noise, truncation psi 0.7; StyleGAN2 is built like the official FFHQ config (channel_base 32768,
conv_clamp 256). Variants: ``fp32``; ``fp16`` (``torch.autocast`` to float16 on both sides, except that
stylegan2-ada, which asserts its own dtypes, runs its native mixed precision: float16 in the 4 highest
resolutions, as in its official configs) and ``channels-last`` (both modules in ``torch.channels_last``); the
last two are measured by default on CUDA only. Repeats are interleaved and
the fastest is reported (the run least disturbed by other work), with the largest difference between the two
outputs; idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE) so that process CPU time measures work. Peak memory
(maximum resident set size, Linux /proc) of one 1024x1024 forward at batch 1 on the CPU is measured in fresh
processes, three per model and side (it varies between runs with the allocator's arenas). InterFaceGAN's layers
keep their equalised-lr scales as NumPy float64, which promotes activations to float64 under torch >= 2; the
benchmark casts those attributes to Python floats after building its models (its code is not changed). The section
of docs/benchmarks.md is rewritten unless ``--no-write``.
"""

import argparse
import contextlib
import ctypes
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning, so that CPU time counts work rather than waiting (both sides
# alike; set before torch loads its OpenMP runtime, hence the imports below it).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from latentedit.device import resolve_device  # noqa: E402
from latentedit.devtools import machine, random_state, write_section  # noqa: E402
from latentedit.models.generators.pggan import PGGANGenerator  # noqa: E402
from latentedit.models.generators.stylegan import StyleGANGenerator  # noqa: E402
from latentedit.models.generators.stylegan2 import StyleGAN2Generator  # noqa: E402

TITLE = "Generators: latentedit vs reference implementations (`benchmarks/generators.py`)"
FAMILIES = ("pggan", "stylegan", "stylegan2")
NAMES = {
    "pggan": "PGGAN (InterFaceGAN port)",
    "stylegan": "StyleGAN (InterFaceGAN port)",
    "stylegan2": "StyleGAN2 (stylegan2-ada-pytorch)",
}
VARIANTS = ("fp32", "fp16", "channels-last")
SEED, PSI = 0, 0.7
MEMORY_RUNS = 3


def interfacegan_channels(resolution: int) -> list[int]:
    return [512] + [min(512, 16384 >> (i + 1)) for i in range(1, resolution.bit_length() - 1)]


def seeded(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` filled by ``random_state`` (the same weights on both sides: their learned keys are the same)."""
    module.load_state_dict(random_state(module.state_dict(), SEED))
    return module


def float_scales(module: torch.nn.Module) -> torch.nn.Module:
    for layer in module.modules():
        if isinstance(getattr(layer, "scale", None), np.floating):
            layer.scale = float(layer.scale)
    return module


def stylegan2_kwargs(resolution: int) -> dict:
    """The official FFHQ configuration (channel_base 32768, conv_clamp 256), all blocks in float32."""
    return {
        "z_dim": 512,
        "w_dim": 512,
        "c_dim": 0,
        "img_resolution": resolution,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 8},
        "synthesis_kwargs": {"channel_base": 32768, "channel_max": 512, "conv_clamp": 256, "num_fp16_res": 0},
    }


def make_ours(family: str, resolution: int) -> torch.nn.Module:
    """latentedit's network as its loaders build it for the published files; forward(z) -> image."""
    if family == "pggan":
        ours = PGGANGenerator("pggan", interfacegan_channels(resolution))
    elif family == "stylegan":
        fused = [False] + [2 ** (i + 2) >= 128 for i in range(1, resolution.bit_length() - 2)]  # InterFaceGAN's "auto"
        ours = StyleGANGenerator("stylegan", interfacegan_channels(resolution), fused)  # psi 0.7 on 8 layers
    else:
        ours = StyleGAN2Generator.from_config("stylegan2", stylegan2_kwargs(resolution)).configure(PSI, None, "const")
    return Ours(seeded(ours))


class Ours(torch.nn.Module):
    """``generator.synthesize(z)`` as ``forward(z)``."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.synthesize(z)


class StyleGAN2Reference(torch.nn.Module):
    """stylegan2-ada's ``G(z, c)`` as ``forward(z)``: no label, psi 0.7 on all layers, const noise.

    With ``native_fp16`` the network was built with its own mixed precision (float16 in the 4 highest
    resolutions, as the official configs); it cannot run under ``torch.autocast`` (it asserts its dtypes).
    """

    def __init__(self, network: torch.nn.Module, native_fp16: bool = False) -> None:
        super().__init__()
        self.network, self.native_fp16 = network, native_fp16

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.network(z, None, truncation_psi=PSI, noise_mode="const", force_fp32=not self.native_fp16)


def make_reference(family: str, resolution: int, args, variant: str = "fp32") -> torch.nn.Module:
    """The reference network, imported from the user's checkout, with the same weights; forward(z) -> image."""
    if family in ("pggan", "stylegan"):
        sys.path.insert(0, str(Path(args.interfacegan).resolve()))
        if family == "pggan":
            from models.pggan_generator_model import PGGANGeneratorModel as Model

            reference = Model(resolution=resolution)
        else:
            from models.stylegan_generator_model import StyleGANGeneratorModel as Model

            reference = Model(resolution=resolution, truncation_psi=PSI, truncation_layers=8)
        return float_scales(seeded(reference))
    sys.path.insert(0, str(Path(args.stylegan2_ada).resolve()))
    from training.networks import Generator

    kwargs = stylegan2_kwargs(resolution)
    if variant == "fp16":
        kwargs["synthesis_kwargs"] = dict(kwargs["synthesis_kwargs"], num_fp16_res=4)
    return StyleGAN2Reference(seeded(Generator(**kwargs)), native_fp16=variant == "fp16")


def prepare(module: torch.nn.Module, variant: str, device: torch.device) -> torch.nn.Module:
    module = module.eval().requires_grad_(False).to(device)
    return module.to(memory_format=torch.channels_last) if variant == "channels-last" else module


def precision(module: torch.nn.Module, variant: str, device: torch.device):
    """``torch.autocast`` to float16 for the fp16 variant, unless the module has its own mixed precision."""
    native = getattr(module, "native_fp16", False)
    if variant == "fp16" and not native:
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


def timed(fn) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


@torch.inference_mode()
def measure(family: str, resolution: int, batch: int, variant: str, args) -> dict:
    device = resolve_device(args.device)
    sides = {
        "ours": prepare(make_ours(family, resolution), variant, device),
        "reference": prepare(make_reference(family, resolution, args, variant), variant, device),
    }
    z = torch.randn(batch, 512, generator=torch.Generator().manual_seed(1)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run(module):
        with precision(module, variant, device):
            output = module(z)
        sync()
        return output

    outputs = {side: run(module).float() for side, module in sides.items()}  # warm-up, and full-size parity
    times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    for _ in range(args.repeats):
        for side, module in sides.items():
            times[side].append(timed(lambda module=module: run(module)))
    row = {"family": family, "resolution": resolution, "batch": batch, "variant": variant, "load": os.getloadavg()[0]}
    for side, samples in times.items():  # the fastest run: the one least disturbed by other work
        row[f"{side}_wall"] = batch / min(t[0] for t in samples)
        row[f"{side}_cpu"] = batch / min(t[1] for t in samples)
    row["ratio_wall"] = row["ours_wall"] / row["reference_wall"]
    row["ratio_cpu"] = row["ours_cpu"] / row["reference_cpu"]
    a, b = outputs["ours"], outputs["reference"]
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
    at batch 1 on the CPU. Freed heap is returned to the system and the peak mark reset (clear_refs) first."""
    model = (make_ours(family, 1024) if side == "ours" else make_reference(family, 1024, args)).eval()
    z = torch.randn(1, 512)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    built = status_mib("VmRSS")
    model(z)
    return {"family": family, "side": side, "built_mib": built, "peak_mib": status_mib("VmHWM")}


def report(rows: list[dict], memory: list[dict], args, load: tuple[float, float]) -> str:
    device = resolve_device(args.device)
    lines = [
        f"`python benchmarks/generators.py --interfacegan PATH --stylegan2-ada PATH` — device {device}, "
        f"{args.threads} threads, fastest of {args.repeats} interleaved runs after a warm-up (idle OpenMP threads "
        "sleep, so CPU time counts work). Both sides get the same "
        "seeded random weights and Z batch; truncation psi 0.7 (8 layers for StyleGAN, all for StyleGAN2), const "
        "noise; StyleGAN2 in the official FFHQ configuration (conv_clamp 256). Ratio > 1: latentedit is faster. "
        "Throughput is per wall-clock second and per CPU second of the process; the CPU-time ratio is the less "
        "sensitive to other work on a shared machine. Max diff: largest |ours - reference| over the batch, raw "
        "(random weights give outputs far outside [-1, 1]; the largest |output| is shown) and clamped to [-1, 1].",
        f"Machine: {machine()}. 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        f"(per row below) on {os.cpu_count()} cores.",
        "",
        "| model | res | batch | variant | ours img/s (wall / CPU) | reference img/s (wall / CPU) | ratio wall "
        "| ratio CPU | load | max diff raw / clamped | max output |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {NAMES[r['family']]} | {r['resolution']} | {r['batch']} | {r['variant']} "
            f"| {r['ours_wall']:.3g} / {r['ours_cpu']:.3g} | {r['reference_wall']:.3g} / {r['reference_cpu']:.3g} "
            f"| {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} | {r['load']:.1f} "
            f"| {r['max_abs_diff']:.1e} / {r['max_abs_diff_clamped']:.1e} | {r['output_max_abs']:.0f} |"
        )
    if "fp16" in {r["variant"] for r in rows}:
        lines += [
            "",
            "fp16: `torch.autocast` float16 on both sides, except stylegan2-ada, which cannot run under "
            "autocast and runs its own mixed precision instead (float16 in the 4 highest resolutions).",
        ]
    if device.type != "cuda":
        lines += [
            "",
            "No GPU on this machine: the fp16 (`torch.autocast` float16) and channels-last variants, which "
            "the script measures by default on CUDA, were not measured.",
        ]
    if memory:
        lines += [
            "",
            f"Memory of one 1024x1024 forward at batch 1 on the CPU, {MEMORY_RUNS} fresh processes per row "
            "(MiB): resident with the model built, and the peak resident during the forward (torch and Python "
            "included), lowest and highest of the runs.",
            "",
            "| model | side | built | peak during forward | added by the forward |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for family in dict.fromkeys(m["family"] for m in memory):
            for side in ("ours", "reference"):
                runs = [m for m in memory if (m["family"], m["side"]) == (family, side)]
                built, peaks = min(m["built_mib"] for m in runs), sorted(m["peak_mib"] for m in runs)
                lines.append(
                    f"| {NAMES[family]} | {side} | {built:.0f} | {peaks[0]:.0f}–{peaks[-1]:.0f} "
                    f"| {peaks[0] - built:.0f}–{peaks[-1] - built:.0f} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfacegan", required=True, help="checkout of genforce/interfacegan")
    parser.add_argument("--stylegan2-ada", required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--resolutions", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--batch", nargs="+", type=int, default=[4, 1], help="batch per resolution")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=None, help="default: fp32 on the CPU, all three on CUDA"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    parser.add_argument("--peak", nargs=2, metavar=("FAMILY", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.batch) != len(args.resolutions):
        parser.error("give one --batch per resolution")
    torch.set_num_threads(args.threads)
    if args.peak:
        print(json.dumps(peak_memory(*args.peak, args)))
        return
    variants = args.variants or (list(VARIANTS) if resolve_device(args.device).type == "cuda" else ["fp32"])
    start_load = os.getloadavg()[0]
    rows = []
    for resolution, batch in zip(args.resolutions, args.batch):
        for family in args.families:
            for variant in variants:
                rows.append(measure(family, resolution, batch, variant, args))
                print(json.dumps(rows[-1]), flush=True)
    memory = []
    if not args.no_memory:
        for family in args.families:
            for side in ("ours", "reference") * MEMORY_RUNS:
                command = [
                    sys.executable,
                    __file__,
                    "--interfacegan",
                    args.interfacegan,
                    "--stylegan2-ada",
                    args.stylegan2_ada,
                    "--threads",
                    str(args.threads),
                    "--peak",
                    family,
                    side,
                ]
                memory.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
                print(json.dumps(memory[-1]), flush=True)
    body = report(rows, memory, args, (start_load, os.getloadavg()[0]))
    print(body)
    if not args.no_write:
        write_section(TITLE, body)


if __name__ == "__main__":
    main()
