import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.errors import LatentEditError, UsageError
from latentedit.models import scoring
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.dlib import AGE_CLASS_VALUES, AGE_WEIGHTS, GENDER_WEIGHTS
from latentedit.models.generators import render
from latentedit.models.onnxnet import OnnxNet
from latentedit.models.scorers.agegender import AgeScorer, chip_outputs
from latentedit.models.scorers.attribute_probe import GenderScorer
from latentedit.models.scorers.pose import PoseScorer, yaw_degrees

AVAILABLE = ",".join(scoring.SCORERS)


@pytest.fixture(scope="module")
def batch(dcgan, analysis):
    images = list(np.concatenate(list(render(dcgan, dcgan.sample(24, seed=21), progress=False))))
    images.append(np.full((64, 64, 3), 128, np.uint8))  # no face
    return analysis.detect(images)


@pytest.mark.parametrize("weights, size", [(AGE_WEIGHTS, 64), (GENDER_WEIGHTS, 32)])
def test_onnx_port_matches_onnxruntime(weights, size):
    ort = pytest.importorskip("onnxruntime")
    path = weights.verified_path()
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 3, size, size)).astype(np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with torch.inference_mode():
        out = OnnxNet(path).eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.abs(expected - expected.mean(0)).max() > 1e-3  # inputs differ enough to test something


def _landmarks(yaw_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """Five landmarks of a 3D face model (interocular 1, nose 0.4 in front) seen at ``yaw`` and ``roll``."""
    points = np.array([[-0.5, -0.4, 0], [0.5, -0.4, 0], [0, 0.1, -0.4], [-0.4, 0.6, 0], [0.4, 0.6, 0]])
    yaw, roll = np.radians(yaw_deg), np.radians(roll_deg)
    turn = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    x, y, _ = (points @ turn.T).T  # z points to the viewer's back, so positive yaw moves the nose right
    spin = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    return np.stack([x, y], 1) @ spin.T * 60 + 100


def test_yaw_from_landmarks():
    yaws = np.array([-60, -30, -10, 0, 10, 30, 60])
    estimates = yaw_degrees(np.stack([_landmarks(y) for y in yaws]))
    np.testing.assert_allclose(estimates, yaws, atol=0.5)  # exact on the model it assumes
    rolled = yaw_degrees(np.stack([_landmarks(y, roll_deg=25) for y in yaws]))
    np.testing.assert_allclose(rolled, estimates, atol=1e-6)


def test_pose_flips_sign_with_the_image(batch, analysis):
    flipped = analysis.detect([image[:, ::-1] for image in batch.images])
    both = batch.found & flipped.found
    yaw, mirrored = PoseScorer(analysis).score(batch)[both], PoseScorer(analysis).score(flipped)[both]
    assert both.sum() >= 20 and np.abs(yaw).max() > 20
    assert np.corrcoef(yaw, -mirrored)[0, 1] > 0.95
    assert np.median(np.abs(yaw + mirrored)) < 5


@pytest.mark.slow
def test_scorer_ranges_and_missing_faces(batch, analysis):
    age, gender, pose = (cls(analysis).score(batch) for cls in (AgeScorer, GenderScorer, PoseScorer))
    found = batch.found
    assert not found[-1] and found.sum() >= 21
    for values in (age, gender, pose):
        assert values.shape == (len(batch),) and np.isnan(values[~found]).all() and not np.isnan(values[found]).any()
    assert (age[found] >= 0.25).all() and (age[found] <= 80).all() and age[found].std() > 3
    assert (gender[found] >= 0).all() and (gender[found] <= 1).all()
    assert (gender[found] > 0.8).sum() >= 3 and (gender[found] < 0.25).sum() >= 3  # both sexes are drawn
    assert (np.abs(pose[found]) <= 90).all()


@pytest.mark.slow
def test_gender_and_age_track_the_face(batch, analysis):
    """Scores follow the face, not the frame: a mirrored face gets nearly the same age and gender."""
    mirrored = analysis.detect([im[:, ::-1] for im in batch.images])
    both = batch.found & mirrored.found
    for cls, tolerance in ((AgeScorer, 0.75), (GenderScorer, 0.75)):
        scorer = cls(analysis)
        a, b = scorer.score(batch)[both], scorer.score(mirrored)[both]
        assert np.corrcoef(a, b)[0, 1] > tolerance


@pytest.mark.slow
def test_age_averages_framed_and_mirrored_views(batch, analysis):
    """The age score is the expected age under the class probabilities averaged over every framing of the chip,
    each also mirrored: measured view by view, one chip at a time."""
    age = AgeScorer(analysis)
    found = batch.found
    views = []
    for scale, rotation in age.framings:
        chips = batch.crops(64, "dlib-chip", scale, rotation)[found]
        for view in (chips, np.ascontiguousarray(chips[:, :, ::-1])):
            views.append(chip_outputs(analysis.age_network, view, mirror_average=False))
    assert len(views) == 18 and len({(s, r) for s, r in age.framings}) == 9
    expected = np.mean(views, axis=0) @ AGE_CLASS_VALUES
    np.testing.assert_allclose(age.score(batch)[found], expected, rtol=1e-4)
    assert np.abs(views[0] @ AGE_CLASS_VALUES - expected).max() > 1  # the views differ: averaging does something


def test_attribute_names():
    assert scoring.parse_attributes(None) == list(scoring.ATTRIBUTES)
    assert scoring.parse_attributes("age, pose,age") == ["age", "pose"]
    with pytest.raises(UsageError, match="choose from: pose, smile, age, gender, eyeglasses"):
        scoring.parse_attributes("pose,nose")


def test_unavailable_scorer_is_reported(monkeypatch):
    monkeypatch.setattr(scoring, "SCORERS", {"pose": PoseScorer})
    with pytest.raises(LatentEditError, match="no scorer for age in this version"):
        scoring.load_scorers("pose,age", FaceAnalysis("cpu"))


def test_score_codes_layout(tmp_path, run_cli, dcgan):
    codes = dcgan.sample(10, seed=5)
    np.save(tmp_path / "z.npy", codes)
    out = tmp_path / "scores"
    code, stdout, stderr = run_cli(
        "score", "--codes", tmp_path / "z.npy", "--attrs", AVAILABLE, "-o", out, "-b", 4, "--device", "cpu"
    )
    assert code == 0, stderr
    names = list(scoring.SCORERS)
    for name in names:
        values = np.load(out / f"{name}_scores.npy")
        assert values.shape == (10, 1) and values.dtype == np.float32
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert len(rows) == 10 and list(rows[0]) == ["index", "source", "face_found", "face_confidence", *names]
    missing = sum(row["face_found"] == "0" for row in rows)
    assert f"no face found in {missing}" in stdout
    assert np.isnan(np.load(out / "age_scores.npy")).sum() == missing
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n"] == 10 and manifest["faces_not_found"] == missing and manifest["model"] == "dcgan-digiface64"
    # the same faces scored in one batch give the same numbers
    direct = scoring.score_codes(dcgan, codes, scoring.load_scorers(["age"], FaceAnalysis("cpu")), batch_size=10)
    np.testing.assert_allclose(direct["age"], np.load(out / "age_scores.npy")[:, 0], rtol=1e-4)


def test_score_folders(tmp_path, run_cli, dcgan):
    run_cli("sample", "-n", 6, "--seed", 2, "-o", tmp_path / "s", "--device", "cpu")
    run_cli("sample", "-n", 6, "--seed", 2, "-o", tmp_path / "s2", "--no-images", "--device", "cpu")
    for folder in ("s", "s2"):
        code, stdout, stderr = run_cli(
            "score", tmp_path / folder, "-a", "pose", "-o", tmp_path / f"o{folder}", "--device", "cpu"
        )
        assert code == 0, stderr
    np.testing.assert_allclose(
        np.load(tmp_path / "os" / "pose_scores.npy"), np.load(tmp_path / "os2" / "pose_scores.npy"), atol=1e-4
    )  # PNG round trip is lossless: same faces, same scores

    photos = tmp_path / "photos"
    photos.mkdir()
    face = np.asarray(Image.open(tmp_path / "s" / "000000.png"))
    Image.fromarray(face).convert("L").save(photos / "a_gray.png")
    Image.fromarray(face).convert("RGBA").save(photos / "b_rgba.png")
    Image.fromarray(face.astype(np.uint16)[..., 0] * 257).save(photos / "c_deep.png")
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(photos / "d_blank.png")
    (photos / "e_broken.png").write_bytes(b"not a png")
    (photos / "notes.txt").write_text("ignored")
    code, stdout, stderr = run_cli("score", photos, "-a", "pose", "-o", tmp_path / "op", "--device", "cpu")
    assert code == 0, stderr
    assert "skipped 1 unreadable file" in stdout and "no face found in 1" in stdout
    rows = list(csv.DictReader(open(tmp_path / "op" / "scores.csv")))
    assert [r["source"] for r in rows] == ["a_gray.png", "b_rgba.png", "c_deep.png", "d_blank.png"]
    assert [r["face_found"] for r in rows] == ["1", "1", "1", "0"] and rows[3]["pose"] == ""

    code, _, stderr = run_cli("score", photos, "-a", "pose", "--strict", "-o", tmp_path / "oq", "--device", "cpu")
    assert code == 2 and "e_broken.png" in stderr and not (tmp_path / "oq").exists()

    code, stdout, stderr = run_cli(
        "score", photos / "b_rgba.png", "-a", "pose", "-o", tmp_path / "one", "--device", "cpu"
    )
    assert code == 0 and "scored 1 image into" in stdout, stderr
    one = list(csv.DictReader(open(tmp_path / "one" / "scores.csv")))
    assert [r["source"] for r in one] == ["b_rgba.png"] and one[0]["pose"] == rows[1]["pose"]
    code, _, stderr = run_cli("score", photos / "e_broken.png", "-a", "pose", "-o", tmp_path / "ob", "--device", "cpu")
    assert code == 2 and "e_broken.png" in stderr and not (tmp_path / "ob").exists()
    code, _, stderr = run_cli("score", photos / "missing.png", "-a", "pose", "-o", tmp_path / "om", "--device", "cpu")
    assert code == 2 and "does not exist" in stderr and not (tmp_path / "om").exists()


def test_score_an_edit_sweep(tmp_path, run_cli, dcgan):
    """An `edit` folder's (N, steps, dim) codes are scored face by face, one row per step, labelled FACE:STEP, also
    when the folder itself is given; a folder of photo edits is refused."""
    code, _, stderr = run_cli(
        "edit", "--attrs", "smile", "-n", 2, "--steps", 3, "--seed", 5, "-o", tmp_path / "e", "--device", "cpu"
    )
    assert code == 0, stderr
    code, stdout, stderr = run_cli(
        "score", "--codes", tmp_path / "e" / "codes.npy", "-a", "smile", "-o", tmp_path / "s", "--device", "cpu"
    )
    assert code == 0 and "scored 6 images" in stdout, stderr
    rows = list(csv.DictReader(open(tmp_path / "s" / "scores.csv")))
    assert [r["source"] for r in rows] == ["0:0", "0:1", "0:2", "1:0", "1:1", "1:2"]
    edited = np.load(tmp_path / "e" / "codes.npy")
    scorers = scoring.load_scorers(["smile"], FaceAnalysis("cpu"))
    direct = scoring.score_codes(dcgan, edited.reshape(-1, edited.shape[-1]), scorers)["smile"]
    np.testing.assert_allclose(np.load(tmp_path / "s" / "smile_scores.npy")[:, 0], direct, rtol=1e-4)
    smile = direct.reshape(2, 3)
    assert np.nanmean(smile[:, 2]) > np.nanmean(smile[:, 0])  # -3 to +3 along the smile boundary
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert (manifest["faces"], manifest["steps"], manifest["space"]) == (2, 3, "z")
    code, _, stderr = run_cli("score", tmp_path / "e", "-a", "smile", "-o", tmp_path / "s2", "--device", "cpu")
    assert code == 0, stderr  # the edit folder itself: its codes, not its grid.png
    np.testing.assert_array_equal(
        np.load(tmp_path / "s2" / "smile_scores.npy"), np.load(tmp_path / "s" / "smile_scores.npy")
    )
    photo_edit = tmp_path / "photo_edit"
    photo_edit.mkdir()
    (photo_edit / "edit.json").write_text(json.dumps({"tool": "latentedit", "model": "dcgan-digiface64", "photos": []}))
    code, _, stderr = run_cli("score", photo_edit, "-o", tmp_path / "s3", "--device", "cpu")
    assert code == 2 and "edits of photos" in stderr and not (tmp_path / "s3").exists()


def test_bad_requests(tmp_path, run_cli):
    images, out = tmp_path / "images", tmp_path / "o"
    images.mkdir()
    code, _, stderr = run_cli("score", images, "-a", "pose,nose", "-o", out)
    assert code == 2 and "choose from: pose, smile, age, gender, eyeglasses" in stderr
    code, _, stderr = run_cli("score", images, "-a", "pose", "-o", out, "--device", "cpu")
    assert code == 2 and "no images" in stderr
    code, _, stderr = run_cli("score", "-a", "pose", "-o", out)
    assert code == 2 and "either a folder" in stderr
    code, _, stderr = run_cli("score", "--codes", tmp_path / "missing.npy", "-a", "pose", "-o", out)
    assert code == 2 and "does not exist" in stderr
    (images / "bad.png").write_bytes(b"junk")
    code, _, stderr = run_cli("score", images, "-a", "pose", "-o", out, "--device", "cpu")
    assert code == 2 and "none of the 1 image files" in stderr and not out.exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    code, _, stderr = run_cli("score", images, "-a", "pose", "-o", tmp_path / "full")
    assert code == 2 and "already holds results" in stderr
    code, _, stderr = run_cli("score", images, "-a", "pose", "-o", images / "scores")
    assert code == 2 and "is inside the input" in stderr and not (images / "scores").exists()


def test_chunks_bound_count_and_pixels():
    images = (
        [np.zeros((10, 10, 3), np.uint8)] * 5 + [np.zeros((100, 100, 3), np.uint8)] + [np.zeros((10, 10, 3), np.uint8)]
    )
    sizes = [len(c) for c in scoring._chunks(images, size=2, max_pixels=5000)]
    assert sizes == [2, 2, 1, 1, 1] and sum(sizes) == len(images)
