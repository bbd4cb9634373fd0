"""Smile, eyeglasses and gender: linear probes on the feature maps of dlib-models' age network, trained here.

No packaged classifier exists for smile and eyeglasses, and dlib's gender network alone reads the 64x64 synthetic
faces of the embedded generator poorly. The age network (CC0, trained on real photographs; see
:mod:`latentedit.models.dlib`) sees the same 64x64 dlib-style chips as for age; two of its intermediate feature
maps (14x14x64 pooled to 7x7, and 7x7x128) keep where things are on the face, and one logistic regression per
attribute reads them. The probes were fitted on generator faces labelled by eye (scripts/train_attribute_scorers.py);
their weights (``attribute_probe.pt``, a state dict of ~115 KB) ship with latentedit. The gender score averages the
probe's logit with that of dlib's gender network, which was trained on real photographs.
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from ...files.paths import first_line
from ...files.weights import load_state_dict
from ..analysis import FaceAnalysis, FaceBatch
from ..dlib import CHANNEL_MEANS, CHIP_TEMPLATE
from ..onnxnet import OnnxNet
from . import Scorer
from .agegender import GenderNetScorer

WEIGHTS_PATH = Path(__file__).with_name("attribute_probe.pt")
OUTPUTS = ("smile", "eyeglasses", "gender")
CHIP_SIZE = 64
# Node outputs of age-v1.onnx read by the probes: after the first residual stage (64 x 14 x 14, average-pooled
# 2x2 to 7x7) and after the second (128 x 7 x 7).
FEATURE_NODES = ("layer_41_relu", "layer_22_relu")
FEATURE_DIM = 64 * 7 * 7 + 128 * 7 * 7
# What learned scorers (train-scorer) record they read, with the age network's sha256 (dlib.AGE_WEIGHTS).
FEATURE_EXTRACTOR = "dlib age-v1: layer_41_relu pooled 2x2 + layer_22_relu, 64x64 dlib-chip, (byte - mean) / 256"
CHUNK = 256


class AttributeProbe(nn.Module):
    """The age network's feature maps, flattened, and one logit per name in :data:`OUTPUTS`."""

    means: torch.Tensor  # a buffer: the channel means subtracted from the chip's bytes

    def __init__(self, backbone: OnnxNet) -> None:
        super().__init__()
        self.backbone = backbone
        self.register_buffer("means", torch.tensor(CHANNEL_MEANS).view(1, 3, 1, 1))
        self.linear = nn.Linear(FEATURE_DIM, len(OUTPUTS))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float (N, FEATURE_DIM) for float (N, 3, 64, 64) RGB chips in [0, 255], preprocessed as for age."""
        early, late = self.backbone.activations((pixels - self.means) / 256.0, FEATURE_NODES)
        return torch.cat([F.avg_pool2d(early, 2).flatten(1), late.flatten(1)], 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(pixels))

    @torch.inference_mode()
    def chip_features(self, chips: np.ndarray) -> torch.Tensor:
        """Float (N, FEATURE_DIM) features of uint8 (N, 64, 64, 3) RGB chips, on the probe's device."""
        out = [torch.zeros(0, FEATURE_DIM, device=self.means.device)]
        for start in range(0, len(chips), CHUNK):
            x = torch.from_numpy(chips[start : start + CHUNK]).to(self.means.device).permute(0, 3, 1, 2).float()
            out.append(self.features(x).float())
        return torch.cat(out)

    def batch_features(self, batch: FaceBatch, found: np.ndarray, mirror: bool = False) -> torch.Tensor:
        """Features of the faces of ``batch`` where ``found`` (``mirror``: of their chips' mirror images), computed
        once per batch for every probe (shipped or learned) that reads them."""

        def compute() -> torch.Tensor:
            chips = batch.crops(CHIP_SIZE, CHIP_TEMPLATE)[found]
            return self.chip_features(np.ascontiguousarray(chips[:, :, ::-1]) if mirror else chips)

        return batch.computed(f"age-features{'-mirrored' * mirror}:" + np.packbits(found).tobytes().hex(), compute)

    @torch.inference_mode()
    def batch_logits(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        """Logits (k, len(OUTPUTS)) of the faces of ``batch`` where ``found``."""
        features = self.batch_features(batch, found)
        return (
            torch.cat(
                [self.linear(features[i : i + CHUNK]) for i in range(0, len(features), CHUNK)]
                + [features.new_zeros(0, len(OUTPUTS))]
            )
            .cpu()
            .numpy()
        )


def load_probe(analysis: FaceAnalysis, path: Path = WEIGHTS_PATH) -> AttributeProbe:
    """The probe on ``analysis``'s age network with the shipped linear weights (or those in ``path``)."""
    probe = AttributeProbe(analysis.age_network).eval().requires_grad_(False).to(analysis.device)
    try:
        probe.linear.load_state_dict(load_state_dict(path))
    except RuntimeError as exc:
        raise WeightsError(f"weights {path} do not fit the attribute probe: {first_line(exc)}") from None
    return probe


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _ProbeScorer(Scorer):
    def __init__(self, analysis: FaceAnalysis) -> None:
        super().__init__(analysis)
        self.probe = analysis.attribute_probe
        self.index = OUTPUTS.index(self.name)

    def logits(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        with self.analysis.chip_inference():
            return self.probe.batch_logits(batch, found)[:, self.index].astype(np.float64)

    def _score(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logits(batch, found))


class SmileScorer(_ProbeScorer):
    name = "smile"
    unit = "probability of a visible smile"
    description = "linear probe on the age network's feature maps, fitted to generator faces labelled by eye"


class EyeglassesScorer(_ProbeScorer):
    name = "eyeglasses"
    unit = "probability of eyeglasses"
    description = "linear probe on the age network's feature maps, fitted to generator faces labelled by eye"


class GenderScorer(_ProbeScorer):
    name = "gender"
    unit = "probability of male"
    description = (
        "mean of the logits of dlib-models' gender classifier (CC0, real photographs) and of a linear "
        "probe on the age network's feature maps fitted to generator faces labelled by eye"
    )

    def __init__(self, analysis: FaceAnalysis) -> None:
        super().__init__(analysis)
        self.network = GenderNetScorer(analysis)

    def _score(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        p = np.clip(self.network.male_probability(batch, found).astype(np.float64), 1e-6, 1 - 1e-6)
        return _sigmoid((self.logits(batch, found) + np.log(p / (1 - p))) / 2)
