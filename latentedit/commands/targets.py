"""Targets in units and automatic conditions for ``latentedit edit``.

Which scorer measures a direction (:func:`scorer_of`), reading ``--attrs`` values as plain strengths or targets in
the scorer's units (:func:`read_values`), the per-face search for the distance that reaches each target by rendering
and scoring the moved faces (:func:`search_targets`, around :func:`latentedit.core.targets.search_distances`), and the
probe edit behind ``--condition auto`` (:func:`auto_conditions`, around :mod:`latentedit.core.conditions`).
"""

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.boundary import Boundary
from ..core.conditions import choose_conditions, side_effects
from ..core.editing import EditPlan, apply_edit, parse_strength, plan_edit, split_attrs
from ..core.targets import DEFAULT_TOLERANCE, Target, parse_target, search_distances, unit_of
from ..errors import UsageError
from ..files.boundaries import resolve_boundary
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.generators import Generator, downstream_codes, generator_template, render
from ..models.scoring import SCORERS, Scores, load_scorers, score_codes, score_images
from ..records import AutoConditions, EditTarget, TargetFace

DEFAULT_MAX_DISTANCE = 6.0
MAX_EVALUATIONS = 8  # rounds of rendering and scoring per target, the reading before included
# The probe of --condition auto: faces sampled from this seed (not the edited ones: the conditions belong to the
# direction, and the same edit of other faces should choose the same), moved one unit step along the edit direction.
PROBE_SEED, PROBE_FACES, PROBE_STEP = 2021, 16, 1.0


def _measured_by(boundary: Boundary) -> str:
    """:func:`scorer_of` for a boundary with a target in units, which :func:`read_values` made sure has one."""
    scorer = scorer_of(boundary)
    if scorer is None:
        raise UsageError(f"boundary {boundary.name!r} names no scorer: a target in units needs one")
    return scorer


def scorer_of(boundary: Boundary) -> str | None:
    """The scorer that measures ``boundary``'s direction: a learned scorer its sidecar names by file (reporting as
    the sidecar's ``attribute``, see :func:`learned_scorers`), its sidecar's ``scorer``, else its ``attribute`` when
    that is one of latentedit's scorers (as for the shipped boundaries and those train-boundary writes); None if none.
    """
    info = boundary.info
    if info.scorer_file is not None:
        return info.attribute or boundary.name
    if info.scorer is not None and info.scorer not in SCORERS:
        raise UsageError(
            f"the sidecar of boundary {boundary.name!r} names the scorer {info.scorer!r}; latentedit has "
            f"{', '.join(SCORERS)}"
        )
    name = info.scorer or info.attribute
    return name if name in SCORERS else None


def learned_scorers(boundaries: Sequence[Boundary]) -> dict[str, Path]:
    """The learned scorer files (train-scorer) that measure ``boundaries``, by the name :func:`scorer_of` gives;
    refused if one is missing or has changed since its boundary was trained."""
    files = {}
    for boundary in boundaries:
        ref = boundary.info.scorer_file
        if ref is None:
            continue
        path = Path(ref.path)
        if not path.is_file() or sha256_file(path) != ref.sha256:
            raise UsageError(
                f"boundary {boundary.name!r} was trained with the scorer {ref.path}, which is missing or "
                "has changed since: train the boundary again with the scorer you have"
            )
        files[boundary.info.attribute or boundary.name] = path  # the name scorer_of gives it
    return files


def _unit(scorer: str | None, boundary: Boundary) -> str | None:
    if scorer is None:
        return None
    return "probability" if boundary.info.scorer_file is not None else unit_of(SCORERS[scorer].unit)


def read_values(
    parsed: Sequence[tuple[str, str | None]], boundaries: Sequence[Boundary]
) -> tuple[list[float | None], dict[str, Target]]:
    """Each attribute's plain strength (None where swept; 0.0 for a target) and the targets in units, read with the
    unit of the scorer that measures its boundary (see :func:`latentedit.core.targets.parse_target`; a learned
    scorer reads a probability)."""
    strengths: list[float | None] = []
    targets = {}
    for (name, text), boundary in zip(parsed, boundaries):
        if text is None:
            strengths.append(None)
            continue
        try:
            target = parse_target(text, attribute=name, unit=_unit(scorer_of(boundary), boundary))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if target is None:
            strengths.append(parse_strength(name, text))
        else:
            strengths.append(0.0)  # moved by its own distance per face instead
            targets[name] = target
    return strengths, targets


def readings(
    renderers: Sequence[Generator],
    codes: np.ndarray,
    scorers: dict,
    *,
    space: str,
    batch_size: int,
    identity: bool = False,
) -> Scores:
    """The scores of ``codes`` rendered by one generator, or each by its own of ``renderers`` (tuned to photos)."""
    if len(renderers) == 1:
        return score_codes(
            renderers[0], codes, scorers, space=space, batch_size=batch_size, progress=False, identity=identity
        )
    images = [next(render(r, code[None], space=space))[0] for r, code in zip(renderers, codes)]
    return score_images(
        images,
        scorers,
        batch_size=batch_size,
        progress=False,
        framing=generator_template(renderers[0]),
        identity=identity,
    )


def search_targets(
    renderers: Sequence[Generator],
    codes: np.ndarray,
    plan: EditPlan,
    targets: Mapping[str, Target],
    *,
    analysis: FaceAnalysis,
    max_distance: float,
    space: str,
    batch_size: int,
    progress: bool = True,
) -> dict[str, EditTarget]:
    """For every face, the distance along each target's (projected) normal that brings its scorer's reading to the
    target, within ``max_distance`` either way; the plain strengths of ``plan`` are applied first.

    Several targets are searched one after another in the order given, each from the face as the ones before left
    it; a target is always relative to the face before the whole edit. Faces are moved by the full edit (the plan's
    step 1), exactly as :func:`~latentedit.core.editing.apply_edit` will move them. With several targets, the earlier
    ones are read again on the finished face: one that a later target moved off its goal says so.
    """
    scorer_names = {
        name: _measured_by(boundary) for name, boundary in zip(plan.attributes, plan.boundaries) if name in targets
    }
    scorers = load_scorers(list(dict.fromkeys(scorer_names.values())), analysis, learned_scorers(plan.boundaries))
    n = len(codes)
    renderer_of = (lambda faces: renderers) if len(renderers) == 1 else (lambda faces: [renderers[i] for i in faces])
    before = readings(renderers, codes, scorers, space=space, batch_size=batch_size)
    found: dict[str, np.ndarray] = {}
    results = {}

    def moved(distances: dict[str, np.ndarray]) -> np.ndarray:
        return apply_edit(codes, dataclasses.replace(plan, steps=np.ones(1), distances=distances))[:, 0]

    for name, target in targets.items():
        scorer = scorer_names[name]
        start_is_source = not found and not np.any(plan.direction)
        with tqdm(
            total=MAX_EVALUATIONS, desc=f"searching {name}", unit="round", leave=False, disable=not progress
        ) as bar:

            def evaluate(distances: np.ndarray, name: str = name, scorer: str = scorer, bar: tqdm = bar) -> np.ndarray:
                bar.update()
                active = np.flatnonzero(np.isfinite(distances))
                out = np.full(n, np.nan)
                if len(active):
                    trial = moved({**found, name: np.nan_to_num(distances)})[active]
                    out[active] = readings(
                        renderer_of(active), trial, {scorer: scorers[scorer]}, space=space, batch_size=batch_size
                    )[scorer]
                return out

            result = search_distances(
                evaluate,
                target,
                max_distance=max_distance,
                before=before[scorer] if start_is_source else None,
                n=n,
                goal=target.goal(before[scorer]),
                max_evaluations=MAX_EVALUATIONS,
            )
        found[name] = result.distance
        results[name] = result
    final = {}
    if len(targets) > 1:  # read the earlier targets again on the finished faces
        earlier = {scorer_names[name] for name in list(targets)[:-1]}
        final = readings(
            renderers, moved(found), {s: scorers[s] for s in earlier}, space=space, batch_size=batch_size
        ).values
    records = {}
    for name, target in targets.items():
        result, scorer = results[name], scorer_names[name]
        tolerance = DEFAULT_TOLERANCE[target.unit]
        faces = []
        for i, face in enumerate(result.per_face()):
            face["before"] = _number(before[scorer][i])
            if scorer in final and name != list(targets)[-1]:
                face["reading"] = _number(final[scorer][i])
                off = face["reading"] is None or abs(face["reading"] - face["goal"]) > tolerance
                if face["status"] == "reached" and off:
                    face["status"] = "moved by a later target"
            faces.append(TargetFace(**face))
        records[name] = EditTarget(
            value=target.value,
            relative=target.relative,
            unit=target.unit,
            scorer=scorer,
            tolerance=tolerance,
            evaluations=result.evaluations,
            faces=faces,
        )
    return records


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def recorded_distances(
    recorded: Mapping[str, EditTarget], targets: Mapping[str, Target], faces: int
) -> dict[str, np.ndarray]:
    """The per-face distances of an earlier search (``edit --replay``), checked against the targets and faces."""
    if set(recorded) != set(targets):
        raise UsageError(
            f"the recorded targets ({', '.join(recorded) or 'none'}) are not the targets of the edit's "
            f"attrs ({', '.join(targets) or 'none'})"
        )
    for name, target in recorded.items():
        if len(target.faces) != faces:
            raise UsageError(f"the recorded target {name!r} has {len(target.faces)} faces, the edit {faces}")
    return {name: np.array(target.distances, np.float64) for name, target in recorded.items()}


def auto_conditions(
    generator: Generator,
    boundaries: Sequence[Boundary],
    strengths: Sequence[float | None],
    targets: Mapping[str, Target],
    conditions: Sequence[Boundary],
    *,
    model: str,
    overrides: Mapping[str, str],
    space: str,
    analysis: FaceAnalysis,
    combine: str = "sum",
    batch_size: int = 64,
) -> tuple[list[Boundary], AutoConditions]:
    """The conditions ``--condition auto`` adds to ``conditions``: a probe edit of :data:`PROBE_STEP` along the unit
    edit direction (targets counted as strength +-1) on :data:`PROBE_FACES` sampled faces, scored before and after;
    every other attribute with a scorer and a boundary whose mean change per unit step exceeds its unit's threshold
    (see :func:`latentedit.core.conditions.choose_conditions`)."""
    weights = [1.0 if s is None else s for s in strengths]
    weights = [
        (-1.0 if t.relative and t.value < 0 else 1.0) if (t := targets.get(b.name)) else w
        for b, w in zip(boundaries, weights)
    ]
    plan = plan_edit(list(boundaries), weights, conditions=conditions, combine=combine)
    direction = plan.direction.astype(np.float64)
    step = PROBE_STEP * direction / np.linalg.norm(direction)
    probe = downstream_codes(generator, generator.sample(PROBE_FACES, PROBE_SEED))[space]
    scorers = load_scorers(list(SCORERS), analysis)
    before, after = (
        score_codes(generator, codes, scorers, space=space, batch_size=batch_size, progress=False)
        for codes in (probe, probe + step.astype(np.float32))
    )
    effects = side_effects({n: before[n] for n in scorers}, {n: after[n] for n in scorers}, PROBE_STEP)
    edited = {b.name for b in boundaries} | {scorer_of(b) for b in boundaries}
    kept = {c.name for c in conditions}
    candidates, reasons = {}, []
    for name in effects:
        if name in edited or name in kept:
            continue
        try:
            candidates[name] = resolve_boundary(overrides.get(name, name), model).renamed(name)
        except UsageError:
            reasons.append(f"{name}: no boundary to condition on for model {model}; left free")
    units = {n: unit_of(SCORERS[n].unit) or "" for n in candidates}
    choice = choose_conditions(
        {n: effects[n] for n in candidates},
        units=units,
        edited=[],
        direction=direction,
        normals={n: b.normal for n, b in candidates.items()},
    )
    record = AutoConditions(
        probe_seed=PROBE_SEED,
        probe_faces=PROBE_FACES,
        step=PROBE_STEP,
        side_effects={n: _number(v) for n, v in effects.items()},
        chosen=list(choice.conditions),
        reasons=[*choice.reasons, *reasons],
    )
    return [*conditions, *(candidates[name] for name in choice.conditions)], record


def format_targets(targets: Mapping[str, EditTarget], attrs: str, max_lines: int = 20) -> str:
    """Per target of the edit ``attrs``: how many faces reached it, each face's distance and readings (the first
    ``max_lines``), and which faces could not reach it and why, as indented lines for the terminal."""
    written = {name: text for name, text in split_attrs(attrs)}
    lines = []
    for name, target in targets.items():
        faces = target.faces
        reached = sum(face.status == "reached" for face in faces)
        lines.append(
            f"  {name}={written.get(name)}: {reached} of {len(faces)} faces reached the target (within "
            f"{target.tolerance:g} {target.unit}, read by the {target.scorer} scorer)"
        )
        for i, face in enumerate(faces[:max_lines]):
            if face.before is None:
                lines.append(f"    #{i}: no face found before the edit; not moved")
                continue
            reading = "no face" if face.reading is None else f"{face.reading:.3g}"
            lines.append(
                f"    #{i}: distance {face.distance:+.3f}, {face.before:.3g} -> {reading} {target.unit} "
                f"(goal {face.goal:.3g}), {face.status}"
            )
        missed = [f"#{i} ({face.status})" for i, face in enumerate(faces) if face.status != "reached"]
        if missed:
            lines.append(
                f"    could not reach it: {', '.join(missed[:max_lines])}"
                + (f" and {len(missed) - max_lines} more" if len(missed) > max_lines else "")
            )
    return "\n".join(lines)
