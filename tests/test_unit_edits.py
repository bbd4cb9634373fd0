"""Edits in the attributes' own units (``--attrs age=+10y``) and automatic conditions, end to end: the readings move
to the target, the record replays bit for bit, unreachable targets are reported, and --condition auto chooses."""

import json

import numpy as np
import pytest

from latentedit.commands.targets import learned_scorers, read_values, scorer_of
from latentedit.core.boundary import Boundary
from latentedit.errors import UsageError
from latentedit.files.boundaries import shipped_boundaries
from latentedit.files.weights import sha256_file
from latentedit.models.scoring import load_scorers, score_codes
from latentedit.records import FileRef

SHIPPED = shipped_boundaries("dcgan-digiface64")


def run_edit(run_cli, *args):
    code, stdout, stderr = run_cli("edit", *args, "--device", "cpu")
    assert code == 0, stderr
    return stdout


@pytest.mark.slow
def test_age_in_years_reaches_the_target_and_replays(tmp_path, run_cli, dcgan, analysis):
    """age=+10y on three faces: each face's own distance; its age reading, measured again here on the written codes,
    is the recorded one and moved toward the goal (within the tolerance where reached); --replay gives the same
    codes bit for bit."""
    out = tmp_path / "older"
    stdout = run_edit(run_cli, "--attrs", "age=+10y", "-n", 3, "--seed", 1, "--steps", 2, "-o", out)
    record = json.loads((out / "edit.json").read_text())
    target = record["targets"]["age"]
    assert target["value"] == 10.0 and target["relative"] and target["unit"] == "years" and target["scorer"] == "age"
    assert record["max_distance"] == 6.0 and record["edit"] == "age=+10y"
    faces = target["faces"]
    codes, source = np.load(out / "codes.npy"), np.load(out / "source_codes.npy")
    boundary = np.load(SHIPPED["age"])[0]
    moved = (codes[:, -1] - source) @ boundary
    np.testing.assert_allclose(moved, [f["distance"] for f in faces], atol=1e-4)  # each face its own distance
    assert len({round(float(d), 3) for d in moved}) == 3
    scorers = load_scorers(["age"], analysis)
    before, after = (score_codes(dcgan, c, scorers)["age"] for c in (source, codes[:, -1]))
    for face, b, a in zip(faces, before, after):
        assert face["before"] == pytest.approx(b, abs=1e-3) and face["reading"] == pytest.approx(a, abs=1e-3)
        assert face["goal"] == pytest.approx(b + 10.0, abs=1e-3)
        assert abs(a - face["goal"]) < abs(b - face["goal"]) - 5.0  # more than halfway to the goal
        if face["status"] == "reached":
            assert abs(a - face["goal"]) <= 1.0
    assert np.median(np.abs(after - before - 10.0)) <= 2.0  # the age scorer is noisy: 'not converged' happens
    assert {f["status"] for f in faces} <= {"reached", "not converged"} and "reached" in {f["status"] for f in faces}
    assert "age=+10y: " in stdout and "#0: distance +" in stdout
    run_edit(run_cli, "--replay", out / "edit.json", "-o", tmp_path / "again")
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "codes.npy"), codes)
    assert json.loads((tmp_path / "again" / "edit.json").read_text())["targets"] == record["targets"]


def test_unreachable_target_is_reported_not_searched_for_long(tmp_path, run_cli):
    """pose=+200deg within 0.5 units cannot be reached: every face is 'out of range' after the three probes (the
    reading before the edit was already known), the output is written and the faces are named."""
    out = tmp_path / "turned"
    stdout = run_edit(run_cli, "--attrs", "pose=+200deg", "--max-distance", 0.5, "-n", 2, "--steps", 2, "-o", out)
    target = json.loads((out / "edit.json").read_text())["targets"]["pose"]
    assert target["evaluations"] == 3
    assert [f["status"] for f in target["faces"]] == ["out of range"] * 2
    assert all(f["distance"] == 0.5 for f in target["faces"])  # the probe that came closest
    assert "0 of 2 faces reached the target" in stdout
    assert "could not reach it: #0 (out of range), #1 (out of range)" in stdout


def test_plain_strengths_apply_first_and_stay_plain(tmp_path, run_cli):
    """smile=+1 with a pose target: smile moves every face by exactly 1 along its normal; pose by each face's own
    distance, its reading relative to the face before the whole edit."""
    out = tmp_path / "mixed"
    run_edit(
        run_cli, "--attrs", "smile=+1,pose=+8deg", "--max-distance", 3, "-n", 2, "--seed", 3, "--steps", 2, "-o", out
    )
    record = json.loads((out / "edit.json").read_text())
    assert record["strengths"] == [1.0, 0.0] and record["edit"] == "smile+1 + pose=+8deg"
    moved = np.load(out / "codes.npy")[:, -1] - np.load(out / "source_codes.npy")
    smile, pose = (np.load(SHIPPED[name])[0] for name in ("smile", "pose"))
    distances = np.array([f["distance"] for f in record["targets"]["pose"]["faces"]])
    np.testing.assert_allclose(moved, 1.0 * smile + distances[:, None] * pose, atol=1e-5)
    for face in record["targets"]["pose"]["faces"]:
        assert face["goal"] == pytest.approx(face["before"] + 8.0, abs=1e-4)


def test_which_values_are_targets():
    """The boundary's scorer decides the unit: shipped and trained boundaries name their attribute; a bare direction
    takes plain distances only; a sidecar may name the scorer of a direction called something else."""
    shipped = Boundary.from_normal("smile", np.ones(4), attribute="smile")
    found = Boundary.from_normal("direction_3", np.ones(4), scorer="age")
    bare = Boundary.from_normal("mine", np.ones(4))
    assert [scorer_of(b) for b in (shipped, found, bare)] == ["smile", "age", None]
    strengths, targets = read_values(
        [("smile", "0.9"), ("direction_3", "+5y"), ("mine", "0.9")], [shipped, found, bare]
    )
    assert strengths == [0.0, 0.0, 0.9]
    assert targets["smile"].value == 0.9 and not targets["smile"].relative
    assert targets["direction_3"].unit == "years" and targets["direction_3"].relative
    with pytest.raises(UsageError, match="names no scorer with a unit"):
        read_values([("mine", "+5y")], [bare])
    with pytest.raises(UsageError, match="names the scorer 'hair'"):
        read_values([("x", "+1")], [Boundary.from_normal("x", np.ones(4), scorer="hair")])


def test_a_learned_scorers_boundary_takes_probability_targets(tmp_path):
    """A boundary trained with a learned scorer (train-boundary --scorer) names its file: targets are probabilities
    read by that scorer, under the boundary's attribute; a scorer file changed since is refused."""
    scorer = tmp_path / "beard.scorer"
    scorer.write_bytes(b"a scorer")
    ref = FileRef(path=str(scorer), sha256=sha256_file(scorer))
    learned = Boundary.from_normal("direction", np.ones(4), attribute="beard", scorer_file=ref)
    assert scorer_of(learned) == "beard" and learned_scorers([learned]) == {"beard": scorer}
    strengths, targets = read_values([("direction", "0.8"), ("x", "+2")], [learned, learned])
    assert strengths == [0.0, 2.0] and targets["direction"].unit == "probability"
    with pytest.raises(UsageError, match="measured in probability"):
        read_values([("direction", "+5y")], [learned])
    scorer.write_bytes(b"another scorer")
    with pytest.raises(UsageError, match="missing or has changed since"):
        learned_scorers([learned])


@pytest.mark.slow
def test_auto_conditions_on_the_age_edit(tmp_path, run_cli):
    """--condition auto on age=+3: the probe of 16 seeded faces finds smile and eyeglasses moving with age (the shipped
    boundaries' cosines with age are +0.40 and +0.37) and pose within its threshold; exactly the attributes beyond
    their thresholds are chosen (gender, at the edge of its 0.05, may be among them); the choice is printed,
    recorded, and replayed with exactly the same codes."""
    out = tmp_path / "auto"
    stdout = run_edit(run_cli, "--attrs", "age=+3", "--condition", "auto", "-n", 2, "--steps", 2, "-o", out)
    record = json.loads((out / "edit.json").read_text())
    auto = record["auto_conditions"]
    limits = {"smile": 0.05, "eyeglasses": 0.05, "gender": 0.05, "pose": 3.0}
    beyond = {name for name, limit in limits.items() if abs(auto["side_effects"][name]) > limit}
    assert {"smile", "eyeglasses"} <= beyond and "pose" not in beyond
    assert set(auto["chosen"]) == beyond and record["conditions"] == auto["chosen"]
    assert auto["probe_faces"] == 16 and len(auto["reasons"]) == 4
    assert "--condition auto: " in stdout and "smile: moves +" in stdout and "conditioned" in stdout
    assert f"fixed: {', '.join(auto['chosen'])}" in record["edit"]
    run_edit(run_cli, "--replay", out / "edit.json", "-o", tmp_path / "again")
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "codes.npy"), np.load(out / "codes.npy"))
