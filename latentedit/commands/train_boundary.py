"""``latentedit train-boundary``: one attribute's boundary, from codes and scores files, end to end (sample, score
with a shipped or a learned scorer, train), or from codes labelled by eye; with its conditional variant;
``latentedit boundaries``: the cosine between boundaries."""

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..core.boundary import Boundary, cosine_matrix, project_out, train_boundary, train_labelled_boundary
from ..errors import UsageError
from ..files.boundaries import BOUNDARY_SPACES, boundary_writers, resolve_boundary, shipped_boundaries
from ..files.codes import load_codes
from ..files.labels import code_rows, read_labels
from ..files.outputs import check_output, read_json, refuse_overlap, safe_name, write_files_atomically
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.generators import downstream_codes
from ..models.scorers.learned import read_scorer
from ..models.scoring import check_learned_name, load_scorers, score_codes
from ..records import FileRef, SampleManifest
from ..specs import GeneratorSpec, OutputSpec
from .ray_parts import RayRequest, RaySettings, parts_folder, run_on_ray
from .score import ScoreRequest


@dataclass(frozen=True)
class BoundaryRequest:
    """Train from ``codes_file`` and ``scores_file``, or end to end: ``n`` codes of ``generator`` from ``seed``,
    scored for ``attr``. ``ratio`` (fraction per side, or a whole count), ``split`` and ``invalid_value`` as in
    InterFaceGAN; ``conditions``: boundaries (names or paths) to project out; ``name``: the file name (default: the
    attribute); ``space``: z or w. ``scorer_file``: end to end, score with this learned scorer (train-scorer).
    ``labels_files``: instead of scores, labels CSVs of rows of codes files (``codes_file``, if given, must be the
    file they name): a linear SVM on the labelled codes themselves. End to end, ``precision`` is the scorers'
    (FaceAnalysis) and ``ray`` scores the faces on Ray actors (see :func:`_scores_on_ray`)."""

    output: OutputSpec
    codes_file: Path | None = None
    scores_file: Path | None = None
    attr: str | None = None
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    n: int = 50000
    seed: int = 0
    ratio: float = 0.02
    split: float = 0.7
    invalid_value: float | None = None
    conditions: Sequence[str] = ()
    name: str | None = None
    space: str = "z"
    batch_size: int = 64
    scorer_file: Path | None = None
    labels_files: Sequence[Path] = ()
    precision: str = "float32"
    ray: RaySettings | None = None


def train_boundary_files(request: BoundaryRequest) -> list[tuple[Boundary, Path]]:
    """Write ``OUT/NAME.npy`` + ``NAME.json`` (and the conditional boundary when conditions are given); end to end
    also ``OUT/z.npy`` (and ``w.npy`` for a W boundary) and ``OUT/{attr}_scores.npy``. Returns what was written."""
    codes_file, scores_file, attr, space = request.codes_file, request.scores_file, request.attr, request.space
    out = Path(request.output.path)
    end_to_end = not request.labels_files and codes_file is None and scores_file is None
    if not end_to_end and (request.ray is not None or request.precision != "float32"):
        raise UsageError(
            "--ray and --precision score the faces of end-to-end training (--attr, -n); here none are scored"
        )
    if request.labels_files:
        return _from_labels(request)
    if request.scorer_file is not None and codes_file is not None:
        raise UsageError(
            "a scorer file scores the faces of end-to-end training (sample, score, train); with codes "
            "and scores files the scores are given"
        )
    if (codes_file is None) != (scores_file is None):
        raise UsageError(
            "give both codes and scores files, or neither (then an attribute to sample and score end to end)"
        )
    if space not in BOUNDARY_SPACES:
        raise UsageError(f"boundaries are trained in space z or w (a w boundary also edits wp codes), not {space!r}")
    refuse_overlap(out, [codes_file, scores_file])
    extra: dict[Path, Callable[[Path], None]] = {}
    if codes_file is not None and scores_file is not None:  # both or neither, checked above
        codes, scores = load_codes(codes_file), load_codes(scores_file)
        attr = attr or Path(scores_file).stem.removesuffix("_scores")
        provenance = {
            "attribute": attr,
            "space": space,
            **_codes_provenance(codes_file),
            "codes_file": str(codes_file),
            "scores_file": str(scores_file),
        }
    else:
        learned = {}
        if request.scorer_file is not None:
            attr = check_learned_name(attr or read_scorer(request.scorer_file).header.attribute)
            learned = {attr: request.scorer_file}
        elif not attr:
            raise UsageError("give codes and scores files, or an attribute to sample and score end to end")
        for target in (safe_name(request.name or attr, "the boundary name"), "z", f"{attr}_scores"):
            check_output(out / f"{target}.npy", overwrite=request.output.overwrite, folder=False)  # before the work
        generator, digest = request.generator.load()
        generator.check_space(space)
        sampled = generator.sample(request.n, request.seed)
        if request.ray is not None:
            scores = _scores_on_ray(request, request.ray, sampled, attr, learned)
        else:
            scorers = load_scorers([attr], FaceAnalysis(generator.device, request.precision), learned)
            scores = score_codes(generator, sampled, scorers, batch_size=request.batch_size)[attr].reshape(-1, 1)
        kept = downstream_codes(generator, sampled, batch_size=request.batch_size) if space != "z" else {"z": sampled}
        codes = kept[space]
        weights = request.generator.weights
        provenance = {
            "attribute": attr,
            "space": space,
            "model": generator.name,
            "weights_sha256": digest,
            **({"weights_file": str(weights)} if weights else {}),
            "sample_seed": request.seed,
        }
        if request.scorer_file is not None:
            provenance["scorer_file"] = FileRef(
                path=str(request.scorer_file), sha256=sha256_file(Path(request.scorer_file))
            )
        extra = {out / f"{key}.npy": partial(np.save, arr=kept[key]) for key in ("z", space)}
        extra[out / f"{attr}_scores.npy"] = partial(np.save, arr=scores.astype(np.float32))
    name = safe_name(request.name or attr, "the boundary name")
    conditions = _conditions(request, provenance.get("model", request.generator.name), attr)
    boundary = train_boundary(
        codes,
        scores,
        name=name,
        ratio=request.ratio,
        split=request.split,
        seed=request.seed,
        invalid_value=request.invalid_value,
        provenance=provenance,
        device=request.generator.device,
    )
    written = _write(request, boundary, conditions, extra, inputs=[codes_file, scores_file])
    if request.ray is not None:
        shutil.rmtree(parts_folder(out), ignore_errors=True)  # its codes and scores are in OUT now
    return written


def _scores_on_ray(
    request: BoundaryRequest, ray: RaySettings, codes: np.ndarray, attr: str, learned: dict[str, Path]
) -> np.ndarray:
    """(N, 1) scores of ``codes`` for ``attr``, computed as ``score --codes --ray`` computes them: the codes and the
    parts go to OUT.parts/, kept until the boundary is written so that a rerun only scores the missing parts."""
    work = parts_folder(Path(request.output.path))
    codes_file = work / "z.npy"
    if not (codes_file.is_file() and np.array_equal(np.load(codes_file, mmap_mode="r"), codes)):
        write_files_atomically({codes_file: partial(np.save, arr=codes)}, overwrite=True)
    job = ScoreRequest(
        output=OutputSpec(work / "scores", overwrite=True),
        codes_file=codes_file,
        generator=request.generator,
        attrs=[attr],
        scorers=learned,
        batch_size=request.batch_size,
        precision=request.precision,
    )
    run_on_ray(RayRequest(job=job, settings=ray))
    return np.load(work / "scores" / f"{attr}_scores.npy")


def _conditions(request: BoundaryRequest, model: str, attr: str) -> list[Boundary]:
    """The condition boundaries, resolved before any training so that a bad one fails early."""
    conditions = [resolve_boundary(spec, model) for spec in request.conditions]
    if any(b.name == attr for b in conditions):
        raise UsageError(f"a condition names the trained attribute {attr!r} itself")
    return conditions


def _write(
    request: BoundaryRequest,
    boundary: Boundary,
    conditions: list[Boundary],
    extra: dict[Path, Callable[[Path], None]],
    inputs: Sequence[Path | None],
) -> list[tuple[Boundary, Path]]:
    """Write ``boundary`` (and its conditional variant) with the ``extra`` files as one unit."""
    out = Path(request.output.path)
    written = [(boundary, out / f"{boundary.name}.npy")]
    if conditions:
        conditional = project_out(boundary, conditions)
        written.append((conditional, out / f"{conditional.name}.npy"))
    pairs = {}
    for item, path in written:
        pairs.update(boundary_writers(item, path))
    write_files_atomically({**extra, **pairs}, request.output.overwrite, inputs=inputs)
    return written


def _from_labels(request: BoundaryRequest) -> list[tuple[Boundary, Path]]:
    """The boundary of an SVM on codes labelled by eye (see :class:`BoundaryRequest`)."""
    if request.scores_file is not None or request.scorer_file is not None:
        raise UsageError("labels replace the scores: give labels, or scores (or a scorer), not both")
    attr = request.attr or request.name
    if not attr:
        raise UsageError("name the attribute that the labels are about")
    labels = [label for path in request.labels_files for label in read_labels(Path(path))]
    given = Path(request.codes_file).resolve() if request.codes_file is not None else None
    for label in labels:
        if not label.is_code:
            raise UsageError(
                f"{label.where}: an image has no latent code; labelled boundaries need CODES.npy:ROW "
                "items (train a scorer on images with train-scorer)"
            )
        if given is not None and label.path.resolve() != given:
            raise UsageError(
                f"{label.where}: the item names {label.path}, not the given codes file {request.codes_file}"
            )
    known = [label for label in labels if label.label == label.label]  # not NaN (unclear)
    if not known:
        raise UsageError(f"no face is labelled 1 or 0 in {', '.join(map(str, request.labels_files))}")
    codes = code_rows(known)
    x = np.stack([codes[label.path][label.row] for label in known])
    if x.ndim != 2:
        raise UsageError(f"labelled codes must be rows of (N, dim) codes files, got rows of shape {x.shape[1:]}")
    y = np.array([int(label.label) for label in known])
    sources = sorted({str(label.path) for label in known})
    provenance = {
        "attribute": attr,
        "space": request.space,
        **_codes_provenance(Path(sources[0])),
        "codes_file": ", ".join(sources),
        "scores": f"labels by eye: {int(y.sum())} labelled 1, {int(len(y) - y.sum())} labelled 0, "
        f"{len(labels) - len(known)} unclear, from {', '.join(map(str, request.labels_files))}",
    }
    name = safe_name(request.name or attr, "the boundary name")
    conditions = _conditions(request, provenance.get("model", request.generator.name), attr)
    boundary = train_labelled_boundary(
        x, y, name=name, seed=request.seed, provenance=provenance, device=request.generator.device
    )
    return _write(request, boundary, conditions, {}, inputs=[*request.labels_files, *codes])


def _codes_provenance(codes_file: Path) -> dict:
    """Model and weights recorded by ``sample`` in a manifest.json beside the codes, if any."""
    manifest = Path(codes_file).with_name("manifest.json")
    if not manifest.is_file():
        return {}
    data = read_json(manifest, "manifest")
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {}  # not a sample folder's manifest
    record = SampleManifest.from_json(data, str(manifest))
    return {"model": record.model, "weights_sha256": record.weights_sha256}


def cosine_table(specs: Sequence[str], model: str) -> tuple[list[str], np.ndarray]:
    """Names and cosine matrix of the boundaries ``specs`` (shipped names or paths; none: all shipped for ``model``)."""
    specs = list(specs) or list(shipped_boundaries(model))
    if len(specs) < 2:
        raise UsageError(f"need at least two boundaries to compare; model {model} ships {len(specs)}")
    loaded = [resolve_boundary(spec, model) for spec in specs]
    return [b.name for b in loaded], cosine_matrix(loaded)
