import json
import warnings

import numpy as np
import pytest
from PIL import Image
from sklearn.svm import SVC

from latentedit.core.boundary import (
    Boundary,
    choose_samples,
    cosine_matrix,
    fit_linear_svm,
    project_out,
    train_boundary,
)
from latentedit.errors import UsageError
from latentedit.files.boundaries import SHIPPED_DIR, load_boundary, save_boundary


def synthetic(n=4000, dim=64, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    codes = rng.standard_normal((n, dim)).astype(np.float32)
    scores = (codes @ direction + noise * rng.standard_normal(n)).reshape(-1, 1).astype(np.float32)
    return codes, scores, direction


def test_protocol_counts_and_split():
    codes, scores, _ = synthetic(1000)
    chosen = choose_samples(codes, scores, ratio=0.02, split=0.7, seed=1)
    assert chosen.per_side == 20
    assert len(chosen.train_x) == 2 * 14 and chosen.train_y.sum() == 14
    assert len(chosen.val_x) == 2 * 6 and chosen.val_y.sum() == 6
    assert len(chosen.rest_x) == 960
    top = set(np.argsort(-scores[:, 0])[:20].tolist())
    train_pos = {int(np.flatnonzero((codes == x).all(1))[0]) for x in chosen.train_x[chosen.train_y == 1]}
    assert train_pos <= top
    assert choose_samples(codes, scores, ratio=50).per_side == 50  # a whole number is a count


def test_nan_and_invalid_rows_are_dropped():
    codes, scores, _ = synthetic(1000)
    scores[:100] = np.nan
    scores[100:150] = -1.0
    chosen = choose_samples(codes, scores, ratio=0.1, invalid_value=-1.0)
    assert chosen.n_valid == 850 and chosen.per_side == 85
    for x in (chosen.train_x, chosen.val_x, chosen.rest_x):
        assert not any((codes[:150] == row).all(1).any() for row in x)


def test_boundary_recovers_direction_at_least_as_accurate_as_svc():
    codes, scores, direction = synthetic(6000, noise=1.0)
    boundary = train_boundary(codes, scores, name="attr", ratio=0.1)
    assert abs(np.linalg.norm(boundary.normal) - 1) < 1e-6 and boundary.normal.dtype == np.float32
    assert boundary.normal @ direction > 0.9
    chosen = choose_samples(codes, scores, ratio=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = SVC(kernel="linear").fit(chosen.train_x, chosen.train_y).score(chosen.val_x, chosen.val_y)
    assert boundary.info.validation_accuracy >= reference - 0.005
    assert boundary.info.remaining_accuracy > 0.6
    # the offset places the hyperplane between the classes
    distance = boundary.distance(chosen.val_x)
    assert np.mean((distance > 0) == (chosen.val_y == 1)) == boundary.info.validation_accuracy


def test_solver_finds_the_squared_hinge_svm_optimum():
    """fit_linear_svm minimises liblinear's L2-regularised squared-hinge objective: the same normal as liblinear
    (whose intercept is nearly unregularised with a large intercept_scaling), and a gradient of zero."""
    from sklearn.svm import LinearSVC

    codes, scores, _ = synthetic(4000, noise=1.0)
    chosen = choose_samples(codes, scores, ratio=0.2)
    normal, offset = fit_linear_svm(chosen.train_x, chosen.train_y, c=0.01, device="cpu")
    reference = LinearSVC(C=0.01, dual=False, tol=1e-8, intercept_scaling=100).fit(chosen.train_x, chosen.train_y)
    weight = reference.coef_[0]
    assert float(normal @ weight / np.linalg.norm(weight)) > 0.9999
    assert abs(offset - reference.intercept_[0] / np.linalg.norm(weight)) < 0.02
    with pytest.raises(UsageError, match="no direction"):
        fit_linear_svm(np.ones((10, 4), np.float32), np.r_[np.ones(5), np.zeros(5)])


def test_file_pair_round_trip(tmp_path):
    codes, scores, _ = synthetic(2000)
    boundary = train_boundary(codes, scores, name="smile", provenance={"model": "m", "attribute": "smile"})
    save_boundary(boundary, tmp_path / "smile.npy")
    array = np.load(tmp_path / "smile.npy")
    assert array.dtype == np.float32 and array.shape == (1, 64)
    assert abs(np.linalg.norm(array) - 1) < 1e-6
    record = json.loads((tmp_path / "smile.json").read_text())
    for key in (
        "attribute",
        "model",
        "n",
        "ratio",
        "split",
        "seed",
        "offset",
        "validation_accuracy",
        "remaining_accuracy",
        "date",
    ):
        assert key in record
    loaded = load_boundary(tmp_path / "smile.npy")
    np.testing.assert_allclose(loaded.normal, boundary.normal, atol=1e-7)
    assert loaded.offset == pytest.approx(boundary.offset) and loaded.info.model == "m"
    with pytest.raises(UsageError, match="already holds results"):
        save_boundary(boundary, tmp_path / "smile.npy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smile.json", "smile.npy"]


def test_interfacegan_bare_npy_loads(tmp_path):
    normal = np.random.default_rng(0).standard_normal((1, 512)).astype(np.float32)
    normal /= np.linalg.norm(normal)
    np.save(tmp_path / "stylegan_ffhq_smile_w_boundary.npy", normal)
    boundary = load_boundary(tmp_path / "stylegan_ffhq_smile_w_boundary.npy")
    assert boundary.name == "stylegan_ffhq_smile_w" and boundary.dim == 512 and boundary.offset == 0
    np.testing.assert_allclose(boundary.normal, normal[0], atol=1e-7)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_projection_is_orthogonal_to_every_condition(k):
    rng = np.random.default_rng(k)

    def make(name):
        return Boundary.from_normal(name, rng.standard_normal(512))

    primal, conditions = make("age"), [make(f"c{i}") for i in range(k)]
    projected = project_out(primal, conditions)
    assert abs(np.linalg.norm(projected.normal) - 1) < 1e-6
    for condition in conditions:
        assert abs(float(projected.normal.astype(np.float64) @ condition.normal)) < 1e-6
    assert projected.normal @ primal.normal > 0.9  # random conditions remove little of the primal
    assert projected.info.conditions == [c.name for c in conditions]


def test_cosine_matrix():
    a, b = Boundary.from_normal("a", np.array([1, 0])), Boundary.from_normal("b", np.array([0.6, 0.8]))
    np.testing.assert_allclose(cosine_matrix([a, b]), [[1, 0.6], [0.6, 1]], atol=1e-6)


@pytest.mark.parametrize(
    "codes, scores, kwargs, message",
    [
        (np.zeros((10, 4), np.float32), np.zeros((9, 1)), {}, "differ in length"),
        (np.zeros((10,), np.float32), np.zeros((10, 1)), {}, "shape \\(N, dim\\)"),
        (np.zeros((10, 4), np.int32), np.zeros((10, 1)), {}, "float array"),
        (np.zeros((10, 4), np.float32), np.zeros((10, 2)), {}, "scores must be numeric"),
        (np.zeros((10, 4), np.float32), np.full((10, 1), np.nan), {}, "no valid scores"),
        (np.random.rand(100, 4).astype(np.float32), np.ones((100, 1)), {"ratio": 0.1}, "constant"),
        (np.random.rand(100, 4).astype(np.float32), np.random.rand(100, 1), {"ratio": 0.01}, "too few"),
        (np.random.rand(100, 4).astype(np.float32), np.random.rand(100, 1), {"ratio": 0.7}, "ratio must be"),
        (np.random.rand(100, 4).astype(np.float32), np.random.rand(100, 1), {"ratio": 2.5}, "ratio must be"),
        (np.random.rand(100, 4).astype(np.float32), np.random.rand(100, 1), {"ratio": -1}, "ratio must be"),
    ],
)
def test_bad_training_inputs(codes, scores, kwargs, message):
    with pytest.raises(UsageError, match=message):
        choose_samples(codes, scores, **kwargs)


def test_condition_of_another_dimension():
    with pytest.raises(UsageError, match="dimension"):
        project_out(Boundary.from_normal("a", np.ones(4)), [Boundary.from_normal("b", np.ones(8))])


def test_cli_train_condition_compare_and_rank(tmp_path, run_cli, dcgan):
    codes = dcgan.sample(3000, seed=0)
    rng = np.random.default_rng(0)
    directions = {name: (v := rng.standard_normal(100)) / np.linalg.norm(v) for name in ("alpha", "beta")}
    np.save(tmp_path / "z.npy", codes)
    for name, d in directions.items():
        np.save(tmp_path / f"{name}_scores.npy", (codes @ d).reshape(-1, 1).astype(np.float32))
    out = tmp_path / "b"
    code, stdout, stderr = run_cli(
        "train-boundary",
        "--codes",
        tmp_path / "z.npy",
        "--scores",
        tmp_path / "beta_scores.npy",
        "-o",
        out,
        "--ratio",
        0.05,
    )
    assert code == 0, stderr
    assert "validation accuracy" in stdout
    code, stdout, stderr = run_cli(
        "train-boundary",
        "--codes",
        tmp_path / "z.npy",
        "--scores",
        tmp_path / "alpha_scores.npy",
        "-o",
        out,
        "--ratio",
        0.05,
        "--condition",
        out / "beta.npy",
    )
    assert code == 0, stderr
    conditional = load_boundary(out / "alpha_c_beta.npy")
    assert abs(conditional.normal @ load_boundary(out / "beta.npy").normal) < 1e-6
    assert load_boundary(out / "alpha.npy").normal @ directions["alpha"] > 0.9
    code, stdout, _ = run_cli("boundaries", out / "alpha.npy", out / "beta.npy", out / "alpha_c_beta.npy")
    assert code == 0 and "+1.000" in stdout and len(stdout.strip().splitlines()) == 4
    code, _, stderr = run_cli(
        "train-boundary", "--codes", tmp_path / "z.npy", "--scores", tmp_path / "beta_scores.npy", "-o", out
    )
    assert code == 2 and "already holds results" in stderr
    code, _, stderr = run_cli(
        "rank",
        "--codes",
        tmp_path / "z.npy",
        "--boundary",
        out / "alpha.npy",
        "-o",
        tmp_path / "rank.png",
        "--per-group",
        4,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    picture = Image.open(tmp_path / "rank.png")
    assert picture.width > 4 * 128 and picture.height > 3 * 128
    code, _, stderr = run_cli(
        "rank", "--codes", tmp_path / "z.npy", "--boundary", "smileyness", "-o", tmp_path / "r2.png"
    )
    assert code == 2 and "no boundary 'smileyness'" in stderr


def test_cli_end_to_end_samples_scores_and_trains(tmp_path, run_cli):
    out = tmp_path / "pose"
    code, stdout, stderr = run_cli(
        "train-boundary", "--attr", "pose", "-n", 600, "--ratio", 0.2, "--seed", 7, "-o", out, "--device", "cpu"
    )
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["pose.json", "pose.npy", "pose_scores.npy", "z.npy"]
    scores = np.load(out / "pose_scores.npy")
    assert scores.shape == (600, 1) and np.isfinite(scores).mean() > 0.8
    record = json.loads((out / "pose.json").read_text())
    assert record["model"] == "dcgan-digiface64" and record["n"] == 600
    assert record["weights_sha256"].startswith("0c3b90b1")
    # 120 codes per side (72 for validation: with 24, one face moves the accuracy by 0.04): enough to find yaw,
    # which is close to linear in Z. The direction agrees with the shipped boundary (trained on 50 000 other
    # codes); two random directions in 100 dimensions have |cosine| ~ 0.1.
    assert record["validation_accuracy"] >= 0.8
    learned, shipped = load_boundary(out / "pose.npy"), load_boundary(SHIPPED_DIR / "dcgan-digiface64" / "pose.npy")
    assert float(learned.normal @ shipped.normal) > 0.5
    # run again into the same folder: refused before sampling and scoring anything, and nothing is touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, stderr = run_cli("train-boundary", "--attr", "pose", "-n", 100000, "-o", out, "--device", "cpu")
    assert code == 2 and "pose.npy already holds results" in stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # --ray and --precision only concern faces scored end to end
    for extra in (["--ray"], ["--precision", "bfloat16"]):
        code, _, stderr = run_cli(
            "train-boundary",
            "--codes",
            out / "z.npy",
            "--scores",
            out / "pose_scores.npy",
            "-o",
            tmp_path / "x",
            *extra,
        )
        assert code == 2 and "score the faces of end-to-end training" in stderr and not (tmp_path / "x").exists()
