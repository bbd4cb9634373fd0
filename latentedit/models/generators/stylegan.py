"""StyleGAN (Karras et al., CVPR 2019) with the parameter names of InterFaceGAN's PyTorch port (``stylegan_*.pth``).

Mapping: pixel norm and 8 equalised dense layers (learning-rate multiplier 0.01). Synthesis: a learned
constant, then per layer noise, bias, leaky ReLU, instance norm and AdaIN style modulation; upsampling by
nearest neighbour + conv (or a fused transposed conv from 128 px on) followed by a [1, 2, 1] blur.
"""

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from .pggan import SQRT2, Bias, check_architecture, fused_up_kernel, pixel_norm
from .style import StyleGenerator

BLUR = torch.tensor([1.0, 2.0, 1.0]).outer(torch.tensor([1.0, 2.0, 1.0])) / 16


class Dense(nn.Module):
    """Equalised linear layer; ``linear.weight`` and ``wscale.bias`` as in the checkpoint files."""

    def __init__(
        self, cin: int, cout: int, gain: float = SQRT2, lr_multiplier: float = 1.0, lrelu: bool = False
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(cin, cout, bias=False)
        self.wscale = Bias(cout)
        self.scale, self.lr_multiplier, self.lrelu = gain / math.sqrt(cin) * lr_multiplier, lr_multiplier, lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.linear.weight * self.scale, self.wscale.bias * self.lr_multiplier)
        return F.leaky_relu(x, 0.2) if self.lrelu else x


class Mapping(nn.Module):
    """Pixel norm, then ``dense0`` … ``dense{layers-1}`` with leaky ReLU and learning-rate multiplier 0.01."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 8) -> None:
        super().__init__()
        self.layers = layers
        for i in range(layers):
            self.add_module(f"dense{i}", Dense(z_dim if i == 0 else w_dim, w_dim, lr_multiplier=0.01, lrelu=True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for i in range(self.layers):
            x = getattr(self, f"dense{i}")(x)
        return x


class Noise(nn.Module):
    """Per-channel scaled noise: the stored constant map, or fresh noise per image in ``random`` mode."""

    noise: torch.Tensor  # buffer

    def __init__(self, channels: int, resolution: int) -> None:
        super().__init__()
        self.register_buffer("noise", torch.zeros(1, 1, resolution, resolution))
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, mode: str) -> torch.Tensor:
        noise = self.noise if mode == "const" else torch.randn(len(x), 1, *x.shape[2:], device=x.device, dtype=x.dtype)
        return x + noise * self.weight.view(1, -1, 1, 1)


class StyleMod(nn.Module):
    """Holds the style's dense layer under ``style_mod.dense``, as in the checkpoint files."""

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.dense = Dense(w_dim, 2 * channels, gain=1.0)


class Truncation(nn.Module):
    """Holds the mean W under ``truncation.w_avg``, as in the checkpoint files."""

    w_avg: torch.Tensor  # buffer

    def __init__(self, w_dim: int) -> None:
        super().__init__()
        self.register_buffer("w_avg", torch.zeros(w_dim))


class Epilogue(nn.Module):
    """Noise, bias, leaky ReLU, instance norm, then AdaIN: x * (1 + scale(w)) + shift(w)."""

    def __init__(self, channels: int, resolution: int, w_dim: int) -> None:
        super().__init__()
        self.apply_noise = Noise(channels, resolution)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style_mod = StyleMod(channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str) -> torch.Tensor:
        x = F.leaky_relu(self.apply_noise(x, noise).add_(self.bias.view(1, -1, 1, 1)), 0.2, inplace=True)
        x = x - x.mean(dim=(2, 3), keepdim=True)
        style = self.style_mod.dense(w).view(len(w), 2, -1, 1, 1)
        gain = torch.rsqrt(x.square().mean(dim=(2, 3), keepdim=True) + 1e-8) * (style[:, 0] + 1)
        return torch.addcmul(style[:, 1], x, gain)  # instance norm and style in one pass


class SynthesisLayer(nn.Module):
    """One synthesis layer: the constant (layer 0), an upsampling conv + blur, or a 3x3 conv; then the epilogue."""

    blur_kernel: torch.Tensor  # buffer of the upsampling layers

    def __init__(self, index: int, cin: int, cout: int, w_dim: int, fused: bool) -> None:
        super().__init__()
        self.resolution = 4 * 2 ** (index // 2)
        self.kind = "const" if index == 0 else "up" if index % 2 == 0 else "conv"
        self.fused = fused and self.kind == "up"
        self.scale = SQRT2 / math.sqrt(cin * 9)
        if self.kind == "const":
            self.first_layer = nn.Parameter(torch.ones(1, cout, 4, 4))
        elif self.fused:
            self.weight = nn.Parameter(torch.zeros(3, 3, cin, cout))
        else:
            self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        if self.kind == "up":
            self.register_buffer("blur_kernel", BLUR.expand(cout, 1, 3, 3).clone(), persistent=False)
        self.epilogue = Epilogue(cout, self.resolution, w_dim)

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise: str) -> torch.Tensor:
        if self.kind == "const":
            x = self.first_layer.expand(len(w), -1, -1, -1)
        elif x is None:
            raise ValueError("only the constant first layer runs without an input")
        elif self.fused:
            x = F.conv_transpose2d(x, fused_up_kernel(self.weight * self.scale), stride=2, padding=1)
        else:
            if self.kind == "up":
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = F.conv2d(x, self.conv.weight * self.scale, padding=1)
        if self.kind == "up":
            x = F.conv2d(x, self.blur_kernel, padding=1, groups=x.shape[1])
        return self.epilogue(x, w, noise)


class ToRGB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 3, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(3))
        self.scale = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.conv.weight * self.scale, self.bias)


class Synthesis(nn.Module):
    def __init__(self, channels: list[int], w_dim: int, fused: list[bool]) -> None:
        super().__init__()
        self.blocks = len(channels) - 1
        for i in range(1, len(channels)):
            self.add_module(
                f"layer{2 * i - 2}", SynthesisLayer(2 * i - 2, channels[i - 1], channels[i], w_dim, fused[i - 1])
            )
            self.add_module(f"layer{2 * i - 1}", SynthesisLayer(2 * i - 1, channels[i], channels[i], w_dim, False))
            self.add_module(f"output{i - 1}", ToRGB(channels[i]))
        self.lod = nn.Parameter(torch.zeros(()))

    def forward(self, wp: torch.Tensor, noise: str) -> torch.Tensor:
        lod, x = float(self.lod.detach()), None
        for i in range(1, self.blocks + 1):
            if i + lod < self.blocks + 1:
                x = getattr(self, f"layer{2 * i - 2}")(x, wp[:, 2 * i - 2], noise)
                x = getattr(self, f"layer{2 * i - 1}")(x, wp[:, 2 * i - 1], noise)
                image = getattr(self, f"output{i - 1}")(x)
            else:
                image = F.interpolate(image, scale_factor=2, mode="nearest")
        return image


class StyleGANGenerator(StyleGenerator):
    """StyleGAN v1; ``channels[i]`` (i >= 1) is the width at 2**(i + 1) pixels, ``fused[i - 1]`` whether it
    upsamples by fused transposed conv."""

    z_on_sphere = True

    def __init__(self, name: str, channels: list[int], fused: list[bool], z_dim: int = 512, w_dim: int = 512) -> None:
        super().__init__()
        self.name, self.latent_dim, self.w_dim = name, z_dim, w_dim
        self.resolution = 2 ** len(channels)
        self.num_ws = 2 * (len(channels) - 1)
        self.mapping = Mapping(z_dim, w_dim)
        self.truncation = Truncation(w_dim)
        self.synthesis = Synthesis(channels, w_dim, fused)
        # Default truncation of InterFaceGAN's StyleGAN models (models/model_settings.py).
        self.configure(0.7, 8, "const")

    @property
    def w_avg(self) -> torch.Tensor:
        return self.truncation.w_avg

    @classmethod
    def from_state_dict(cls, name: str, state: dict[str, torch.Tensor]) -> "StyleGANGenerator":
        """Build the architecture that ``state`` (an InterFaceGAN StyleGAN state dict) describes and load it."""
        try:
            blocks = sum(1 for key in state if re.fullmatch(r"synthesis\.output\d+\.conv\.weight", key))
            channels = [state["synthesis.layer0.first_layer"].shape[1]] + [
                state[f"synthesis.output{i}.conv.weight"].shape[1] for i in range(blocks)
            ]
            fused = [False] + [f"synthesis.layer{2 * i}.weight" in state for i in range(1, blocks)]
            z_dim, w_dim = state["mapping.dense0.linear.weight"].shape[1], state["truncation.w_avg"].shape[0]
        except KeyError as exc:
            raise WeightsError(f"not an InterFaceGAN StyleGAN state dict: no {exc.args[0]!r}") from None
        except IndexError:
            raise WeightsError("not an InterFaceGAN StyleGAN state dict: a weight has too few dimensions") from None
        check_architecture(name, [*channels, z_dim, w_dim], blocks=blocks, max_blocks=9)
        generator = cls(name, channels, fused, z_dim, w_dim)
        derived = [k for k in state if k == "truncation.truncation" or k.endswith(".blur.kernel")]
        generator.load_state_dict({k: v for k, v in state.items() if k not in derived}, strict=True)
        return generator

    def map(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping(z)

    def synthesize_wp(self, wp: torch.Tensor) -> torch.Tensor:
        return self.synthesis(wp, self.noise)
