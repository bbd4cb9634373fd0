"""``latentedit directions``: find a generator's main directions without labels (SeFa, GANSpace), measure what
each one does with the shipped scorers, and write them as boundaries with contact sheets."""

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..core.boundary import Boundary
from ..core.directions import (
    MIN_SAME_SIGN,
    MIN_SIZE,
    Directions,
    Effect,
    cosines,
    find_directions,
    flipped,
    measure_effects,
    name_line,
    orientation,
)
from ..core.editing import apply_edit, plan_edit
from ..errors import UsageError
from ..files.boundaries import boundary_writers, load_boundary, shipped_boundaries
from ..files.outputs import save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.generators import Generator, downstream_codes, render, run_record
from ..models.scoring import ATTRIBUTES, load_scorers, score_codes
from ..pictures import annotated_grid, preview_tiles
from ..records import BoundaryInfo, DirectionEntry, DirectionsRecord, FileRef, MeasuredEffect, Naming
from ..specs import GeneratorSpec, OutputSpec

# Short units for the name lines (the probabilities have none).
UNITS = {"pose": " deg", "age": " y"}
NAMING_DISTANCE = 2.0  # faces are moved -2 and +2 along each direction to name it
SHEET_STEPS = np.linspace(-3, 3, 7)


@dataclass(frozen=True)
class DirectionsRequest:
    """Find the ``k`` strongest directions of ``generator`` with ``method`` (sefa or ganspace; GANSpace decomposes
    ``samples`` codes of ``seed``), for the W+ ``layers`` of a StyleGAN-family model (a spec like ``"0-3"``; None:
    all); name each by moving ``n`` faces of ``seed`` and re-scoring them (with the shipped scorers and the learned
    ones in ``scorers``: name -> scorer file from train-scorer); ``sheet_faces`` faces per contact sheet."""

    output: OutputSpec
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    method: str = "sefa"
    k: int = 10
    layers: str | None = None
    n: int = 64
    seed: int = 0
    samples: int = 10000
    sheet_faces: int = 4
    batch_size: int = 64
    scorers: Mapping[str, Path] = field(default_factory=dict)


@dataclass
class NamedDirection:
    name: str
    vector: np.ndarray  # (dim,) float32 unit, oriented
    value: float
    line: str
    effects: dict[str, Effect]
    cos: dict[str, float]
    sign: int  # -1 when flipped from the method's own sign


@dataclass
class DirectionsResult:
    out: Path
    directions: list[NamedDirection]
    record: DirectionsRecord


def _moved(codes: np.ndarray, vector: np.ndarray, steps: np.ndarray, layers: tuple[int, ...] | None) -> np.ndarray:
    """``codes`` moved by each of ``steps`` along ``vector`` (only ``layers`` of W+ codes): (N, steps, ...)."""
    plan = plan_edit([Boundary(vector, BoundaryInfo(name="direction"))], [None], steps=steps, layers=layers)
    return apply_edit(codes, plan)


def _shipped(model: str, space: str) -> dict[str, Boundary]:
    """The model's shipped boundaries trained in ``space``."""
    loaded = {name: load_boundary(path) for name, path in shipped_boundaries(model).items()}
    return {name: b for name, b in loaded.items() if (b.info.space or "z") == space}


def name_directions(
    generator: Generator,
    directions: Directions,
    codes: np.ndarray,
    *,
    space: str,
    boundaries: Mapping[str, np.ndarray],
    analysis: FaceAnalysis,
    batch_size: int = 64,
    learned: Mapping[str, Path] | None = None,
) -> list[NamedDirection]:
    """Move ``codes`` (in ``space``) by ±NAMING_DISTANCE along each direction, re-score them with every shipped
    scorer and the ``learned`` scorer files, and name the direction by the measured changes and its cosines with
    ``boundaries``' normals; each is oriented so that its strongest moved attribute increases (see
    :func:`latentedit.core.directions.orientation`)."""
    scorers = load_scorers([*ATTRIBUTES, *(learned or {})], analysis, learned)

    def scores(batch: np.ndarray) -> dict[str, np.ndarray]:
        result = score_codes(generator, batch, scorers, space=space, batch_size=batch_size, progress=False)
        return {name: result[name] for name in scorers}

    before = scores(codes)
    named = []
    steps = np.array([-NAMING_DISTANCE, NAMING_DISTANCE])
    prefix = directions.method
    for rank, (vector, value) in enumerate(
        tqdm(
            list(zip(directions.vectors, directions.values)),
            unit="direction",
            desc=f"naming {prefix} directions",
            leave=False,
        )
    ):
        moved = _moved(codes, vector, steps, directions.layers)
        after = scores(moved.reshape(-1, *moved.shape[2:]))
        minus = {name: values.reshape(len(codes), 2)[:, 0] for name, values in after.items()}
        plus = {name: values.reshape(len(codes), 2)[:, 1] for name, values in after.items()}
        effects = measure_effects(before, minus, plus, distance=NAMING_DISTANCE)
        cos = cosines(vector, boundaries)
        sign = orientation(effects)
        if sign < 0:
            effects, cos = flipped(effects, cos)
        name = f"{prefix}_{rank:02d}"
        named.append(
            NamedDirection(
                name,
                (sign * vector).astype(np.float32),
                float(value),
                name_line(name, effects, cos, UNITS),
                effects,
                cos,
                sign,
            )
        )
    return named


def _short(direction: NamedDirection) -> str:
    moved = [f"{a}{'+' if (e.per_unit or 0.0) > 0 else '-'}" for a, e in direction.effects.items() if e.moved]
    return " ".join(moved) or "none"


def _pictures(
    generator: Generator,
    codes: np.ndarray,
    space: str,
    named: list[NamedDirection],
    layers: tuple[int, ...] | None,
    sheet_faces: int,
    batch_size: int,
    title: str,
) -> tuple[list, np.ndarray]:
    """A contact sheet per direction (``sheet_faces`` faces, -3 … +3) and the overview (two faces per direction)."""
    labels = [f"{s:+g}" for s in SHEET_STEPS]
    faces = codes[:sheet_faces]
    sheets, overview_rows = [], []
    for direction in named:
        moved = _moved(faces, direction.vector, SHEET_STEPS, layers)
        images = np.concatenate(
            list(render(generator, moved.reshape(-1, *moved.shape[2:]), space=space, batch_size=batch_size))
        )
        big = preview_tiles(images)
        tiles = big.reshape(*moved.shape[:2], *big.shape[1:])
        sheets.append(annotated_grid(tiles, direction.line, [f"#{i}" for i in range(len(faces))], labels))
        small = preview_tiles(images[: 2 * len(SHEET_STEPS)], int(np.clip(generator.resolution, 64, 96)))
        overview_rows.append(small.reshape(1, -1, *small.shape[1:]))
    overview = annotated_grid(
        np.concatenate(overview_rows), title, [f"{d.name} ({_short(d)})" for d in named], labels * min(2, len(faces))
    )
    return sheets, overview


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _effect_records(effects: Mapping[str, Effect]) -> dict[str, MeasuredEffect]:
    """The measured effects as the sidecar holds them (rounded)."""
    return {
        name: MeasuredEffect(
            change_per_unit=_rounded(e.per_unit, 5),
            same_sign=_rounded(e.same_sign, 4),
            faces=e.faces,
            effect_size=_rounded(e.size, 4),
            moved=e.moved,
        )
        for name, e in effects.items()
    }


def _value(method: str, value: float) -> dict[str, Any]:
    """A direction's strength under its method's name: SeFa's eigenvalue or GANSpace's explained-variance ratio."""
    return {"eigenvalue" if method == "sefa" else "explained_variance_ratio": value}


def find_and_name(request: DirectionsRequest) -> DirectionsResult:
    """What ``latentedit directions`` does. Writes to the output folder:

    - ``NAME.npy`` + ``NAME.json`` per direction (``sefa_00`` …), latentedit's boundary format: float32 (1, dim),
      unit norm; the sidecar (:class:`~latentedit.records.BoundaryInfo`) holds the method, rank, eigenvalue or
      explained-variance ratio, layers, model, weights sha256, space and the measured meaning;
    - ``sheets/NAME.png``: a few faces moved from -3 to +3 along the direction; ``overview.png``: every direction
      on two faces;
    - ``directions.json`` (:class:`~latentedit.records.DirectionsRecord`).
    """
    if request.n < 2:
        raise UsageError(f"naming needs at least 2 faces, got n={request.n}")
    if request.sheet_faces < 1:
        raise UsageError(f"sheet_faces must be at least 1, got {request.sheet_faces}")
    generator, digest = request.generator.load()
    model = generator.name
    directions = find_directions(
        generator, method=request.method, k=request.k, layers=request.layers, samples=request.samples, seed=request.seed
    )
    shipped = _shipped(model, directions.space)
    inputs = [request.generator.weights, *(b.path for b in shipped.values()), *request.scorers.values()]
    with staged_output(request.output.path, request.output.overwrite, inputs=inputs) as staging:
        edit_space = "wp" if directions.space == "w" else "z"
        codes = downstream_codes(generator, generator.sample(request.n, request.seed))[edit_space]
        named = name_directions(
            generator,
            directions,
            codes,
            space=edit_space,
            boundaries={name: b.normal for name, b in shipped.items()},
            analysis=FaceAnalysis(generator.device),
            batch_size=request.batch_size,
            learned=request.scorers,
        )
        layers = None if directions.layers is None else list(directions.layers)
        naming = Naming(
            faces=request.n,
            seed=request.seed,
            distance=NAMING_DISTANCE,
            space=edit_space,
            moved_when=f"at least {MIN_SAME_SIGN:.0%} of the faces move the same way and the mean change over the "
            f"move is at least {MIN_SIZE} of the attribute's standard deviation over the unedited faces",
            sign="each direction is oriented so that its strongest moved attribute increases; a direction that "
            "moves none keeps the method's sign (largest component positive)",
        )
        brief = dataclasses.replace(naming, moved_when=None, sign=None)  # each sidecar: the numbers only
        entries = []
        for rank, direction in enumerate(named):
            moved = [a for a, e in direction.effects.items() if e.moved]
            info = BoundaryInfo(
                name=direction.name,
                dim=len(direction.vector),
                method=directions.method,
                rank=rank,
                **_value(directions.method, direction.value),
                layers=layers,
                model=model,
                weights_sha256=digest,
                space=directions.space,
                meaning=direction.line,
                moved=moved,
                effects=_effect_records(direction.effects),
                cosines={b: round(c, 4) for b, c in direction.cos.items()},
                flipped=direction.sign < 0,
                naming=brief,
                found=directions.record,
            )
            writers = boundary_writers(Boundary(direction.vector, info), staging / f"{direction.name}.npy")
            for path, write in writers.items():
                write(path)
            entries.append(
                DirectionEntry(
                    name=direction.name,
                    file=f"{direction.name}.npy",
                    **_value(directions.method, direction.value),
                    meaning=direction.line,
                    moved=moved,
                    flipped=direction.sign < 0,
                )
            )
        title = (
            f"{len(named)} {directions.method} directions of {model}"
            + (f", layers {request.layers}" if request.layers else "")
            + ": two faces each, -3 to +3"
        )
        sheets, overview = _pictures(
            generator, codes, edit_space, named, directions.layers, request.sheet_faces, request.batch_size, title
        )
        (staging / "sheets").mkdir()
        for direction, sheet in zip(named, sheets):
            save_png(sheet, staging / "sheets" / f"{direction.name}.png")
        save_png(overview, staging / "overview.png")
        record = DirectionsRecord(
            **run_record(model, digest, generator, request.generator.weights),
            method=directions.method,
            space=directions.space,
            layers=layers,
            k=request.k,
            naming=naming,
            found=directions.record,
            directions=entries,
            scorers={
                name: FileRef(path=str(path), sha256=sha256_file(Path(path))) for name, path in request.scorers.items()
            }
            or None,
        )
        write_json(record, staging / "directions.json")
    return DirectionsResult(Path(request.output.path), named, record)
