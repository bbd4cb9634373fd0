"""Request building blocks shared by the commands: which generator, which output folder, how to invert photos.

Each command's own request (``SampleRequest``, ``ScoreRequest``, ``EditRequest``...) lives in its module under
:mod:`latentedit.commands` and is made of these parts; the CLI builds them from its options.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError

if TYPE_CHECKING:
    from .models.generators import Generator

DEFAULT_MODEL = "dcgan-digiface64"
SPACES = ("z", "w", "wp")
NOISE_MODES = ("const", "random")


@dataclass(frozen=True)
class StyleOptions:
    """StyleGAN run-time options; None keeps the model's default (truncation 0.7 on 8 layers for InterFaceGAN's
    StyleGAN, off for StyleGAN2; const noise)."""

    truncation_psi: float | None = None
    truncation_layers: int | None = None
    noise: str | None = None

    def given(self) -> list[str]:
        """The names of the options that are set."""
        return [name for name, value in vars(self).items() if value is not None]


@dataclass(frozen=True)
class GeneratorSpec:
    """A generator to load: registry name (None: the default, or the one a given folder was made with), optional
    weights file (architecture read from it), device and style options."""

    model: str | None = None
    weights: Path | None = None
    device: str = "auto"
    style: StyleOptions = field(default_factory=StyleOptions)

    @property
    def name(self) -> str:
        return self.model or DEFAULT_MODEL

    def load(self) -> "tuple[Generator, str]":
        """The generator in eval mode on its device, and the sha256 of the weights it was loaded from."""
        from .models.generators import load_generator

        return load_generator(self.name, weights=self.weights, device=self.device, style=self.style)


@dataclass(frozen=True)
class OutputSpec:
    """An output folder (or file) and whether an existing one may be replaced."""

    path: Path
    overwrite: bool = False


@dataclass(frozen=True)
class InversionSettings:
    """How hard to search for a photo's code: Adam iterations, starts per face, learning rate and loss weights."""

    iterations: int = 200
    starts: int | None = None  # None: 1 where a learned encoder gives the first start, else 4
    lr: float = 0.05
    feature_weight: float = 0.1
    prior_weight: float = 0.002
    explore: float = 0.25  # fraction of the iterations run with every start before only the best goes on
    seed: int = 0
    batch_size: int = 16  # faces optimised together (each with all its starts)

    def check(self) -> None:
        if self.iterations < 0:
            raise UsageError(f"iterations must be 0 or more, got {self.iterations}")
        if self.starts is not None and self.starts < 1:
            raise UsageError(f"starts must be at least 1, got {self.starts}")
        if self.batch_size < 1:
            raise UsageError(f"the inversion batch size must be positive, got {self.batch_size}")


@dataclass(frozen=True)
class TuningSettings:
    """Pivotal tuning of a generator to one photo: Adam steps, learning rate, the weight of the locality term and the
    seed of its random codes."""

    steps: int = 100
    lr: float = 3e-4
    locality: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class PhotoOptions:
    """How photos are turned into codes: the inversion settings, which face of each photo (0 = largest), or
    ``aligned``: the photos already are face crops at the generator's framing and resolution (no detection)."""

    settings: InversionSettings = field(default_factory=InversionSettings)
    face_index: int = 0
    aligned: bool = False
