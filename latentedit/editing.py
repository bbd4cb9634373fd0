"""Editing codes along boundaries: single, several at once with their own strengths, or conditional."""

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .boundaries import Boundary, project_out, resolve_boundary
from .errors import UsageError
from .generators import DEFAULT_MODEL, Generator, downstream_codes, load_generator, render, run_record
from .inversion import PASTE_MODES, InversionSettings, PhotoFace, invert_photos, photo_names, tune_generator, zoom
from .scoring import SCORERS, load_scorers, score_codes
from .outputs import (annotated_grid, column_means, line_panels, load_codes, preview_tiles, save_gif, save_png,
                      staged_output, write_json)
from .weights import sha256_file

_ATTR = re.compile(r"^\s*([A-Za-z0-9_.\-/]+?)\s*(?:=\s*(\S+))?\s*$")


@dataclass
class EditPlan:
    """What to add to a code at each step: ``codes + steps[k] * direction``."""

    attributes: list[str]
    strengths: list[float]
    conditions: list[str]
    combine: str
    steps: np.ndarray
    direction: np.ndarray  # (dim,): the strengths already folded in
    boundaries: list[Boundary] = field(repr=False, default_factory=list)
    swept: bool = False  # no strengths given: the steps are signed distances along the direction

    def describe(self) -> str:
        signed = self.combine == "sum" and not self.swept
        parts = [f"{a}{s:+g}" if signed else a for a, s in zip(self.attributes, self.strengths)]
        text = (" + " if self.combine == "sum" else " & ").join(parts)
        if self.combine == "average":
            text = f"average({text})"
        if self.swept:
            text += f", distance {self.steps[0]:+g} to {self.steps[-1]:+g}"
        if self.conditions:
            text += f" | fixed: {', '.join(self.conditions)}"
        return text


def parse_attrs(spec: str) -> list[tuple[str, float | None]]:
    """``"smile=+3,age=-2"`` or ``"smile,age"`` to [(name, strength or None)]."""
    parsed = []
    for part in spec.split(","):
        if not part.strip():
            continue
        match = _ATTR.match(part)
        if not match:
            raise UsageError(f"cannot read attribute {part.strip()!r}: use NAME or NAME=STRENGTH, e.g. smile=+3")
        name, strength = match.groups()
        if strength is not None:
            try:
                value = float(strength)
            except ValueError:
                raise UsageError(f"strength of {name!r} is not a number: {strength!r}") from None
            if not np.isfinite(value):
                raise UsageError(f"strength of {name!r} must be finite, got {strength!r}")
            parsed.append((name, value))
        else:
            parsed.append((name, None))
    if not parsed:
        raise UsageError("no attribute to edit: give --attrs, e.g. --attrs smile=+3")
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise UsageError(f"an attribute is named twice in {spec!r}")
    return parsed


def parse_range(spec: str, steps: int) -> np.ndarray:
    """``"-3:3"`` with ``steps`` to evenly spaced step values."""
    try:
        low, high = (float(v) for v in spec.split(":"))
    except ValueError:
        raise UsageError(f"--range must be LOW:HIGH with numbers, e.g. -3:3, got {spec!r}") from None
    if steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    return np.linspace(low, high, steps, dtype=np.float64) if steps > 1 else np.array([high])


def plan_edit(
    boundaries: list[Boundary],
    strengths: list[float | None],
    conditions: list[Boundary] = (),
    combine: str = "sum",
    steps: np.ndarray | None = None,
) -> EditPlan:
    """Build the edit direction.

    ``sum`` (default): every attribute moves by its own strength, ``Σ s_i n_i`` (unit normals, strength 1 where
    none is given). ``average``: the seed projects' ``(n_1 + … + n_k) / k`` with the strengths ignored, kept for
    comparison. With ``conditions`` each normal first has the condition normals projected out, so the
    conditioned attributes stay put to first order. Without ``steps``: ``-3…3`` in 7 steps if no strength
    was given, else ``0…1`` in 5 steps (the last column is exactly the asked edit).
    """
    if combine not in ("sum", "average"):
        raise UsageError(f"--combine must be sum or average, got {combine!r}")
    names = [b.name for b in boundaries]
    clash = sorted(set(names) & {c.name for c in conditions})
    if clash:
        raise UsageError(f"--condition names an edited attribute itself: {', '.join(clash)}")
    if len({b.dim for b in [*boundaries, *conditions]}) > 1:
        raise UsageError("the boundaries have different dimensions: " + ", ".join(f"{b.name}={b.dim}" for b in [*boundaries, *conditions]))
    projected = [project_out(b, list(conditions)) for b in boundaries]
    weights = [1.0 if s is None else s for s in strengths]
    if combine == "average":
        direction = np.mean([b.normal.astype(np.float64) for b in projected], axis=0)
    else:
        direction = np.sum([w * b.normal.astype(np.float64) for w, b in zip(weights, projected)], axis=0)
    if steps is None:
        steps = np.linspace(-3, 3, 7) if all(s is None for s in strengths) else np.linspace(0, 1, 5)
    return EditPlan(names, weights, [c.name for c in conditions], combine, np.asarray(steps, np.float64),
                    direction.astype(np.float32), projected, all(s is None for s in strengths))


def apply_edit(codes: np.ndarray, plan: EditPlan) -> np.ndarray:
    """Edited codes, shape (N, steps, *code_shape); for W+ codes (N, layers, dim) every layer moves."""
    codes = np.asarray(codes, np.float32)
    if codes.shape[-1] != plan.direction.shape[0]:
        raise UsageError(f"codes have dimension {codes.shape[-1]}, the boundaries {plan.direction.shape[0]}")
    offsets = plan.steps.astype(np.float32)[:, None] * plan.direction[None, :]  # (S, dim)
    offsets = offsets.reshape(len(plan.steps), *([1] * (codes.ndim - 2)), -1)
    return codes[:, None] + offsets[None]


@dataclass
class EditResult:
    out: Path
    codes: np.ndarray  # (N, S, dim)
    record: dict


def select_codes(
    generator: Generator, codes_file: Path | None, index: list[int] | None, n: int, seed: int, space: str = "z"
) -> tuple[np.ndarray, dict]:
    """The codes to edit in ``space``, from a file (optionally some rows) or sampled (Z codes mapped to
    ``space``), with a record of where they came from."""
    if codes_file is None:
        return downstream_codes(generator, generator.sample(n, seed))[space], {"seed": seed, "n": n}
    codes = generator.validate_codes(load_codes(codes_file), space)
    codes = generator.normalize_z(codes, space)  # PGGAN and StyleGAN Z: on the sphere (the images do not change)
    record = {"codes_file": str(codes_file), "codes_sha256": sha256_file(Path(codes_file))}
    if index:
        bad = [i for i in index if not -len(codes) <= i < len(codes)]
        if bad:
            raise UsageError(f"--index {bad[0]} is out of range: {codes_file} holds {len(codes)} codes")
        codes, record["index"] = codes[index], list(index)
    return codes, record


def resolve_boundaries(names: list[str], model: str, overrides: dict[str, str], space: str = "z") -> list[Boundary]:
    """Boundaries by attribute name: ``overrides`` (NAME=path) first, then the shipped ones for ``model``.

    Warns on stderr when a boundary's sidecar names another model, or another latent space than ``space`` (a w
    boundary fits wp codes too).
    """
    loaded = []
    for name in names:
        boundary = resolve_boundary(overrides.get(name, name), model)
        boundary.name = name
        trained_for = boundary.meta.get("model")
        if trained_for and trained_for != model:
            warnings.warn(f"boundary {name} was trained for model {trained_for}, not {model}", stacklevel=2)
        trained_in = boundary.meta.get("space")
        if trained_in and trained_in != ("w" if space == "wp" else space):
            warnings.warn(f"boundary {name} was trained on {trained_in} codes, the edit is in space {space}", stacklevel=2)
        loaded.append(boundary)
    return loaded


def edit_faces(
    out: Path,
    attrs: str,
    model: str = DEFAULT_MODEL,
    codes_file: Path | None = None,
    index: list[int] | None = None,
    n: int = 4,
    seed: int = 0,
    boundary_files: dict[str, str] | None = None,
    value_range: str | None = None,
    steps: int | None = None,
    conditions: list[str] | None = None,
    combine: str = "sum",
    batch_size: int = 64,
    device: str = "auto",
    overwrite: bool = False,
    space: str = "z",
    weights: Path | None = None,
    style: dict | None = None,
    report: bool = False,
    photos: list[Path] | None = None,
    settings: InversionSettings | None = None,
    face_index: int = 0,
    paste: str = "change",
    tune: int = 100,
) -> EditResult:
    """What ``latentedit edit`` does: plan the edit, render every step, write the results.

    Writes ``grid.png`` (rows = faces, columns = steps), ``gifs/face_000.gif``…, ``codes.npy`` (N, steps, dim),
    ``source_codes.npy`` and ``edit.json`` (with ``report``: the measured effect, see :func:`edit_report`, the mean
    scores at each step, and ``report.png`` drawing every face's scores at every step).
    With ``photos`` the faces are the photos' faces, inverted first (see :mod:`latentedit.inversion`), each
    rendered by a copy of the generator tuned for ``tune`` steps to that photo (0: the generator as it is), and
    each photo also gets ``photos/NAME/`` (see :func:`write_photo_edits`).
    """
    parsed = parse_attrs(attrs)
    if photos and codes_file is not None:
        raise UsageError("give photos or --codes, not both")
    if paste not in PASTE_MODES:
        raise UsageError(f"--paste must be one of {', '.join(PASTE_MODES)}, got {paste!r}")
    if tune < 0:
        raise UsageError(f"--tune must be 0 or more, got {tune}")
    overrides = boundary_files or {}
    generator, digest = load_generator(model, device, weights, **(style or {}))
    generator.check_space(space)
    boundaries = resolve_boundaries([name for name, _ in parsed], model, overrides, space)
    condition_boundaries = resolve_boundaries(conditions or [], model, overrides, space)
    if value_range is None and steps is not None:
        value_range = "-3:3" if all(s is None for _, s in parsed) else "0:1"
    step_values = parse_range(value_range, steps or 7) if value_range else None
    plan = plan_edit(boundaries, [s for _, s in parsed], condition_boundaries, combine, step_values)
    if plan.direction.shape[0] != generator.code_shape(space)[-1]:
        raise UsageError(f"the boundaries have dimension {plan.direction.shape[0]}, model {model} codes {generator.code_shape(space)[-1]}")
    with staged_output(out, overwrite) as staging:
        if photos:
            faces, inverted = invert_photos(photos, generator, space, settings, face_index)
            codes = inverted.codes
            source = {"photos": [{"photo": f.name, "sha256": sha256_file(Path(f.name)), "face_index": face_index,
                                  "faces_found": f.faces_found, "psnr_db": round(float(p), 3), "ssim": round(float(s), 4)}
                                 for f, p, s in zip(faces, inverted.psnr, inverted.ssim)],
                      "inversion": inverted.record(), "paste": paste, "tune_steps": tune}
            renderers = [tune_generator(generator, code, face.crop, space, tune) if tune else generator
                         for code, face in zip(codes, faces)]
        else:
            codes, source = select_codes(generator, codes_file, index, n, seed, space)
            renderers = [generator]
        edited = apply_edit(codes, plan)
        rows = [edited.reshape(-1, *edited.shape[2:])] if len(renderers) == 1 else edited
        rendered = np.concatenate([np.concatenate(list(render(r, c, space, batch_size))) for r, c in zip(renderers, rows)])
        faces_tiles = preview_tiles(rendered)
        tiles = faces_tiles.reshape(*edited.shape[:2], *faces_tiles.shape[1:])  # (N, steps, T, T, 3)
        record = {
            **run_record(model, digest, generator, weights), "space": space, **source,
            "attrs": attrs, "attributes": plan.attributes, "strengths": plan.strengths,
            "boundaries": {b.name: {"path": str(b.path), "sha256": sha256_file(b.path)} for b in [*boundaries, *condition_boundaries]},
            "conditions": plan.conditions, "combine": combine, "steps": plan.steps.tolist(), "edit": plan.describe(),
        }
        # columns are distances when swept, else fractions of the asked edit
        column_labels = [f"{v:+.2g}" if plan.swept else f"x{v:.2g}" for v in plan.steps]
        if report:
            record["report"], picture = measure_edit(generator, codes, edited, plan, column_labels, batch_size, space)
            save_png(picture, staging / "report.png")
        np.save(staging / "source_codes.npy", codes)
        np.save(staging / "codes.npy", edited)
        save_png(annotated_grid(tiles, plan.describe(), [f"#{i}" for i in range(len(codes))], column_labels), staging / "grid.png")
        (staging / "gifs").mkdir()
        for i, frames in enumerate(tiles):
            save_gif(frames, staging / "gifs" / f"face_{i:03d}.gif")
        if photos:
            renders = rendered.reshape(*edited.shape[:2], *rendered.shape[1:])
            for name, face, renderer, code, after in zip(photo_names(photos), faces, renderers, codes, renders):
                before = next(render(renderer, code[None], space))[0]
                write_photo_edits(staging / "photos" / name, face, before, after, paste)
        write_json(record, staging / "edit.json")
    return EditResult(Path(out), edited, record)


def write_photo_edits(folder: Path, face: PhotoFace, reconstruction: np.ndarray, steps: np.ndarray, mode: str) -> None:
    """One photo's results: ``edited.png`` (the photo with the last step's face blended in), ``edited_face.png``
    (that face as rendered), ``target.png`` and ``reconstruction.png`` (the aligned face and the rendering of its
    code, by the tuned generator if one was tuned), ``before_after.png`` (the face's surroundings before and
    after, enlarged) and ``steps.gif`` (the surroundings through every step)."""
    folder.mkdir(parents=True)
    pasted = [face.paste(reconstruction, after, mode) for after in steps]
    save_png(pasted[-1], folder / "edited.png")
    save_png(steps[-1], folder / "edited_face.png")
    save_png(face.crop, folder / "target.png")
    save_png(reconstruction, folder / "reconstruction.png")
    rows, cols = face.surroundings()
    views = zoom([face.image[rows, cols], *(image[rows, cols] for image in pasted)])
    save_png(annotated_grid(views[[0, -1]][None], None, None, ["photo", "edited"]), folder / "before_after.png")
    save_gif(list(views[1:]), folder / "steps.gif")


def replay_edit(record_file: Path, out: Path, device: str = "auto", overwrite: bool = False) -> EditResult:
    """Redo the edit recorded in an ``edit.json``; refuses if a boundary, codes file or photo has changed since."""
    record_file = Path(record_file)
    if not record_file.is_file():
        raise UsageError(f"edit record {record_file} does not exist")
    try:
        record = json.loads(record_file.read_text())
        files = {name: entry["path"] for name, entry in record["boundaries"].items()}
        for name, entry in record["boundaries"].items():
            if not Path(entry["path"]).is_file() or sha256_file(Path(entry["path"])) != entry["sha256"]:
                raise UsageError(f"boundary {name} ({entry['path']}) is missing or has changed since {record_file}")
        if "codes_file" in record and sha256_file(Path(record["codes_file"])) != record["codes_sha256"]:
            raise UsageError(f"codes file {record['codes_file']} has changed since {record_file}")
        photos = [Path(entry["photo"]) for entry in record.get("photos", [])]
        for entry in record.get("photos", []):
            if not Path(entry["photo"]).is_file() or sha256_file(Path(entry["photo"])) != entry["sha256"]:
                raise UsageError(f"photo {entry['photo']} is missing or has changed since {record_file}")
        inversion = {key: value for key, value in record.get("inversion", {}).items() if key != "space"}
        steps = record["steps"]
        return edit_faces(
            out, record["attrs"], record["model"], record.get("codes_file") and Path(record["codes_file"]),
            record.get("index"), record.get("n", 1), record.get("seed", 0), files,
            f"{steps[0]!r}:{steps[-1]!r}", len(steps), record["conditions"], record["combine"],
            device=device, overwrite=overwrite, space=record.get("space", "z"),
            weights=record.get("weights_file") and Path(record["weights_file"]),
            style={key: record.get(key) for key in ("truncation_psi", "truncation_layers", "noise")},
            photos=photos or None, settings=InversionSettings(**inversion) if photos else None,
            face_index=record["photos"][0]["face_index"] if photos else 0, paste=record.get("paste", "change"),
            tune=record.get("tune_steps", 0),
        )
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise UsageError(f"{record_file} is not a readable latentedit edit record ({type(exc).__name__}: {exc})") from None


def edit_report(generator: Generator, source: np.ndarray, edited: np.ndarray, plan: EditPlan,
                scorers: dict | None = None, batch_size: int = 64, space: str = "z", after: dict | None = None) -> dict:
    """Re-score unedited and fully edited faces (the last step, codes in ``space``; ``after`` gives the latter's
    scores by name when they are already known) and measure what the edit changed.

    For each edited attribute: the mean score change per unit of movement along its own normal, and the
    fraction of faces whose score moved the asked way; for every other scored attribute, the mean absolute
    change (``side_effects``) and the mean signed change (its systematic part, ``side_effects_signed``). Faces
    without a detected face before or after are left out (counted).
    """
    scorers = scorers or load_scorers(list(SCORERS), generator.device)
    final = edited[:, -1]
    before = score_codes(generator, source, list(scorers), batch_size, scorers=scorers, space=space)
    after = after or score_codes(generator, final, list(scorers), batch_size, scorers=scorers, space=space)
    moved = (final - source).reshape(len(final), -1, final.shape[-1])[:, 0]  # W+ codes: every layer moved alike
    report: dict = {"faces": len(source), "targets": {}, "side_effects": {}, "side_effects_signed": {}}
    for name, boundary, strength in zip(plan.attributes, plan.boundaries, plan.strengths):
        if name not in scorers:
            continue
        valid = np.isfinite(before[name]) & np.isfinite(after[name])
        change = (after[name] - before[name])[valid]
        distance = (moved @ boundary.normal)[valid]  # along the (projected) normal that was followed
        asked = np.sign(strength * plan.steps[-1]) if plan.combine == "sum" else np.sign(plan.steps[-1])
        report["targets"][name] = {
            "faces_scored": int(valid.sum()),
            "mean_change": _mean(change),
            "change_per_unit_step": float(change.mean() / distance.mean()) if valid.any() and distance.mean() else None,
            "moved_as_asked": _mean(np.sign(change) == asked),
        }
    for name in scorers:
        if name in report["targets"]:
            continue
        valid = np.isfinite(before[name]) & np.isfinite(after[name])
        change = (after[name] - before[name])[valid]
        report["side_effects"][name] = _mean(np.abs(change))
        report["side_effects_signed"][name] = _mean(change)
    return report


def _mean(values: np.ndarray) -> float | None:
    """The mean, or None (null in edit.json) when no face was scored."""
    return float(np.mean(values)) if len(values) else None


def measure_edit(generator: Generator, source: np.ndarray, edited: np.ndarray, plan: EditPlan,
                 step_labels: Sequence[str], batch_size: int = 64, space: str = "z") -> tuple[dict, np.ndarray]:
    """What ``edit --report`` adds: :func:`edit_report` with the mean score of every attribute at every step
    (``step_means``), and a picture of every face's scores along the edit (see :func:`line_panels`)."""
    scorers = load_scorers(list(SCORERS), generator.device)
    curves = step_scores(generator, edited, scorers, batch_size, space)
    last = {name: values[:, -1] for name, values in curves.items()}
    report = edit_report(generator, source, edited, plan, scorers, batch_size, space, after=last)
    report["step_means"] = {name: [None if np.isnan(v) else round(float(v), 4) for v in column_means(values)]
                            for name, values in curves.items()}
    units = {name: scorer.unit.split(" (")[0].split(",")[0] for name, scorer in scorers.items()}
    title = f"{plan.describe()}: scores at each step (grey: each face, red: mean)"
    return report, line_panels(plan.steps, curves, units, title, step_labels)


def step_scores(generator: Generator, edited: np.ndarray, scorers: dict, batch_size: int = 64, space: str = "z"
                ) -> dict[str, np.ndarray]:
    """Every scorer's score of every face at every step of ``edited`` (N, steps, ...) codes: {name: (N, steps)}."""
    scores = score_codes(generator, edited.reshape(-1, *edited.shape[2:]), list(scorers), batch_size, scorers=scorers,
                         space=space)
    return {name: scores[name].reshape(edited.shape[:2]) for name in scorers}


def format_report(report: dict) -> str:
    """The measured effect of an edit (see :func:`edit_report`) as indented lines for the terminal."""
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

