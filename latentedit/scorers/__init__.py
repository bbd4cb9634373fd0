"""Attribute scorers: each maps a :class:`~latentedit.faces.FaceBatch` to one float per image, NaN where no face."""

import numpy as np
import torch

from ..device import resolve_device
from ..faces import FaceBatch


class Scorer:
    """Base class: set ``name``, ``unit`` and ``description``; implement :meth:`_score`.

    Scorers load their weights in ``__init__`` (on ``device``) and are then reused for every batch.
    """

    name: str
    unit: str
    description: str

    def __init__(self, device: str | torch.device = "auto") -> None:
        self.device = resolve_device(device)

    def score(self, batch: FaceBatch) -> np.ndarray:
        """Float64 (N,) scores for ``batch``, NaN where no face was found."""
        found = batch.found
        values = np.full(len(batch), np.nan)
        if found.any():
            values[found] = np.asarray(self._score(batch, found), np.float64)
        return values

    def _score(self, batch: FaceBatch, found: np.ndarray) -> np.ndarray:
        """Scores of the images where ``found`` is true, in order."""
        raise NotImplementedError
