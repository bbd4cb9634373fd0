"""``latentedit edit``: edit generated faces, codes or photos along boundaries (one attribute, several at once, or
conditional; by strengths or by targets in the attributes' units), render every step, and optionally measure what the
edit changed and how much of each face's identity it kept (``--report``)."""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.boundary import Boundary
from ..core.editing import EditPlan, apply_edit, edit_effect, parse_layers, parse_range, plan_edit, split_attrs
from ..core.inversion import Progress, tune_generator
from ..errors import UsageError
from ..files.boundaries import resolve_boundary
from ..files.codes import load_codes
from ..files.outputs import read_json, save_gif, save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.features import FeatureLoss
from ..models.generators import Generator, downstream_codes, render, run_record
from ..models.identity import DIFFERENT_GENERATED_MEDIAN, MIRROR_GENERATED_MEDIAN, SAME_PERSON_THRESHOLD, similarity
from ..models.photo import PASTE_MODES, PhotoFace
from ..models.scoring import SCORERS, Scores, load_scorers, score_codes
from ..pictures import annotated_grid, column_means, line_panels, preview_tiles, zoom
from ..records import AutoConditions, EditedPhoto, EditRecord, EditTarget, FileRef
from ..specs import GeneratorSpec, OutputSpec, PhotoOptions, StyleOptions, TuningSettings
from .photos import invert_photos, photo_names
from .targets import (
    DEFAULT_MAX_DISTANCE,
    auto_conditions,
    learned_scorers,
    read_values,
    recorded_distances,
    search_targets,
)


@dataclass(frozen=True)
class EditRequest:
    """An edit: ``attrs`` (``"smile=+3,age=-2"``, targets in units such as ``"age=+10y,smile=0.9"``, or names to
    sweep) on faces sampled from ``seed``, on rows ``index`` of ``codes_file``, or on the faces of ``photos``.

    ``boundary_files`` maps attribute names to boundary files (else the shipped ones); ``value_range``
    (``"LOW:HIGH"``) and ``steps`` set the columns; ``conditions`` are kept fixed by projection, and with
    ``auto_condition`` so are the attributes a probe edit finds moving (see :func:`~.targets.auto_conditions`);
    ``combine`` is sum or average. A target in units moves each face by its own distance, searched within
    ``max_distance`` (default 6) either way (see :func:`~.targets.search_targets`); ``recorded_targets`` (from an
    edit record) gives those distances instead. Photos are inverted with ``options``, rendered by a copy of the
    generator tuned for ``tune`` steps, and pasted back with ``paste`` (change or paste). ``report`` re-scores the
    faces at every step (with the shipped scorers, the learned ones in ``scorers``: name -> scorer file from
    train-scorer, and those that measure learned boundaries) and measures how much of each face's identity every
    step keeps. ``layers`` (a spec like ``"0-3"`` or ``"0,2,5-7"``; W+ edits only) moves only those layers of each
    code.
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
    auto_condition: bool = False
    combine: str = "sum"
    max_distance: float | None = None
    recorded_targets: Mapping[str, EditTarget] | None = None
    report: bool = False
    scorers: Mapping[str, Path] = field(default_factory=dict)
    options: PhotoOptions = field(default_factory=PhotoOptions)
    paste: str = "change"
    tune: int = 100
    layers: str | None = None
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
            generator=GeneratorSpec(
                record.model,
                Path(record.weights_file) if record.weights_file else None,
                device,
                StyleOptions(**record.style),
            ),
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
            max_distance=record.max_distance,
            recorded_targets=record.targets,
            options=PhotoOptions(record.inversion.settings(), photos[0].face_index, bool(record.aligned))
            if photos and record.inversion is not None
            else PhotoOptions(),
            paste=record.paste or "change",
            tune=record.tune_steps or 0,
            layers=None if record.layers is None else ",".join(map(str, record.layers)),
        )


@dataclass
class EditResult:
    out: Path
    codes: np.ndarray  # (N, S, dim)
    record: EditRecord


def select_codes(
    generator: Generator,
    *,
    space: str = "z",
    n: int = 4,
    seed: int = 0,
    codes_file: Path | None = None,
    index: Sequence[int] | None = None,
) -> tuple[np.ndarray, dict]:
    """The codes to edit in ``space``, from ``codes_file`` (optionally rows ``index``) or ``n`` sampled from
    ``seed`` (Z codes mapped to the space), with the fields of an :class:`EditRecord` saying where they came from."""
    if codes_file is None:
        return downstream_codes(generator, generator.sample(n, seed))[space], {"seed": seed, "n": n}
    codes = generator.validate_codes(load_codes(codes_file), space)
    codes = generator.normalize_z(codes, space)  # PGGAN and StyleGAN Z: on the sphere (the images do not change)
    record: dict = {"codes_file": str(codes_file), "codes_sha256": sha256_file(Path(codes_file))}
    if index:
        index = list(index)
        bad = [i for i in index if not -len(codes) <= i < len(codes)]
        if bad:
            raise UsageError(f"index {bad[0]} is out of range: {codes_file} holds {len(codes)} codes")
        codes, record["index"] = codes[index], index
    return codes, record


@dataclass
class PreparedPhotos:
    """Photos made ready to edit: their aligned faces, inverted codes, the generator that renders each face (tuned
    to its photo, or the model's) and the fields of an :class:`EditRecord` saying how."""

    faces: list[PhotoFace]
    codes: np.ndarray
    renderers: list[Generator]
    source: dict


def prepare_photos(
    photos: Sequence[Path],
    generator: Generator,
    *,
    space: str = "z",
    options: PhotoOptions,
    paste: str = "change",
    tune: int = 100,
    analysis: FaceAnalysis,
    on_progress: Progress | None = None,
) -> PreparedPhotos:
    """What ``edit PHOTO`` does before editing: invert the photos' faces (see
    :func:`~latentedit.commands.photos.invert_photos`) and tune a copy of the generator to each for ``tune`` steps,
    counting the pixels from the photo only; ``on_progress`` is told each step of both."""
    faces, inverted = invert_photos(
        photos, generator, space=space, options=options, analysis=analysis, on_progress=on_progress
    )
    source = {
        "photos": [
            EditedPhoto(
                photo=f.name,
                sha256=sha256_file(Path(f.name)),
                face_index=options.face_index,
                faces_found=f.faces_found,
                psnr_db=round(float(p), 3),
                ssim=round(float(s), 4),
            )
            for f, p, s in zip(faces, inverted.psnr, inverted.ssim)
        ],
        "inversion": inverted.record(),
        "aligned": options.aligned or None,
        "paste": paste,
        "tune_steps": tune,
    }
    features = FeatureLoss(analysis)
    renderers = [
        tune_generator(
            generator,
            code,
            face.crop,
            features=features,
            mask=face.inside,
            space=space,
            settings=TuningSettings(steps=tune),
            on_progress=on_progress,
        )
        if tune
        else generator
        for code, face in zip(inverted.codes, faces)
    ]
    return PreparedPhotos(faces, inverted.codes, renderers, source)


def edit_record(
    head: dict,
    *,
    space: str,
    source: dict,
    attrs: str,
    plan: EditPlan,
    boundaries: Sequence[Boundary],
    report: dict | None = None,
    max_distance: float | None = None,
    targets: dict[str, EditTarget] | None = None,
    auto_conditions: AutoConditions | None = None,
    scorers: Mapping[str, Path] | None = None,
) -> EditRecord:
    """The ``edit.json`` of an edit, from which :func:`replay_edit` redoes it: ``head`` (see
    :func:`~latentedit.models.generators.run_record`), the codes' ``source`` (see :func:`select_codes` and
    :func:`prepare_photos`), the ``attrs`` as given, the plan, every boundary used (edited and conditions) with its
    sha256, the measured ``report``, and for targets in units the search's ``max_distance``, what it found per face
    (``targets``), the conditions ``--condition auto`` chose and the learned ``scorers`` the report used."""
    return EditRecord(
        **head,
        space=space,
        **source,
        attrs=attrs,
        attributes=plan.attributes,
        strengths=plan.strengths,
        boundaries={b.name: _file_ref(b) for b in boundaries},
        conditions=plan.conditions,
        combine=plan.combine,
        steps=plan.steps.tolist(),
        layers=None if plan.layers is None else list(plan.layers),
        edit=plan.describe(),
        report=report,
        max_distance=max_distance,
        targets=targets,
        auto_conditions=auto_conditions,
        scorers={
            name: FileRef(path=str(path), sha256=sha256_file(Path(path))) for name, path in (scorers or {}).items()
        }
        or None,
    )


def _file_ref(boundary: Boundary) -> FileRef:
    """The file a boundary was read from, with its sha256, for an edit record."""
    if boundary.path is None:
        raise ValueError(f"boundary {boundary.name!r} was not read from a file; an edit record names files")
    return FileRef(path=str(boundary.path), sha256=sha256_file(boundary.path))


def resolve_boundaries(
    names: Sequence[str], model: str, overrides: Mapping[str, str], space: str = "z"
) -> list[Boundary]:
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
            warnings.warn(
                f"boundary {name} was trained on {trained_in} codes, the edit is in space {space}", stacklevel=2
            )
        loaded.append(boundary)
    return loaded


def edit_faces(request: EditRequest) -> EditResult:
    """Plan the edit, render every step, write the results.

    Writes ``grid.png`` (rows = faces, columns = steps), ``gifs/face_000.gif``…, ``codes.npy`` (N, steps, dim),
    ``source_codes.npy`` and ``edit.json`` (with ``report``: the measured effect, see :func:`measure_edit`, and
    ``report.png`` drawing every face's scores and identity at every step). With photos, the faces are the photos'
    faces,
    inverted first, each rendered by a copy of the generator tuned to its photo (unless ``tune`` is 0), and each
    photo also gets ``photos/NAME/`` (see :func:`write_photo_edits`).
    """
    parsed = split_attrs(request.attrs)
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
    layers = _edit_layers(generator, space, request.layers)
    boundaries = resolve_boundaries([name for name, _ in parsed], model, request.boundary_files, space)
    strengths, targets = read_values(parsed, boundaries)
    learned = {**learned_scorers(boundaries), **request.scorers} if request.report else {}
    max_distance = _max_distance(request, targets)
    condition_boundaries = resolve_boundaries(request.conditions, model, request.boundary_files, space)
    analysis = FaceAnalysis(generator.device)
    auto = None
    if request.auto_condition:
        condition_boundaries, auto = auto_conditions(
            generator,
            boundaries,
            strengths,
            targets,
            condition_boundaries,
            model=model,
            overrides=request.boundary_files,
            space=space,
            analysis=analysis,
            combine=request.combine,
            batch_size=request.batch_size,
        )
    value_range, steps = request.value_range, request.steps
    if value_range is None and steps is not None:
        value_range = "-3:3" if all(s is None for s in strengths) else "0:1"
    step_values = parse_range(value_range, steps or 7) if value_range is not None else None
    plan = plan_edit(
        boundaries,
        strengths,
        conditions=condition_boundaries,
        combine=request.combine,
        steps=step_values,
        layers=layers,
    )
    plan.targets = {name: text for name, text in parsed if name in targets and text is not None}
    if plan.direction.shape[0] != generator.code_shape(space)[-1]:
        raise UsageError(
            f"the boundaries have dimension {plan.direction.shape[0]}, model {model} codes "
            f"{generator.code_shape(space)[-1]}"
        )
    inputs = [request.codes_file, *photos, *(b.path for b in [*boundaries, *condition_boundaries]), *learned.values()]
    with staged_output(request.output.path, request.output.overwrite, inputs=inputs) as staging:
        if photos:
            prepared = prepare_photos(
                photos,
                generator,
                space=space,
                options=request.options,
                paste=request.paste,
                tune=request.tune,
                analysis=analysis,
            )
            faces, codes, renderers, source = prepared.faces, prepared.codes, prepared.renderers, prepared.source
        else:
            codes, source = select_codes(
                generator,
                space=space,
                n=request.n,
                seed=request.seed,
                codes_file=request.codes_file,
                index=request.index,
            )
            renderers = [generator]
        found = None
        if targets:
            assert max_distance is not None  # _max_distance gives one whenever there are targets
            found = (
                request.recorded_targets
                if request.recorded_targets is not None
                else search_targets(
                    renderers,
                    codes,
                    plan,
                    targets,
                    analysis=analysis,
                    max_distance=max_distance,
                    space=space,
                    batch_size=request.batch_size,
                )
            )
            plan.distances = recorded_distances(found, targets, len(codes))
        edited = apply_edit(codes, plan)
        rows = [edited.reshape(-1, *edited.shape[2:])] if len(renderers) == 1 else edited
        rendered = np.concatenate(
            [
                np.concatenate(list(render(r, c, space=space, batch_size=request.batch_size)))
                for r, c in zip(renderers, rows)
            ]
        )
        faces_tiles = preview_tiles(rendered)
        tiles = faces_tiles.reshape(*edited.shape[:2], *faces_tiles.shape[1:])  # (N, steps, T, T, 3)
        # columns are distances when swept, else fractions of the asked edit
        column_labels = [f"{v:+.2g}" if plan.swept else f"x{v:.2g}" for v in plan.steps]
        report = None
        if request.report:
            report, picture = measure_edit(
                generator,
                codes,
                edited,
                plan,
                analysis=analysis,
                step_labels=column_labels,
                batch_size=request.batch_size,
                space=space,
                learned=learned,
            )
            save_png(picture, staging / "report.png")
        record = edit_record(
            run_record(model, digest, generator, request.generator.weights),
            space=space,
            source=source,
            attrs=request.attrs,
            plan=plan,
            boundaries=[*boundaries, *condition_boundaries],
            report=report,
            max_distance=max_distance,
            targets=dict(found) if found else None,
            auto_conditions=auto,
            scorers=learned,
        )
        np.save(staging / "source_codes.npy", codes)
        np.save(staging / "codes.npy", edited)
        save_png(
            annotated_grid(tiles, plan.describe(), [f"#{i}" for i in range(len(codes))], column_labels),
            staging / "grid.png",
        )
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


def _edit_layers(generator: Generator, space: str, layers: str | None) -> tuple[int, ...] | None:
    """The W+ layers an edit moves (None: all), or a one-line error when ``layers`` does not apply."""
    if layers is None:
        return None
    if space != "wp":
        raise UsageError(f"layers move chosen layers of W+ codes: edit in space wp (this edit is in space {space})")
    return parse_layers(layers, num_layers=generator.code_shape("wp")[0])


def _max_distance(request: EditRequest, targets: Mapping) -> float | None:
    """The largest distance the target search may go (None without targets, where giving one is refused)."""
    if not targets:
        if request.max_distance is not None:
            raise UsageError("max_distance does nothing without a target in units, such as age=+10y or smile=0.9")
        return None
    if request.combine != "sum":
        raise UsageError(
            f"targets in units move each attribute by its own distance: combine must be sum, not {request.combine!r}"
        )
    value = DEFAULT_MAX_DISTANCE if request.max_distance is None else request.max_distance
    if not value > 0 or not np.isfinite(value):
        raise UsageError(f"max_distance must be a positive number, got {value}")
    return float(value)


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


def measure_edit(
    generator: Generator,
    source: np.ndarray,
    edited: np.ndarray,
    plan: EditPlan,
    *,
    analysis: FaceAnalysis,
    step_labels: Sequence[str],
    batch_size: int = 64,
    space: str = "z",
    learned: Mapping[str, Path] | None = None,
) -> tuple[dict, np.ndarray]:
    """What ``edit --report`` measures: every scorer's scores (the shipped ones and the ``learned`` scorer files) and
    the identity embedding of every face before and at every step of the edit; the effect of the full edit (see
    :func:`~latentedit.core.editing.edit_effect`) with the mean score of every attribute at every step
    (``step_means``); the identity kept (``identity``: the cosine of each face's embedding at each step to its
    embedding before the edit, see :func:`identity_kept`); and a picture of every face's scores and identity along
    the edit."""
    scorers = load_scorers([*SCORERS, *(learned or {})], analysis, learned)
    at_steps = score_codes(
        generator, edited.reshape(-1, *edited.shape[2:]), scorers, space=space, batch_size=batch_size, identity=True
    )
    curves = {name: at_steps[name].reshape(edited.shape[:2]) for name in scorers}
    before = score_codes(generator, source, scorers, space=space, batch_size=batch_size, identity=True)
    report = _effect(plan, source, edited[:, -1], before, {n: values[:, -1] for n, values in curves.items()})
    report["step_means"] = {name: _rounded(column_means(values)) for name, values in curves.items()}
    if before.identity is None or at_steps.identity is None:
        raise ValueError("score_codes gave no identity embeddings")
    kept = similarity(before.identity[:, None], at_steps.identity.reshape(*edited.shape[:2], -1)).astype(np.float64)
    report["identity"] = identity_kept(kept)
    units = {name: scorer.unit.split(" (")[0].split(",")[0] for name, scorer in scorers.items()}
    units["identity"] = "cosine to the face before"
    title = f"{plan.describe()}: scores and identity at each step (grey: each face, red: mean)"
    return report, line_panels(plan.steps, {**curves, "identity": kept}, units, title, step_labels)


def identity_kept(kept: np.ndarray) -> dict:
    """The identity part of a report from ``kept`` (N, steps): each face's cosine to itself before the edit, NaN
    where no face was found. The mean at every step; at the last (the full edit) the mean, median and lowest over
    the faces found, and the share at or above the same-person threshold, with the generated-face baseline."""
    last = kept[:, -1][np.isfinite(kept[:, -1])]
    summary: dict = {"step_means": _rounded(column_means(kept)), "faces_scored": int(len(last))}
    if len(last):
        summary.update(
            mean=round(float(last.mean()), 4),
            median=round(float(np.median(last)), 4),
            lowest=round(float(last.min()), 4),
            same_person_share=round(float((last >= SAME_PERSON_THRESHOLD).mean()), 4),
        )
    return {
        **summary,
        "same_person_threshold": SAME_PERSON_THRESHOLD,
        "different_generated_faces_median": DIFFERENT_GENERATED_MEDIAN,
        "mirrored_generated_face_median": MIRROR_GENERATED_MEDIAN,
    }


def _rounded(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else round(float(v), 4) for v in values]


def plan_effect(
    generator: Generator,
    codes: np.ndarray,
    plan: EditPlan,
    scorers: dict,
    *,
    space: str = "z",
    batch_size: int = 64,
    before: Scores | None = None,
    identity: bool = False,
) -> dict:
    """The effect of the full edit ``plan`` on ``codes`` as ``scorers`` measure it (see
    :func:`~latentedit.core.editing.edit_effect`); ``before``: the codes' scores, when already known (with
    ``identity``, scored with it). With ``identity``, also the identity kept (see :func:`identity_kept`)."""
    final = apply_edit(codes, plan)[:, -1]
    before = before or score_codes(generator, codes, scorers, space=space, batch_size=batch_size, identity=identity)
    after = score_codes(generator, final, scorers, space=space, batch_size=batch_size, identity=identity)
    effect = _effect(plan, codes, final, before, after)
    if identity:
        if before.identity is None or after.identity is None:
            raise ValueError("before must hold the identity embeddings when identity is measured")
        effect["identity"] = identity_kept(similarity(before.identity, after.identity).astype(np.float64)[:, None])
    return effect


def _effect(plan: EditPlan, codes: np.ndarray, final: np.ndarray, before, after) -> dict:
    layer = plan.layers[0] if plan.layers else 0  # W+ codes: every moved layer moved alike
    moved = (final - codes).reshape(len(final), -1, final.shape[-1])[:, layer]
    return edit_effect(plan, moved, {n: before[n] for n in before.names}, {n: after[n] for n in before.names})


def format_report(report: dict) -> str:
    """The measured effect of an edit (see :func:`measure_edit`) as indented lines for the terminal."""
    lines = []
    for name, target in report["targets"].items():
        per_unit = target["change_per_unit_step"]
        if not target["faces_scored"]:
            lines.append(f"  {name}: no face found both before and after the edit")
            continue
        lines.append(
            f"  {name}: score change {target['mean_change']:+.3f}"
            + (f" ({per_unit:+.3f} per unit step)" if per_unit is not None else "")
            + f", moved as asked for {target['moved_as_asked']:.0%} of {target['faces_scored']} faces"
        )
    for name, change in report["side_effects"].items():
        if change is None:
            continue
        lines.append(
            f"  {name}: side effect, mean absolute change {change:.3f} (mean change "
            f"{report['side_effects_signed'][name]:+.3f})"
        )
    identity = report.get("identity")
    if identity and identity.get("faces_scored"):
        lines.append(
            f"  identity: cosine to the face before {identity['mean']:.3f} at the full edit (median "
            f"{identity['median']:.3f}, lowest {identity['lowest']:.3f}); {identity['same_person_share']:.0%} of "
            f"{identity['faces_scored']} faces at or above {identity['same_person_threshold']} (the same person, on "
            f"real photos). For scale, on generated faces: two different faces "
            f"{identity['different_generated_faces_median']}, a face and its mirror image "
            f"{identity['mirrored_generated_face_median']} (medians)"
        )
    return "\n".join(lines)
