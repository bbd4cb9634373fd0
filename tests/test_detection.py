"""The real-or-fake detector: training on a tiny real dataset, checkpoints, the detect and train-detector commands."""

import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.core.detector_training import Split, TrainingSettings, augment, metrics, train
from latentedit.errors import UsageError, WeightsError
from latentedit.files.weights import package_file
from latentedit.models.detector import SHIPPED_DETECTOR, Detector, InputSpec, build_model, face_crops
from latentedit.models.generators import render
from latentedit.records import DetectorHeader, DetectorInput

LFW = package_file("skimage", "data/lfw_subset.npy")
needs_lfw = pytest.mark.skipif(LFW is None, reason="scikit-image (the source of real faces) is not installed")


@pytest.fixture(scope="module")
def lfw():
    """60 real LFW face crops, uint8 (60, 25, 25, 1)."""
    return np.round(np.load(LFW)[:60] * 255).astype(np.uint8)[..., None]


@pytest.fixture(scope="module")
def fakes(dcgan, analysis):
    """Aligned 25x25 gray crops of 60 generated faces and their 64x64 sources."""
    spec = InputSpec.create(25, "gray", "dcgan-digiface64")
    images = np.concatenate(list(render(dcgan, dcgan.sample(72, 7))))
    crops = [faces[0] for faces in face_crops(list(images), spec, detector=analysis.mtcnn)[0] if faces]
    return np.stack(crops[:60]), images


@pytest.fixture(scope="module")
def tiny(lfw, fakes):
    """A seed-cnn trained for a few epochs on 60 real and 60 fake faces."""
    spec = InputSpec.create(25, "gray", "dcgan-digiface64")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # this small network trains faster on one thread, and much faster on a busy machine
    try:
        settings = TrainingSettings(architecture="seed-cnn", seed=0, epochs=10, patience=10)
        return train(lfw, fakes[0], spec=spec, settings=settings, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)


@needs_lfw
def test_training_on_a_tiny_dataset_learns(tiny):
    detector, history = tiny
    losses = [h["train_loss"] for h in history]
    assert min(losses[-3:]) < losses[0] - 0.1, losses
    held = detector.header.held_out
    assert held["n_real"] == 15 and held["n_fake"] == 15
    assert held["accuracy"] >= 0.75 and held["auc"] >= 0.8, held  # chance is 0.5
    assert sum(held["confusion"].values()) == 30


def test_split_is_disjoint_and_demands_enough_faces():
    split = Split.make(40, 100, seed=3)
    for c in range(2):
        parts = [set(split.train[c]), set(split.val[c]), set(split.test[c])]
        assert sum(map(len, parts)) == (40, 100)[c]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    with pytest.raises(UsageError, match="at least 20"):
        Split.make(19, 100, seed=0)


def test_split_keeps_each_person_in_one_part():
    people = np.repeat(np.arange(12), [8, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5])  # 44 faces of 12 people
    codes = np.arange(60)
    split = Split.make(len(people), len(codes), seed=1, groups=(people, codes))
    parts = [set(people[part[0]]) for part in (split.train, split.val, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(len(part[0]) for part in (split.train, split.val, split.test)) == 44
    assert len(split.test[0]) >= 11 and len(split.test[1]) == 15  # at least the test share; codes split exactly
    with pytest.raises(UsageError, match="too few to split"):
        Split.make(40, 40, seed=0, groups=(np.repeat([0, 1], 20), np.arange(40)))


def test_a_big_group_does_not_make_up_a_part_alone():
    """One person with 30 photos among 20 people with 2: too big for the test (18) or validation (10) share, so
    those parts are filled by several smaller groups and the big one trains."""
    people = np.concatenate([np.zeros(30, int), np.repeat(np.arange(1, 21), 2)])
    for seed in range(5):
        split = Split.make(len(people), 40, seed=seed, groups=(people, np.arange(40)))
        assert 0 in set(people[split.train[0]])
        for part, share in ((split.test, 18), (split.val, 10)):
            assert len(part[0]) == share and len(set(people[part[0]])) == share // 2


def test_metrics_and_augmentation():
    m = metrics(np.array([0.1, 0.6, 0.7, 0.2]), np.array([0, 0, 1, 1]))
    assert m["accuracy"] == 0.5 and m["auc"] == 0.75  # 3 of the 4 (fake, real) pairs are ordered right
    # (1/3 + 1) / 2; accuracy is 2/4
    assert metrics(np.array([0.1, 0.6, 0.7, 0.8]), np.array([0, 0, 0, 1]))["balanced_accuracy"] == 0.6667
    assert m["confusion"] == {"real_as_real": 1, "real_as_fake": 1, "fake_as_real": 1, "fake_as_fake": 1}
    crops = np.random.default_rng(0).integers(0, 256, (8, 25, 25, 1), dtype=np.uint8)
    out = augment(crops, np.random.default_rng(1), p=1.0)
    assert out.shape == crops.shape and out.dtype == np.uint8 and not np.array_equal(out, crops)


@needs_lfw
def test_checkpoint_round_trip(tiny, lfw, tmp_path):
    detector, _ = tiny
    path = tmp_path / "d.pt"
    detector.save(path)
    loaded = Detector.load(path, "cpu")
    assert loaded.header.to_json() == json.loads(json.dumps(detector.header.to_json()))
    assert loaded.spec == detector.spec
    np.testing.assert_allclose(loaded.probabilities(lfw[:10]), detector.probabilities(lfw[:10]), atol=1e-6)
    with pytest.raises(UsageError, match="expects 25x25 gray crops"):
        loaded.probabilities(np.zeros((2, 64, 64, 3), np.uint8))


def test_foreign_and_mismatched_detector_files(tmp_path, dcgan):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        Detector.load(text)
    foreign = tmp_path / "generator.pt"
    torch.save(dcgan.state_dict(), foreign)
    with pytest.raises(WeightsError, match="is not a latentedit detector"):
        Detector.load(foreign)
    spec = InputSpec.create(32, "gray", "face")
    model = build_model("seed-cnn", spec)  # weights for 32x32 input under a header that claims 48x48
    header = DetectorHeader(
        architecture="seed-cnn",
        input=DetectorInput(size=48, colour="gray", template_name="face", template=[list(p) for p in spec.template]),
    )
    wrong = tmp_path / "wrong.pt"
    Detector(model, spec, header).save(wrong)
    with pytest.raises(WeightsError, match="another input size"):
        Detector.load(wrong)


# ------------------------------------------------------------------------------------------------------ the CLI

needs_shipped = pytest.mark.skipif(not SHIPPED_DETECTOR.is_file(), reason="the shipped detector is not built")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, fakes, lfw):
    folder = tmp_path_factory.mktemp("pictures")
    Image.fromarray(fakes[1][0]).save(folder / "fake.png")
    Image.fromarray(np.repeat(lfw[0], 3, 2)).resize((100, 100), Image.BICUBIC).save(folder / "real.png")
    Image.new("RGB", (120, 90), (128, 128, 128)).save(folder / "blank.png")
    Image.new("RGB", (4, 4), (20, 200, 20)).save(folder / "tiny.png")
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    (folder / "broken.png").write_bytes((folder / "fake.png").read_bytes()[:60])
    huge = bytearray((folder / "tiny.png").read_bytes())  # a PNG whose header claims 40000 x 40000 pixels
    huge[16:24] = struct.pack(">II", 40000, 40000)
    huge[29:33] = struct.pack(">I", zlib.crc32(bytes(huge[12:29])))
    (folder / "huge.png").write_bytes(bytes(huge))
    return folder


@needs_shipped
@needs_lfw
def test_detect_lines_and_json(run_cli, pictures):
    code, out, err = run_cli(
        "detect", pictures / "fake.png", pictures / "real.png", pictures / "blank.png", "--device", "cpu"
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{pictures / 'fake.png'}\tface 0\t") and "\tp_fake=" in lines[0]
    assert lines[1].startswith(f"{pictures / 'real.png'}\tface 0\t")
    assert lines[2] == f"{pictures / 'blank.png'}\t-\tno face"
    code, out, _ = run_cli("detect", pictures / "fake.png", pictures / "blank.png", "--json", "--threshold", "0.3")
    records = json.loads(out)
    assert records[0]["face"] == 0 and 0 <= records[0]["p_fake"] <= 1 and len(records[0]["box"]) == 4
    assert records[0]["label"] == ("fake" if records[0]["p_fake"] >= 0.3 else "real")
    assert records[1] == {
        "file": str(pictures / "blank.png"),
        "face": None,
        "p_fake": None,
        "label": "no face",
        "box": None,
    }


@needs_shipped
def test_detect_without_faces_and_bad_inputs(run_cli, pictures):
    code, out, err = run_cli("detect", pictures / "blank.png", pictures / "tiny.png")
    assert code == 4 and out.count("no face") == 2 and "no face found in any of the 2 image(s)" in err
    code, out, err = run_cli("detect", pictures / "tiny.png", "--whole-image")
    assert code == 0 and "\tface 0\t" in out
    for name, message in (
        ("empty.png", "is empty"),
        ("text.jpg", "cannot read image"),
        ("broken.png", "cannot read image"),
        ("missing.png", "does not exist"),
        ("huge.png", "exceeds limit"),
    ):
        code, out, err = run_cli("detect", pictures / name)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (name, err)
    code, _, err = run_cli("detect", pictures / "fake.png", "--threshold", "1.5")
    assert code == 2 and "threshold" in err
    code, _, err = run_cli("detect", pictures / "fake.png", "--detector", pictures / "text.jpg")
    assert code == 3 and "not a PyTorch checkpoint" in err and "weights_only" not in err


@needs_lfw
def test_train_detector_command(run_cli, tmp_path, lfw, fakes):
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir(), fake.mkdir()
    for i in range(24):
        Image.fromarray(lfw[i, ..., 0]).save(real / f"{i:03d}.png")
        Image.fromarray(np.repeat(fakes[0][i], 3, 2)).save(fake / f"{i:03d}.png")
    out = tmp_path / "mine.pt"
    args = [
        "train-detector",
        "--real",
        real,
        "--fake",
        fake,
        "--whole-image",
        "--size",
        "25",
        "--colour",
        "gray",
        "--arch",
        "seed-cnn",
        "--epochs",
        "2",
        "-o",
        out,
        "--device",
        "cpu",
    ]
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: held-out accuracy") and out.is_file()
    header = Detector.load(out).header
    assert header.training["data"]["real"]["faces"] == 24 and header.input.size == 25
    code, stdout, _ = run_cli("detect", real / "000.png", "--whole-image", "--detector", out)
    assert code == 0 and "\tface 0\t" in stdout
    code, _, err = run_cli(*args)
    assert code == 2 and "already holds results" in err

    for path in list(real.iterdir())[5:]:
        path.unlink()
    code, _, err = run_cli("train-detector", "--real", real, "--fake", fake, "--whole-image", "-o", tmp_path / "x.pt")
    assert code == 2 and "at least 20 real faces" in err and "gave 5" in err
    code, _, err = run_cli(
        "train-detector", "--real", real, "--fake", fake, "--fake-model", "dcgan-digiface64", "-o", out
    )
    assert code == 2 and "exactly one of a fake folder" in err
    code, _, err = run_cli("train-detector", "--real", tmp_path / "nowhere", "--fake", fake, "-o", tmp_path / "y.pt")
    assert code == 2 and "does not exist" in err


@needs_lfw
def test_train_detector_splits_by_subfolder(run_cli, tmp_path, lfw, fakes):
    """With --split-by subfolder every person's photos (a subfolder) land wholly in training, validation or test."""
    real, fake = tmp_path / "real", tmp_path / "fake"
    fake.mkdir()
    for i in range(30):
        person = real / f"person_{i // 3:02d}"
        person.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lfw[i, ..., 0]).save(person / f"{i:03d}.png")
        Image.fromarray(np.repeat(fakes[0][i], 3, 2)).save(fake / f"{i:03d}.png")
    common = [
        "--whole-image",
        "--size",
        "25",
        "--colour",
        "gray",
        "--arch",
        "seed-cnn",
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]
    out = tmp_path / "grouped.pt"
    code, _, err = run_cli(
        "train-detector", "--real", real, "--fake", fake, "--split-by", "subfolder", "-o", out, *common
    )
    assert code == 0, err
    training = Detector.load(out).header.training
    assert training["data"]["split_by"] == "subfolder" and training["data"]["real"]["groups"] == 10
    real_counts = [part["real"] for part in training["split"].values()]
    assert sum(real_counts) == 30 and all(count % 3 == 0 for count in real_counts)  # 3 photos per person
    code, _, err = run_cli(
        "train-detector", "--real", fake, "--fake", fake, "--split-by", "subfolder", "-o", tmp_path / "flat.pt", *common
    )
    assert code == 2 and "no subfolders with images" in err and not (tmp_path / "flat.pt").exists()
