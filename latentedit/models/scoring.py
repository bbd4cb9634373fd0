"""Scoring the InterFaceGAN attributes of images, or of latent codes rendered on the fly (no file I/O)."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from ..errors import LatentEditError, UsageError
from .analysis import FaceAnalysis
from .generators import Generator, render
from .scorers import Scorer
from .scorers.agegender import AgeScorer
from .scorers.attribute_probe import EyeglassesScorer, GenderScorer, SmileScorer
from .scorers.pose import PoseScorer

# The five InterFaceGAN attributes, in output order. A name without an entry in SCORERS is reported as unavailable.
ATTRIBUTES = ("pose", "smile", "age", "gender", "eyeglasses")
SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (PoseScorer, SmileScorer, AgeScorer, GenderScorer, EyeglassesScorer)
}
BATCH_SIZE = 256


def parse_attributes(spec: str | Sequence[str] | None) -> list[str]:
    """Attribute names from ``"pose,age"`` or a list (None: all five), checked against :data:`ATTRIBUTES`."""
    names = list(ATTRIBUTES) if spec is None else [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown or not names:
        raise UsageError(f"unknown attribute {', '.join(map(repr, unknown)) or '(none)'}; choose from: {', '.join(ATTRIBUTES)}")
    return names


def load_scorers(attrs: str | Sequence[str] | None, analysis: FaceAnalysis) -> dict[str, Scorer]:
    """Scorers for ``attrs`` reading faces through ``analysis``; raises if one of them has no scorer here."""
    names = parse_attributes(attrs)
    missing = [n for n in names if n not in SCORERS]
    if missing:
        raise LatentEditError(
            f"no scorer for {', '.join(missing)} in this version (available: {', '.join(SCORERS)}); "
            f"pass --attrs {','.join(n for n in names if n in SCORERS) or 'pose'}"
        )
    return {name: SCORERS[name](analysis) for name in names}


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


def score_batch(images: Sequence[np.ndarray], scorers: dict[str, Scorer], analysis: FaceAnalysis,
                rendered_resolution: int | None = None, identity: bool = False) -> Scores:
    """Detect the largest face in each uint8 RGB image and score it with every scorer (see
    :meth:`FaceAnalysis.detect` for ``rendered_resolution``); with ``identity``, also embed it."""
    batch = analysis.detect(images, rendered_resolution)
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
    rendered_resolution: int | None = None,
    identity: bool = False,
) -> Scores:
    """Scores of every scorer for uint8 (H, W, 3) RGB images, processed ``batch_size`` at a time (the scorers'
    face analysis finds the faces; ``rendered_resolution``: the images are a generator's renders); with
    ``identity``, also the faces' identity embeddings."""
    analysis = next(iter(scorers.values())).analysis
    parts: list[Scores] = []
    show = progress if progress is not None else (total or 0) > batch_size
    with tqdm(total=total, unit="face", desc="scoring", disable=not show, leave=False) as bar:
        for chunk in _chunks(images, batch_size):
            parts.append(score_batch(chunk, scorers, analysis, rendered_resolution, identity))
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
    images = (image for batch in render(generator, codes, space=space, batch_size=batch_size, progress=False) for image in batch)
    return score_images(images, scorers, batch_size=batch_size, progress=progress, total=len(codes),
                        rendered_resolution=generator.resolution, identity=identity)


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
