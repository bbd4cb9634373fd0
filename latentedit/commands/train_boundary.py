"""``latentedit train-boundary``: one attribute's boundary, from codes and scores files or end to end (sample, score,
train), with its conditional variant; ``latentedit boundaries``: the cosine between boundaries."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from ..core.boundary import Boundary, cosine_matrix, project_out, train_boundary
from ..errors import UsageError
from ..files.boundaries import BOUNDARY_SPACES, boundary_writers, resolve_boundary, shipped_boundaries
from ..files.codes import load_codes
from ..files.outputs import read_json, refuse_overlap, safe_name, write_files_atomically
from ..models.analysis import FaceAnalysis
from ..models.generators import downstream_codes
from ..models.scoring import load_scorers, score_codes
from ..records import SampleManifest
from ..specs import GeneratorSpec, OutputSpec


@dataclass(frozen=True)
class BoundaryRequest:
    """Train from ``codes_file`` and ``scores_file``, or end to end: ``n`` codes of ``generator`` from ``seed``,
    scored for ``attr``. ``ratio`` (fraction per side, or a whole count), ``split`` and ``invalid_value`` as in
    InterFaceGAN; ``conditions``: boundaries (names or paths) to project out; ``name``: the file name (default: the
    attribute); ``space``: z or w."""

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


def train_boundary_files(request: BoundaryRequest) -> list[tuple[Boundary, Path]]:
    """Write ``OUT/NAME.npy`` + ``NAME.json`` (and the conditional boundary when conditions are given); end to end
    also ``OUT/z.npy`` (and ``w.npy`` for a W boundary) and ``OUT/{attr}_scores.npy``. Returns what was written."""
    codes_file, scores_file, attr, space = request.codes_file, request.scores_file, request.attr, request.space
    out = Path(request.output.path)
    if (codes_file is None) != (scores_file is None):
        raise UsageError("give both codes and scores files, or neither (then an attribute to sample and score end to end)")
    if space not in BOUNDARY_SPACES:
        raise UsageError(f"boundaries are trained in space z or w (a w boundary also edits wp codes), not {space!r}")
    refuse_overlap(out, [codes_file, scores_file])
    extra: dict[Path, Callable[[Path], None]] = {}
    if codes_file is not None:
        codes, scores = load_codes(codes_file), load_codes(scores_file)
        attr = attr or Path(scores_file).stem.removesuffix("_scores")
        provenance = {"attribute": attr, "space": space, **_codes_provenance(codes_file), "codes_file": str(codes_file),
                      "scores_file": str(scores_file)}
    else:
        if not attr:
            raise UsageError("give codes and scores files, or an attribute to sample and score end to end")
        generator, digest = request.generator.load()
        generator.check_space(space)
        sampled = generator.sample(request.n, request.seed)
        scorers = load_scorers([attr], FaceAnalysis(generator.device))
        scores = score_codes(generator, sampled, scorers, batch_size=request.batch_size)[attr].reshape(-1, 1)
        kept = downstream_codes(generator, sampled, batch_size=request.batch_size) if space != "z" else {"z": sampled}
        codes = kept[space]
        weights = request.generator.weights
        provenance = {"attribute": attr, "space": space, "model": generator.name, "weights_sha256": digest,
                      **({"weights_file": str(weights)} if weights else {}), "sample_seed": request.seed}
        extra = {out / f"{key}.npy": partial(np.save, arr=kept[key]) for key in ("z", space)}
        extra[out / f"{attr}_scores.npy"] = partial(np.save, arr=scores.astype(np.float32))
    name = safe_name(request.name or attr, "the boundary name")
    model = provenance.get("model", request.generator.name)
    condition_boundaries = [resolve_boundary(spec, model) for spec in request.conditions]
    if any(b.name == attr for b in condition_boundaries):
        raise UsageError(f"a condition names the trained attribute {attr!r} itself")
    boundary = train_boundary(codes, scores, name=name, ratio=request.ratio, split=request.split, seed=request.seed,
                              invalid_value=request.invalid_value, provenance=provenance,
                              device=request.generator.device)
    written = [(boundary, out / f"{name}.npy")]
    if condition_boundaries:
        conditional = project_out(boundary, condition_boundaries)
        written.append((conditional, out / f"{conditional.name}.npy"))
    pairs = {}
    for item, path in written:
        pairs.update(boundary_writers(item, path))
    write_files_atomically({**extra, **pairs}, request.output.overwrite, inputs=[codes_file, scores_file])
    return written


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
