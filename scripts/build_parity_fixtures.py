"""Build (or check) the parity fixtures in tests/data/parity with the reference implementations.

    python scripts/build_parity_fixtures.py --interfacegan PATH --stylegan2-ada PATH [--check] [--out DIR]

PATH are your own checkouts of genforce/interfacegan and NVlabs/stylegan2-ada-pytorch; the reference networks
are imported from there and nothing of them is written into this repository. For each case the reference
network is filled by tests/parity.py ``random_state`` (seeded; only the config is committed, the test fills
latentedit's network the same way) and run on seeded inputs: Z codes, W codes and W+ codes (mapping outputs of
other Z codes), truncation on and off, const noise. The outputs go to ``CASE.npz`` and the config to
``CASE.json``.

Each case is then also loaded the way users load the published files (InterFaceGAN state dict without
``truncation.truncation``; for StyleGAN2 a real stylegan2-ada pickle written by its own ``persistence``
module, kept in a temporary folder) and latentedit's output is compared with the reference's.

``--check`` recomputes the reference outputs for the inputs stored in the existing fixtures and reports the
differences instead of writing. Exit status 1 if any difference exceeds 1e-4.
"""

import argparse
import json
import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from latentedit.devtools import random_state
from latentedit.files.safe_pickle import RestrictedUnpickler
from latentedit.models.generators import load_generator

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "parity"
TOLERANCE = 1e-4


def stylegan2_case(
    seed: int,
    psi: float,
    layers: int | None,
    mapping_layers: int,
    resolution: int,
    channel_base: int,
    channel_max: int,
    conv_clamp: float | None,
    architecture: str,
) -> dict:
    synthesis = {
        "channel_base": channel_base,
        "channel_max": channel_max,
        "conv_clamp": conv_clamp,
        "num_fp16_res": 0,
        "architecture": architecture,
    }
    return {
        "family": "stylegan2",
        "seed": seed,
        "truncation_psi": psi,
        "truncation_layers": layers,
        "init_kwargs": {
            "c_dim": 0,
            "img_channels": 3,
            "z_dim": 64,
            "w_dim": 64,
            "img_resolution": resolution,
            "mapping_kwargs": {"num_layers": mapping_layers},
            "synthesis_kwargs": synthesis,
        },
    }


CASES = {
    "pggan32": {"family": "pggan", "resolution": 32, "fused_scale": False, "seed": 1},
    "pggan32_fused": {"family": "pggan", "resolution": 32, "fused_scale": True, "seed": 2},
    "stylegan64": {"family": "stylegan", "resolution": 64, "seed": 3, "truncation_psi": 0.7, "truncation_layers": 8},
    "stylegan128": {"family": "stylegan", "resolution": 128, "seed": 4, "truncation_psi": 0.7, "truncation_layers": 8},
    "stylegan2_64_skip": stylegan2_case(5, 0.7, None, 8, 64, 2048, 128, 256, "skip"),
    "stylegan2_32_resnet": stylegan2_case(6, 0.5, 4, 2, 32, 1024, 64, None, "resnet"),
    "stylegan2_32_orig": stylegan2_case(7, 0.7, 6, 4, 32, 1024, 64, 256, "orig"),
}
MODEL = {"pggan": "pggan-celebahq", "stylegan": "stylegan-ffhq", "stylegan2": "stylegan2-ffhq"}


def seeded(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    module.load_state_dict(random_state(module.state_dict(), seed))
    for layer in module.modules():  # InterFaceGAN's NumPy float64 scales would promote activations to float64
        if isinstance(getattr(layer, "scale", None), np.floating):
            layer.scale = float(layer.scale)
    return module.eval().requires_grad_(False)


def inputs(config: dict, z_dim: int, num_ws: int, mapping) -> dict[str, np.ndarray]:
    """Seeded Z codes; for style models also W and W+ codes made by the reference mapping from other Z codes."""
    rng = np.random.default_rng(1000 + config["seed"])
    n = 1 if config.get("resolution", 0) >= 128 else 2  # one image at 128 px keeps the file small
    normal = lambda *shape: torch.from_numpy(rng.standard_normal(shape).astype(np.float32))  # noqa: E731
    arrays = {"z": normal(n, z_dim)}
    if config["family"] != "pggan":
        arrays["w_in"] = mapping(normal(n, z_dim))
        arrays["wp_in"] = mapping(normal(n * num_ws, z_dim)).reshape(n, num_ws, -1)
    return {key: value.numpy() for key, value in arrays.items()}


def interfacegan_outputs(config: dict, path: Path, stored: dict | None, weights: Path) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(path.resolve()))
    if config["family"] == "pggan":
        from models.pggan_generator_model import PGGANGeneratorModel

        model = seeded(
            PGGANGeneratorModel(resolution=config["resolution"], fused_scale=config["fused_scale"]), config["seed"]
        )
        arrays = {**inputs(config, 512, 0, None), **(stored or {})}
        arrays = {"z": arrays["z"], "image": model(torch.from_numpy(arrays["z"])).numpy()}
        torch.save(model.state_dict(), weights)
        return arrays
    from models.stylegan_generator_model import StyleGANGeneratorModel

    def build(psi: float) -> torch.nn.Module:
        return seeded(
            StyleGANGeneratorModel(
                resolution=config["resolution"], truncation_psi=psi, truncation_layers=config["truncation_layers"]
            ),
            config["seed"],
        )

    trunc, plain = build(config["truncation_psi"]), build(1.0)
    arrays = {**inputs(config, 512, trunc.truncation.num_layers, trunc.mapping), **(stored or {})}
    z, w_in, wp_in = (torch.from_numpy(arrays[key]) for key in ("z", "w_in", "wp_in"))
    w = trunc.mapping(z)
    arrays = {
        "z": z,
        "w": w,
        "wp_trunc": trunc.truncation(w),
        "w_in": w_in,
        "wp_in": wp_in,
        "image_z_trunc": trunc(z),
        "image_z_notrunc": plain(z),
        "image_w_trunc": trunc.synthesis(trunc.truncation(w_in)),
        "image_w_notrunc": plain.synthesis(plain.truncation(w_in)),
        "image_wp": trunc.synthesis(wp_in),
    }
    state = trunc.state_dict()
    del state["truncation.truncation"]  # InterFaceGAN's files leave out this derived buffer
    torch.save(state, weights)
    return {key: value.numpy() for key, value in arrays.items()}


def stylegan2_outputs(config: dict, path: Path, stored: dict | None, weights: Path) -> dict[str, np.ndarray]:
    sys.path.insert(0, str(path.resolve()))
    import dnnlib
    from training.networks import Generator

    kwargs = config["init_kwargs"]
    G = seeded(Generator(**kwargs), config["seed"])
    psi, cutoff = config["truncation_psi"], config["truncation_layers"]
    arrays = {**inputs(config, kwargs["z_dim"], G.num_ws, lambda z: G.mapping(z, None)[:, 0]), **(stored or {})}
    z, w_in, wp_in = (torch.from_numpy(arrays[key]) for key in ("z", "w_in", "wp_in"))
    last = getattr(G.mapping, f"fc{G.mapping.num_layers - 1}")

    def from_w(w: torch.Tensor, truncation_psi: float) -> torch.Tensor:
        """The reference's own broadcast and truncation, applied to ``w`` (replacing the last layer's output)."""
        hook = last.register_forward_hook(lambda module, args, output: w)
        try:
            return G.mapping(
                torch.zeros(len(w), kwargs["z_dim"]), None, truncation_psi=truncation_psi, truncation_cutoff=cutoff
            )
        finally:
            hook.remove()

    arrays = {
        "z": z,
        "w": G.mapping(z, None)[:, 0],
        "wp_trunc": G.mapping(z, None, truncation_psi=psi, truncation_cutoff=cutoff),
        "image_z_trunc": G(z, None, truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const"),
        "image_z_notrunc": G(z, None, noise_mode="const"),
        "w_in": w_in,
        "image_w_trunc": G.synthesis(from_w(w_in, psi), noise_mode="const"),
        "image_w_notrunc": G.synthesis(from_w(w_in, 1.0), noise_mode="const"),
        "wp_in": wp_in,
        "image_wp": G.synthesis(wp_in, noise_mode="const"),
    }
    data = {"G": G, "D": None, "G_ema": G, "augment_pipe": None, "training_set_kwargs": dnnlib.EasyDict(path="x.zip")}
    weights.write_bytes(pickle.dumps(data))  # stylegan2-ada's persistence pickles the class source along
    return {key: value.numpy() for key, value in arrays.items()}


class RecordingUnpickler(RestrictedUnpickler):
    seen: set[str] = set()

    def find_class(self, module: str, name: str):
        self.seen.add(f"{module}.{name}")
        return super().find_class(module, name)


def ours(config: dict, weights: Path, expected: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """latentedit's outputs, from the weights file in the official format, for every image in ``expected``."""
    generator, _ = load_generator(MODEL[config["family"]], device="cpu", weights=weights)
    if config["family"] == "pggan":
        return {"image": generator.synthesize(torch.from_numpy(expected["z"])).numpy()}
    psi, layers = config["truncation_psi"], config["truncation_layers"]
    z = torch.from_numpy(expected["z"])
    latents = generator.configure(psi, layers, "const").latents(z)
    arrays = {"w": latents["w"], "wp_trunc": latents["wp"]}
    for key in [k for k in expected if k.startswith("image_")]:
        space = key.split("_")[1]
        generator.configure(psi if key.endswith("_trunc") else 1.0, layers, "const")
        arrays[key] = generator.synthesize(z if space == "z" else torch.from_numpy(expected[f"{space}_in"]), space)
    return {key: value.numpy() for key, value in arrays.items()}


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfacegan", type=Path, required=True, help="checkout of genforce/interfacegan")
    parser.add_argument("--stylegan2-ada", type=Path, required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--out", type=Path, default=DATA, help=f"fixture folder (default {DATA})")
    parser.add_argument("--check", action="store_true", help="compare with the existing fixtures; write nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    worst = 0.0
    print("case | array | max |reference - stored| | max |latentedit - reference|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in CASES.items():
            stored = None
            if args.check:
                stored_config = json.loads((args.out / f"{name}.json").read_text())
                if stored_config != config:
                    sys.exit(f"{name}.json differs from the case defined here: {stored_config}")
                with np.load(args.out / f"{name}.npz") as npz:
                    stored = dict(npz)
            weights = Path(tmp) / f"{name}.{'pkl' if config['family'] == 'stylegan2' else 'pth'}"
            build = stylegan2_outputs if config["family"] == "stylegan2" else interfacegan_outputs
            reference = build(
                config, args.stylegan2_ada if config["family"] == "stylegan2" else args.interfacegan, stored, weights
            )
            if config["family"] == "stylegan2":
                with open(weights, "rb") as handle:
                    RecordingUnpickler(handle).load()
            mine = ours(config, weights, reference)
            for key in reference:
                against_stored = max_diff(reference[key], stored[key]) if key in (stored or {}) else float("nan")
                against_ours = max_diff(mine[key], reference[key]) if key in mine else float("nan")
                worst = max(worst, np.nan_to_num(against_stored), np.nan_to_num(against_ours))
                print(f"{name} | {key} {tuple(reference[key].shape)} | {against_stored:.2e} | {against_ours:.2e}")
            if stored is not None and set(stored) - set(reference):
                sys.exit(f"{name}: stored arrays {sorted(set(stored) - set(reference))} are not made here")
            if not args.check:
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / f"{name}.json").write_text(json.dumps(config, indent=1) + "\n")
                np.savez_compressed(args.out / f"{name}.npz", **reference)
    print("globals in the stylegan2-ada pickles:", ", ".join(sorted(RecordingUnpickler.seen)))
    print(f"largest difference {worst:.2e} (tolerance {TOLERANCE:g})")
    sys.exit(int(worst > TOLERANCE))


if __name__ == "__main__":
    main()
