"""The identity network: parity with dlib, its preprocessing, and whether it tells people apart."""

import io

import numpy as np
import pytest
from PIL import Image

from latentedit.devtools import (
    DlibPipeline,
    astronaut,
    chip_digest,
    identity_reference_chips,
    load_identity_reference,
)
from latentedit.errors import WeightsError
from latentedit.models.generators import render
from latentedit.models.identity import (
    IDENTITY_WEIGHTS,
    SAME_PERSON_THRESHOLD,
    DlibFaceResNet,
    load_network,
    normalise,
    similarity,
)

TOLERANCE = 1e-5  # measured: at most 3.4e-7 from dlib's own descriptors


@pytest.fixture(scope="module")
def embedder(analysis):
    return analysis.identity


@pytest.fixture(scope="module")
def mtcnn(analysis):
    return analysis.mtcnn


@pytest.fixture(scope="module")
def chips(mtcnn):
    return identity_reference_chips(mtcnn)


@pytest.fixture(scope="module")
def photo():
    image = astronaut()
    if image is None:
        pytest.skip("scikit-image (the astronaut photo) is not installed")
    return image


def test_network_matches_dlib_on_reference_chips(embedder, chips):
    """dlib's own descriptors (tests/data/identity, computed by scripts/identity_reference.py) of the same chips."""
    reference = {case["name"]: case for case in load_identity_reference()["chips"]}
    assert set(chips) == set(reference)
    for name, chip in chips.items():
        assert chip_digest(chip) == reference[name]["chip_sha256"], f"the chip {name!r} is not the one dlib described"
        expected = np.array(reference[name]["descriptor"], np.float32)
        difference = float(np.abs(embedder.descriptors(chip[None])[0] - expected).max())
        assert difference <= TOLERANCE, (name, difference)


def test_whole_pipeline_agrees_with_dlibs_on_the_astronaut(embedder, mtcnn, photo):
    """MTCNN + CHIP_TEMPLATE against dlib's HOG detector + 5-point predictor + get_face_chip (measured: 0.9932)."""
    expected = normalise(np.array(load_identity_reference()["pipeline"]["astronaut"]["descriptor"], np.float32))
    ours = embedder.embed([photo], mtcnn.detect([photo])[0][0].landmarks[None])[0]
    assert np.linalg.norm(ours) == pytest.approx(1.0, abs=1e-5)
    assert float(similarity(ours, expected)) >= 0.985


def test_colour_order_matters(embedder, chips):
    """The network takes RGB: the same chip in BGR gives another descriptor, far outside the parity tolerance (the
    identity barely changes: cosine 0.992 on the astronaut, so only parity can catch a swapped colour order)."""
    expected = np.array(load_identity_reference()["chips"][0]["descriptor"], np.float32)
    rgb, bgr = embedder.descriptors(np.stack([chips["astronaut"], chips["astronaut"][..., ::-1]]))
    assert np.abs(rgb - expected).max() <= TOLERANCE
    assert np.abs(bgr - expected).max() > 1000 * TOLERANCE


def variants(image: np.ndarray) -> list[np.ndarray]:
    """The photo mirrored, halved, JPEG-compressed and turned by 8 degrees: the same person."""
    pil = Image.fromarray(image)
    buffer = io.BytesIO()
    pil.save(buffer, "JPEG", quality=40)
    return [
        image[:, ::-1].copy(),
        np.asarray(pil.resize((pil.width // 2, pil.height // 2), Image.BICUBIC)),
        np.asarray(Image.open(buffer).convert("RGB")),
        np.asarray(pil.rotate(8, Image.BICUBIC)),
    ]


def test_same_person_more_similar_than_different_people(embedder, analysis, photo, dcgan):
    """The astronaut against herself (changed photo) and against generated people."""
    own = analysis.detect([photo, *variants(photo)])
    assert own.found.all()
    embeddings = embedder.embed_batch(own)
    same = similarity(embeddings[0], embeddings[1:])
    generated = np.concatenate(list(render(dcgan, dcgan.sample(24, 5), batch_size=24, progress=False)))
    others = analysis.detect(list(generated))
    different = similarity(embeddings[0], embedder.embed_batch(others)[others.found])
    assert len(different) >= 20
    assert same.min() >= SAME_PERSON_THRESHOLD, same
    assert np.median(different) < SAME_PERSON_THRESHOLD - 0.03
    assert same.min() > different.max() + 0.03


def test_embed_batch_marks_faces_not_found(embedder, analysis, photo):
    blank = np.zeros_like(photo)
    batch = analysis.detect([photo, blank])
    embeddings = embedder.embed_batch(batch)
    assert np.isfinite(embeddings[0]).all() and np.isnan(embeddings[1]).all()
    assert np.isnan(similarity(embeddings[0], embeddings[1]))
    assert float(similarity(embeddings[0], embeddings[0])) == pytest.approx(1.0, abs=1e-5)


def test_bad_chips_are_refused(embedder):
    with pytest.raises(ValueError, match="150"):
        embedder.descriptors(np.zeros((1, 112, 112, 3), np.uint8))


def test_unreadable_weights_are_a_weights_error(tmp_path):
    data = IDENTITY_WEIGHTS.verified_path().read_bytes()
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="file ends early"):
        load_network(truncated)
    altered = bytearray(data)
    altered[altered.index(b"con_4")] = ord("x")  # the first convolution's name
    with pytest.raises(ValueError, match="expected a con layer"):
        DlibFaceResNet.from_dlib(bytes(altered))


def test_live_parity_with_dlib(embedder, mtcnn, photo):
    """dlib itself (dlib-bin, a test extra) on its own chip of the astronaut."""
    pytest.importorskip("dlib")
    pipeline = DlibPipeline()
    _, shape = pipeline.faces(photo)[0]
    chip = pipeline.chip(photo, shape)
    assert np.abs(embedder.descriptors(chip[None])[0] - pipeline.describe(photo, shape)).max() <= TOLERANCE
