from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from latentedit.errors import WeightsError
from latentedit.models.alignment import TEMPLATES, align, similarity_transform
from latentedit.models.generators import render
from latentedit.models.mtcnn import MTCNN, MTCNN_WEIGHTS, framing_prior, nms


@pytest.fixture(scope="module")
def faces(dcgan):
    return np.concatenate(list(render(dcgan, dcgan.sample(24, seed=11), progress=False)))


def test_finds_generator_faces_with_sane_landmarks(analysis, faces):
    results = analysis.mtcnn.detect(list(faces))
    found = [r[0] for r in results if r]
    assert len(found) >= 21  # ~96 % of samples measured on 2000
    for face in found:
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
        assert lx < rx and mlx < mrx  # image-left before image-right
        assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose above the mouth
        x1, y1, x2, y2 = face.box
        assert x1 < lx < x2 and y1 < ly < y2 and 0.5 < face.score <= 1
        assert 20 < x2 - x1 < 90


def test_batch_equals_single_and_order(analysis, faces):
    small = np.zeros((128, 128, 3), np.uint8)
    small[32:96, 32:96] = faces[2]
    big = np.asarray(Image.fromarray(faces[3]).resize((128, 128), Image.BICUBIC))
    images = [*faces[:6], small, big]  # a face's crops must not depend on the sizes of the other faces in the batch
    together = analysis.mtcnn.detect(images)
    for image, expected in zip(images, together):
        alone = analysis.mtcnn.detect([image])[0]
        assert len(alone) == len(expected)
        for a, b in zip(alone, expected):
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
    collage = np.zeros((200, 300, 3), np.uint8)
    collage[10:74, 10:74] = faces[0]
    big = np.asarray(Image.fromarray(faces[1]).resize((128, 128), Image.BICUBIC))
    collage[50:178, 140:268] = big
    found = analysis.mtcnn.detect([collage])[0]
    assert len(found) == 2 and found[0].box[0] > 120  # largest first


def test_no_face_and_mixed_sizes(analysis, faces):
    blank = np.full((64, 64, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (80, 50, 3), dtype=np.uint8)
    tiny = np.asarray(Image.fromarray(faces[0]).resize((32, 32), Image.LANCZOS))  # upscaled to 64 for detection
    results = analysis.mtcnn.detect([blank, faces[0], noise, tiny])
    assert results[0] == [] and results[2] == [] and len(results[1]) >= 1 and len(results[3]) >= 1
    np.testing.assert_allclose(results[3][0].landmarks * 2, results[1][0].landmarks, atol=3)


def test_huge_image_is_mapped_back(analysis, faces):
    image = faces[0]
    small = analysis.mtcnn.detect([image])[0][0]
    huge = np.asarray(Image.fromarray(image).resize((3200, 3200), Image.BICUBIC))  # detected at 1600
    big = analysis.mtcnn.detect([huge])[0][0]
    np.testing.assert_allclose(big.landmarks / 50, small.landmarks, atol=2.5)


def test_corrupted_weights_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "onet.pt"
    bad.write_bytes(MTCNN_WEIGHTS["onet"].verified_path().read_bytes()[:-10] + b"0123456789")
    monkeypatch.setitem(MTCNN_WEIGHTS, "onet", replace(MTCNN_WEIGHTS["onet"], relative_path=str(bad)))
    with pytest.raises(WeightsError, match="corrupted"):
        MTCNN.load("cpu")


def test_nms_groups_and_modes():
    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30], [2, 2, 6, 6]], dtype=torch.float
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.95])
    groups = torch.tensor([0, 0, 1, 0, 0])
    kept = set(nms(boxes, scores, groups, 0.5).tolist())
    assert kept == {0, 2, 3, 4}  # box 1 overlaps box 0 (IoU 0.68); box 2 is in another image
    assert set(nms(boxes, scores, groups, 0.5, "min").tolist()) == {4, 2, 3}  # box 4 lies inside box 0
    assert nms(boxes[:0], scores[:0], groups[:0], 0.5).numel() == 0


def test_similarity_transform_recovers_a_known_map():
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.4, 1.7, np.array([12.0, -3.0])
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = similarity_transform(source, source @ linear.T + shift)
    np.testing.assert_allclose(matrix, np.hstack([linear, shift[:, None]]), atol=1e-9)


def _centroid(gray: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y), pixel (i, j) covering [i, i + 1) x [j, j + 1)."""
    ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]] + 0.5
    weights = gray.astype(float)
    return np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_landmarks_land_on_the_template(template):
    """The matrix puts the landmarks of a rotated, scaled face on the template, and the crop follows the matrix:
    a dot drawn in the image appears in the crop where the matrix maps it (to a hundredth of a pixel)."""
    size = 96
    target = TEMPLATES[template] * size
    angle, scale, shift = 0.5, 2.3, np.array([140.0, 60.0])
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = target @ linear.T + shift
    for point, expected in zip(landmarks, target):
        image = Image.new("L", (400, 400))
        ImageDraw.Draw(image).ellipse([*(point - 5), *(point + 5)], fill=255)
        crop, matrix = align(np.asarray(image.convert("RGB")), landmarks, size, template)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
        np.testing.assert_allclose(matrix @ [*point, 1], expected, atol=1e-6)
        drawn = _centroid(np.asarray(image))
        np.testing.assert_allclose(_centroid(crop[..., 0]), matrix @ [*drawn, 1], atol=0.05)
        np.testing.assert_allclose(_centroid(crop[..., 0]), expected, atol=1.0 / scale + 0.05)


def test_align_round_trip(faces):
    """Warping an aligned crop back with the inverse matrix reproduces the face region of the image."""
    image = np.asarray(Image.fromarray(faces[3]).resize((256, 256), Image.BICUBIC))
    landmarks = np.array([[90.0, 110], [165, 108], [128, 150], [100, 190], [158, 188]])
    crop, matrix = align(image, landmarks, 160, "face")
    forward = np.vstack([matrix, [0, 0, 1]])
    back = Image.fromarray(crop).transform(
        (256, 256), Image.AFFINE, tuple(forward[:2].ravel()), resample=Image.BILINEAR
    )
    back = np.asarray(back).astype(float)
    inner = (slice(100, 170), slice(100, 160))  # well inside the crop's footprint
    error = np.abs(back[inner] - image[inner]).mean()
    assert error < 4, error
    assert np.abs(back[inner] - np.roll(image, 8, axis=1)[inner]).mean() > 2 * error  # and it can tell


def test_face_batch_crops(analysis, faces):
    images = [faces[0], np.full((64, 64, 3), 128, np.uint8)]
    batch = analysis.detect(images)
    assert batch.found.tolist() == [True, False] and len(batch) == 2
    crops = batch.crops(48, "dlib-chip")
    assert crops.shape == (2, 48, 48, 3) and crops[1].max() == 0 and crops[0].std() > 10
    assert batch.crops(48, "dlib-chip") is crops  # cached
    assert np.isnan(batch.landmarks()[1]).all() and not np.isnan(batch.landmarks()[0]).any()


def test_face_batch_scaled_crops(analysis, faces):
    """``scale`` enlarges the template about its centre: the same alignment, 1.2x larger about the same point."""
    batch = analysis.detect([faces[0]])
    points, landmarks = TEMPLATES["dlib-chip"], batch.faces[0].landmarks
    scaled = points.mean(0) + (points - points.mean(0)) * 1.2
    expected, matrix = align(faces[0], landmarks, 64, scaled)
    np.testing.assert_array_equal(batch.crops(64, "dlib-chip", 1.2)[0], expected)
    plain = align(faces[0], landmarks, 64, "dlib-chip")[1]
    np.testing.assert_allclose(matrix[:, :2], 1.2 * plain[:, :2], rtol=1e-9)
    np.testing.assert_allclose(matrix @ [*landmarks.mean(0), 1], plain @ [*landmarks.mean(0), 1], atol=1e-9)
    assert not np.array_equal(batch.crops(64, "dlib-chip", 1.2), batch.crops(64, "dlib-chip"))


def test_face_batch_rotated_crops(analysis, faces):
    """``rotation`` turns the template about its centre: the alignment map is the plain one turned that far."""
    batch = analysis.detect([faces[0]])
    landmarks = batch.faces[0].landmarks
    plain = align(faces[0], landmarks, 64, "dlib-chip")[1]
    points = TEMPLATES["dlib-chip"]
    turned = points.mean(0) + (points - points.mean(0)) @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # 90 degrees
    expected, matrix = align(faces[0], landmarks, 64, turned)
    np.testing.assert_array_equal(batch.crops(64, "dlib-chip", 1.0, 90.0)[0], expected)
    np.testing.assert_allclose(matrix[:, :2], np.array([[0.0, -1.0], [1.0, 0.0]]) @ plain[:, :2], atol=1e-9)
    np.testing.assert_allclose(matrix @ [*landmarks.mean(0), 1], plain @ [*landmarks.mean(0), 1], atol=1e-9)


def test_dark_faces_are_found_on_the_second_try(faces, analysis):
    dark = [(face * 0.12).astype(np.uint8) for face in faces[:12]]
    plain = sum(bool(r) for r in MTCNN.load("cpu", retry_stretched=False).detect(dark))
    retried = analysis.mtcnn.detect(dark)
    assert sum(bool(r) for r in retried) == 12 and plain <= 8


def test_known_framing_skips_the_pyramid_and_falls_back_to_it(faces, analysis):
    """Starting from the framing's box finds the same faces with landmarks within a pixel or two of the pyramid's
    (as close as the pyramid's own landmarks after a one-pixel shift of the image: 1.0 px median on 1024 faces);
    a prior box where no face is (a corner) makes every image fall back to the full search, bit for bit."""
    plain = analysis.mtcnn.detect(list(faces[:8]))
    quick = analysis.mtcnn.detect(list(faces[:8]), priors=framing_prior(TEMPLATES["dcgan-digiface64"]))
    fallback = analysis.mtcnn.detect(list(faces[:8]), priors=np.array([[0.0, 0.0, 0.1, 0.1]]))
    assert sum(bool(r) for r in plain) >= 7
    apart = []
    for a, b, c in zip(plain, fallback, quick):
        assert len(a) == len(b) and bool(a) == bool(c)
        if a:
            np.testing.assert_array_equal(a[0].landmarks, b[0].landmarks)
            apart.append(np.abs(c[0].landmarks - a[0].landmarks).max())
    assert np.median(apart) < 2 and max(apart) < 6 and min(apart) > 0  # found from the prior, not by the pyramid
