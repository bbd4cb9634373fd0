"""Generators and scorers kept loaded between the jobs of a long-lived worker (a Ray actor running part after part)."""

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import UsageError
from ..specs import GeneratorSpec
from .analysis import FaceAnalysis
from .generators import Generator
from .scorers import Scorer
from .scoring import load_scorers


class ModelCache:
    """Loads a generator or a set of scorers the first time a job asks for it and hands the same one to every later
    job asking for the same thing. A fresh cache per command (the default) loads everything once, as before; a worker
    holding one cache for every part of a job loads once in all. Files are not watched: keep a cache only for the
    length of one job."""

    def __init__(self) -> None:
        self._generators: dict[GeneratorSpec, tuple[Generator, str]] = {}
        self._scorers: dict[tuple, dict[str, Scorer]] = {}

    def generator(self, spec: GeneratorSpec) -> tuple[Generator, str]:
        """``spec.load()``: the generator on its device and the sha256 of its weights."""
        if spec not in self._generators:
            self._generators[spec] = spec.load()
        return self._generators[spec]

    def scorers(
        self, names: Sequence[str], *, device: str, precision: str, learned: Mapping[str, Path]
    ) -> dict[str, Scorer]:
        """The scorers for ``names`` (shipped ones, and ``learned`` scorer files by name) reading faces through one
        :class:`FaceAnalysis` on ``device`` at ``precision``."""
        key = (tuple(names), device, precision, tuple(sorted((n, str(p)) for n, p in learned.items())))
        if key not in self._scorers:
            try:
                analysis = FaceAnalysis(device, precision)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            self._scorers[key] = load_scorers(names, analysis, learned)
        return self._scorers[key]
