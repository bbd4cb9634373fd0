"""Tests that judge answers, not shapes: each fails when a result is wrong (a reversed sign, BGR for RGB, a constant
output, the wrong rows), measured on labelled or known data. ``scripts/plant_bugs.py`` plants such bugs one at a
time and checks that these tests catch them (docs/testing.md)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from latentedit.core.boundary import choose_samples
from latentedit.core.evaluation import BINARY, accuracy_rows
from latentedit.files.boundaries import resolve_boundary
from latentedit.files.weights import package_file
from latentedit.models.alignment import align
from latentedit.models.generators import generator_template, render
from latentedit.models.scoring import ATTRIBUTES, load_scorers, score_codes, score_images

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


# ------------------------------------------------------------------------------------- scorers on the check set


@pytest.fixture(scope="module")
def scorers(analysis):
    return load_scorers(None, analysis)


@pytest.fixture(scope="module")
def checkset_rows(dcgan, checkset, scorers):
    """The accuracy table's rows (latentedit.evaluation) for every scorer on the 320 check-set faces."""
    codes, labels = checkset
    scores = score_codes(dcgan, codes, scorers)
    return accuracy_rows({attr: scores[attr] for attr in ATTRIBUTES}, labels)


# Floors for the measures without a target: the value measured when the scorers shipped (README) minus a margin.
FLOORS = {
    ("pose", "Spearman"): 0.730 - 0.08,
    ("age", "Spearman"): 0.303 - 0.05,
    ("(detection)", "faces found"): 0.966 - 0.03,
}


@pytest.mark.slow
def test_scorers_meet_their_targets_on_the_check_set(checkset_rows):
    """ROC AUC >= 0.90 for smile, eyeglasses and gender, the yaw sign right on >= 90 % of turned faces, and the
    pose and age rank correlations and the detection rate above their floors."""
    targeted = {row.attribute: row for row in checkset_rows if row.target is not None}
    assert set(targeted) == {"pose", "smile", "gender", "eyeglasses"}
    for row in targeted.values():
        assert row.met, f"{row.attribute}: {row.measure} = {row.value:.3f}, target {row.target}"
    for (attribute, measure), floor in FLOORS.items():
        (row,) = [r for r in checkset_rows if r.attribute == attribute and r.measure.startswith(measure)]
        assert row.value >= floor, f"{attribute}: {row.measure} = {row.value:.3f}, floor {floor:.3f}"


@pytest.mark.slow
def test_the_readme_prints_this_table(checkset_rows):
    """The README's accuracy table is this code's table: same rows, targets and verdicts, values within 0.01."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| attribute | measure | value |") :].split("\n\n")[0]
    printed = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert len(printed) == len(checkset_rows)
    for cells, row in zip(printed, checkset_rows):
        expected = row.cells()
        assert [cells[i] for i in (0, 1, 3, 4)] == [expected[i] for i in (0, 1, 3, 4)]
        value = float(cells[2].rstrip("%")) / (100 if row.percent else 1)
        assert value == pytest.approx(row.value, abs=0.01), (cells, row)


# ------------------------------------------------------------------------------------------------ colour order

# Check-set faces whose scores move when the channels are swapped. RGB scores measured with these scorers
# (score_images of the renders with the generator's framing, 2026-11-30, after detection started from the framing's
# box instead of the image pyramid); fed as BGR, each attribute is off on some of them.
COLOUR_FACES = [4, 6, 7, 11, 19, 21, 40, 45, 57]
EXPECTED = {  # attribute: (RGB scores of COLOUR_FACES, tolerance)
    "pose": ([7.442, 27.514, 45.897, -38.993, 48.585, 5.773, 18.443, 18.841, 8.41], 1.5),
    "smile": ([0.01, 0.988, 0.031, 0.023, 0.818, 0.01, 0.766, 0.004, 0.973], 0.03),
    "age": ([24.924, 34.159, 26.408, 25.432, 25.098, 29.553, 57.294, 22.513, 36.293], 1.0),
    "gender": ([0.639, 0.887, 0.763, 0.302, 0.415, 0.083, 0.843, 0.853, 0.621], 0.03),
    "eyeglasses": ([0.013, 0.078, 0.034, 0.029, 0.021, 0.311, 0.008, 0.04, 0.147], 0.03),
}
# (check-set row, attribute, labelled value: 1 yes / male, 0 no / female) read clearly on these faces
CLEAR = [
    (40, "smile", 1),
    (19, "smile", 1),
    (57, "smile", 1),
    (4, "eyeglasses", 0),
    (21, "eyeglasses", 0),
    (45, "eyeglasses", 0),
    (11, "gender", 0),
    (6, "gender", 1),
]


def test_scores_need_rgb(dcgan, checkset, scorers):
    """Faces fed as RGB get the expected scores, and land on the labelled side; fed as BGR they score otherwise."""
    codes, labels = checkset
    faces = np.concatenate(list(render(dcgan, codes[COLOUR_FACES], progress=False)))
    rgb = score_images(list(faces), scorers, framing=generator_template(dcgan))
    bgr = score_images([face[..., ::-1].copy() for face in faces], scorers, framing=generator_template(dcgan))
    for attr, (expected, tolerance) in EXPECTED.items():
        np.testing.assert_allclose(rgb[attr], expected, atol=tolerance, err_msg=f"{attr} fed as RGB")
        assert np.nanmax(np.abs(bgr[attr] - expected)) > 4 * tolerance, f"{attr} does not depend on the channel order"
    for row, attr, label in CLEAR:
        column, positive, negative = BINARY[attr]
        assert labels[row][column] == (positive if label else negative)
        i = COLOUR_FACES.index(row)
        assert abs(rgb[attr][i] - label) < 0.5, (row, attr, rgb[attr][i])
        assert abs(rgb[attr][i] - label) + 0.1 < abs(bgr[attr][i] - label), (row, attr, rgb[attr][i], bgr[attr][i])


def test_alignment_keeps_the_channel_order():
    """A pattern warped by align (turned, scaled, shifted) keeps its colours: red on the left, blue on the right,
    green below."""
    pattern = np.zeros((240, 240, 3), np.uint8)
    pattern[:130, :120] = (255, 0, 0)
    pattern[:130, 120:] = (0, 0, 255)
    pattern[130:] = (0, 255, 0)
    # a face's five points, upright, centred on the red/blue edge, 40 px between the eyes: the crop spans y 35..152
    landmarks = np.array([[100.0, 90], [140, 90], [120, 112], [104, 130], [136, 130]])
    crop, _ = align(pattern, landmarks, 64, "face")
    red, blue, green = crop[4:40, 4:28], crop[4:40, 36:60], crop[-6:, 4:60]
    for patch, colour in ((red, (255, 0, 0)), (blue, (0, 0, 255)), (green, (0, 255, 0))):
        np.testing.assert_allclose(patch.reshape(-1, 3).mean(0), colour, atol=3)


# ------------------------------------------------------------------------------------------- shipped boundaries


@pytest.fixture(scope="module")
def boundary_edits(dcgan, scorers):
    """Scores of 32 faces (seed 4242) as drawn, and moved by +3 and -3 along each shipped boundary."""
    codes = dcgan.sample(32, seed=4242)
    normals = [resolve_boundary(attr, dcgan.name).normal for attr in ATTRIBUTES]
    moved = [codes + sign * 3.0 * normal for normal in normals for sign in (1, -1)]
    scores = score_codes(dcgan, np.concatenate([codes, *moved]), scorers)
    return {attr: scores[attr].reshape(1 + 2 * len(ATTRIBUTES), len(codes)) for attr in ATTRIBUTES}


@pytest.mark.slow
@pytest.mark.parametrize("attr", ATTRIBUTES)
def test_shipped_boundary_moves_its_attribute(attr, boundary_edits):
    """A +3 edit along the attribute's shipped boundary raises the attribute's score on a clear majority of the
    faces, a -3 edit lowers it."""
    k = ATTRIBUTES.index(attr)
    base, up, down = (boundary_edits[attr][i] for i in (0, 1 + 2 * k, 2 + 2 * k))
    valid = np.isfinite(base) & np.isfinite(up) & np.isfinite(down)
    assert valid.sum() >= 24
    raised, lowered = (up > base)[valid].mean(), (down < base)[valid].mean()
    assert raised >= 2 / 3 and lowered >= 2 / 3, f"{attr}: +3 raised {raised:.0%}, -3 lowered {lowered:.0%}"
    assert np.mean(up[valid] - base[valid]) > 0 > np.mean(down[valid] - base[valid])


# --------------------------------------------------------------------------------------- InterFaceGAN's protocol


def test_choose_samples_takes_the_extremes_and_labels_the_rest_by_the_midpoint():
    rng = np.random.default_rng(5)
    n = 1000
    scores = rng.uniform(0, 1, n) ** 3  # skewed: the midpoint of the extremes is far above the median
    scores[rng.choice(n, 40, replace=False)] = np.nan
    codes = np.column_stack([np.arange(n), rng.standard_normal((n, 3))]).astype(np.float32)  # column 0: the row
    chosen = choose_samples(codes, scores[:, None], ratio=0.05, split=0.7, seed=1)
    valid = np.flatnonzero(np.isfinite(scores))
    order = valid[np.argsort(-scores[valid])]
    per_side = int(len(valid) * 0.05)
    assert chosen.per_side == per_side

    def rows(x: np.ndarray) -> list[int]:
        return sorted(x[:, 0].astype(int).tolist())

    positives = rows(np.concatenate([chosen.train_x[chosen.train_y == 1], chosen.val_x[chosen.val_y == 1]]))
    negatives = rows(np.concatenate([chosen.train_x[chosen.train_y == 0], chosen.val_x[chosen.val_y == 0]]))
    assert positives == sorted(order[:per_side].tolist())
    assert negatives == sorted(order[-per_side:].tolist())
    rest = chosen.rest_x[:, 0].astype(int)
    assert sorted(rest.tolist()) == sorted(order[per_side:-per_side].tolist())
    midpoint = (np.nanmax(scores) + np.nanmin(scores)) / 2
    np.testing.assert_array_equal(chosen.rest_y, scores[rest] >= midpoint)
    assert 0.05 < chosen.rest_y.mean() < 0.4  # the midpoint, not the median, splits the rest


# ------------------------------------------------------------------------------------------------ edit --report


def _report(run_cli, out: Path, *args) -> dict:
    code, stdout, stderr = run_cli("edit", *args, "-n", 12, "--seed", 4242, "--report", "-o", out, "--device", "cpu")
    assert code == 0, stderr
    assert "moved as asked" in stdout
    return json.loads((out / "edit.json").read_text())["report"]["targets"]


def test_report_counts_moves_in_the_asked_sign(tmp_path, run_cli):
    """'Moved as asked' means moved in the sign asked: down for a negative strength, up for a positive one."""
    targets = _report(run_cli, tmp_path / "sum", "--attrs", "smile=-3,eyeglasses=+3", "--steps", 2)
    assert targets["smile"]["mean_change"] < 0 and targets["smile"]["moved_as_asked"] >= 0.75
    assert targets["eyeglasses"]["mean_change"] > 0 and targets["eyeglasses"]["moved_as_asked"] >= 0.75


@pytest.mark.slow
def test_report_of_an_average_edit_follows_the_sign_of_the_last_step(tmp_path, run_cli):
    """With --combine average the strengths are ignored and the sign asked is that of the last step (here -3)."""
    targets = _report(
        run_cli, tmp_path / "average", "--attrs", "smile,gender", "--combine", "average", "--range=0:-3", "--steps", 2
    )
    for attr in ("smile", "gender"):
        assert targets[attr]["mean_change"] < 0 and targets[attr]["moved_as_asked"] >= 0.75, (attr, targets[attr])


# ----------------------------------------------------------------------------------------------- the detector

LFW = package_file("skimage", "data/lfw_subset.npy")


def lfw_photos(n: int) -> list[np.ndarray]:
    """The first ``n`` LFW face crops shipped with scikit-image (grey, 25 x 25) as the inversion benchmark feeds
    them: enlarged 4x bicubically, padded by 40 px of replicated edge, grey copied to R, G and B."""
    if LFW is None:
        pytest.skip("scikit-image (the source of the LFW crops) is not installed")
    photos = []
    for crop in np.load(LFW)[:n]:
        grey = Image.fromarray(np.round(crop * 255).astype(np.uint8)).resize((100, 100), Image.BICUBIC)
        photos.append(np.repeat(np.pad(np.asarray(grey), 40, mode="edge")[..., None], 3, axis=2))
    return photos


def test_detect_ranks_generated_faces_above_real_ones(tmp_path, run_cli, dcgan):
    """The shipped detector on faces it never saw: 100 LFW photos against 48 generated faces (seed 2024); the
    generated ones get the higher P(fake) (ROC AUC 0.94 when measured; at chance, 0.5)."""
    real = lfw_photos(100)
    fake = np.concatenate(list(render(dcgan, dcgan.sample(48, seed=2024), progress=False)))
    paths = []
    for kind, images in (("real", real), ("fake", fake)):
        for i, image in enumerate(images):
            paths.append(tmp_path / f"{kind}_{i:03d}.png")
            Image.fromarray(image).save(paths[-1])
    code, stdout, stderr = run_cli("detect", *paths, "--json", "--device", "cpu")
    assert code == 0, stderr
    results = [r for r in json.loads(stdout) if r["face"] == 0]
    assert len(results) >= 140
    is_fake = np.array([Path(r["file"]).name.startswith("fake") for r in results])
    p_fake = np.array([r["p_fake"] for r in results])
    assert roc_auc_score(is_fake, p_fake) >= 0.88
    assert np.median(p_fake[is_fake]) > 0.9 and np.median(p_fake[~is_fake]) < 0.5


# ---------------------------------------------------------------------------------------------- the generator


def test_default_generator_renders_the_golden_faces(dcgan):
    """Four faces (seed 2026) against their committed renders (every second pixel, uint8; made with
    ``np.save(path, faces[:, ::2, ::2])`` from ``render(dcgan, dcgan.sample(4, seed=2026))``): within 2 grey levels,
    so a wrong weight load or a swapped channel order fails."""
    golden = np.load(DATA / "golden_renders.npy")
    faces = np.concatenate(list(render(dcgan, dcgan.sample(4, seed=2026), progress=False)))[:, ::2, ::2]
    difference = np.abs(faces.astype(int) - golden)
    assert difference.max() <= 2 and difference.mean() < 0.1, (difference.max(), difference.mean())
    centre = golden[:, 8:24, 8:24].reshape(-1, 3).mean(0)
    assert centre[0] > centre[2] + 20  # skin: more red than blue, so the golden file itself is RGB
