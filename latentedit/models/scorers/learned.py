"""Scorers that users train on their own labels (``latentedit train-scorer``): a linear probe on the same age-network
features as the shipped smile, eyeglasses and gender probes (square-rooted, see :func:`probe_input`), so it reads
faces of any generator and photos alike.

A scorer file is a ``torch.save`` dict, read with ``weights_only=True``: ``"latentedit-scorer"`` (the JSON of a
:class:`~latentedit.records.ScorerHeader`), ``"weight"`` (float32, FEATURE_DIM) and ``"bias"`` (float32, 1). The
header names the feature extractor and the sha256 of the age network's weights; a file built on other features is
refused.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import torch

from ...errors import UsageError, WeightsError
from ...files.weights import check_tensors, read_checkpoint
from ...records import ScorerHeader
from ..analysis import FaceAnalysis, FaceBatch
from ..dlib import AGE_WEIGHTS
from . import Scorer
from .attribute_probe import FEATURE_DIM, FEATURE_EXTRACTOR

HEADER_KEY = "latentedit-scorer"
FEATURES = f"{FEATURE_EXTRACTOR}; square root"  # what the header's feature_extractor names


@overload
def probe_input(features: np.ndarray) -> np.ndarray: ...
@overload
def probe_input(features: torch.Tensor) -> torch.Tensor: ...
def probe_input(features: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """What a learned probe reads: the square root of the (non-negative, ReLU) features. With a few labels this ranks
    faces better than the features themselves (by 0.3 to 5 points of ROC AUC for smile, eyeglasses and gender with
    100 labels: random subsets of the faces labelled in TRAINSET.md, measured on the rest)."""
    return features.clamp(min=0).sqrt() if isinstance(features, torch.Tensor) else np.sqrt(np.maximum(features, 0))


@dataclass(frozen=True)
class ScorerFile:
    """A learned scorer's contents: its header and the probe on raw features (``logit = features @ weight + bias``)."""

    header: ScorerHeader
    weight: torch.Tensor  # float32 (FEATURE_DIM,)
    bias: float

    def checkpoint(self) -> dict:
        """What ``torch.save`` writes (see the module docstring)."""
        return {
            HEADER_KEY: json.dumps(self.header.to_json()),
            "weight": self.weight.float().contiguous(),
            "bias": torch.tensor([self.bias], dtype=torch.float32),
        }

    def logits(self, features: np.ndarray | torch.Tensor) -> np.ndarray:
        """Float64 logits of (N, FEATURE_DIM) features, as :func:`~latentedit.models.scoring.face_features` gives
        them (NaN rows give NaN)."""
        features = probe_input(torch.as_tensor(features).double())
        return (features @ self.weight.to(features.device).double() + self.bias).cpu().numpy()


def read_scorer(path: Path) -> ScorerFile:
    """The scorer in ``path``, checked: ours, well-formed, finite, and built on this latentedit's features."""
    data = read_checkpoint(path, "scorer")
    if not isinstance(data, dict) or not isinstance(data.get(HEADER_KEY), str):
        raise WeightsError(
            f"{path} is not a latentedit scorer file (no {HEADER_KEY!r} header); make one with latentedit train-scorer"
        )
    try:
        raw = json.loads(data[HEADER_KEY])
    except (ValueError, RecursionError):
        raise WeightsError(f"scorer file {path}: its header is not valid JSON") from None
    try:
        header = ScorerHeader.from_json(raw, f"scorer file {path}")
    except UsageError as exc:
        raise WeightsError(str(exc)) from None
    if header.feature_extractor != FEATURES or header.feature_extractor_sha256 != AGE_WEIGHTS.sha256:
        raise WeightsError(
            f"scorer file {path} reads other face features ({header.feature_extractor}, weights "
            f"{header.feature_extractor_sha256[:12]}…) than this latentedit computes (weights "
            f"{AGE_WEIGHTS.sha256[:12]}…): train it again with latentedit train-scorer"
        )
    tensors = check_tensors({k: data.get(k) for k in ("weight", "bias")}, f"scorer file {path}")
    if tuple(tensors["weight"].shape) != (FEATURE_DIM,) or tuple(tensors["bias"].shape) != (1,):
        raise WeightsError(
            f"scorer file {path}: weight must have shape ({FEATURE_DIM},) and bias (1,), got "
            f"{tuple(tensors['weight'].shape)} and {tuple(tensors['bias'].shape)}"
        )
    return ScorerFile(header, tensors["weight"].float(), float(tensors["bias"][0]))


class LearnedScorer(Scorer):
    """The probability of a learned attribute, read from the face features every probe shares (computed once per
    batch, see :meth:`~latentedit.models.scorers.attribute_probe.AttributeProbe.batch_features`)."""

    def __init__(self, analysis: FaceAnalysis, scorer: ScorerFile, name: str, path: Path) -> None:
        super().__init__(analysis)
        self.scorer, self.name, self.path = scorer, name, Path(path)
        self.unit = f"probability of {scorer.header.attribute}"
        self.description = (
            f"linear probe on the age network's feature maps, trained with train-scorer on "
            f"{scorer.header.labels.positive} + {scorer.header.labels.negative} labelled faces "
            f"(cross-validated ROC AUC {scorer.header.cv_auc:.3f})"
        )

    @classmethod
    def load(cls, path: Path, analysis: FaceAnalysis, name: str | None = None) -> "LearnedScorer":
        """The scorer in ``path``, reporting as ``name`` (default: its header's attribute)."""
        scorer = read_scorer(path)
        return cls(analysis, scorer, name or scorer.header.attribute, path)

    def logits(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        return self.scorer.logits(self.analysis.attribute_probe.batch_features(batch, found))

    def _score(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(self.logits(batch, found) / 2))  # the logistic function, without overflow
