"""PGGAN (Karras et al., ICLR 2018) with the parameter names of InterFaceGAN's PyTorch port (``pggan_*.pth``).

Pixel norm before every convolution, equalised learning rate (weights scaled by ``gain / sqrt(fan_in)`` at run
time), nearest-neighbour upsampling or its ``fused_scale`` transposed-convolution variant, and a 1x1 ToRGB.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from .base import Generator

SQRT2 = math.sqrt(2.0)


def check_architecture(name: str, channels: list[int], *, blocks: int, max_blocks: int) -> None:
    """Refuse an architecture read from a weights file that no published network has (it could need any amount of
    memory): more than ``max_blocks`` resolution blocks, or more than 2048 channels in a layer."""
    if not 1 <= blocks <= max_blocks or not all(1 <= c <= 2048 for c in channels):
        raise WeightsError(
            f"weights for {name} describe {blocks} blocks with up to {max(channels, default=0)} "
            "channels: not a network this model family makes"
        )


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each feature vector (dim 1) to unit root mean square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def fused_up_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A (k, k, in, out) kernel as the (in, out, k+1, k+1) kernel that upsamples x2 and convolves in one
    ``conv_transpose2d(stride=2, padding=1)``: the official ``fused_scale`` trick (sum of the 4 shifts)."""
    kernel = F.pad(weight, (0, 0, 0, 0, 1, 1, 1, 1))
    kernel = kernel[1:, 1:] + kernel[:-1, 1:] + kernel[1:, :-1] + kernel[:-1, :-1]
    return kernel.permute(2, 3, 0, 1)


class Bias(nn.Module):
    """Holds the bias that InterFaceGAN's files store under ``*.wscale.bias``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))


class ConvBlock(nn.Module):
    """Pixel norm, optional x2 upsampling, equalised conv, bias, leaky ReLU (or linear for ToRGB)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        up: bool = False,
        fused: bool = False,
        gain: float = SQRT2,
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.up, self.fused, self.linear = up, up and fused, linear
        self.padding = 3 if kernel == 4 else kernel // 2  # the 4x4 first layer maps the 1x1 code to 4x4
        self.scale = gain / math.sqrt(cin * kernel * kernel)
        if self.fused:
            self.weight = nn.Parameter(torch.zeros(kernel, kernel, cin, cout))
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, bias=False)
        self.wscale = Bias(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.fused:
            x = F.conv_transpose2d(x, fused_up_kernel(self.weight * self.scale), stride=2, padding=1)
        else:
            if self.up:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, self.conv.weight * self.scale, padding=self.padding)
        x = x.add_(self.wscale.bias.view(1, -1, 1, 1))  # in place on the fresh conv output
        return x if self.linear else F.leaky_relu(x, 0.2, inplace=True)


class PGGANGenerator(Generator):
    """Z (N, channels[0]) to RGB in [-1, 1]; ``channels[i]`` (i >= 1) is the width at 2**(i + 1) pixels."""

    z_on_sphere = True
    max_batch: int | None = 4
    layer0: ConvBlock  # the first of the blocks registered as layer0, layer1, ...

    def __init__(self, name: str, channels: list[int], fused_scale: bool = False) -> None:
        super().__init__()
        self.name, self.latent_dim = name, channels[0]
        self.resolution = 2 ** len(channels)
        self.blocks = len(channels) - 1
        for i in range(1, len(channels)):
            first = (
                ConvBlock(channels[i - 1], channels[i], kernel=4)
                if i == 1
                else (ConvBlock(channels[i - 1], channels[i], up=True, fused=fused_scale))
            )
            self.add_module(f"layer{2 * i - 2}", first)
            self.add_module(f"layer{2 * i - 1}", ConvBlock(channels[i], channels[i]))
            self.add_module(f"output{i - 1}", ConvBlock(channels[i], 3, kernel=1, gain=1.0, linear=True))
        self.lod = nn.Parameter(torch.zeros(()))  # level of detail: > 0 stops early and upsamples

    @classmethod
    def from_state_dict(cls, name: str, state: dict[str, torch.Tensor]) -> "PGGANGenerator":
        """Build the architecture that ``state`` (an InterFaceGAN PGGAN state dict) describes and load it."""
        try:
            outputs = sum(1 for key in state if key.startswith("output") and key.endswith(".conv.weight"))
            channels = [state["layer0.conv.weight"].shape[1]] + [
                state[f"output{i}.conv.weight"].shape[1] for i in range(outputs)
            ]
        except KeyError as exc:
            raise WeightsError(f"not an InterFaceGAN PGGAN state dict: no {exc.args[0]!r}") from None
        except IndexError:
            raise WeightsError(
                "not an InterFaceGAN PGGAN state dict: a convolution weight has too few dimensions"
            ) from None
        check_architecture(name, channels, blocks=outputs, max_blocks=9)
        generator = cls(name, channels, fused_scale="layer2.weight" in state)
        generator.load_state_dict(state, strict=True)
        return generator

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        self.check_space(space)
        image = self.synthesize_lod(codes)
        scale = self.resolution // image.shape[-1]
        return F.interpolate(image, scale_factor=scale, mode="nearest") if scale > 1 else image

    def synthesize_lod(self, codes: torch.Tensor) -> torch.Tensor:
        """Images at the resolution that the level of detail ``lod`` works at, resolution / 2**floor(lod); a
        fractional lod blends in the next coarser output, upsampled, by its fraction (Karras et al.'s fade-in)."""
        lod = float(self.lod.detach())
        top = max(1, self.blocks - math.floor(lod))  # the last block that runs
        fade = lod - math.floor(lod) if top > 1 else 0.0
        x = codes.reshape(len(codes), self.latent_dim, 1, 1)
        for i in range(1, top + 1):
            x = getattr(self, f"layer{2 * i - 1}")(getattr(self, f"layer{2 * i - 2}")(x))
            if fade and i == top - 1:
                coarse = F.interpolate(getattr(self, f"output{i - 1}")(x), scale_factor=2, mode="nearest")
        image = getattr(self, f"output{top - 1}")(x)
        return torch.lerp(image, coarse, fade) if fade else image
