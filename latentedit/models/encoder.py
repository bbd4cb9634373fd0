"""The inversion encoder: a small CNN that reads a generator's code off its image, the inversion's first start."""

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError
from .generators import Generator

ENCODER_DIR = Path(__file__).resolve().parent / "encoders"
ENCODER_FORMAT = "latentedit-encoder"


class Encoder(nn.Module):
    """A small CNN from a generator's 64x64 image (N, 3, 64, 64) in [-1, 1] to its Z code: the inversion's start."""

    def __init__(self, code_dim: int = 100, width: int = 32) -> None:
        super().__init__()

        def down(cin: int, cout: int, kernel: int, norm: bool = True) -> list[nn.Module]:
            conv = nn.Conv2d(cin, cout, kernel, 2, 1, bias=not norm)
            return [conv, *([nn.BatchNorm2d(cout)] if norm else []), nn.LeakyReLU(0.2, inplace=True)]

        self.code_dim, self.width = code_dim, width
        self.net = nn.Sequential(
            *down(3, width, 4, norm=False),  # 32 x 32
            *down(width, 2 * width, 4),  # 16 x 16
            *down(2 * width, 4 * width, 4),  # 8 x 8
            *down(4 * width, 6 * width, 3),  # 4 x 4
            nn.Flatten(),
            nn.Linear(6 * width * 16, code_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def save(self, path: Path, header: dict) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        header = {**header, "code_dim": self.code_dim, "width": self.width}
        torch.save({ENCODER_FORMAT: json.dumps(header), "state_dict": state}, path)

    @classmethod
    def load(cls, path: Path) -> tuple["Encoder", dict]:
        """An encoder file (read with ``weights_only=True``) and its header, in eval mode on the CPU."""
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            header = json.loads(checkpoint[ENCODER_FORMAT])
            encoder = cls(header["code_dim"], header["width"])
            encoder.load_state_dict(checkpoint["state_dict"])
        except Exception as exc:  # torch.load, json and load_state_dict raise many types for bad files
            raise WeightsError(f"{path} is not a latentedit inversion encoder: {type(exc).__name__}: {exc}") from None
        return encoder.eval().requires_grad_(False), header


def load_encoder(generator: Generator, space: str) -> Encoder | None:
    """The shipped encoder for ``generator`` in ``space``, on its device, or None if there is none."""
    path = ENCODER_DIR / f"{generator.name}.pt"
    if not path.is_file():
        return None
    encoder, header = Encoder.load(path)
    fits = header.get("space") == space and header.get("resolution") == generator.resolution
    return encoder.to(generator.device) if fits and encoder.code_dim == generator.code_shape(space)[-1] else None
