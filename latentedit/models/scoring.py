"""Scoring the InterFaceGAN attributes of images, or of latent codes rendered on the fly (no file I/O)."""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..errors import LatentEditError, UsageError
from .analysis import FaceAnalysis
from .generators import Generator, generator_template, render
from .scorers import Scorer
from .scorers.agegender import AgeScorer
from .scorers.attribute_probe import FEATURE_DIM, EyeglassesScorer, GenderScorer, SmileScorer
from .scorers.learned import LearnedScorer
from .scorers.pose import PoseScorer

# The five InterFaceGAN attributes, in output order. A name without an entry in SCORERS is reported as unavailable.
ATTRIBUTES = ("pose", "smile", "age", "gender", "eyeglasses")
SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (PoseScorer, SmileScorer, AgeScorer, GenderScorer, EyeglassesScorer)
}
BATCH_SIZE = 256


def check_learned_name(name: str) -> str:
    """``name`` if it can name a learned attribute: not a shipped attribute's name, and usable in file names."""
    if name in ATTRIBUTES:
        raise UsageError(
            f"{name!r} is a shipped attribute's name: give your own attribute another name, e.g. my_{name}"
        )
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        raise UsageError(f"attribute name {name!r} must start with a letter and hold only letters, digits, - and _")
    return name


def parse_attributes(spec: str | Sequence[str] | None, learned: Iterable[str] = ()) -> list[str]:
    """Attribute names from ``"pose,age"`` or a list, checked against :data:`ATTRIBUTES` and the names of
    ``learned`` scorers (None: all of them; see :func:`check_learned_name`)."""
    learned = [check_learned_name(n) for n in learned]
    known = [*ATTRIBUTES, *learned]
    names = known if spec is None else [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(
            f"unknown attribute {', '.join(map(repr, unknown)) or '(none)'}; choose from: {', '.join(known)}"
        )
    return names


def load_scorers(
    attrs: str | Sequence[str] | None, analysis: FaceAnalysis, learned: Mapping[str, Path] | None = None
) -> dict[str, Scorer]:
    """Scorers for ``attrs`` (see :func:`parse_attributes`) reading faces through ``analysis``: the shipped ones, and
    ``learned`` scorer files (train-scorer) under the names given; raises if an attribute has no scorer here."""
    learned = dict(learned or {})
    names = parse_attributes(attrs, learned)
    missing = [n for n in names if n not in SCORERS and n not in learned]
    if missing:
        raise LatentEditError(
            f"no scorer for {', '.join(missing)} in this version (available: {', '.join(SCORERS)}); "
            f"pass --attrs {','.join(n for n in names if n in SCORERS) or 'pose'}"
        )
    return {
        name: LearnedScorer.load(learned[name], analysis, name) if name in learned else SCORERS[name](analysis)
        for name in names
    }


@dataclass
class Scores:
    """Per-image results: ``values[attr]`` float (N,) with NaN where no face; ``found`` and detector ``confidence``;
    when asked for, ``identity``: unit-norm (N, 128) identity embeddings, NaN rows where no face."""

    names: list[str]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    identity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.found)

    def __getitem__(self, attr: str) -> np.ndarray:
        return self.values[attr]

    @property
    def missing(self) -> int:
        return int((~self.found).sum())

    @classmethod
    def concatenate(cls, names: list[str], parts: Sequence["Scores"]) -> "Scores":
        identity = [p.identity for p in parts if p.identity is not None]
        return cls(
            names,
            {n: np.concatenate([p.values[n] for p in parts]) if parts else np.zeros(0) for n in names},
            np.concatenate([p.found for p in parts]) if parts else np.zeros(0, bool),
            np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0),
            np.concatenate(identity) if identity and len(identity) == len(parts) else None,
        )


def score_batch(
    images: Sequence[np.ndarray],
    scorers: dict[str, Scorer],
    analysis: FaceAnalysis,
    framing: np.ndarray | None = None,
    identity: bool = False,
) -> Scores:
    """Detect the largest face in each uint8 RGB image and score it with every scorer (see
    :meth:`FaceAnalysis.detect` for ``framing``); with ``identity``, also embed it."""
    batch = analysis.detect(images, framing)
    confidence = np.array([f.score if f is not None else np.nan for f in batch.faces])
    embeddings = analysis.identity.embed_batch(batch) if identity else None
    return Scores(list(scorers), {n: s.score(batch) for n, s in scorers.items()}, batch.found, confidence, embeddings)


def score_images(
    images: Iterable[np.ndarray],
    scorers: dict[str, Scorer],
    *,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    total: int | None = None,
    framing: np.ndarray | None = None,
    identity: bool = False,
) -> Scores:
    """Scores of every scorer for uint8 (H, W, 3) RGB images, processed ``batch_size`` at a time (the scorers'
    face analysis finds the faces; ``framing``: the images are renders of a generator with that framing); with
    ``identity``, also the faces' identity embeddings."""
    analysis = next(iter(scorers.values())).analysis
    parts: list[Scores] = []
    show = progress if progress is not None else (total or 0) > batch_size
    with tqdm(total=total, unit="face", desc="scoring", disable=not show, leave=False) as bar:
        for chunk in _chunks(images, batch_size):
            parts.append(score_batch(chunk, scorers, analysis, framing, identity))
            bar.update(len(chunk))
    return Scores.concatenate(list(scorers), parts)


def score_codes(
    generator: Generator,
    codes: np.ndarray,
    scorers: dict[str, Scorer],
    *,
    space: str = "z",
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    identity: bool = False,
) -> Scores:
    """Render ``codes`` (in latent ``space``) with ``generator`` batch by batch and score them (with ``identity``,
    also embed the faces); no image is written or kept."""
    codes = generator.validate_codes(codes, space)
    return score_images(
        _rendered(generator, codes, space, batch_size),
        scorers,
        batch_size=batch_size,
        progress=progress,
        total=len(codes),
        framing=generator_template(generator),
        identity=identity,
    )


def face_features(
    images: Iterable[np.ndarray],
    analysis: FaceAnalysis,
    *,
    mirror: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    total: int | None = None,
    framing: np.ndarray | None = None,
) -> np.ndarray:
    """Float32 (N, FEATURE_DIM) face features of uint8 RGB images, NaN rows where no face was found: what every probe
    scorer (shipped or learned) reads, computed as :func:`score_images` computes them. With ``mirror``, (N, 2,
    FEATURE_DIM): each face's features and those of its chip's mirror image."""
    views = (False, True) if mirror else (False,)
    parts = [np.zeros((0, len(views), FEATURE_DIM), np.float32)]
    show = progress if progress is not None else (total or 0) > batch_size
    with tqdm(total=total, unit="face", desc="face features", disable=not show, leave=False) as bar:
        for chunk in _chunks(images, batch_size):
            batch = analysis.detect(chunk, framing)
            part = np.full((len(chunk), len(views), FEATURE_DIM), np.nan, np.float32)
            for k, flipped in enumerate(views):
                features = analysis.attribute_probe.batch_features(batch, batch.found, flipped)
                part[batch.found, k] = features.cpu().numpy()
            parts.append(part)
            bar.update(len(chunk))
    out = np.concatenate(parts)
    return out if mirror else out[:, 0]


def codes_features(
    generator: Generator,
    codes: np.ndarray,
    analysis: FaceAnalysis,
    *,
    space: str = "z",
    mirror: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
) -> np.ndarray:
    """:func:`face_features` of ``codes`` rendered on the fly, as :func:`score_codes` renders them."""
    codes = generator.validate_codes(codes, space)
    return face_features(
        _rendered(generator, codes, space, batch_size),
        analysis,
        mirror=mirror,
        batch_size=batch_size,
        progress=progress,
        total=len(codes),
        framing=generator_template(generator),
    )


def _rendered(generator: Generator, codes: np.ndarray, space: str, batch_size: int) -> Iterator[np.ndarray]:
    batches = render(generator, codes, space=space, batch_size=batch_size, progress=False)
    return (image for batch in batches for image in batch)


def _chunks(images: Iterable[np.ndarray], size: int, max_pixels: int = 1 << 26) -> Iterator[list[np.ndarray]]:
    """Lists of at most ``size`` images and (unless a single image is bigger) ``max_pixels`` pixels."""
    chunk: list[np.ndarray] = []
    pixels = 0
    for image in images:
        if chunk and pixels + image.shape[0] * image.shape[1] > max_pixels:
            yield chunk
            chunk, pixels = [], 0
        chunk.append(image)
        pixels += image.shape[0] * image.shape[1]
        if len(chunk) == size:
            yield chunk
            chunk, pixels = [], 0
    if chunk:
        yield chunk
