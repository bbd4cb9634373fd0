"""Automatic conditions (``--condition auto``): which attributes to hold still during an edit, and why.

A probe edit moves a few faces one or more unit steps along the edit direction; every attribute is scored before
and after. :func:`side_effects` turns those readings into each attribute's mean change per unit step, in the
attribute's own units: the systematic part of the change, the only part a condition can remove (projecting a normal
out of the direction removes the change that is linear along it; a scorer's noise, face to face, stays whatever the
direction). :func:`choose_conditions` conditions on the attributes whose mean change exceeds the threshold of their
unit either way, strongest first, and drops chosen conditions (weakest first) while projecting them out would remove
too much of the edit direction itself.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Side effects beyond these (mean change per unit step, either way) call for a condition, by unit.
DEFAULT_THRESHOLDS = {"years": 2.0, "degrees": 3.0, "probability": 0.05}


def side_effects(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], step: float) -> dict[str, float]:
    """Mean change per unit step of each attribute between readings ``before`` and ``after`` a probe edit of
    ``step`` (N faces each; faces with a NaN reading on either side are left out; NaN if none is left). A negative
    ``step`` (a probe the other way) flips the sign."""
    if not step or not np.isfinite(step):
        raise ValueError(f"step must be a non-zero number, got {step}")
    if set(before) != set(after):
        raise ValueError(f"before and after name different attributes: {sorted(before)} and {sorted(after)}")
    effects = {}
    for name in before:
        a, b = np.asarray(before[name], np.float64), np.asarray(after[name], np.float64)
        if a.shape != b.shape:
            raise ValueError(f"before and after of {name!r} have shapes {a.shape} and {b.shape}")
        change = (b - a)[np.isfinite(a) & np.isfinite(b)]
        effects[name] = float(change.mean() / step) if len(change) else float("nan")
    return effects


@dataclass(frozen=True)
class ConditionChoice:
    """The attributes to condition on, in order of strength, and one line per candidate saying why."""

    conditions: tuple[str, ...]
    reasons: tuple[str, ...]
    kept: float  # length of the edit direction left after projecting out the conditions (1.0 without normals)


def choose_conditions(
    effects: Mapping[str, float],
    *,
    units: Mapping[str, str],
    edited: Sequence[str],
    thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS,
    direction: np.ndarray | None = None,
    normals: Mapping[str, np.ndarray] | None = None,
    min_kept: float = 0.5,
    max_conditions: int | None = None,
) -> ConditionChoice:
    """Condition on every attribute (not in ``edited``) whose side effect exceeds its unit's threshold.

    ``effects``: mean change per unit step (see :func:`side_effects`), judged by its size; ``units``: each
    attribute's unit (a key of ``thresholds``). With ``direction`` (the edit direction) and ``normals`` (each
    candidate's unit normal), conditions are dropped, weakest first, while projecting them out would leave less than
    ``min_kept`` of the direction's length. At most ``max_conditions`` are kept (the strongest).
    """
    if not 0.0 <= min_kept <= 1.0:
        raise ValueError(f"min_kept must lie between 0 and 1, got {min_kept}")
    if max_conditions is not None and max_conditions < 0:
        raise ValueError(f"max_conditions must not be negative, got {max_conditions}")
    if (direction is None) != (normals is None):
        raise ValueError("give both direction and normals, or neither")
    reasons: dict[str, str] = {}
    candidates = []
    for name, effect in effects.items():
        if name in edited:
            continue
        unit = units.get(name, "")
        if unit not in thresholds:
            raise ValueError(f"no threshold for the unit {unit!r} of {name!r}: thresholds has {', '.join(thresholds)}")
        limit = thresholds[unit]
        if not np.isfinite(effect):
            reasons[name] = f"{name}: not measured (no face scored on both sides of the probe edit); left free"
        else:
            moves = f"{name}: moves {round(effect, 4):+.3g} {unit} per unit step"
            if abs(effect) > limit:
                candidates.append((abs(effect) / limit, name))
                reasons[name] = f"{moves}, beyond ±{limit:g}; conditioned"
            else:
                reasons[name] = f"{moves}, within ±{limit:g}; left free"
    chosen = [name for _, name in sorted(candidates, key=lambda c: (-c[0], c[1]))]
    if max_conditions is not None:
        for name in chosen[max_conditions:]:
            reasons[name] = reasons[name].replace("; conditioned", f"; left free (at most {max_conditions} conditions)")
        chosen = chosen[:max_conditions]
    kept = 1.0
    if direction is not None and normals is not None:
        missing = [name for name in chosen if name not in normals]
        if missing:
            raise ValueError(f"normals lack {', '.join(missing)}")
        kept = _kept(direction, [normals[name] for name in chosen])
        while chosen and kept < min_kept:
            weakest = chosen.pop()
            reasons[weakest] = reasons[weakest].replace(
                "; conditioned", f"; left free (conditioning on it would leave {kept:.0%} of the edit direction)"
            )
            kept = _kept(direction, [normals[name] for name in chosen])
    return ConditionChoice(tuple(chosen), tuple(reasons[name] for name in effects if name in reasons), kept)


def _kept(direction: np.ndarray, normals: list[np.ndarray]) -> float:
    """Length of ``direction`` after removing its component in the span of ``normals``, relative to its length."""
    direction = np.asarray(direction, np.float64)
    length = np.linalg.norm(direction)
    if length == 0:
        raise ValueError("direction must not be zero")
    if not normals:
        return 1.0
    basis = np.linalg.qr(np.stack([np.asarray(n, np.float64) for n in normals], 1))[0]
    return float(np.linalg.norm(direction - basis @ (basis.T @ direction)) / length)
