"""The labelled check set (tests/data/checkset_*): codes re-derivable from seed 1000, labels well-formed, no overlap
with the faces the smile/eyeglasses scorers were trained on."""

import csv
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
ALLOWED = {
    "smile": {"yes", "no", "unclear"},
    "eyeglasses": {"yes", "no", "unclear"},
    "gender": {"male", "female", "unclear"},
    "yaw": {"left", "frontal", "right", "unclear"},
    "age": {"child", "young", "middle", "old", "unclear"},
}


def load_labels() -> list[dict[str, str]]:
    with open(DATA / "checkset_labels.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_codes_come_from_seed_1000(dcgan):
    codes = np.load(DATA / "checkset_codes.npy")
    assert codes.dtype == np.float32 and codes.shape == (len(load_labels()), 100)
    assert np.array_equal(codes, dcgan.sample(len(codes), 1000))


def test_labels_are_complete_and_well_formed():
    rows = load_labels()
    assert len(rows) >= 300
    assert list(rows[0]) == ["index", *ALLOWED]
    assert [int(r["index"]) for r in rows] == list(range(len(rows)))
    for attr, allowed in ALLOWED.items():
        values = [r[attr] for r in rows]
        assert set(values) <= allowed, attr
    # every class that enters an AUC or the yaw sign accuracy has faces in it
    for attr in ("smile", "eyeglasses", "gender", "yaw"):
        assert all([r[attr] for r in rows].count(v) >= 20 for v in ALLOWED[attr] - {"unclear", "frontal"}), attr


def test_disjoint_from_scorer_training_faces():
    train = DATA / "train_attributes_codes.npy"
    codes = np.load(DATA / "checkset_codes.npy")
    if not train.exists():
        pytest.skip("no training codes in tests/data")
    assert not {c.tobytes() for c in codes} & {c.tobytes() for c in np.load(train)}
