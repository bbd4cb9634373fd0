"""Smile, eyeglasses and gender scorers: shipped weights, probability range, NaN rows, and ranking of clearly labelled
faces."""

from pathlib import Path

import numpy as np
import pytest
import torch

from latentedit.files.images import read_image
from latentedit.files.weights import load_state_dict
from latentedit.models import scoring
from latentedit.models.analysis import FaceBatch
from latentedit.models.generators import render
from latentedit.models.scorers.attribute_probe import (
    FEATURE_DIM,
    OUTPUTS,
    WEIGHTS_PATH,
    EyeglassesScorer,
    GenderScorer,
    SmileScorer,
)

TRAIN_CODES = Path(__file__).parent / "data" / "train_attributes_codes.npy"
# Rows of train_attributes_labels.csv that are unambiguous on the contact sheets (labelled yes / no there).
CLEAR = {
    "smile": {"yes": [8, 24, 253, 437, 546, 710, 792, 1020, 1048, 1094], "no": [5, 13, 26, 34, 120, 187, 299, 441]},
    "eyeglasses": {
        "yes": [4, 16, 219, 263, 377, 702, 984, 1063, 1083, 1150],
        "no": [5, 13, 26, 34, 120, 187, 299, 441],
    },
    # (beards and moustaches) / (long hair, no facial hair)
    "gender": {"yes": [30, 56, 201, 292, 297, 984, 1090, 1183], "no": [9, 19, 26, 352, 1153, 1185, 1198, 350]},
}
SCORER_CLASSES = {"smile": SmileScorer, "eyeglasses": EyeglassesScorer, "gender": GenderScorer}


@pytest.fixture(scope="module")
def scorers(analysis):
    return {name: cls(analysis) for name, cls in SCORER_CLASSES.items()}


def test_registered_in_scoring():
    for name, cls in SCORER_CLASSES.items():
        assert scoring.SCORERS[name] is cls


def test_shipped_weights_are_small_and_fit_the_probe():
    assert WEIGHTS_PATH.stat().st_size < 200_000
    state = load_state_dict(WEIGHTS_PATH)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    assert shapes == {"weight": (len(OUTPUTS), FEATURE_DIM), "bias": (len(OUTPUTS),)}
    assert all(torch.isfinite(v).all() for v in state.values())


def test_probabilities_in_range_and_nan_without_face(dcgan, analysis, scorers):
    images = list(np.concatenate(list(render(dcgan, dcgan.sample(12, seed=31), progress=False))))
    images.append(np.full((64, 64, 3), 90, np.uint8))  # no face
    batch = analysis.detect(images)
    assert not batch.found[-1] and batch.found.sum() >= 9
    empty = FaceBatch(images[:2], [None, None])
    for scorer in scorers.values():
        values = scorer.score(batch)
        assert values.shape == (len(images),)
        assert np.isnan(values[~batch.found]).all()
        assert ((values[batch.found] >= 0) & (values[batch.found] <= 1)).all()
        assert values[batch.found].std() > 0.01  # not a constant
        assert np.isnan(scorer.score(empty)).all()


@pytest.mark.parametrize("attr", list(CLEAR))
def test_clearly_labelled_faces_rank_right(attr, dcgan, analysis, scorers):
    rows = CLEAR[attr]["yes"] + CLEAR[attr]["no"]
    images = np.concatenate(list(render(dcgan, np.load(TRAIN_CODES)[rows], progress=False)))
    batch = analysis.detect(list(images))
    assert batch.found.all()
    values = scorers[attr].score(batch)
    positive, negative = values[: len(CLEAR[attr]["yes"])], values[len(CLEAR[attr]["yes"]) :]
    pairs_right = (positive[:, None] > negative[None, :]).mean()  # the ROC AUC on these faces
    assert pairs_right >= 0.9, (positive.round(3), negative.round(3))
    assert positive.mean() > 0.5 > negative.mean()


def test_real_photo(analysis, scorers):
    """scikit-image's astronaut portrait (public domain, if installed): a woman with a clear smile, no eyeglasses."""
    skimage_data = pytest.importorskip("skimage.data")
    image = read_image(Path(skimage_data.__file__).parent / "astronaut.png")
    batch = analysis.detect([image, image[:, ::-1].copy()])
    assert batch.found.all()
    assert (scorers["smile"].score(batch) > 0.9).all()
    assert (scorers["eyeglasses"].score(batch) < 0.2).all()
    assert (scorers["gender"].score(batch) < 0.3).all()


def test_gender_combines_the_network_and_the_probe(dcgan, analysis, scorers):
    """The gender score is the sigmoid of the mean of the two logits: between the two, and monotone in each."""
    batch = analysis.detect(list(np.concatenate(list(render(dcgan, dcgan.sample(16, seed=4), progress=False)))))
    found = batch.found
    combined = scorers["gender"].score(batch)[found]
    network = np.clip(scorers["gender"].network.score(batch)[found], 1e-6, 1 - 1e-6)
    probe = 1 / (1 + np.exp(-scorers["gender"].logits(batch, found)))
    assert np.all(combined >= np.minimum(network, probe) - 1e-6)
    assert np.all(combined <= np.maximum(network, probe) + 1e-6)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(logit(combined), (logit(network) + logit(probe)) / 2, atol=1e-6)
