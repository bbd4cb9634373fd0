"""The parity cases in tests/data/parity/ (see latentedit.devtools for how their weights are made)."""

import json
from pathlib import Path

import numpy as np
import torch

from latentedit.devtools import random_state

DATA = Path(__file__).resolve().parent / "data" / "parity"


def load_case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The config (JSON) and the expected arrays (npz) of one parity case."""
    config = json.loads((DATA / f"{name}.json").read_text())
    with np.load(DATA / f"{name}.npz") as arrays:
        return config, dict(arrays)


def interfacegan_channels(resolution: int) -> list[int]:
    """InterFaceGAN's widths: 512 up to 32 px, then halving (channels[0] is the latent size)."""
    return [512] + [min(512, 16384 >> (i + 1)) for i in range(1, resolution.bit_length() - 1)]


def parity_generator(config: dict) -> torch.nn.Module:
    """latentedit's network for a parity case's config, filled with the case's seeded weights (in eval mode)."""
    from latentedit.models.generators.pggan import PGGANGenerator
    from latentedit.models.generators.stylegan import StyleGANGenerator
    from latentedit.models.generators.stylegan2 import StyleGAN2Generator

    family = config["family"]
    if family == "stylegan2":
        generator = StyleGAN2Generator.from_config("t", config["init_kwargs"])
    elif family == "stylegan":
        resolution = config["resolution"]
        fused = [False] + [4 * 2**i >= 128 for i in range(1, resolution.bit_length() - 2)]  # InterFaceGAN's "auto"
        generator = StyleGANGenerator("t", interfacegan_channels(resolution), fused)
    else:
        generator = PGGANGenerator("t", interfacegan_channels(config["resolution"]), config["fused_scale"])
    generator.load_state_dict(random_state(generator.state_dict(), config["seed"]))
    return generator.eval().requires_grad_(False)
