"""Automatic conditions: side effects of a probe edit, and which attributes to hold still."""

import numpy as np
import pytest

from latentedit.core.conditions import choose_conditions, side_effects

UNITS = {
    "pose": "degrees",
    "smile": "probability",
    "age": "years",
    "gender": "probability",
    "eyeglasses": "probability",
}


def probe_readings(seed: int = 0, n: int = 12) -> tuple[dict, dict]:
    """Seeded readings before and after a probe edit of +2 units along 'age': age moves 10 years (5 per step),
    pose 8 degrees (4 per step), smile 0.3 (0.15 per step), gender -0.04 (-0.02 per step), eyeglasses not at all
    on average but +-0.3 face by face (a noisy scorer: a large absolute change that no condition can remove)."""
    rng = np.random.default_rng(seed)
    before = {
        "pose": rng.uniform(-30, 30, n),
        "smile": rng.uniform(0, 0.6, n),
        "age": rng.uniform(20, 60, n),
        "gender": rng.uniform(0, 0.9, n),
        "eyeglasses": rng.uniform(0.3, 0.7, n),
    }
    shifts = {"pose": 8.0, "smile": 0.3, "age": 10.0, "gender": -0.04, "eyeglasses": np.tile([0.3, -0.3], n // 2)}
    after = {name: before[name] + shift for name, shift in shifts.items()}
    before["smile"][0] = np.nan  # no face found before the edit: left out
    return before, after


def test_side_effects_per_unit_step():
    before, after = probe_readings()
    effects = side_effects(before, after, step=2.0)
    assert effects == pytest.approx({"pose": 4.0, "smile": 0.15, "age": 5.0, "gender": -0.02, "eyeglasses": 0.0})
    assert side_effects(before, after, step=-2.0) == pytest.approx({k: -v for k, v in effects.items()})


def test_choice_on_a_seeded_probe():
    before, after = probe_readings()
    effects = side_effects(before, after, 2.0)
    choice = choose_conditions(effects, units=UNITS, edited=["age"])
    # smile moves 0.15 / 0.05 = 3x its threshold, pose 4 / 3 = 1.33x: smile first; gender stays free, and so do
    # eyeglasses, whose readings jump by 0.3 either way but do not move on average
    assert choice.conditions == ("smile", "pose")
    assert choice.reasons == (
        "pose: moves +4 degrees per unit step, beyond ±3; conditioned",
        "smile: moves +0.15 probability per unit step, beyond ±0.05; conditioned",
        "gender: moves -0.02 probability per unit step, within ±0.05; left free",
        "eyeglasses: moves +0 probability per unit step, within ±0.05; left free",
    )
    assert choice.kept == 1.0
    assert choose_conditions(effects, units=UNITS, edited=["age"], max_conditions=1).conditions == ("smile",)
    # a change the other way counts as much
    flipped = choose_conditions({**effects, "gender": -0.2}, units=UNITS, edited=["age"])
    assert flipped.conditions == ("gender", "smile", "pose")


def test_conditions_that_would_remove_the_edit_are_dropped():
    """A candidate whose normal nearly parallels the edit direction would cancel the edit: dropped, weakest first."""
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(64)
    direction /= np.linalg.norm(direction)
    other = rng.standard_normal(64)
    other -= other @ direction * direction
    other /= np.linalg.norm(other)
    normals = {"smile": other, "pose": 0.95 * direction + np.sqrt(1 - 0.95**2) * other}
    effects = {"smile": 0.15, "pose": 4.0, "gender": 0.0}
    choice = choose_conditions(effects, units=UNITS, edited=["age"], direction=direction, normals=normals)
    assert choice.conditions == ("smile",)
    assert "left free (conditioning on it would leave 0% of the edit direction)" in choice.reasons[1]
    assert choice.kept == pytest.approx(1.0)
    # pose (4 / 3 of its threshold) is weaker than smile (3x): dropped; smile alone leaves the direction whole, and
    # pose alone would leave sqrt(1 - 0.95^2) = 31 % of it
    alone = choose_conditions({"pose": 4.0}, units=UNITS, edited=[], direction=direction, normals=normals, min_kept=0.2)
    assert alone.conditions == ("pose",) and alone.kept == pytest.approx(np.sqrt(1 - 0.95**2), abs=1e-9)


def test_unmeasured_attribute_is_left_free():
    choice = choose_conditions({"smile": float("nan"), "pose": 10.0}, units=UNITS, edited=[])
    assert choice.conditions == ("pose",)
    assert choice.reasons[0] == "smile: not measured (no face scored on both sides of the probe edit); left free"


POSE = {"effects": {"pose": 9.0}, "units": UNITS, "edited": []}


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: side_effects({"a": [1.0]}, {"a": [2.0]}, 0.0), "step must be a non-zero number"),
        (lambda: side_effects({"a": [1.0]}, {"b": [2.0]}, 1.0), "before and after name different attributes"),
        (lambda: side_effects({"a": [1.0]}, {"a": [2.0, 3.0]}, 1.0), "have shapes"),
        (lambda: choose_conditions({"hair": 1.0}, units={"hair": "colour"}, edited=[]), "no threshold for the unit"),
        (lambda: choose_conditions(**POSE, min_kept=2.0), "min_kept must lie between 0 and 1"),
        (lambda: choose_conditions(**POSE, direction=np.ones(3)), "give both direction and normals"),
        (lambda: choose_conditions(**POSE, direction=np.ones(3), normals={}), "normals lack pose"),
    ],
)
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()
