"""prepare-faces: what is kept and dropped, alignment to the framing, the manifest; and the checks it is built on."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentedit.commands.train_gan import load_dataset
from latentedit.core.face_filters import DuplicateIndex, crop_upscale, hamming, outside_fraction, perceptual_hash
from latentedit.devtools import astronaut
from latentedit.errors import UsageError
from latentedit.models.alignment import TEMPLATES, similarity_transform
from latentedit.models.generators import render
from latentedit.models.mtcnn import MTCNN
from latentedit.records import FaceDatasetRecord


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The astronaut portrait, a JPEG of it, a byte-identical copy, a broken file, the portrait 4x smaller on a big
    canvas, and the portrait shifted so that its face touches the left edge; one more copy in a subfolder."""
    folder = tmp_path_factory.mktemp("photos")
    if astronaut() is None:
        pytest.skip("scikit-image (the astronaut portrait) is not installed")
    portrait = Image.fromarray(astronaut())
    portrait.save(folder / "a_astronaut.png")
    portrait.save(folder / "b_astronaut.jpg", quality=85)
    (folder / "c_copy.png").write_bytes((folder / "a_astronaut.png").read_bytes())
    (folder / "d_broken.png").write_bytes(b"not an image")
    canvas = Image.new("RGB", (640, 640), (90, 120, 150))
    canvas.paste(portrait.resize((128, 128), Image.LANCZOS), (256, 256))
    canvas.save(folder / "e_small.png")
    shifted = Image.new("RGB", (512, 512))
    shifted.paste(portrait.crop((150, 0, 512, 512)), (0, 0))
    shifted.save(folder / "f_edge.png")
    (folder / "more").mkdir()
    portrait.transpose(Image.FLIP_LEFT_RIGHT).save(folder / "more" / "g_mirrored.png")
    return folder


def assert_framed(crop: np.ndarray, template: str) -> None:
    """The face found again in ``crop`` maps onto ``template`` by (nearly) the identity: aligned as asked."""
    landmarks = MTCNN.load("cpu").detect([crop])[0][0].landmarks
    matrix = similarity_transform(landmarks, TEMPLATES[template] * len(crop))
    np.testing.assert_allclose(matrix[:, :2], np.eye(2), atol=0.04)
    np.testing.assert_allclose(matrix[:, 2], 0, atol=0.04 * len(crop))


def test_keeps_the_face_and_drops_duplicates_small_and_cut_faces(tmp_path, run_cli, photos):
    out = tmp_path / "set"
    code, stdout, stderr = run_cli("prepare-faces", photos, "-o", out, "--size", 128, "--device", "cpu")
    assert code == 0, stderr
    record = FaceDatasetRecord.from_json(json.loads((out / "manifest.json").read_text()))
    kept = {Path(entry.source).name: entry for entry in record.images}
    assert sorted(kept) == ["a_astronaut.png", "g_mirrored.png"]  # a mirrored face is another training face
    reasons = {Path(entry.source).name: entry.reason for entry in record.dropped}
    assert reasons == {
        "b_astronaut.jpg": "near duplicate",
        "c_copy.png": "duplicate file",
        "d_broken.png": "unreadable",
        "e_small.png": "too small",
        "f_edge.png": "cut by the image edge",
    }
    assert record.counts == {
        "photos": 7,
        "faces_found": 5,
        "kept": 2,
        "dropped: unreadable": 1,
        "dropped: duplicate file": 1,
        "dropped: too small": 1,
        "dropped: cut by the image edge": 1,
        "dropped: near duplicate": 1,
    }
    assert "kept 2 faces of 5 found in 7 photos" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "manifest.json"]
    # the kept crop has its landmarks where the FFHQ framing puts them
    crop = np.asarray(Image.open(out / kept["a_astronaut.png"].file))
    assert crop.shape == (128, 128, 3)
    assert_framed(crop, "ffhq")
    dataset = load_dataset(out, progress=False)
    assert dataset.images.shape == (2, 3, 128, 128)
    np.testing.assert_allclose(dataset.template, TEMPLATES["ffhq"], atol=1e-6)


def test_the_framing_and_a_near_duplicate_of_another_size(tmp_path, run_cli, photos):
    out = tmp_path / "small"
    code, _, stderr = run_cli(
        "prepare-faces",
        photos / "a_astronaut.png",
        photos / "e_small.png",
        "-o",
        out,
        "--framing",
        "dcgan-digiface64",
        "--max-hash-distance",
        60,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    record = json.loads((out / "manifest.json").read_text())
    # at 64 pixels the small copy is big enough, and recognised as the same face: its hash differs in 58 bits since
    # MTCNN crops each box alone (46 before), more than the default 48, so this run allows 60
    assert [d["reason"] for d in record["dropped"]] == ["near duplicate"]
    crop = np.asarray(Image.open(out / "000000.png"))
    assert_framed(crop, "dcgan-digiface64")


def test_bad_input(tmp_path, run_cli, photos):
    blank = tmp_path / "blank"
    blank.mkdir()
    Image.new("RGB", (200, 200), (128, 128, 128)).save(blank / "grey.png")
    code, _, stderr = run_cli("prepare-faces", blank, "-o", tmp_path / "o", "--device", "cpu")
    assert code == 4 and "no usable face in 1 photo(s) (no face 1)" in stderr and not (tmp_path / "o").exists()
    code, _, stderr = run_cli("prepare-faces", tmp_path / "missing", "-o", tmp_path / "o")
    assert code == 2 and "does not exist" in stderr
    code, _, stderr = run_cli("prepare-faces", photos, "-o", tmp_path / "o", "--size", 100)
    assert code == 2 and "'100' is not one of '64', '128', '256'" in stderr
    code, _, stderr = run_cli("prepare-faces", photos, "-o", tmp_path / "o", "--max-hash-distance", 200)
    assert code == 2 and "max_hash_distance must be in [0, 128)" in stderr
    with pytest.raises(UsageError, match="size must be a whole number"):
        FaceDatasetRecord.from_json({"format": "latentedit-faces", "format_version": 1, "size": "big"})


def test_crop_checks():
    scale_two = np.array([[2.0, 0, -10], [0, 2.0, -10]])
    assert crop_upscale(scale_two) == pytest.approx(2.0)
    # a 64-pixel crop of photo pixels 5 to 37 of a 100 x 100 photo lies inside it; of pixels -16 to 16, half outside
    assert outside_fraction(scale_two, (100, 100, 3), 64) == 0.0
    assert outside_fraction(np.array([[2.0, 0, 32], [0, 2.0, -10]]), (100, 100, 3), 64) == 0.5


def test_perceptual_hash_tells_copies_from_other_faces(dcgan):
    faces = np.concatenate(list(render(dcgan, dcgan.sample(40, 3), progress=False)))
    hashes = [perceptual_hash(face) for face in faces]
    buffer = io.BytesIO()
    Image.fromarray(faces[0]).save(buffer, "JPEG", quality=60)
    again = perceptual_hash(np.asarray(Image.open(buffer)))
    assert hashes[0].shape == (4,) and hamming(again, hashes[0]) <= 16
    assert min(hamming(a, b) for i, a in enumerate(hashes) for b in hashes[:i]) > 48
    index = DuplicateIndex(48)
    for code in hashes:
        assert index.nearest(code) is None
        index.add(code)
    assert index.nearest(again) == (0, hamming(again, hashes[0])) and len(index) == 40
