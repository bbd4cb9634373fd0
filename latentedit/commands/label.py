"""``latentedit label sheet`` and ``label suggest``: faces to label by eye, as numbered contact sheets with a labels
CSV ready to fill in. ``sheet`` draws faces at random; ``suggest`` picks those a learned scorer is least sure about,
spread over the face features, so that each round of labels teaches it most."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.probe import suggest
from ..files.labels import labels_csv, read_labels
from ..files.outputs import save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.generators import Generator, render, run_record
from ..models.scorers.learned import probe_input, read_scorer
from ..models.scoring import codes_features
from ..pictures import annotated_grid, zoom
from ..records import FileRef, LabelSheetRecord
from ..specs import GeneratorSpec, OutputSpec
from .train_scorer import fit_labels, labelled_features

COLUMNS, ROWS, TILE = 8, 6, 128  # one contact sheet: 48 faces of 128 px
STUDIO_POOL = 500  # faces the studio's suggest round draws and scores


@dataclass(frozen=True)
class SheetRequest:
    """``n`` faces of ``generator`` drawn from ``seed``, to label."""

    output: OutputSpec
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    n: int = 48
    seed: int = 0
    batch_size: int = 64


@dataclass(frozen=True)
class SuggestRequest:
    """``n`` faces to label next for the scorer in ``scorer_file``: drawn from ``pool`` faces of ``generator``
    (codes from ``seed``; None: a seed derived from the scorer file, so that each retrained scorer sees new faces),
    the ``shortlist * n`` least sure first, then ``n`` spread out among them."""

    output: OutputSpec
    scorer_file: Path
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    n: int = 20
    pool: int = 2000
    seed: int | None = None
    shortlist: int = 4
    batch_size: int = 64
    progress: bool | None = None


@dataclass
class Sheet:
    out: Path
    codes: np.ndarray
    sheets: list[str]
    seed: int
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0))  # suggest: of each chosen face


def label_sheet(request: SheetRequest) -> Sheet:
    """Write ``codes.npy``, ``sheet_01.png``… (faces numbered as the rows of the codes), ``labels.csv`` (one row
    ``codes.npy:I,`` per face, labels empty) and ``sheet.json`` (a :class:`~latentedit.records.LabelSheetRecord`)."""
    generator, digest = request.generator.load()
    codes = generator.sample(request.n, request.seed)
    sheets = write_sheet(
        request.output,
        generator,
        digest,
        request.generator,
        codes,
        {"seed": request.seed},
        f"faces of seed {request.seed}",
        request.batch_size,
    )
    return Sheet(Path(request.output.path), codes, sheets, request.seed)


def label_suggest(request: SuggestRequest) -> Sheet:
    """Choose the faces (see :func:`pick_from_pool`) and write them as :func:`label_sheet` does."""
    scorer = read_scorer(request.scorer_file)
    generator, digest = request.generator.load()
    seed = request.seed if request.seed is not None else int(sha256_file(Path(request.scorer_file))[:7], 16)
    codes, logits = pick_from_pool(
        generator,
        FaceAnalysis(generator.device),
        scorer.logits,
        n=request.n,
        pool=request.pool,
        seed=seed,
        shortlist=request.shortlist,
        batch_size=request.batch_size,
        progress=request.progress,
    )
    title = f"{scorer.header.attribute}: the {request.n} of {request.pool} faces (seed {seed}) to label next"
    source = {
        "pool": request.pool,
        "pool_seed": seed,
        "scorer": FileRef(path=str(request.scorer_file), sha256=sha256_file(Path(request.scorer_file))),
    }
    sheets = write_sheet(
        request.output,
        generator,
        digest,
        request.generator,
        codes,
        source,
        title,
        request.batch_size,
        inputs=[request.scorer_file],
    )
    return Sheet(Path(request.output.path), codes, sheets, seed, 0.5 * (1 + np.tanh(logits / 2)))


def pick_from_pool(
    generator: Generator,
    analysis: FaceAnalysis,
    logits: Callable[[np.ndarray], np.ndarray],
    *,
    n: int,
    pool: int,
    seed: int,
    shortlist: int = 4,
    batch_size: int = 64,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The codes of the ``n`` of ``pool`` faces drawn from ``seed`` that a probe (``logits`` of face features) is
    least sure about, spread over the features (see :func:`latentedit.core.probe.suggest`), with their logits."""
    codes = generator.sample(pool, seed)
    features = codes_features(generator, codes, analysis, batch_size=batch_size, progress=progress)
    values = logits(features)
    chosen = suggest(values, probe_input(features), n=n, shortlist=shortlist, seed=seed)
    return codes[chosen], values[chosen]


def suggest_for_labels(
    labels_csv: Path,
    n: int,
    *,
    generator: Generator,
    analysis: FaceAnalysis,
    pool: int = STUDIO_POOL,
    batch_size: int = 64,
) -> tuple[np.ndarray, str]:
    """The studio's suggest hook: a probe fitted to the labels in ``labels_csv`` as train-scorer fits one, then
    :func:`pick_from_pool` on a pool drawn from a seed derived from the labels (each round sees new faces); returns
    the codes and a name for their sheet."""
    labels = read_labels(labels_csv)
    features = labelled_features(labels, lambda: (generator, ""), analysis, batch_size=batch_size, progress=False)
    fit, _ = fit_labels(labels, features)
    seed = int(sha256_file(labels_csv)[:7], 16)
    codes, _ = pick_from_pool(
        generator,
        analysis,
        lambda x: fit.logits(probe_input(x)),
        n=n,
        pool=pool,
        seed=seed,
        batch_size=batch_size,
        progress=False,
    )
    return codes, f"suggest-{seed:07x}"


def write_sheet(
    output: OutputSpec,
    generator: Generator,
    digest: str,
    spec: GeneratorSpec,
    codes: np.ndarray,
    source: dict,
    title: str,
    batch_size: int,
    inputs: list[Path] | None = None,
) -> list[str]:
    """The sheet folder for ``codes`` (see :func:`label_sheet`; ``source``: where the codes came from, fields of
    :class:`~latentedit.records.LabelSheetRecord`); returns the contact sheets' file names."""
    with staged_output(output.path, output.overwrite, inputs=inputs or []) as staging:
        np.save(staging / "codes.npy", codes)
        faces = zoom(list(np.concatenate(list(render(generator, codes, batch_size=batch_size)))), TILE)
        names = []
        per_sheet = COLUMNS * ROWS
        count = -(-len(codes) // per_sheet)
        for k, start in enumerate(range(0, len(codes), per_sheet), start=1):
            part = faces[start : start + per_sheet]
            columns = COLUMNS
            rows = -(-len(part) // columns)
            tiles = np.full((rows * columns, TILE, TILE, 3), 255, np.uint8)
            tiles[: len(part)] = part
            numbers = [str(start + i) if i < len(part) else "" for i in range(rows * columns)]
            captions = [numbers[r * columns : (r + 1) * columns] for r in range(rows)]
            heading = f"{title}: sheet {k} of {count}, faces {start}-{start + len(part) - 1} = rows of labels.csv"
            names.append(f"sheet_{k:02d}.png")
            save_png(
                annotated_grid(tiles.reshape(rows, columns, TILE, TILE, 3), heading, captions=captions),
                staging / names[-1],
            )
        (staging / "labels.csv").write_text(labels_csv([f"codes.npy:{i}" for i in range(len(codes))]))
        write_json(
            LabelSheetRecord(
                **run_record(generator.name, digest, generator, spec.weights), n=len(codes), **source, sheets=names
            ),
            staging / "sheet.json",
        )
    return names
