"""Discriminators for ``train-gan``: the DCGAN tutorial's, and PGGAN's (Karras et al. 2018) that grows with its
generator. Both return one raw score per image (a logit for DCGAN, a critic value for PGGAN)."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .generators.pggan import SQRT2


class DCGANDiscriminator(nn.Module):
    """The PyTorch DCGAN tutorial's discriminator for 64x64 RGB images (ndf 64), without its final sigmoid: the
    losses take logits (the same maths as the tutorial's BCELoss, computed stably)."""

    def __init__(self, ndf: int = 64, nc: int = 3) -> None:
        super().__init__()

        def down(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
            return [
                nn.Conv2d(cin, cout, 4, 2, 1, bias=False),
                *([nn.BatchNorm2d(cout)] if norm else []),
                nn.LeakyReLU(0.2, inplace=True),
            ]

        self.main = nn.Sequential(
            *down(nc, ndf, norm=False),
            *down(ndf, ndf * 2),
            *down(ndf * 2, ndf * 4),
            *down(ndf * 4, ndf * 8),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
        )

    def forward(self, images: torch.Tensor, lod: float = 0.0) -> torch.Tensor:
        if images.shape[-2:] != (64, 64):
            raise ValueError(f"images must be 64x64, got {tuple(images.shape[-2:])}")
        return self.main(images).flatten()


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """``x`` with one more feature map: the standard deviation of each feature over a group of images, averaged
    over features and positions (Karras et al. 2018). Groups are consecutive images, so that a batch split across
    processes forms the same groups as the whole batch; the group size is reduced to divide the batch."""
    n, c, h, w = x.shape
    size = math.gcd(n, group)
    y = x.reshape(n // size, size, c, h, w)
    std = (y - y.mean(1, keepdim=True)).square().mean(1).add(1e-8).sqrt().mean((1, 2, 3))  # one per group
    return torch.cat([x, std.repeat_interleave(size).view(n, 1, 1, 1).expand(n, 1, h, w)], 1)


class EqualizedConv2d(nn.Module):
    """A convolution with the equalised learning rate: weights drawn from N(0, 1) and scaled at run time by
    gain / sqrt(fan_in) (He's constant), zero bias."""

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.padding = gain / math.sqrt(cin * kernel * kernel), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalised learning rate (see :class:`EqualizedConv2d`)."""

    def __init__(self, cin: int, cout: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class PGGANDiscriminator(nn.Module):
    """PGGAN's discriminator, the mirror of a :class:`PGGANGenerator` with the same ``channels``: a 1x1 FromRGB
    per resolution, two 3x3 convolutions and 2x average pooling per block, minibatch standard deviation, a 3x3
    convolution and two dense layers at 4x4. Every layer has the equalised learning rate; leaky ReLU 0.2.

    ``forward(images, lod)`` takes images at the resolution the level of detail works at (see
    :func:`latentedit.core.gan_training.fade_reals`) and, during a fade, blends the new block's output with the
    FromRGB of the coarser resolution.
    """

    def __init__(self, channels: list[int], group: int = 4) -> None:
        super().__init__()
        self.blocks, self.group = len(channels) - 1, group
        width = channels[1:]  # width[k] at 2**(k + 2) pixels
        self.from_rgb = nn.ModuleList(EqualizedConv2d(3, c, 1) for c in width)
        self.convs = nn.ModuleList(
            nn.ModuleList([EqualizedConv2d(width[k], width[k], 3), EqualizedConv2d(width[k], width[k - 1], 3)])
            for k in range(1, len(width))
        )
        self.final_conv = EqualizedConv2d(width[0] + 1, width[0], 3)
        self.dense = EqualizedLinear(width[0] * 16, width[0])
        self.out = EqualizedLinear(width[0], 1, gain=1.0)

    def forward(self, images: torch.Tensor, lod: float = 0.0) -> torch.Tensor:
        top = self.blocks - 1 - math.floor(lod)  # index of the block at the images' resolution
        if top < 0 or images.shape[-1] != 4 << top:
            raise ValueError(f"at lod {lod} the images must be {4 << max(top, 0)} pixels, got {images.shape[-1]}")
        fade = lod - math.floor(lod) if top > 0 else 0.0
        x = _lrelu(self.from_rgb[top](images))
        for k in range(top, 0, -1):
            conv0, conv1 = self.convs[k - 1].children()
            x = F.avg_pool2d(_lrelu(conv1(_lrelu(conv0(x)))), 2)
            if fade and k == top:
                x = torch.lerp(x, _lrelu(self.from_rgb[k - 1](F.avg_pool2d(images, 2))), fade)
        x = _lrelu(self.final_conv(minibatch_stddev(x, self.group)))
        return self.out(_lrelu(self.dense(x.flatten(1)))).flatten()
