"""Targets in units: parsing, and the per-face bracketed search on synthetic scorers with known answers."""

import numpy as np
import pytest

from latentedit.core.targets import Target, parse_target, search_distances, unit_of


@pytest.mark.parametrize(
    "attribute, text, unit, expected",
    [
        ("age", "+10y", "years", Target("age", 10.0, True, "years")),
        ("age", "40y", "years", Target("age", 40.0, False, "years")),
        ("age", "-5 years", "years", Target("age", -5.0, True, "years")),
        ("pose", "+20deg", "degrees", Target("pose", 20.0, True, "degrees")),
        ("pose", "-15°", "degrees", Target("pose", -15.0, True, "degrees")),
        ("smile", "0.9", "probability", Target("smile", 0.9, False, "probability")),
        ("smile", "90%", "probability", Target("smile", 0.9, False, "probability")),
        ("smile", "+0.2p", "probability", Target("smile", 0.2, True, "probability")),
        ("eyeglasses", "1", "probability", Target("eyeglasses", 1.0, False, "probability")),
        ("eyeglasses", "0", "probability", Target("eyeglasses", 0.0, False, "probability")),
        ("age", ".5e1y", "years", Target("age", 5.0, False, "years")),
    ],
)
def test_parse_targets(attribute, text, unit, expected):
    assert parse_target(text, attribute=attribute, unit=unit) == expected


@pytest.mark.parametrize(
    "attribute, text, unit",
    [
        ("smile", "+3", "probability"),  # signed: a distance, as before
        ("smile", "3", "probability"),  # above 1: cannot be a probability
        ("age", "-2", "years"),
        ("age", "30", "years"),  # a bare number is a target only for probabilities
        ("age", "+3", None),  # no scorer: plain distances still work
    ],
)
def test_plain_distances_are_not_targets(attribute, text, unit):
    assert parse_target(text, attribute=attribute, unit=unit) is None


@pytest.mark.parametrize(
    "attribute, text, unit, message",
    [
        ("smile", "+10y", "probability", "smile is measured in probability, not years: write smile=0.9, 90% or +0.2p"),
        ("age", "0.5p", "years", "age is measured in years, not probability: write age=+10y or 40y"),
        ("pose", "10%", "degrees", "pose is measured in degrees, not probability"),
        ("age", "+20deg", "years", "age is measured in years, not degrees"),
        ("smile", "1.5p", "probability", "must lie between 0 and 1"),
        ("smile", "120%", "probability", "must lie between 0 and 1"),
        ("age", "+10y", None, "names no scorer with a unit"),
        ("age", "+10parsecs", "years", "unknown unit 'parsecs'"),
        ("age", "ten", "years", "cannot read the value 'ten' of 'age'"),
        ("age", "+-3y", "years", "cannot read"),
    ],
)
def test_bad_targets(attribute, text, unit, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        parse_target(text, attribute=attribute, unit=unit)


def test_unit_of_scorer_descriptions():
    assert unit_of("years (expected value over 0..80)") == "years"
    assert unit_of("degrees of yaw (approximate), negative = turned to the image's left") == "degrees"
    assert unit_of("probability of a visible smile") == "probability"
    assert unit_of("score of something") is None
    assert unit_of("") is None


def test_goal_relative_and_absolute():
    before = np.array([30.0, np.nan])
    np.testing.assert_array_equal(Target("age", 10, True, "years").goal(before), [40.0, np.nan])
    np.testing.assert_array_equal(Target("age", 50, False, "years").goal(before), [50.0, np.nan])


class Recorder:
    """A scorer ``reading = f(face, distance)`` that records every call."""

    def __init__(self, f):
        self.f, self.calls = f, []

    def __call__(self, distances):
        self.calls.append(distances.copy())
        return np.array([self.f(i, d) if np.isfinite(d) else -999.0 for i, d in enumerate(distances)])


def test_linear_scorer_exact_distances():
    """Reading = before + slope * distance: the bracket, then one regula falsi step, lands exactly."""
    before, slope = np.array([30.0, 50.0, 20.0]), np.array([2.0, 3.5, 1.5])
    scorer = Recorder(lambda i, d: before[i] + slope[i] * d)
    result = search_distances(scorer, Target("age", 10.0, True, "years"), max_distance=8.0, before=before)
    np.testing.assert_allclose(result.distance, 10.0 / slope)
    np.testing.assert_allclose(result.reading, before + 10.0)
    assert result.reached.all() and list(result.status) == ["reached"] * 3
    # probes at 2, 4, 8 then one step; face 1 (slope 3.5) crosses at the second probe and sits out the third
    assert result.evaluations == len(scorer.calls) == 4
    np.testing.assert_array_equal(scorer.calls[0], [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(scorer.calls[1], [4.0, 4.0, 4.0])
    assert np.isnan(scorer.calls[2][1]) and scorer.calls[2][0] == 8.0


def test_decreasing_goal_moves_the_other_way():
    scorer = Recorder(lambda i, d: 40.0 + 4.0 * d)
    result = search_distances(scorer, Target("age", 25.0, False, "years"), max_distance=6.0, n=1)
    assert result.status[0] == "reached"
    assert result.distance[0] == pytest.approx(-15.0 / 4.0)
    assert result.before[0] == 40.0  # measured by the first evaluation, at distance 0
    np.testing.assert_array_equal(scorer.calls[0], [0.0])


def test_probability_on_a_logistic_scorer():
    """smile=0.9 on faces whose probability is a logistic function of the distance: within 0.02 of 0.9."""
    offsets, slopes = np.array([-2.0, 0.0, 1.0, -4.0]), np.array([1.0, 0.6, 2.0, 0.9])

    def probability(i, d):
        return 1 / (1 + np.exp(-(offsets[i] + slopes[i] * d)))

    result = search_distances(Recorder(probability), Target("smile", 0.9, False, "probability"), max_distance=10.0, n=4)
    assert result.reached.all(), result.status
    assert np.all(np.abs(result.reading - 0.9) <= 0.02)
    exact = (np.log(9.0) - offsets) / slopes
    np.testing.assert_allclose(result.distance, exact, atol=0.02 / (0.09 * slopes.min()))
    np.testing.assert_allclose(result.reading, [probability(i, d) for i, d in enumerate(result.distance)])
    assert result.evaluations <= 8


def test_unreachable_target_is_reported_not_looped():
    """A goal beyond what the largest distance gives: 'out of range' after the probes alone, the closest kept."""
    scorer = Recorder(lambda i, d: 30.0 + d)
    result = search_distances(
        scorer, Target("age", 10.0, True, "years"), max_distance=4.0, before=np.array([30.0]), max_evaluations=50
    )
    assert result.status[0] == "out of range" and not result.reached[0]
    assert result.distance[0] == 4.0 and result.reading[0] == 34.0
    assert result.evaluations == 3


def test_a_direction_that_does_nothing_stops_after_the_probes():
    scorer = Recorder(lambda i, d: 0.3)
    result = search_distances(
        scorer, Target("smile", 0.9, False, "probability"), max_distance=5.0, n=2, max_evaluations=100
    )
    assert list(result.status) == ["out of range"] * 2
    assert result.evaluations == 4  # the reading before, then three probes
    np.testing.assert_array_equal(result.distance, [0.0, 0.0])  # nothing came closer than not moving


def test_no_face_and_lost_faces():
    """NaN before: 'no face', never moved. NaN beyond a distance: reached if the goal comes first, else 'lost face'."""
    limits = [np.inf, 3.0, 6.5]  # face 1 vanishes beyond distance 3, face 2 beyond 6.5

    def reading(i, d):
        return np.nan if abs(d) > limits[i] else 20.0 + 2.0 * d

    before = np.array([np.nan, 20.0, 20.0])
    scorer = Recorder(reading)
    result = search_distances(scorer, Target("age", 10.0, True, "years"), max_distance=8.0, before=before)
    assert list(result.status) == ["no face", "lost face", "reached"]
    assert all(np.isnan(call[0]) for call in scorer.calls)  # the faceless image is never edited
    assert result.distance[0] == 0.0 and np.isnan(result.reading[0])
    assert result.per_face()[0] == {"distance": 0.0, "before": None, "goal": None, "reading": None, "status": "no face"}
    assert result.per_face()[2]["status"] == "reached" and result.per_face()[2]["goal"] == 30.0
    assert result.distance[1] == pytest.approx(3.0, abs=1.0) and result.reading[1] < 30.0
    assert result.distance[2] == pytest.approx(5.0, abs=0.5) and abs(result.reading[2] - 30.0) <= 1.0


def test_non_monotone_scorer_wrong_way_first():
    """Reading = 50 - 4d + d^2 falls, then rises past the goal 55 (at d = 5). Probes 2, 4 (still short) and 8 (past)
    bracket [4, 8]; each regula falsi step then interpolates the gaps; the second lands within 1 year."""

    def gap(d):
        return (d - 5.0) * (d + 1.0)  # reading minus goal

    scorer = Recorder(lambda i, d: 55.0 + gap(d))
    result = search_distances(scorer, Target("age", 5.0, True, "years"), max_distance=8.0, before=np.array([50.0]))
    d1 = 4.0 + gap(4.0) / (gap(4.0) - gap(8.0)) * 4.0
    d2 = d1 + gap(d1) / (gap(d1) - gap(8.0)) * (8.0 - d1)
    assert [float(c[0]) for c in scorer.calls] == pytest.approx([2.0, 4.0, 8.0, d1, d2])
    assert abs(gap(d1)) > 1.0 >= abs(gap(d2))
    assert result.status[0] == "reached"
    assert result.distance[0] == pytest.approx(d2)
    assert result.reading[0] == pytest.approx(55.0 + gap(d2))


def test_non_monotone_scorer_takes_the_nearest_crossing():
    """A hump (reading = 20 sin(pi d / 8)) crosses +10 at d = 4/3 and again at 20/3: the nearer one is kept."""
    scorer = Recorder(lambda i, d: 20.0 * np.sin(np.pi * d / 8.0))
    result = search_distances(scorer, Target("age", 10.0, True, "years"), max_distance=8.0, before=np.array([0.0]))
    assert result.status[0] == "reached"
    assert abs(result.distance[0] - 4.0 / 3.0) < 0.2
    assert max(float(c[0]) for c in scorer.calls) == 2.0  # never went past the first probe


def test_noisy_scorer_stays_within_budget_and_reports_real_readings():
    rng = np.random.default_rng(0)
    before = rng.uniform(20, 50, 200)
    noise = {"sd": 0.4}

    def reading(i, d):
        return before[i] + 3.0 * d + rng.normal(0.0, noise["sd"]) if d else before[i]

    scorer = Recorder(reading)
    result = search_distances(scorer, Target("age", 10.0, True, "years"), max_distance=6.0, before=before)
    assert result.evaluations == len(scorer.calls) <= 8
    assert set(result.status) <= {"reached", "not converged"}
    assert result.reached.mean() >= 0.95
    assert np.all(np.abs(result.reading[result.reached] - (before[result.reached] + 10.0)) <= 1.0)
    # the reading reported for each face is the one the scorer returned at the reported distance
    for i in range(0, 200, 17):
        returned = {float(call[i]): None for call in scorer.calls if np.isfinite(call[i])}
        assert float(result.distance[i]) in returned
    noise["sd"] = 4.0  # far noisier than the tolerance: some faces do not converge, none loops
    scorer.calls.clear()
    result = search_distances(scorer, Target("age", 10.0, True, "years"), max_distance=6.0, before=before)
    assert result.evaluations == len(scorer.calls) == 8
    assert 0 < (result.status == "not converged").sum() < 200


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_distance": 0.0}, "max_distance must be a positive number"),
        ({"max_distance": 3.0, "tolerance": 0.0}, "tolerance must be positive"),
        ({"max_distance": 3.0, "probes": (0.5, 0.25, 1.0)}, "probes must increase"),
        ({"max_distance": 3.0, "probes": (0.5, 0.9)}, "probes must increase"),
        ({"max_distance": 3.0, "max_evaluations": 3}, "max_evaluations must be at least 4"),
    ],
)
def test_bad_search_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        search_distances(lambda d: d, Target("age", 1.0, True, "years"), n=2, **options)


def test_scorer_returning_the_wrong_shape():
    with pytest.raises(ValueError, match="score returned readings of shape"):
        search_distances(lambda d: d[:1], Target("age", 1.0, True, "years"), max_distance=2.0, n=2)
