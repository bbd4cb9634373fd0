"""Edit targets in an attribute's own units, and the per-face search for the distance that reaches them.

A target is read from the value of ``--attrs NAME=VALUE``: ``age=+10y`` (ten years older than the face is),
``age=40y`` (reach 40 years), ``pose=-20deg``, ``smile=0.9`` or ``smile=90%`` (reach a probability of 0.9),
``smile=+0.2p`` (0.2 more probability), ``eyeglasses=1``. A leading sign makes the target relative to the face's own
reading before the edit; without a sign it is the reading to reach. A bare number is a target only for a
probability attribute and only between 0 and 1 without a sign; any other bare number (``smile=+3``, ``age=-2``)
stays a plain distance along the direction, and :func:`parse_target` returns None for it.

:func:`search_distances` then finds, for every face of a batch at once, the distance along the direction that
brings the scorer's reading to the target: first a bracket (probes at growing distances up to the largest allowed),
then regula falsi (Illinois) inside it, with a fixed budget of batched score evaluations.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

UNITS = ("years", "degrees", "probability")
# Suffixes accepted for each unit ("%" divides by 100).
_SUFFIXES = {
    "y": "years",
    "yr": "years",
    "yrs": "years",
    "years": "years",
    "deg": "degrees",
    "°": "degrees",
    "degrees": "degrees",
    "p": "probability",
    "prob": "probability",
    "%": "probability",
}
_EXAMPLES = {"years": "+10y or 40y", "degrees": "+20deg or -15deg", "probability": "0.9, 90% or +0.2p"}
_VALUE = re.compile(r"^(?P<sign>[+-])?(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<suffix>[A-Za-z°%]*)$")
# How close a reading must come to its goal to count as reached, by unit (the default of search_distances).
DEFAULT_TOLERANCE = {"years": 1.0, "degrees": 2.0, "probability": 0.02}


def unit_of(description: str) -> str | None:
    """The unit (one of :data:`UNITS`) of a scorer's unit description such as "years (expected value over 0..80)",
    "degrees of yaw" or "probability of a visible smile"; None if it is none of them."""
    first = description.strip().split(" ", 1)[0].lower() if description.strip() else ""
    return first if first in UNITS else None


@dataclass(frozen=True)
class Target:
    """A reading to reach: ``value`` itself, or the reading before the edit plus ``value`` when ``relative``."""

    attribute: str
    value: float
    relative: bool
    unit: str

    def goal(self, before: np.ndarray) -> np.ndarray:
        """The reading to reach for faces whose reading before the edit is ``before`` (NaN stays NaN)."""
        before = np.asarray(before, np.float64)
        return before + self.value if self.relative else np.where(np.isnan(before), np.nan, self.value)

    def describe(self) -> str:
        amount = f"{self.value:+g}" if self.relative else f"{self.value:g}"
        return f"{self.attribute} {amount} {self.unit}" + (" (relative)" if self.relative else "")


def parse_target(text: str, *, attribute: str, unit: str | None) -> Target | None:
    """The target written as ``text`` (the part after ``NAME=``) for ``attribute`` measured in ``unit``.

    Returns None for a plain distance (a bare number that is not a probability target). Raises ``ValueError`` for a
    value that cannot be read, a unit that does not fit ``unit``, a target in units for an attribute whose scorer
    has none (``unit`` None), or an absolute probability outside 0..1.
    """
    match = _VALUE.match(text.strip())
    if not match:
        raise ValueError(
            f"cannot read the value {text!r} of {attribute!r}: use a distance such as +3 or a target "
            f"such as {_EXAMPLES.get(unit or '', '+10y, +20deg or 0.9')}"
        )
    sign, suffix = match["sign"], match["suffix"].lower()
    value = float(match["number"]) * (-1.0 if sign == "-" else 1.0)
    if not suffix:
        if unit != "probability" or sign or value > 1.0:
            return None
        suffix = "p"
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"unknown unit {match['suffix']!r} in {attribute}={text}: use y (years), deg (degrees), "
            "p or % (probability)"
        )
    given = _SUFFIXES[suffix]
    if unit is None:
        raise ValueError(
            f"{attribute}={text} is a target in {given}, but the direction of {attribute!r} names no "
            "scorer with a unit: give a plain distance such as +3, or a direction whose sidecar names "
            "a scorer"
        )
    if given != unit:
        raise ValueError(f"{attribute} is measured in {unit}, not {given}: write {attribute}={_EXAMPLES[unit]}")
    if suffix == "%":
        value /= 100.0
    if unit == "probability" and not sign and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute}={text}: a probability to reach must lie between 0 and 1")
    return Target(attribute, value, bool(sign), unit)


@dataclass(frozen=True)
class SearchResult:
    """Per face: the distance chosen, the reading there, whether it is within tolerance of the goal, and why not.

    ``status``: "reached"; "out of range" (no distance up to the largest allowed crosses the goal: the distance is
    the one that came closest); "lost face" (the scorer found no face on the way before the goal); "not converged"
    (crossed, but no reading within tolerance in the budget: noisy or not monotone; the closest reading is kept);
    "no face" (no reading before the edit: distance 0).
    """

    distance: np.ndarray
    reading: np.ndarray
    reached: np.ndarray
    status: np.ndarray
    before: np.ndarray
    goal: np.ndarray
    evaluations: int

    def per_face(self) -> list[dict]:
        """One JSON-ready dict per face for a record such as edit.json: readings rounded (NaN as None), the distance
        exact, so that the edit can be redone bit for bit from the record."""

        def number(value: float) -> float | None:
            return None if np.isnan(value) else round(float(value), 6)

        return [
            {"distance": float(d), "before": number(b), "goal": number(g), "reading": number(r), "status": str(s)}
            for d, b, g, r, s in zip(self.distance, self.before, self.goal, self.reading, self.status)
        ]


def search_distances(
    score: Callable[[np.ndarray], np.ndarray],
    target: Target,
    *,
    max_distance: float,
    before: np.ndarray | None = None,
    n: int | None = None,
    goal: np.ndarray | None = None,
    tolerance: float | None = None,
    max_evaluations: int = 8,
    probes: tuple[float, ...] = (0.25, 0.5, 1.0),
    increasing: bool = True,
) -> SearchResult:
    """Distances along a direction, one per face, that bring ``score``'s reading to ``target``.

    ``score(distances)`` takes float (N,) distances and returns the (N,) readings of the faces moved that far (NaN
    where no face is found). NaN distances mark faces whose search has ended: their readings are ignored, so the
    scorer may skip them. ``before``: the readings at distance 0 if already known (else one evaluation measures
    them; ``n`` faces, required then). ``goal``: the readings to reach, where the search starts from another face
    than the one the target is relative to (default ``target.goal(before)``). The reading is assumed to grow along
    the direction (``increasing``), so a face moves toward positive distances when its goal is above its reading.
    ``probes``: fractions of ``max_distance`` tried in turn until the reading crosses the goal; then regula falsi
    inside the bracket. At most ``max_evaluations`` calls to ``score`` in all.
    """
    if not max_distance > 0 or not np.isfinite(max_distance):
        raise ValueError(f"max_distance must be a positive number, got {max_distance}")
    tolerance = DEFAULT_TOLERANCE[target.unit] if tolerance is None else tolerance
    if not tolerance > 0:
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if not probes or np.any(np.diff((0.0, *probes)) <= 0) or probes[-1] != 1.0:
        raise ValueError(f"probes must increase from above 0 to 1.0, got {probes}")
    needed = len(probes) + (before is None)
    if max_evaluations < needed:
        what = "the probes and the reading before" if before is None else "the probes"
        raise ValueError(f"max_evaluations must be at least {needed} ({what}), got {max_evaluations}")
    if before is None and n is None:
        raise ValueError("give before (the readings at distance 0) or n (the number of faces)")
    evaluations = 0

    def evaluate(distances: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += 1
        readings = np.asarray(score(distances.copy()), np.float64)
        if readings.shape != distances.shape:
            raise ValueError(
                f"score returned readings of shape {readings.shape} for distances of shape {distances.shape}"
            )
        return np.where(np.isnan(distances), np.nan, readings)

    if before is None:
        assert n is not None  # checked above
        before = evaluate(np.zeros(n))
    before = np.asarray(before, np.float64)
    count = len(before)
    goal = target.goal(before) if goal is None else np.asarray(goal, np.float64)
    if goal.shape != before.shape:
        raise ValueError(f"goal has shape {goal.shape}, the readings before {before.shape}")
    side = np.where(goal >= before, 1.0, -1.0) * (1.0 if increasing else -1.0)
    start = before - goal  # the gap (reading minus goal) at distance 0: crossing the goal flips its sign
    best_d, best_gap = np.zeros(count), start.copy()
    status = np.full(count, "searching", object)
    status[np.isnan(before) | np.isnan(goal)] = "no face"
    status[np.abs(start) <= tolerance] = "reached"
    near_d, near_gap = np.zeros(count), start.copy()  # the farthest distance still short of the goal
    far_d, far_gap = np.full(count, np.nan), np.full(count, np.nan)  # the nearest past it (gap NaN: no face there)

    def step(active: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Evaluate, keep the closest reading, mark faces within tolerance; return which active faces are still
        searching and landed past the goal, and which short of it."""
        gaps = evaluate(distances) - goal
        closer = active & np.isfinite(gaps) & (np.abs(gaps) < np.abs(best_gap))
        best_d[closer], best_gap[closer] = distances[closer], gaps[closer]
        status[active & (np.abs(gaps) <= tolerance)] = "reached"
        still = active & (status == "searching")
        past = still & (np.isnan(gaps) | (np.sign(gaps) != np.sign(start)))
        short = still & ~past
        far_d[past], far_gap[past] = distances[past], gaps[past]
        near_d[short], near_gap[short] = distances[short], gaps[short]
        return past, short

    # Bracket: probe growing distances until the reading crosses the goal or the face is lost.
    for fraction in probes:
        active = (status == "searching") & np.isnan(far_d)
        if not active.any():
            break
        step(active, np.where(active, side * fraction * max_distance, np.nan))
    status[(status == "searching") & np.isnan(far_d)] = "out of range"

    # Refine inside the bracket: regula falsi with the Illinois rule (an end kept twice in a row counts half), and
    # bisection while the far end has no face.
    weight_near, weight_far, last = np.ones(count), np.ones(count), np.zeros(count)
    while evaluations < max_evaluations and (status == "searching").any():
        active = status == "searching"
        g_near, g_far = near_gap * weight_near, far_gap * weight_far
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(np.isfinite(far_gap), g_near / (g_near - g_far), 0.5)
        share = np.clip(np.nan_to_num(share, nan=0.5), 0.05, 0.95)
        past, short = step(active, np.where(active, near_d + share * (far_d - near_d), np.nan))
        weight_near = np.where(short, 1.0, np.where(past & (last > 0), weight_near / 2, weight_near))
        weight_far = np.where(past, 1.0, np.where(short & (last < 0), weight_far / 2, weight_far))
        last = np.where(past, 1.0, np.where(short, -1.0, last))
    unfinished = status == "searching"
    status[unfinished & np.isnan(far_gap)] = "lost face"  # the face vanished on the way and no reading crossed the goal
    status[unfinished & np.isfinite(far_gap)] = "not converged"
    reached = status == "reached"
    return SearchResult(best_d, best_gap + goal, reached, status, before, goal, evaluations)
