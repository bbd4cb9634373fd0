"""Attribute scorers: each maps a :class:`~latentedit.models.analysis.FaceBatch` to one float per image, NaN where
no face was found. They read faces through a shared :class:`~latentedit.models.analysis.FaceAnalysis`."""

import numpy as np

from ..analysis import FaceAnalysis, FaceBatch


class Scorer:
    """Base class: set ``name``, ``unit`` and ``description``; implement :meth:`_score`.

    Scorers take their networks from ``analysis`` (or load their own once in ``__init__``) and are then reused for
    every batch.
    """

    name: str
    unit: str
    description: str

    def __init__(self, analysis: FaceAnalysis) -> None:
        self.analysis = analysis

    @property
    def device(self):
        return self.analysis.device

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
