"""The networks ``train-gan`` trains and the generator file it writes.

A trained generator file is a ``torch.save`` of a plain dict that loads with ``weights_only=True``: the fields of
:class:`latentedit.records.TrainedGeneratorHeader` plus the weights::

    {"format": "latentedit-generator", "format_version": 1, "arch": "dcgan" | "pggan", "name": "trained-dcgan64",
     "resolution": 64, "latent_dim": 100, "config": {...}, "template": [[x, y] * 5] | None,
     "training": {...}, "state_dict": {...}}

``config`` holds what builds the architecture (DCGAN: nz, ngf; PGGAN: channels), ``template`` the five-point
framing of the faces it was trained on (crop units; None when unknown), ``training`` a summary of the run. The
PGGAN state dict has InterFaceGAN's key layout, so ``PGGANGenerator.from_state_dict`` reads it as it reads
InterFaceGAN's ``pggan_*.pth``.
"""

import zipfile
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..errors import UsageError, WeightsError
from ..files.paths import first_line
from ..files.weights import check_tensors
from ..records import TrainedGeneratorHeader
from .discriminators import DCGANDiscriminator, EqualizedConv2d, EqualizedLinear, PGGANDiscriminator
from .generators.base import Generator
from .generators.dcgan import DCGANGenerator
from .generators.pggan import PGGANGenerator, check_architecture

M = TypeVar("M", bound=nn.Module)
ARCHS = ("dcgan", "pggan")
DCGAN_RESOLUTION = 64
PGGAN_RESOLUTIONS = tuple(2**k for k in range(3, 11))  # 8 ... 1024


def pggan_channels(resolution: int, width: int = 512) -> list[int]:
    """PGGAN's widths for ``resolution``: the latent size, then min(32 * width / r, width) at r = 4, 8, ...;
    width 512 gives Karras et al.'s (512 up to 32x32, 256 at 64x64, ... 16 at 1024x1024)."""
    if resolution not in PGGAN_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(map(str, PGGAN_RESOLUTIONS))}, got {resolution}")
    if width < 8:
        raise ValueError(f"width must be at least 8, got {width}")
    return [width] + [max(1, min(32 * width // (4 << k), width)) for k in range(int(np.log2(resolution)) - 1)]


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient: each process's share of a global sum."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics, when torch.distributed runs several processes, are those of the
    global batch (a synchronised batch norm that also works on the CPU with gloo, where torch's SyncBatchNorm does
    not). Its state dict is BatchNorm2d's. Every process must hold a local batch of the same size."""

    # Always tracks running statistics with an exponential average (a float momentum), so these are never None.
    running_mean: torch.Tensor
    running_var: torch.Tensor
    num_batches_tracked: torch.Tensor
    momentum: float

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps, momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        sums = _SumOverProcesses.apply(torch.cat([x.sum((0, 2, 3)), x.square().sum((0, 2, 3))]))
        count = x.numel() // channels * dist.get_world_size()
        mean = sums[:channels] / count
        var = sums[channels:] / count - mean.square()
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * (count / (count - 1)), self.momentum)
        scale = self.weight * torch.rsqrt(var + self.eps)
        return x * scale.view(1, -1, 1, 1) + (self.bias - mean * scale).view(1, -1, 1, 1)


def _global_batch_norm(module: M) -> M:
    """``module`` with every BatchNorm2d replaced by a :class:`GlobalBatchNorm2d` holding the same state."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            if child.momentum is None or not child.track_running_stats:
                raise ValueError(f"batch norm {name} must track running statistics with a momentum to be replaced")
            replacement = GlobalBatchNorm2d(child.num_features, child.eps, child.momentum)
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            _global_batch_norm(child)
    return module


@torch.no_grad()
def _initialise(module: nn.Module, rng: torch.Generator) -> None:
    """DCGAN: the tutorial's weights_init (convolutions N(0, 0.02), batch norm scale N(1, 0.02), shift 0);
    PGGAN: the equalised learning rate's N(0, 1) weights and zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) and not isinstance(module, PGGANGenerator):
            nn.init.normal_(layer.weight, 0.0, 0.02, generator=rng)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02, generator=rng)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, (EqualizedConv2d, EqualizedLinear)):
            nn.init.normal_(layer.weight, 0.0, 1.0, generator=rng)
            nn.init.zeros_(layer.bias)
    if isinstance(module, PGGANGenerator):  # InterFaceGAN's layout: conv weights in Conv2d, biases in wscale
        for name, parameter in module.named_parameters():
            if name.endswith("conv.weight"):
                nn.init.normal_(parameter, 0.0, 1.0, generator=rng)
            elif name.endswith("bias"):
                nn.init.zeros_(parameter)


def build_networks(arch: str, resolution: int, *, width: int, seed: int) -> tuple[Generator, nn.Module]:
    """A freshly initialised generator and discriminator (weights drawn from ``seed``), in training mode.

    ``width`` is PGGAN's widest layer (see :func:`pggan_channels`); DCGAN has the embedded generator's
    architecture (nz 100, ngf 64) at 64x64 only.
    """
    generator: Generator
    discriminator: nn.Module
    if arch == "dcgan":
        if resolution != DCGAN_RESOLUTION:
            raise ValueError(
                f"resolution must be {DCGAN_RESOLUTION} for dcgan (the embedded generator's), got {resolution}"
            )
        generator, discriminator = DCGANGenerator("trained-dcgan64"), DCGANDiscriminator()
        generator, discriminator = _global_batch_norm(generator), _global_batch_norm(discriminator)
    elif arch == "pggan":
        channels = pggan_channels(resolution, width)
        generator = PGGANGenerator(f"trained-pggan{resolution}", channels)
        generator.lod.requires_grad_(False)  # set by the schedule, not learned
        discriminator = PGGANDiscriminator(channels)
    else:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    rng = torch.Generator().manual_seed(seed)
    _initialise(generator, rng)
    _initialise(discriminator, rng)
    return generator, discriminator


class Synthesis(nn.Module):
    """A generator as a module whose ``forward`` renders codes at the current training resolution (what
    DistributedDataParallel wraps): PGGAN at its level of detail, DCGAN as it is."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        if isinstance(self.generator, PGGANGenerator):
            return self.generator.synthesize_lod(codes)
        return self.generator.synthesize(codes)


def generator_config(generator: Generator) -> tuple[str, dict]:
    """The architecture name and the config that rebuilds ``generator``."""
    if isinstance(generator, PGGANGenerator):
        widths = [getattr(generator, f"output{i}").conv.weight.shape[1] for i in range(generator.blocks)]
        channels = [generator.latent_dim, *widths]
        return "pggan", {"channels": channels}
    if isinstance(generator, DCGANGenerator):
        return "dcgan", {"nz": generator.latent_dim, "ngf": generator.ngf}
    raise ValueError(f"cannot describe a {type(generator).__name__} as a trained generator")


def generator_file(generator: Generator, *, template: np.ndarray | None, training: dict) -> dict:
    """The dict to ``torch.save`` as a trained generator file (see the module's docstring)."""
    arch, config = generator_config(generator)
    header = TrainedGeneratorHeader(
        arch=arch,
        name=generator.name,
        resolution=generator.resolution,
        latent_dim=generator.latent_dim,
        config=config,
        template=None if template is None else np.asarray(template, float).round(6).tolist(),
        training=training,
    )
    state = {key: value.detach().cpu().clone() for key, value in generator.state_dict().items()}
    return {**header.to_json(), "state_dict": state}


def build_generator(arch: str, name: str, config: dict) -> Generator:
    """An empty generator of architecture ``arch`` built from its ``config`` (see :func:`generator_config`); refuses
    (WeightsError) widths that no trained generator has."""
    if arch == "dcgan":
        nz, ngf = int(config["nz"]), int(config["ngf"])
        check_architecture(name, [nz, ngf * 8], blocks=1, max_blocks=1)
        return DCGANGenerator(name, nz=nz, ngf=ngf)
    if arch == "pggan":
        channels = [int(c) for c in config["channels"]]
        check_architecture(name, channels, blocks=len(channels) - 1, max_blocks=9)
        generator = PGGANGenerator(name, channels)
        generator.max_batch = None if generator.resolution <= 256 else PGGANGenerator.max_batch
        return generator
    raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")


def read_generator_file(path: Path) -> Generator | None:
    """The generator in a file written by ``train-gan`` (read with ``weights_only=True``), on the CPU in eval
    mode; None when the file is not one (a plain state dict, say). Raises :class:`WeightsError` when it is one
    but cannot be read."""
    if not zipfile.is_zipfile(path):  # torch.save writes zip files; pickles and others are the registry's to read
        return None
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not ours to judge: the registry's loader reports unreadable files
        return None
    if not isinstance(record, dict) or record.get("format") != TrainedGeneratorHeader.FORMAT:
        return None
    try:
        header = TrainedGeneratorHeader.from_json({k: v for k, v in record.items() if k != "state_dict"}, str(path))
        state = record.get("state_dict")
        if not isinstance(state, dict):
            raise WeightsError(f"{path} is a latentedit generator file without a state_dict")
        generator = build_generator(header.arch, header.name, header.config)
        generator.load_state_dict(check_tensors(state, str(path)), strict=True)
        generator.template = None if header.template is None else np.asarray(header.template, np.float64).reshape(5, 2)
    except UsageError as exc:
        raise WeightsError(str(exc)) from None
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{path} is a damaged latentedit generator file: {type(exc).__name__}: {first_line(exc)}"
        ) from None
    if (generator.resolution, generator.latent_dim) != (header.resolution, header.latent_dim):
        raise WeightsError(
            f"{path} declares a {header.resolution}-pixel generator with {header.latent_dim} latent "
            f"dimensions but holds a {generator.resolution}-pixel one with {generator.latent_dim}"
        )
    return generator.eval()
