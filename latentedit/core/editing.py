"""Editing codes along boundaries, the method's core: one attribute, several at once with their own strengths,
or conditional, or by a distance of each face's own (targets in units, see :mod:`latentedit.core.targets`); and what
an edit changed, from the scores before and after (no file I/O)."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from .boundary import Boundary, project_out

_ATTR = re.compile(r"^\s*([A-Za-z0-9_.\-/]+?)\s*(?:=\s*(\S+))?\s*$")


@dataclass
class EditPlan:
    """What to add to a code at each step: ``codes + steps[k] * direction``; with per-face ``distances`` (targets in
    units), face i moves by ``steps[k] * (direction + sum over targets t of distances[t][i] * normal_t)``, the normal
    being the target's own (projected) one."""

    attributes: list[str]
    strengths: list[float]
    conditions: list[str]
    combine: str
    steps: np.ndarray
    direction: np.ndarray  # (dim,): the strengths already folded in
    boundaries: list[Boundary] = field(repr=False, default_factory=list)
    swept: bool = False  # no strengths given: the steps are signed distances along the direction
    layers: tuple[int, ...] | None = None  # W+ codes: move only these layers (None: every layer)
    targets: dict[str, str] = field(default_factory=dict)  # attribute -> the target as written ("+10y")
    distances: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # attribute -> float (N,) per face

    def describe(self) -> str:
        signed = self.combine == "sum" and not self.swept
        parts = [
            f"{a}={self.targets[a]}" if a in self.targets else f"{a}{s:+g}" if signed else a
            for a, s in zip(self.attributes, self.strengths)
        ]
        text = (" + " if self.combine == "sum" else " & ").join(parts)
        if self.combine == "average":
            text = f"average({text})"
        if self.swept:
            text += f", distance {self.steps[0]:+g} to {self.steps[-1]:+g}"
        if self.conditions:
            text += f" | fixed: {', '.join(self.conditions)}"
        if self.layers is not None:
            text += f" | layers {','.join(map(str, self.layers))}"
        return text


def split_attrs(spec: str) -> list[tuple[str, str | None]]:
    """``"smile=+3,age=+10y"`` or ``"smile,age"`` to [(name, the value as written, or None)]."""
    parsed = []
    for part in spec.split(","):
        if not part.strip():
            continue
        match = _ATTR.match(part)
        if not match:
            raise UsageError(f"cannot read attribute {part.strip()!r}: use NAME or NAME=STRENGTH, e.g. smile=+3")
        parsed.append((match[1], match[2]))
    if not parsed:
        raise UsageError("no attribute to edit: name one, e.g. smile=+3")
    names = [name for name, _ in parsed]
    if len(set(names)) != len(names):
        raise UsageError(f"an attribute is named twice in {spec!r}")
    return parsed


def parse_strength(name: str, text: str) -> float:
    """The strength ``text`` of attribute ``name`` as a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"strength of {name!r} is not a number: {text!r}") from None
    if not np.isfinite(value):
        raise UsageError(f"strength of {name!r} must be finite, got {text!r}")
    return value


def parse_attrs(spec: str) -> list[tuple[str, float | None]]:
    """``"smile=+3,age=-2"`` or ``"smile,age"`` to [(name, strength or None)]."""
    return [(name, None if text is None else parse_strength(name, text)) for name, text in split_attrs(spec)]


def parse_range(spec: str, steps: int) -> np.ndarray:
    """``"-3:3"`` with ``steps`` to evenly spaced step values."""
    try:
        low, high = (float(v) for v in spec.split(":"))
    except ValueError:
        raise UsageError(f"the range must be LOW:HIGH with numbers, e.g. -3:3, got {spec!r}") from None
    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    return np.linspace(low, high, steps, dtype=np.float64) if steps > 1 else np.array([high])


def parse_layers(spec: str, *, num_layers: int) -> tuple[int, ...]:
    """``"0-3"``, ``"0,2,5-7"`` or ``"all"`` to sorted W+ layer indices in ``0 … num_layers - 1``."""
    text = spec.replace(" ", "")
    if text == "all":
        return tuple(range(num_layers))
    chosen: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise UsageError(f"layers must look like 0-3, 0,2,5-7 or all, got {spec!r}")
        first, last = int(low), int(high) if dash else int(low)
        if first > last:
            raise UsageError(f"layers: range {part} runs backwards")
        if last >= num_layers:
            raise UsageError(f"layers {spec} out of range: the model has {num_layers} layers, 0-{num_layers - 1}")
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


def format_layers(layers: Sequence[int]) -> str:
    """Sorted W+ layer indices as :func:`parse_layers` reads them, runs joined: ``(0, 1, 2, 5)`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for layer in sorted(set(layers)):
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ",".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def plan_edit(
    boundaries: Sequence[Boundary],
    strengths: Sequence[float | None],
    *,
    conditions: Sequence[Boundary] = (),
    combine: str = "sum",
    steps: np.ndarray | None = None,
    layers: Sequence[int] | None = None,
) -> EditPlan:
    """Build the edit direction.

    ``sum`` (default): every attribute moves by its own strength, ``Σ s_i n_i`` (unit normals, strength 1 where
    none is given). ``average``: the seed projects' ``(n_1 + … + n_k) / k`` with the strengths ignored, kept for
    comparison. With ``conditions`` each normal first has the condition normals projected out, so the
    conditioned attributes stay put to first order. Without ``steps``: ``-3…3`` in 7 steps if no strength
    was given, else ``0…1`` in 5 steps (the last column is exactly the asked edit). ``layers``: W+ codes move
    only in these layers (see :func:`apply_edit`).
    """
    if combine not in ("sum", "average"):
        raise UsageError(f"combine must be sum or average, got {combine!r}")
    names = [b.name for b in boundaries]
    clash = sorted(set(names) & {c.name for c in conditions})
    if clash:
        raise UsageError(f"a condition names an edited attribute itself: {', '.join(clash)}")
    if len({b.dim for b in [*boundaries, *conditions]}) > 1:
        dims = ", ".join(f"{b.name}={b.dim}" for b in [*boundaries, *conditions])
        raise UsageError(f"the boundaries have different dimensions: {dims}")
    projected = [project_out(b, list(conditions)) for b in boundaries]
    weights = [1.0 if s is None else s for s in strengths]
    if combine == "average":
        direction = np.mean([b.normal.astype(np.float64) for b in projected], axis=0)
    else:
        direction = np.sum([w * b.normal.astype(np.float64) for w, b in zip(weights, projected)], axis=0)
    if steps is None:
        steps = np.linspace(-3, 3, 7) if all(s is None for s in strengths) else np.linspace(0, 1, 5)
    return EditPlan(
        names,
        weights,
        [c.name for c in conditions],
        combine,
        np.asarray(steps, np.float64),
        direction.astype(np.float32),
        projected,
        all(s is None for s in strengths),
        None if layers is None else tuple(sorted(set(layers))),
    )


def face_directions(plan: EditPlan, faces: int) -> np.ndarray:
    """Float32 (faces, dim): the full edit of each face (``plan.direction`` plus its targets' distances along their
    normals); (1, dim) without targets."""
    if not plan.distances:
        return plan.direction[None]
    direction = np.repeat(plan.direction.astype(np.float64)[None], faces, 0)
    for name, boundary in zip(plan.attributes, plan.boundaries):
        if name in plan.distances:
            distances = np.asarray(plan.distances[name], np.float64)
            if distances.shape != (faces,):
                raise UsageError(f"distances of {name!r} hold {distances.shape[0]} faces, the codes {faces}")
            direction += distances[:, None] * boundary.normal.astype(np.float64)[None]
    return direction.astype(np.float32)


def apply_edit(codes: np.ndarray, plan: EditPlan) -> np.ndarray:
    """Edited codes, shape (N, steps, *code_shape); for W+ codes (N, layers, dim) every layer moves, or only
    ``plan.layers``."""
    codes = np.asarray(codes, np.float32)
    if codes.shape[-1] != plan.direction.shape[0]:
        raise UsageError(f"codes have dimension {codes.shape[-1]}, the boundaries {plan.direction.shape[0]}")
    direction = face_directions(plan, len(codes))
    offsets = plan.steps.astype(np.float32)[None, :, None] * direction[:, None, :]  # (N or 1, S, dim)
    offsets = offsets.reshape(len(direction), len(plan.steps), *([1] * (codes.ndim - 2)), -1)
    if plan.layers is not None:
        if codes.ndim != 3 or not plan.layers or max(plan.layers) >= codes.shape[1] or min(plan.layers) < 0:
            raise UsageError(
                f"the plan's layers {','.join(map(str, plan.layers))} need W+ codes (N, layers, dim) "
                f"that have them, got codes of shape {codes.shape}"
            )
        offsets = offsets * np.isin(np.arange(codes.shape[1]), plan.layers)[None, None, :, None]
    return codes[:, None] + offsets


def edit_effect(plan: EditPlan, moved: np.ndarray, before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict:
    """What an edit changed, from every scorer's scores (float (N,), NaN where no face) of the faces ``before`` and
    ``after`` it; ``moved`` (N, dim): each code's full movement (for W+ codes, one layer's).

    For each edited attribute that was scored: the mean score change, the change per unit of movement along its
    own (projected) normal, and the fraction of faces whose score moved the asked way (the sign of its strength,
    or of the last step for a sweep or an average; for a target in units, the way each face was moved). For every
    other scored attribute the mean absolute change (``side_effects``) and the mean signed change (its systematic
    part, ``side_effects_signed``). Faces without a detected face before or after are left out (``faces_scored``
    counts the rest).
    """
    report: dict = {"faces": len(moved), "targets": {}, "side_effects": {}, "side_effects_signed": {}}
    for name, boundary, strength in zip(plan.attributes, plan.boundaries, plan.strengths):
        if name not in before:
            continue
        valid = np.isfinite(before[name]) & np.isfinite(after[name])
        change = (after[name] - before[name])[valid]
        distance = (moved @ boundary.normal)[valid]  # along the (projected) normal that was followed
        asked = np.sign(strength * plan.steps[-1]) if plan.combine == "sum" else np.sign(plan.steps[-1])
        if name in plan.distances:
            asked = np.sign(np.asarray(plan.distances[name]) * plan.steps[-1])[valid]
        report["targets"][name] = {
            "faces_scored": int(valid.sum()),
            "mean_change": _mean(change),
            "change_per_unit_step": float(change.mean() / distance.mean()) if valid.any() and distance.mean() else None,
            "moved_as_asked": _mean(np.sign(change) == asked),
        }
    for name in before:
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
