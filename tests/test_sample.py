import json

import numpy as np
import pytest
from PIL import Image

from latentedit.commands import sample as sampling
from latentedit.commands.sample import SampleRequest
from latentedit.specs import GeneratorSpec, OutputSpec


def test_layout(tmp_path, run_cli):
    out = tmp_path / "faces"
    code, stdout, _ = run_cli("sample", "-n", 10, "--seed", 3, "-o", out, "-b", 4, "--device", "cpu")
    assert code == 0 and "grid.png" in stdout
    z = np.load(out / "z.npy")
    assert z.dtype == np.float32 and z.shape == (10, 100)
    pngs = sorted(p.name for p in out.glob("0*.png"))
    assert pngs == [f"{i:06d}.png" for i in range(10)]
    first = np.asarray(Image.open(out / "000000.png"))
    assert first.shape == (64, 64, 3) and first.dtype == np.uint8
    grid = Image.open(out / "grid.png")
    assert grid.mode == "RGB" and grid.width > 128
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "dcgan-digiface64" and manifest["n"] == 10 and manifest["seed"] == 3
    assert manifest["weights_sha256"].startswith("0c3b90b1") and manifest["spaces"] == {"z": [100]}
    assert manifest["version"] and manifest["date"]
    assert not list(tmp_path.glob(".*partial*"))


def test_codes_are_rendered_exactly(tmp_path, run_cli):
    assert run_cli("sample", "-n", 5, "--seed", 1, "-o", tmp_path / "a", "--device", "cpu")[0] == 0
    assert (
        run_cli("sample", "--codes", tmp_path / "a" / "z.npy", "-o", tmp_path / "b", "-b", 2, "--device", "cpu")[0] == 0
    )
    for i in range(5):
        a = np.asarray(Image.open(tmp_path / "a" / f"{i:06d}.png"))
        b = np.asarray(Image.open(tmp_path / "b" / f"{i:06d}.png"))
        np.testing.assert_array_equal(a, b)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["codes_file"].endswith("z.npy") and "seed" not in manifest


def test_no_images_writes_codes_grid_and_manifest_only(tmp_path, run_cli):
    out = tmp_path / "codes"
    assert run_cli("sample", "-n", 100, "-o", out, "--no-images", "--device", "cpu")[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "manifest.json", "z.npy"]
    assert np.load(out / "z.npy").shape == (100, 100)


def one_line_error(result, *fragments, code=2):
    status, stdout, stderr = result
    assert status == code, (status, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_inputs(tmp_path, run_cli):
    out = tmp_path / "out"
    one_line_error(run_cli("sample", "--model", "nope", "-o", out), "unknown model 'nope'", "dcgan-digiface64")
    one_line_error(run_cli("sample", "-n", 0, "-o", out), "must be positive")
    one_line_error(run_cli("sample", "-n", -3, "-o", out), "must be positive")
    one_line_error(run_cli("sample", "--codes", tmp_path / "missing.npy", "-o", out), "does not exist")
    (tmp_path / "junk.npy").write_text("hello")
    one_line_error(run_cli("sample", "--codes", tmp_path / "junk.npy", "-o", out), "not a NumPy .npy file")
    np.save(tmp_path / "wrong.npy", np.zeros((4, 512), np.float32))
    one_line_error(run_cli("sample", "--codes", tmp_path / "wrong.npy", "-o", out), "(N, 100)", "(4, 512)")
    one_line_error(run_cli("sample", "-n", 2, "-o", out, "--device", "tpu"), "device")
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_existing_results_are_kept_unless_overwrite(tmp_path, run_cli):
    out = tmp_path / "out"
    assert run_cli("sample", "-n", 2, "--seed", 1, "-o", out, "--device", "cpu")[0] == 0
    before = np.load(out / "z.npy")
    one_line_error(run_cli("sample", "-n", 3, "-o", out), "already holds results", "--overwrite")
    np.testing.assert_array_equal(np.load(out / "z.npy"), before)
    assert run_cli("sample", "-n", 3, "--seed", 2, "-o", out, "--overwrite", "--device", "cpu")[0] == 0
    assert np.load(out / "z.npy").shape == (3, 100) and (out / "000002.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_unwritable_folder(tmp_path, run_cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(run_cli("sample", "-n", 2, "-o", blocker / "sub" / "out", "--device", "cpu"), "cannot write", code=2)
    one_line_error(run_cli("sample", "-n", 2, "-o", blocker, "--device", "cpu"), "not a folder")


def test_failure_midway_leaves_nothing(tmp_path, monkeypatch, dcgan):
    real_render = sampling.render

    def failing(*args, **kwargs):
        for i, batch in enumerate(real_render(*args, **kwargs)):
            if i == 2:
                raise RuntimeError("simulated crash")
            yield batch

    monkeypatch.setattr(sampling, "render", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        sampling.sample(SampleRequest(OutputSpec(tmp_path / "out"), GeneratorSpec(device="cpu"), n=20, batch_size=4))
    assert list(tmp_path.iterdir()) == []
