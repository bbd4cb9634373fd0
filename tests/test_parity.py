"""Numerical parity with the reference implementations, on seeded random weights saved in each official format.

Expected outputs (tests/data/parity) come from genforce/interfacegan's PyTorch ports and NVlabs'
stylegan2-ada-pytorch networks run on the same weights (scripts/build_parity_fixtures.py, tests/parity.py).
Tolerance: 1e-4 in [-1, 1] units.
"""

import numpy as np
import pytest
import torch

from latentedit.devtools import random_state, write_nvidia_pickle
from latentedit.models.generators import load_generator
from latentedit.models.generators.pggan import PGGANGenerator
from latentedit.models.generators.stylegan import StyleGANGenerator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator

from parity import interfacegan_channels, load_case

TOLERANCE = 1e-4


def assert_close(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    difference = float(np.abs(actual.numpy() - expected).max())
    assert difference <= TOLERANCE, difference


@pytest.mark.parametrize("case", ["pggan32", "pggan32_fused"])
def test_pggan_matches_interfacegan(case, tmp_path):
    config, expected = load_case(case)
    template = PGGANGenerator("t", interfacegan_channels(config["resolution"]), config["fused_scale"]).state_dict()
    torch.save(random_state(template, config["seed"]), tmp_path / "pggan.pth")
    generator, _ = load_generator("pggan-celebahq", device="cpu", weights=tmp_path / "pggan.pth")
    assert generator.resolution == config["resolution"]
    with torch.inference_mode():
        assert_close(generator.synthesize(torch.from_numpy(expected["z"])), expected["image"])


def check_style_case(generator, config: dict, expected: dict[str, np.ndarray]) -> None:
    """z -> w -> wp codes, and images from z, w (truncation on and off) and wp, against the reference."""
    psi, layers = config["truncation_psi"], config["truncation_layers"]
    z = torch.from_numpy(expected["z"])
    with torch.inference_mode():
        latents = generator.configure(psi, layers, "const").latents(z)
        assert_close(latents["w"], expected["w"])
        assert_close(latents["wp"], expected["wp_trunc"])
        checked = 0
        for key in expected:
            if key.startswith("image_"):
                space, truncated = key.split("_")[1], key.endswith("_trunc")
                codes = z if space == "z" else torch.from_numpy(expected[f"{space}_in"])
                generator.configure(psi if truncated else 1.0, layers, "const")
                assert_close(generator.synthesize(codes, space), expected[key])
                checked += 1
    assert checked == len([k for k in expected if k.startswith("image_")]) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("case", ["stylegan64", "stylegan128"])
def test_stylegan_matches_interfacegan(case, tmp_path):
    config, expected = load_case(case)
    resolution = config["resolution"]
    fused = [False] + [4 * 2**i >= 128 for i in range(1, resolution.bit_length() - 2)]  # InterFaceGAN's "auto"
    template = StyleGANGenerator("t", interfacegan_channels(resolution), fused).state_dict()
    torch.save(random_state(template, config["seed"]), tmp_path / "stylegan.pth")
    generator, _ = load_generator("stylegan-ffhq", device="cpu", weights=tmp_path / "stylegan.pth")
    assert generator.resolution == resolution and generator.num_ws == 2 * (resolution.bit_length() - 2)
    assert (generator.truncation_psi, generator.truncation_layers) == (0.7, 8)  # InterFaceGAN's defaults
    check_style_case(generator, config, expected)


@pytest.mark.parametrize("case", ["stylegan2_64_skip", "stylegan2_32_resnet", "stylegan2_32_orig"])
def test_stylegan2_pickle_matches_stylegan2_ada(case, tmp_path):
    config, expected = load_case(case)
    kwargs = config["init_kwargs"]
    empty = StyleGAN2Generator.from_config("t", kwargs)
    empty.load_state_dict(random_state(empty.state_dict(), config["seed"]))
    write_nvidia_pickle(tmp_path / "network.pkl", empty, kwargs)
    generator, _ = load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "network.pkl")
    assert generator.resolution == kwargs["img_resolution"]
    assert (generator.truncation_psi, generator.truncation_layers) == (1.0, None)  # generate.py's defaults
    check_style_case(generator, config, expected)


@pytest.mark.parametrize("noise", ["const", "random"])
def test_style_generators_run_under_reduced_precision_autocast(noise):
    """The CUDA fp16 path (torch.autocast) keeps dtypes consistent: truncation, noise, modulation; here in bfloat16."""
    sg2 = {
        "z_dim": 32,
        "w_dim": 32,
        "c_dim": 0,
        "img_resolution": 16,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 2},
        "synthesis_kwargs": {"channel_base": 256, "channel_max": 32, "conv_clamp": 256},
    }
    for generator in (
        StyleGANGenerator("t", [32, 32, 32, 16], [False, False, True]),
        StyleGAN2Generator.from_config("t", sg2),
    ):
        generator.load_state_dict(random_state(generator.state_dict(), 0))
        generator.eval().configure(0.7, 2, noise)
        z = torch.from_numpy(generator.sample(2, seed=0))
        with torch.inference_mode():
            full = generator.synthesize(z)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                reduced = generator.synthesize(z).float()
        assert reduced.shape == full.shape and torch.isfinite(reduced).all()
        if noise == "const":
            assert (reduced - full).abs().max() < 0.05 * full.abs().max()
