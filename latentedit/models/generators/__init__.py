"""Registry of face generators: what each model is, where its weights come from, how to load it."""

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...device import resolve_device
from ...errors import UsageError, WeightsError
from ...files.downloads import DownloadedWeights
from ...files.paths import first_line, require_file
from ...files.weights import PackagedWeights, load_state_dict, sha256_file
from ...records import utc_now
from ...specs import DEFAULT_MODEL, StyleOptions
from ..alignment import template_points
from .base import Generator, downstream_codes, render, to_typical_norm, to_uint8
from .dcgan import DCGANGenerator
from .pggan import PGGANGenerator
from .style import StyleGenerator
from .stylegan import StyleGANGenerator
from .stylegan2 import StyleGAN2Generator

__all__ = [
    "Generator",
    "downstream_codes",
    "ModelInfo",
    "MODELS",
    "DEFAULT_MODEL",
    "generator_template",
    "get_model",
    "model_template",
    "load_generator",
    "render",
    "run_record",
    "to_typical_norm",
    "to_uint8",
]

DEFAULT_STYLE = StyleOptions()  # the model's own truncation and noise


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry: metadata known without loading anything, and how to build and fill the module."""

    name: str
    description: str
    resolution: int
    latent_dim: int
    spaces: tuple[str, ...]
    weights: PackagedWeights | DownloadedWeights
    build: Callable[[], Generator] | None = None
    state_key: str | None = None
    # Reads a weights file and returns the filled generator (architecture from the file); replaces build.
    loader: Callable[[str, Path], Generator] | None = None
    # Where faces sit in its samples: a latentedit.models.alignment.TEMPLATES name, to align photos to it.
    template: str = "ffhq"

    def load(self, path: Path) -> Generator:
        if self.loader is not None:
            return self.loader(self.name, path)
        if self.build is None:
            raise ValueError(f"model {self.name} has neither a build nor a loader")
        generator = self.build()
        try:
            generator.load_state_dict(load_state_dict(path, self.state_key), strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"weights {path} do not fit model {self.name}: {first_line(exc)}") from None
        return generator

    def weights_status(self) -> str:
        path = self.weights.locate()
        if path is None:
            return f"missing: {self.weights.install_command}"
        return f"available ({path})" if self.weights.sha256 else f"available, unpinned: no published sha256 ({path})"


def _state_dict_loader(
    from_state_dict: Callable[[str, dict[str, torch.Tensor]], Generator],
) -> Callable[[str, Path], Generator]:
    def load(name: str, path: Path) -> Generator:
        try:
            return from_state_dict(name, load_state_dict(path))
        except RuntimeError as exc:
            raise WeightsError(f"weights {path} do not fit model {name}: {first_line(exc)}") from None

    return load


def _load_stylegan2(name: str, path: Path) -> Generator:
    """An NVIDIA ``.pkl`` (read without running its code) or a zip ``torch.save`` of ``G_ema.state_dict()``."""
    if zipfile.is_zipfile(path):
        return StyleGAN2Generator.from_state_dict(name, load_state_dict(path))
    return StyleGAN2Generator.from_file(name, path)


def _interfacegan(model: str, filename: str, url: str) -> DownloadedWeights:
    # URLs from InterFaceGAN's Colab notebook (docs/InterFaceGAN.ipynb); no digest is published.
    return DownloadedWeights(model, filename, url, "https://github.com/genforce/interfacegan (docs/InterFaceGAN.ipynb)")


def _stylegan(name: str, dataset: str, url: str) -> "ModelInfo":
    return ModelInfo(
        name=name,
        description=f"StyleGAN trained on {dataset}, InterFaceGAN's PyTorch port (truncation 0.7 on 8 layers)",
        resolution=1024,
        latent_dim=512,
        spaces=("z", "w", "wp"),
        weights=_interfacegan(name, url.split("/")[-1].split("?")[0], url),
        loader=_state_dict_loader(StyleGANGenerator.from_state_dict),
    )


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
            template="dcgan-digiface64",
        ),
        ModelInfo(
            name="pggan-celebahq",
            description="PGGAN trained on CelebA-HQ, InterFaceGAN's PyTorch port",
            resolution=1024,
            latent_dim=512,
            spaces=("z",),
            weights=_interfacegan(
                "pggan-celebahq",
                "pggan_celebahq.pth",
                "https://www.dropbox.com/s/t74z87pk3cf8ny7/pggan_celebahq.pth?dl=1",
            ),
            loader=_state_dict_loader(PGGANGenerator.from_state_dict),
        ),
        _stylegan(
            "stylegan-celebahq", "CelebA-HQ", "https://www.dropbox.com/s/nmo2g3u0qt7x70m/stylegan_celebahq.pth?dl=1"
        ),
        _stylegan("stylegan-ffhq", "FFHQ", "https://www.dropbox.com/s/qyv37eaobnow7fu/stylegan_ffhq.pth?dl=1"),
        ModelInfo(
            name="stylegan2-ffhq",
            description="StyleGAN2 trained on FFHQ, NVIDIA's stylegan2-ada-pytorch pickle "
            "(read without running its code)",
            resolution=1024,
            latent_dim=512,
            spaces=("z", "w", "wp"),
            weights=DownloadedWeights(
                "stylegan2-ffhq",
                "stylegan2-ada-ffhq.pkl",
                "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl",
                "https://github.com/NVlabs/stylegan2-ada-pytorch (README, pre-trained networks)",
            ),
            loader=_load_stylegan2,
        ),
    ]
}


def get_model(name: str) -> ModelInfo:
    """The registry entry for ``name``, or a one-line error listing the choices."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def model_template(name: str) -> np.ndarray:
    """The five-point framing (crop units) of the samples of registry model ``name`` (unknown names: FFHQ's)."""
    info = MODELS.get(name)
    return template_points(info.template if info is not None else "ffhq")


def generator_template(generator: Generator) -> np.ndarray:
    """The five-point framing of ``generator``'s samples (crop units): the generator's own (a trained generator
    file's), else the registry's (default: FFHQ's)."""
    return template_points(generator.template) if generator.template is not None else model_template(generator.name)


def load_generator(
    model: str = DEFAULT_MODEL,
    *,
    weights: Path | None = None,
    device: str | torch.device = "auto",
    style: StyleOptions = DEFAULT_STYLE,
) -> tuple[Generator, str]:
    """Build ``model`` with verified weights on ``device`` in eval mode.

    ``weights`` overrides the registry's file (its sha256 is then recorded but not pinned); the PGGAN and
    StyleGAN families read their architecture from the file, so smaller checkpoints of the same kind load too.
    A generator file written by ``train-gan`` declares its architecture, model name and framing itself (see
    :mod:`latentedit.models.gan`); ``model`` may then be the default, that model name, or a registry model of the
    same architecture. ``style`` (truncation and noise) applies to StyleGAN models; its None fields keep the model's
    defaults. Returns the generator and the sha256 of the weights it was loaded from.
    """
    from ..gan import generator_config, read_generator_file  # here: latentedit.models.gan imports this package

    given = style.given()
    trained = read_generator_file(require_file(weights, "weights file", WeightsError)) if weights is not None else None
    if trained is not None and weights is not None:
        if model not in (DEFAULT_MODEL, trained.name) and not model.startswith(generator_config(trained)[0] + "-"):
            raise UsageError(
                f"{weights} holds {trained.name}, a generator trained by latentedit; leave out the model {model!r}"
            )
        if given:
            raise UsageError(f"{', '.join(given)} only apply to StyleGAN models, not to {trained.name}")
        generator, digest = trained, sha256_file(Path(weights))
    else:
        info = get_model(model)
        if given and "wp" not in info.spaces:
            raise UsageError(f"{', '.join(given)} only apply to StyleGAN models, not to {model}")
        path = weights if weights is not None else info.weights.verified_path()
        digest = sha256_file(path) if weights is not None or not info.weights.sha256 else info.weights.sha256
        generator = info.load(Path(path))
    device = resolve_device(device)
    if isinstance(generator, StyleGenerator):
        generator.configure(
            generator.truncation_psi if style.truncation_psi is None else style.truncation_psi,
            generator.truncation_layers if style.truncation_layers is None else style.truncation_layers,
            generator.noise if style.noise is None else style.noise,
        )
    return generator.eval().requires_grad_(False).to(device), digest


def run_record(model: str, digest: str, generator: Generator, weights: Path | None = None) -> dict:
    """The fields of :class:`~latentedit.records.RunHead`, the head of every output record: tool, version, date,
    model, weights sha256 (and the file when given by ``--weights``) and the generator's run-time settings."""
    return {
        "tool": "latentedit",
        "version": __version__,
        "date": utc_now(),
        "model": model,
        "weights_sha256": digest,
        **({"weights_file": str(weights)} if weights else {}),
        **generator.settings(),
    }
