"""``latentedit edit``: edit generated faces, codes or photos along boundaries (one attribute, several at once, or
conditional), render every step, and optionally measure what the edit changed (``--report``)."""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.boundary import Boundary
from ..core.editing import EditPlan, apply_edit, edit_effect, parse_attrs, parse_range, plan_edit
from ..core.inversion import tune_generator
from ..errors import UsageError
from ..files.boundaries import resolve_boundary
from ..files.codes import load_codes
from ..files.outputs import read_json, save_gif, save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.features import FeatureLoss
from ..models.generators import Generator, downstream_codes, render, run_record
from ..models.photo import PASTE_MODES, PhotoFace
from ..models.scoring import SCORERS, Scores, load_scorers, score_codes
from ..pictures import annotated_grid, column_means, line_panels, preview_tiles, zoom
from ..records import EditedPhoto, EditRecord, FileRef
from ..specs import GeneratorSpec, OutputSpec, PhotoOptions, StyleOptions
from .photos import invert_photos, photo_names


@dataclass(frozen=True)
class EditRequest:
    """An edit: ``attrs`` (``"smile=+3,age=-2"``, or names to sweep) on faces sampled from ``seed``, on rows
    ``index`` of ``codes_file``, or on the faces of ``photos``.

    ``boundary_files`` maps attribute names to boundary files (else the shipped ones); ``value_range``
    (``"LOW:HIGH"``) and ``steps`` set the columns; ``conditions`` are kept fixed by projection; ``combine`` is sum
    or average. Photos are inverted with ``options``, rendered by a copy of the generator tuned for ``tune`` steps,
    and pasted back with ``paste`` (change or paste). ``report`` re-scores the faces at every step, with the shipped
    scorers and the learned ones in ``scorers`` (name -> scorer file from train-scorer).
    """

    output: OutputSpec
    attrs: str
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str = "z"
    n: int = 4
    seed: int = 0
    codes_file: Path | None = None
    index: Sequence[int] | None = None
    photos: Sequence[Path] = ()
    boundary_files: Mapping[str, str] = field(default_factory=dict)
    value_range: str | None = None
    steps: int | None = None
    conditions: Sequence[str] = ()
    combine: str = "sum"
    report: bool = False
    scorers: Mapping[str, Path] = field(default_factory=dict)
    options: PhotoOptions = field(default_factory=PhotoOptions)
    paste: str = "change"
    tune: int = 100
    batch_size: int = 64

    @classmethod
    def from_record(cls, record: EditRecord, output: OutputSpec, device: str = "auto") -> "EditRequest":
        """The request that redoes the edit recorded in ``record`` (see :func:`replay_edit`)."""
        steps = record.steps
        if not steps:
            raise UsageError("the edit record has no steps")
        photos = record.photos or []
        if photos and record.inversion is None:
            raise UsageError("the edit record has photos but no inversion settings")
        return cls(
            output=output,
            attrs=record.attrs,
            generator=GeneratorSpec(record.model, Path(record.weights_file) if record.weights_file else None, device,
                                    StyleOptions(**record.style)),
            space=record.space,
            n=record.n or 1,
            seed=record.seed or 0,
            codes_file=Path(record.codes_file) if record.codes_file else None,
            index=record.index,
            photos=[Path(p.photo) for p in photos],
            boundary_files={name: ref.path for name, ref in record.boundaries.items()},
            value_range=f"{steps[0]!r}:{steps[-1]!r}",
            steps=len(steps),
            conditions=record.conditions,
            combine=record.combine,
            options=PhotoOptions(record.inversion.settings(), photos[0].face_index, bool(record.aligned))
            if photos else PhotoOptions(),
            paste=record.paste or "change",
            tune=record.tune_steps or 0,
        )


@dataclass
class EditResult:
    out: Path
    codes: np.ndarray  # (N, S, dim)
    record: EditRecord


def select_codes(generator: Generator, request: EditRequest) -> tuple[np.ndarray, dict]:
    """The codes to edit in the request's space, from its codes file (optionally some rows) or sampled (Z codes
    mapped to the space), with a record of where they came from."""
    space = request.space
    if request.codes_file is None:
        return downstream_codes(generator, generator.sample(request.n, request.seed))[space], {"seed": request.seed,
                                                                                               "n": request.n}
    codes = generator.validate_codes(load_codes(request.codes_file), space)
    codes = generator.normalize_z(codes, space)  # PGGAN and StyleGAN Z: on the sphere (the images do not change)
    record: dict = {"codes_file": str(request.codes_file), "codes_sha256": sha256_file(Path(request.codes_file))}
    if request.index:
        index = list(request.index)
        bad = [i for i in index if not -len(codes) <= i < len(codes)]
        if bad:
            raise UsageError(f"index {bad[0]} is out of range: {request.codes_file} holds {len(codes)} codes")
        codes, record["index"] = codes[index], index
    return codes, record


def resolve_boundaries(names: Sequence[str], model: str, overrides: Mapping[str, str], space: str = "z") -> list[Boundary]:
    """Boundaries by attribute name: ``overrides`` (NAME=path) first, then the shipped ones for ``model``.

    Warns on stderr when a boundary's sidecar names another model, or another latent space than ``space`` (a w
    boundary fits wp codes too).
    """
    loaded = []
    for name in names:
        boundary = resolve_boundary(overrides.get(name, name), model).renamed(name)
        trained_for = boundary.info.model
        if trained_for and trained_for != model:
            warnings.warn(f"boundary {name} was trained for model {trained_for}, not {model}", stacklevel=2)
        trained_in = boundary.info.space
        if trained_in and trained_in != ("w" if space == "wp" else space):
            warnings.warn(f"boundary {name} was trained on {trained_in} codes, the edit is in space {space}", stacklevel=2)
        loaded.append(boundary)
    return loaded


def edit_faces(request: EditRequest) -> EditResult:
    """Plan the edit, render every step, write the results.

    Writes ``grid.png`` (rows = faces, columns = steps), ``gifs/face_000.gif``…, ``codes.npy`` (N, steps, dim),
    ``source_codes.npy`` and ``edit.json`` (with ``report``: the measured effect, see :func:`measure_edit`, and
    ``report.png`` drawing every face's scores at every step). With photos, the faces are the photos' faces,
    inverted first, each rendered by a copy of the generator tuned to its photo (unless ``tune`` is 0), and each
    photo also gets ``photos/NAME/`` (see :func:`write_photo_edits`).
    """
    parsed = parse_attrs(request.attrs)
    space, photos = request.space, list(request.photos)
    if photos and request.codes_file is not None:
        raise UsageError("give photos or a codes file, not both")
    if request.paste not in PASTE_MODES:
        raise UsageError(f"paste must be one of {', '.join(PASTE_MODES)}, got {request.paste!r}")
    if request.tune < 0:
        raise UsageError(f"tune must be 0 or more, got {request.tune}")
    if request.scorers and not request.report:
        raise UsageError("learned scorers measure the edit's report: ask for the report too")
    generator, digest = request.generator.load()
    model = generator.name
    generator.check_space(space)
    boundaries = resolve_boundaries([name for name, _ in parsed], model, request.boundary_files, space)
    condition_boundaries = resolve_boundaries(request.conditions, model, request.boundary_files, space)
    value_range, steps = request.value_range, request.steps
    if value_range is None and steps is not None:
        value_range = "-3:3" if all(s is None for _, s in parsed) else "0:1"
    step_values = parse_range(value_range, steps or 7) if value_range is not None else None
    plan = plan_edit(boundaries, [s for _, s in parsed], conditions=condition_boundaries, combine=request.combine,
                     steps=step_values)
    if plan.direction.shape[0] != generator.code_shape(space)[-1]:
        raise UsageError(f"the boundaries have dimension {plan.direction.shape[0]}, model {model} codes "
                         f"{generator.code_shape(space)[-1]}")
    inputs = [request.codes_file, *photos, *(b.path for b in [*boundaries, *condition_boundaries]),
              *request.scorers.values()]
    with staged_output(request.output.path, request.output.overwrite, inputs=inputs) as staging:
        analysis = FaceAnalysis(generator.device)
        if photos:
            faces, inverted = invert_photos(photos, generator, space=space, options=request.options, analysis=analysis)
            codes = inverted.codes
            source: dict = {
                "photos": [EditedPhoto(photo=f.name, sha256=sha256_file(Path(f.name)), face_index=request.options.face_index,
                                       faces_found=f.faces_found, psnr_db=round(float(p), 3), ssim=round(float(s), 4))
                           for f, p, s in zip(faces, inverted.psnr, inverted.ssim)],
                "inversion": inverted.record(), "aligned": request.options.aligned or None, "paste": request.paste,
                "tune_steps": request.tune,
            }
            features = FeatureLoss(analysis)
            renderers = [tune_generator(generator, code, face.crop, features=features, mask=face.inside, space=space,
                                        steps=request.tune) if request.tune else generator
                         for code, face in zip(codes, faces)]
        else:
            codes, source = select_codes(generator, request)
            renderers = [generator]
        edited = apply_edit(codes, plan)
        rows = [edited.reshape(-1, *edited.shape[2:])] if len(renderers) == 1 else edited
        rendered = np.concatenate([np.concatenate(list(render(r, c, space=space, batch_size=request.batch_size)))
                                   for r, c in zip(renderers, rows)])
        faces_tiles = preview_tiles(rendered)
        tiles = faces_tiles.reshape(*edited.shape[:2], *faces_tiles.shape[1:])  # (N, steps, T, T, 3)
        # columns are distances when swept, else fractions of the asked edit
        column_labels = [f"{v:+.2g}" if plan.swept else f"x{v:.2g}" for v in plan.steps]
        report = None
        if request.report:
            report, picture = measure_edit(generator, codes, edited, plan, analysis=analysis, step_labels=column_labels,
                                           batch_size=request.batch_size, space=space, learned=request.scorers)
            save_png(picture, staging / "report.png")
        record = EditRecord(
            **run_record(model, digest, generator, request.generator.weights), space=space, **source,
            attrs=request.attrs, attributes=plan.attributes, strengths=plan.strengths,
            boundaries={b.name: FileRef(path=str(b.path), sha256=sha256_file(b.path))
                        for b in [*boundaries, *condition_boundaries]},
            conditions=plan.conditions, combine=request.combine, steps=plan.steps.tolist(), edit=plan.describe(),
            report=report, scorers={name: FileRef(path=str(path), sha256=sha256_file(Path(path)))
                                    for name, path in request.scorers.items()} or None,
        )
        np.save(staging / "source_codes.npy", codes)
        np.save(staging / "codes.npy", edited)
        save_png(annotated_grid(tiles, plan.describe(), [f"#{i}" for i in range(len(codes))], column_labels),
                 staging / "grid.png")
        (staging / "gifs").mkdir()
        for i, frames in enumerate(tiles):
            save_gif(frames, staging / "gifs" / f"face_{i:03d}.gif")
        if photos:
            renders = rendered.reshape(*edited.shape[:2], *rendered.shape[1:])
            for name, face, renderer, code, after in zip(photo_names(photos), faces, renderers, codes, renders):
                before = next(render(renderer, code[None], space=space))[0]
                write_photo_edits(staging / "photos" / name, face, before, after, request.paste)
        write_json(record, staging / "edit.json")
    return EditResult(Path(request.output.path), edited, record)


def write_photo_edits(folder: Path, face: PhotoFace, reconstruction: np.ndarray, steps: np.ndarray, mode: str) -> None:
    """One photo's results: ``edited.png`` (the photo with the last step's face blended in), ``edited_face.png``
    (that face as rendered), ``target.png`` and ``reconstruction.png`` (the aligned face and the rendering of its
    code, by the tuned generator if one was tuned), ``before_after.png`` (the face's surroundings before and
    after, enlarged) and ``steps.gif`` (the surroundings through every step)."""
    folder.mkdir(parents=True)
    pasted = [face.paste(reconstruction, after, mode) for after in steps]
    save_png(pasted[-1], folder / "edited.png")
    save_png(steps[-1], folder / "edited_face.png")
    save_png(face.filled(reconstruction), folder / "target.png")
    save_png(reconstruction, folder / "reconstruction.png")
    rows, cols = face.surroundings()
    views = zoom([face.image[rows, cols], *(image[rows, cols] for image in pasted)])
    save_png(annotated_grid(views[[0, -1]][None], None, None, ["photo", "edited"]), folder / "before_after.png")
    save_gif(list(views[1:]), folder / "steps.gif")


def replay_edit(record_file: Path, output: OutputSpec, device: str = "auto") -> EditResult:
    """Redo the edit recorded in an ``edit.json``; refuses if a boundary, codes file or photo has changed since."""
    record_file = Path(record_file)
    record = EditRecord.from_json(read_json(record_file, "edit record"), str(record_file))
    for name, ref in record.boundaries.items():
        if not Path(ref.path).is_file() or sha256_file(Path(ref.path)) != ref.sha256:
            raise UsageError(f"boundary {name} ({ref.path}) is missing or has changed since {record_file}")
    if record.codes_file is not None:
        if not Path(record.codes_file).is_file() or sha256_file(Path(record.codes_file)) != record.codes_sha256:
            raise UsageError(f"codes file {record.codes_file} is missing or has changed since {record_file}")
    for photo in record.photos or []:
        if not Path(photo.photo).is_file() or sha256_file(Path(photo.photo)) != photo.sha256:
            raise UsageError(f"photo {photo.photo} is missing or has changed since {record_file}")
    return edit_faces(EditRequest.from_record(record, output, device))


def measure_edit(generator: Generator, source: np.ndarray, edited: np.ndarray, plan: EditPlan, *,
                 analysis: FaceAnalysis, step_labels: Sequence[str], batch_size: int = 64, space: str = "z",
                 learned: Mapping[str, Path] | None = None) -> tuple[dict, np.ndarray]:
    """What ``edit --report`` measures: every scorer's scores (the shipped ones and the ``learned`` scorer files) of
    every face before and at every step of the edit; the effect of the full edit (see
    :func:`~latentedit.core.editing.edit_effect`) with the mean score of every attribute at every step
    (``step_means``), and a picture of every face's scores along the edit."""
    scorers = load_scorers([*SCORERS, *(learned or {})], analysis, learned)
    curves = step_scores(generator, edited, scorers, batch_size=batch_size, space=space)
    before = score_codes(generator, source, scorers, space=space, batch_size=batch_size)
    report = _effect(plan, source, edited[:, -1], before, {n: values[:, -1] for n, values in curves.items()})
    report["step_means"] = {name: [None if np.isnan(v) else round(float(v), 4) for v in column_means(values)]
                            for name, values in curves.items()}
    units = {name: scorer.unit.split(" (")[0].split(",")[0] for name, scorer in scorers.items()}
    title = f"{plan.describe()}: scores at each step (grey: each face, red: mean)"
    return report, line_panels(plan.steps, curves, units, title, step_labels)


def plan_effect(generator: Generator, codes: np.ndarray, plan: EditPlan, scorers: dict, *, space: str = "z",
                batch_size: int = 64, before: Scores | None = None) -> dict:
    """The effect of the full edit ``plan`` on ``codes`` as ``scorers`` measure it (see
    :func:`~latentedit.core.editing.edit_effect`); ``before``: the codes' scores, when already known."""
    final = apply_edit(codes, plan)[:, -1]
    before = before or score_codes(generator, codes, scorers, space=space, batch_size=batch_size)
    after = score_codes(generator, final, scorers, space=space, batch_size=batch_size)
    return _effect(plan, codes, final, before, after)


def _effect(plan: EditPlan, codes: np.ndarray, final: np.ndarray, before, after) -> dict:
    moved = (final - codes).reshape(len(final), -1, final.shape[-1])[:, 0]  # W+ codes: every layer moved alike
    return edit_effect(plan, moved, {n: before[n] for n in before.names}, {n: after[n] for n in before.names})


def step_scores(generator: Generator, edited: np.ndarray, scorers: dict, *, batch_size: int = 64, space: str = "z"
                ) -> dict[str, np.ndarray]:
    """Every scorer's score of every face at every step of ``edited`` (N, steps, ...) codes: {name: (N, steps)}."""
    scores = score_codes(generator, edited.reshape(-1, *edited.shape[2:]), scorers, space=space, batch_size=batch_size)
    return {name: scores[name].reshape(edited.shape[:2]) for name in scorers}


def format_report(report: dict) -> str:
    """The measured effect of an edit (see :func:`measure_edit`) as indented lines for the terminal."""
    lines = []
    for name, target in report["targets"].items():
        per_unit = target["change_per_unit_step"]
        if not target["faces_scored"]:
            lines.append(f"  {name}: no face found both before and after the edit")
            continue
        lines.append(f"  {name}: score change {target['mean_change']:+.3f}"
                     + (f" ({per_unit:+.3f} per unit step)" if per_unit is not None else "")
                     + f", moved as asked for {target['moved_as_asked']:.0%} of {target['faces_scored']} faces")
    for name, change in report["side_effects"].items():
        if change is None:
            continue
        lines.append(f"  {name}: side effect, mean absolute change {change:.3f} (mean change "
                     f"{report['side_effects_signed'][name]:+.3f})")
    return "\n".join(lines)
