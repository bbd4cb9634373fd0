import json

import numpy as np
import pytest
from PIL import Image

from latentedit.commands.edit import format_report, plan_effect, resolve_boundaries, select_codes
from latentedit.core.boundary import Boundary
from latentedit.core.editing import apply_edit, edit_effect, parse_attrs, parse_range, plan_edit
from latentedit.errors import UsageError
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.scoring import load_scorers, score_codes


def unit(v):
    v = np.asarray(v, np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_parse_attrs_and_range():
    assert parse_attrs("smile=+3, age=-2") == [("smile", 3.0), ("age", -2.0)]
    assert parse_attrs("smile,age") == [("smile", None), ("age", None)]
    for bad, message in [
        ("smile=big", "not a number"),
        ("smile=inf", "finite"),
        ("", "no attribute"),
        ("smile,smile=2", "named twice"),
        ("a b=1", "cannot read"),
    ]:
        with pytest.raises(UsageError, match=message):
            parse_attrs(bad)
    np.testing.assert_allclose(parse_range("-3:3", 7), [-3, -2, -1, 0, 1, 2, 3])
    with pytest.raises(UsageError, match="LOW:HIGH"):
        parse_range("3", 5)


def test_direction_arithmetic():
    a, b, c = (
        Boundary.from_normal(name, v) for name, v in [("a", [1, 0, 0, 0]), ("b", [0, 1, 0, 0]), ("c", [1, 1, 1, 0])]
    )
    plan = plan_edit([a, b], [3.0, -2.0])
    np.testing.assert_allclose(plan.direction, [3, -2, 0, 0], atol=1e-6)
    np.testing.assert_allclose(plan.steps, np.linspace(0, 1, 5))
    average = plan_edit([a, b], [None, None], combine="average")
    np.testing.assert_allclose(average.direction, [0.5, 0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(average.steps, np.arange(-3, 4))
    conditional = plan_edit([c], [2.0], conditions=[a])
    assert abs(conditional.direction @ a.normal) < 1e-6
    np.testing.assert_allclose(np.linalg.norm(conditional.direction), 2.0, rtol=1e-6)
    codes = np.zeros((2, 4), np.float32)
    edited = apply_edit(codes, plan)
    assert edited.shape == (2, 5, 4)
    np.testing.assert_allclose(edited[:, -1], [[3, -2, 0, 0]] * 2, atol=1e-6)
    np.testing.assert_allclose(edited[:, 0], codes)
    wp = apply_edit(np.zeros((2, 3, 4), np.float32), plan)  # W+: every layer moves
    assert wp.shape == (2, 5, 3, 4) and np.allclose(wp[:, -1, 2], [3, -2, 0, 0], atol=1e-6)
    assert plan.describe() == "a+3 + b-2" and average.describe() == "average(a & b), distance -3 to +3"
    assert plan_edit([a], [None], conditions=[b]).describe() == "a, distance -3 to +3 | fixed: b"
    with pytest.raises(UsageError, match="names an edited attribute"):
        plan_edit([a], [1.0], conditions=[a])
    with pytest.raises(UsageError, match="different dimensions"):
        plan_edit([a, Boundary.from_normal("d", [1, 0])], [1.0, 1.0])


@pytest.fixture
def boundary_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = {}
    for name in ("up", "side"):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], unit(rng.standard_normal(100)).reshape(1, -1))
    return paths


def test_edit_layout_and_replay(tmp_path, run_cli, boundary_files):
    out = tmp_path / "edit"
    code, stdout, stderr = run_cli(
        "edit",
        "--attrs",
        "up=+3,side=-1",
        "--boundary",
        f"up={boundary_files['up']}",
        "--boundary",
        f"side={boundary_files['side']}",
        "-n",
        2,
        "--seed",
        5,
        "--steps",
        3,
        "-o",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    codes = np.load(out / "codes.npy")
    source = np.load(out / "source_codes.npy")
    assert codes.shape == (2, 3, 100) and source.shape == (2, 100)
    np.testing.assert_allclose(codes[:, 0], source)
    expected = source + 3 * np.load(boundary_files["up"])[0] - np.load(boundary_files["side"])[0]
    np.testing.assert_allclose(codes[:, -1], expected, atol=1e-5)
    gif = Image.open(out / "gifs" / "face_001.gif")
    assert gif.n_frames == 4  # 3 steps forward and one back
    grid = Image.open(out / "grid.png")
    assert grid.height > 2 * 128 and grid.width > 3 * 128
    record = json.loads((out / "edit.json").read_text())
    assert record["strengths"] == [3.0, -1.0] and record["seed"] == 5 and record["steps"] == [0.0, 0.5, 1.0]
    code, _, stderr = run_cli("edit", "--replay", out / "edit.json", "-o", tmp_path / "again", "--device", "cpu")
    assert code == 0, stderr
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "codes.npy"), codes)
    np.save(boundary_files["up"], -np.load(boundary_files["up"]))
    code, _, stderr = run_cli("edit", "--replay", out / "edit.json", "-o", tmp_path / "third")
    assert code == 2 and "has changed" in stderr


def test_report_draws_every_step(tmp_path, run_cli):
    """--report adds the mean score of every attribute at every step to edit.json and draws them in report.png, and
    the identity kept: 1 where the face is the face before (distance 0), less on either side."""
    out = tmp_path / "smile"
    code, stdout, stderr = run_cli(
        "edit", "--attrs", "smile", "-n", 3, "--seed", 2, "--steps", 3, "--report", "-o", out, "--device", "cpu"
    )
    assert code == 0, stderr
    assert f"scores at every step: {out / 'report.png'}" in stdout
    report = json.loads((out / "edit.json").read_text())["report"]
    means = report["step_means"]
    assert sorted(means) == ["age", "eyeglasses", "gender", "pose", "smile"]
    assert all(len(m) == 3 for m in means.values())
    assert means["smile"][0] < means["smile"][1] < means["smile"][2]  # -3, 0, +3 along the shipped smile boundary
    identity = report["identity"]
    assert identity["step_means"][1] == pytest.approx(1.0, abs=1e-4)
    assert identity["step_means"][0] < 0.995 and identity["step_means"][2] < 0.995
    assert identity["mean"] == pytest.approx(identity["step_means"][2], abs=1e-4) and identity["faces_scored"] == 3
    assert f"identity: cosine to the face before {identity['mean']:.3f} at the full edit" in stdout
    picture = np.asarray(Image.open(out / "report.png").convert("L"), dtype=float)
    assert picture.shape[1] > 600 and (picture < 128).mean() > 0.01  # two rows of charts, with ink on them


def test_edit_bad_inputs(tmp_path, run_cli, boundary_files):
    out = tmp_path / "o"
    up = f"up={boundary_files['up']}"
    cases = [
        (["--attrs", "nothing"], "no boundary 'nothing'"),
        (["--attrs", "up=lots", "--boundary", up], "cannot read the value 'lots' of 'up'"),
        (["--attrs", "up", "--boundary", up, "--condition", "up"], "names an edited attribute"),
        (["--attrs", "up", "--boundary", up, "--codes", boundary_files["side"], "--index", "3"], "out of range"),
        (["--attrs", "up", "--boundary", "up"], "NAME=path.npy"),
        (["--attrs", "up", "--boundary", up, "--range", "a:b"], "LOW:HIGH"),
        ([], "give --attrs"),
    ]
    for args, message in cases:
        code, _, stderr = run_cli("edit", *args, "-o", out, "--device", "cpu")
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, (args, stderr)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, unit(np.ones(512)).reshape(1, -1))
    code, _, stderr = run_cli("edit", "--attrs", "w", "--boundary", f"w={wrong}", "-o", out, "--device", "cpu")
    assert code == 2 and "dimension 512" in stderr
    other = tmp_path / "other.npy"
    np.save(other, np.load(boundary_files["up"]))
    other.with_suffix(".json").write_text(json.dumps({"model": "stylegan-ffhq"}))
    code, _, stderr = run_cli("edit", "--attrs", "o=1", "--boundary", f"o={other}", "-o", out, "--device", "cpu")
    assert code == 0 and "trained for model stylegan-ffhq" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "o",
        "other.json",
        "other.npy",
        "side.npy",
        "up.npy",
        "wrong.npy",
    ]


@pytest.mark.slow
def test_report_measures_targets_also_when_conditioned(dcgan):
    """--report re-scores the faces: a +3 smile edit along the shipped boundary raises the smile score, with or
    without conditions, and the side effects cover every other attribute."""
    codes = dcgan.sample(12, seed=99)
    scorers = load_scorers(["smile", "age", "eyeglasses"], FaceAnalysis("cpu"))
    before = score_codes(dcgan, codes, scorers)
    for conditions in ([], ["age", "eyeglasses"]):
        plan = plan_edit(
            resolve_boundaries(["smile"], dcgan.name, {}),
            [3.0],
            conditions=resolve_boundaries(conditions, dcgan.name, {}),
            steps=np.array([0.0, 1.0]),
        )
        final = apply_edit(codes, plan)[:, -1]
        after = score_codes(dcgan, final, scorers)
        report = edit_effect(plan, final - codes, {n: before[n] for n in scorers}, {n: after[n] for n in scorers})
        target = report["targets"]["smile"]
        assert target["faces_scored"] >= 10 and target["moved_as_asked"] >= 0.8 and target["mean_change"] > 0.2
        assert target["change_per_unit_step"] == pytest.approx(target["mean_change"] / 3, rel=0.05)
        assert set(report["side_effects"]) == set(report["side_effects_signed"]) == {"age", "eyeglasses"}
        assert "smile: score change +" in format_report(report)


def test_codes_from_a_file_go_on_the_sphere_for_sphere_models(tmp_path, dcgan, monkeypatch):
    """PGGAN and StyleGAN Z codes are edited on the sphere of radius sqrt(dim), as InterFaceGAN does."""
    codes = np.random.default_rng(1).standard_normal((3, 100)).astype(np.float32) * 2
    np.save(tmp_path / "z.npy", codes)
    plain, _ = select_codes(dcgan, codes_file=tmp_path / "z.npy")
    np.testing.assert_array_equal(plain, codes)  # a Gaussian-Z model keeps them as they are
    monkeypatch.setattr(dcgan, "z_on_sphere", True)
    sphere, record = select_codes(dcgan, codes_file=tmp_path / "z.npy", index=[2, 0])
    np.testing.assert_allclose(np.linalg.norm(sphere, axis=1), 10.0, rtol=1e-5)
    np.testing.assert_allclose(
        sphere / np.linalg.norm(sphere, axis=1, keepdims=True),
        codes[[2, 0]] / np.linalg.norm(codes[[2, 0]], axis=1, keepdims=True),
        rtol=1e-5,
    )
    assert record["index"] == [2, 0]


def test_plan_effect_measures_identity_kept(dcgan, analysis):
    """plan_effect(identity=True): an edit of distance 0 keeps every face exactly (cosine 1), a farther edit less."""
    codes = dcgan.sample(4, 5)
    scorers = load_scorers(["smile"], analysis)
    before = score_codes(dcgan, codes, scorers, identity=True, progress=False)
    kept = {}
    for strength in (0.0, 4.0):
        plan = plan_edit(resolve_boundaries(["smile"], dcgan.name, {}), [strength], steps=np.array([0.0, 1.0]))
        kept[strength] = plan_effect(dcgan, codes, plan, scorers, before=before, identity=True)["identity"]
    assert kept[0.0]["faces_scored"] == 4 and kept[0.0]["lowest"] == pytest.approx(1.0, abs=1e-4)
    assert kept[4.0]["faces_scored"] >= 3 and kept[4.0]["mean"] < 0.99
    with pytest.raises(ValueError, match="identity"):
        plan_effect(
            dcgan, codes, plan, scorers, before=score_codes(dcgan, codes, scorers, progress=False), identity=True
        )
