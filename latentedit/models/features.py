"""The perceptual distance of the inversion: dlib's age network's activations, LPIPS-style without learned weights."""

import functools
import operator

import torch
import torch.nn.functional as F
from torch import nn

from .analysis import FaceAnalysis
from .dlib import CHANNEL_MEANS

FEATURE_NODES = ("layer_50_relu", "layer_41_relu", "layer_22_relu")  # age-v1.onnx: 29x29x64, 14x14x64, 7x7x128
FEATURE_SIZE = 128  # renders above this size are reduced to it for the feature loss


class FeatureLoss(nn.Module):
    """Distance between the age network's activations at three depths, each unit-normalised over channels
    (LPIPS's form without its learned weights), averaged over positions and summed over depths."""

    means: torch.Tensor  # buffer

    def __init__(self, analysis: FaceAnalysis) -> None:
        super().__init__()
        self.net = analysis.age_network
        self.register_buffer("means", torch.tensor(CHANNEL_MEANS, device=analysis.device).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Normalised activations of images in [-1, 1], resized into [64, FEATURE_SIZE] pixels if outside."""
        size = min(max(images.shape[-1], 64), FEATURE_SIZE)
        if size != images.shape[-1]:
            images = F.interpolate(images, size=(size, size), mode="area" if size < images.shape[-1] else "bilinear")
        pixels = (images + 1) * 127.5
        out = self.net.activations((pixels - self.means) / 256.0, FEATURE_NODES)
        return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-8) for f in out]

    def forward(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        return functools.reduce(operator.add, ((x - y).pow(2).sum(1).flatten(1).mean(1) for x, y in zip(a, b)))
