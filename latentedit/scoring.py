"""Scoring the InterFaceGAN attributes of images or of rendered latent codes, and writing the score files."""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import LatentEditError, UsageError
from .faces import MTCNN, FaceBatch
from .generators import DEFAULT_MODEL, Generator, load_generator, render
from .images import list_images, read_image
from .outputs import load_codes, staged_output, utc_now, write_json
from .scorers import Scorer
from .scorers.agegender import AgeScorer
from .scorers.attribute_probe import EyeglassesScorer, GenderScorer, SmileScorer
from .scorers.pose import PoseScorer

__all__ = ["ATTRIBUTES", "SCORERS", "FaceBatch", "Scorer", "Scores", "load_scorers", "score_images", "score_codes"]

# The five InterFaceGAN attributes, in output order. A name without an entry in SCORERS is reported as unavailable.
ATTRIBUTES = ("pose", "smile", "age", "gender", "eyeglasses")
SCORERS: dict[str, type[Scorer]] = {
    cls.name: cls for cls in (PoseScorer, SmileScorer, AgeScorer, GenderScorer, EyeglassesScorer)
}
BATCH_SIZE = 256
# A generator's face fills its frame (MTCNN boxes of dcgan-digiface64 faces span ~0.7 of it, of FFHQ-aligned
# ones ~0.5): rendered faces are searched from this fraction of the resolution up first, then from 20 px.
RENDERED_FACE_FRACTION = 0.6


def parse_attributes(spec: str | Sequence[str] | None) -> list[str]:
    """Attribute names from ``"pose,age"`` or a list (None: all five), checked against :data:`ATTRIBUTES`."""
    names = list(ATTRIBUTES) if spec is None else [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec)]
    names = [n for n in dict.fromkeys(names) if n]
    unknown = [n for n in names if n not in ATTRIBUTES]
    if unknown or not names:
        raise UsageError(f"unknown attribute {', '.join(map(repr, unknown)) or '(none)'}; choose from: {', '.join(ATTRIBUTES)}")
    return names


def load_scorers(attrs: str | Sequence[str] | None = None, device: str | torch.device = "auto") -> dict[str, Scorer]:
    """Scorers for ``attrs`` on ``device``; raises if one of them has no scorer in this installation."""
    names = parse_attributes(attrs)
    missing = [n for n in names if n not in SCORERS]
    if missing:
        raise LatentEditError(
            f"no scorer for {', '.join(missing)} in this version (available: {', '.join(SCORERS)}); "
            f"pass --attrs {','.join(n for n in names if n in SCORERS) or 'pose'}"
        )
    return {name: SCORERS[name](device) for name in names}


@dataclass
class Scores:
    """Per-image results: ``values[attr]`` float (N,) with NaN where no face; ``found`` and detector ``confidence``."""

    names: list[str]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.found)

    def __getitem__(self, attr: str) -> np.ndarray:
        return self.values[attr]

    @property
    def missing(self) -> int:
        return int((~self.found).sum())

    @classmethod
    def concatenate(cls, names: list[str], parts: Sequence["Scores"]) -> "Scores":
        return cls(
            names,
            {n: np.concatenate([p.values[n] for p in parts]) if parts else np.zeros(0) for n in names},
            np.concatenate([p.found for p in parts]) if parts else np.zeros(0, bool),
            np.concatenate([p.confidence for p in parts]) if parts else np.zeros(0),
        )


def score_batch(images: Sequence[np.ndarray], scorers: dict[str, Scorer], detector: MTCNN) -> Scores:
    """Detect the largest face in each uint8 RGB image and score it with every scorer."""
    batch = FaceBatch.detect(images, detector)
    confidence = np.array([f.score if f is not None else np.nan for f in batch.faces])
    return Scores(list(scorers), {n: s.score(batch) for n, s in scorers.items()}, batch.found, confidence)


def score_images(
    images: Iterable[np.ndarray],
    attrs: str | Sequence[str] | None = None,
    device: str | torch.device = "auto",
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    total: int | None = None,
    scorers: dict[str, Scorer] | None = None,
    detector: MTCNN | None = None,
) -> Scores:
    """Scores of ``attrs`` (default all) for uint8 (H, W, 3) RGB images, processed ``batch_size`` at a time."""
    scorers = scorers or load_scorers(attrs, device)
    detector = detector or MTCNN.load(device)
    parts: list[Scores] = []
    show = progress if progress is not None else (total or 0) > batch_size
    with tqdm(total=total, unit="face", desc="scoring", disable=not show, leave=False) as bar:
        for chunk in _chunks(images, batch_size):
            parts.append(score_batch(chunk, scorers, detector))
            bar.update(len(chunk))
    return Scores.concatenate(list(scorers), parts)


def score_codes(
    generator: Generator,
    codes: np.ndarray,
    attrs: str | Sequence[str] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: bool | None = None,
    scorers: dict[str, Scorer] | None = None,
    detector: MTCNN | None = None,
    space: str = "z",
) -> Scores:
    """Render ``codes`` (in latent ``space``) with ``generator`` batch by batch and score them; no image is
    written or kept.

    The default detector looks for big faces first (see :data:`RENDERED_FACE_FRACTION`), about a third faster.
    """
    device = generator.device
    codes = generator.validate_codes(codes, space)
    detector = detector or rendered_face_detector(generator.resolution, device)
    images = (image for batch in render(generator, codes, space, batch_size, progress=False) for image in batch)
    return score_images(images, attrs, device, batch_size, progress, len(codes), scorers, detector)


def rendered_face_detector(resolution: int, device: str | torch.device = "auto") -> MTCNN:
    """MTCNN for a generator's images: faces are searched from ``RENDERED_FACE_FRACTION`` of the frame up first."""
    return MTCNN.load(device, first_min_face=RENDERED_FACE_FRACTION * resolution)


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


@dataclass
class ScoreRun:
    out: Path
    n: int
    missing: int
    skipped: list[str]


def _readable(paths: Sequence[Path], strict: bool, skipped: list[str], names: list[str]) -> Iterator[np.ndarray]:
    """Images read from ``paths``; unreadable ones are recorded in ``skipped`` (or raise when ``strict``)."""
    for path in paths:
        try:
            image = read_image(path)
        except UsageError:
            if strict:
                raise
            skipped.append(path.name)
            continue
        names.append(path.name)
        yield image


def score_to_folder(
    out: Path,
    source: Path | None = None,
    codes_file: Path | None = None,
    model: str | None = None,
    attrs: str | Sequence[str] | None = None,
    batch_size: int = BATCH_SIZE,
    device: str = "auto",
    strict: bool = False,
    overwrite: bool = False,
    weights: Path | None = None,
    progress: bool | None = None,
    space: str = "z",
    style: dict | None = None,
) -> ScoreRun:
    """The ``score`` command: score an image file, a folder of images, a ``sample`` or ``edit`` folder, or codes
    rendered on the fly.

    Writes OUT/{attr}_scores.npy (float32 (N, 1), NaN where no face), OUT/scores.csv and OUT/manifest.json.
    Codes in ``space`` are rendered by ``model`` (with ``weights`` and ``style``, see load_generator); (N, steps,
    ...) codes, as ``edit`` writes them, give one row per face and step, face by face. A ``sample --no-images``
    or an ``edit`` folder is scored by rendering its codes as they were made: same model, weights file, space and
    style.
    """
    if (source is None) == (codes_file is None):
        raise UsageError("give either a folder of images or --codes FILE (with --model), not both")
    names = parse_attributes(attrs)
    paths: list[Path] | None = None
    made: dict = {}  # how a `sample` or `edit` folder was made (see _folder_images)
    if source is not None:
        source = Path(source)
        if source.is_file():
            paths, strict = [source], True  # one image: an unreadable file is an error, not a skip
        elif source.is_dir():
            paths, made = _folder_images(source)
        else:
            raise UsageError(f"{source} does not exist: give an image file or a folder of images")
        if paths is None:  # codes without images: render them as `sample` or `edit` did
            model, codes_file, space, style = model or made["model"], made["codes"], made["space"], made["style"]
            weights = weights or made.get("weights_file")
        elif not paths:
            raise UsageError(f"no images (.png, .jpg, ...) in {source}")
    codes = load_codes(codes_file) if paths is None else None
    with staged_output(out, overwrite) as staging:  # checked before the work, written only if it all succeeds
        scorers = load_scorers(names, device)
        skipped: list[str] = []
        labels: list[str] = []
        if paths:
            images = _readable(paths, strict, skipped, labels)
            # a sample folder's PNGs are scored exactly as its codes would be
            detector = rendered_face_detector(made["resolution"], device) if made.get("resolution") else None
            scores = score_images(images, names, device, batch_size, progress, len(paths), scorers, detector)
            origin = {"images": str(source)}
            if len(scores) == 0:
                raise UsageError(f"none of the {len(skipped)} image files in {source} could be read")
        else:
            generator, digest = load_generator(model or DEFAULT_MODEL, device, weights, **(style or {}))
            if made and generator.name == made["model"] and digest != (made["weights_sha256"] or digest):
                raise UsageError(f"{source} was rendered with weights {made['weights_sha256'][:12]}, these are "
                                 f"{digest[:12]}: pass the same --weights file")
            shape = generator.code_shape(space)
            steps = codes.shape[1] if codes.ndim == len(shape) + 2 and codes.shape[2:] == shape else None
            flat = codes.reshape(-1, *shape) if steps else codes
            scores = score_codes(generator, flat, names, batch_size, progress, scorers, space=space)
            labels = [f"{i // steps}:{i % steps}" if steps else str(i) for i in range(len(scores))]
            origin = {"codes": str(codes_file), "model": generator.name, "weights_sha256": digest, "space": space,
                      **generator.settings(), **({"faces": len(codes), "steps": steps} if steps else {})}
        for name in names:
            np.save(staging / f"{name}_scores.npy", scores.values[name].astype(np.float32)[:, None])
        with open(staging / "scores.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "source", "face_found", "face_confidence", *names])
            for i, label in enumerate(labels):
                row = [scores.values[n][i] for n in names]
                writer.writerow([i, label, int(scores.found[i]), _cell(scores.confidence[i]), *map(_cell, row)])
        write_json(
            {
                "tool": "latentedit",
                "date": utc_now(),
                **origin,
                "n": len(scores),
                "faces_not_found": scores.missing,
                "skipped_files": skipped,
                "attributes": {n: {"file": f"{n}_scores.npy", "unit": scorers[n].unit} for n in names},
            },
            staging / "manifest.json",
        )
    return ScoreRun(Path(out), len(scores), scores.missing, skipped)


def _folder_images(folder: Path) -> tuple[list[Path] | None, dict]:
    """The images to score in ``folder`` and how the folder was made.

    A ``sample`` folder: its own images in index order (None when it has only codes); an ``edit`` folder: None
    (its codes.npy, N x steps, is rendered again); any other folder: every image file in it and ``{}``. For the
    first two the record names the model, weights, resolution, codes file, latent space and style options.
    """
    for name in ("manifest.json", "edit.json"):
        try:
            record = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("tool") != "latentedit" or "model" not in record:
            continue
        if name == "manifest.json" and not isinstance(record.get("files"), dict):
            continue  # another command's manifest (score's own, say), not a sample folder
        if name == "edit.json" and "photos" in record:
            raise UsageError(f"{folder} holds edits of photos, drawn by generators tuned to each photo: score the "
                             f"images in {folder / 'photos'} instead")
        codes = record["files"].get("codes", "z.npy") if name == "manifest.json" else "codes.npy"
        made = {"model": record["model"], "weights_sha256": record.get("weights_sha256"),
                "weights_file": record.get("weights_file"), "resolution": record.get("resolution"),
                "codes": folder / codes, "space": record.get("space", Path(codes).stem),
                "style": {key: record.get(key) for key in ("truncation_psi", "truncation_layers", "noise")}}
        images = record["files"].get("images") if name == "manifest.json" else None
        return ([folder / (images % i) for i in range(int(record["n"]))] if images else None), made
    return list_images(folder), {}


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6g}"
