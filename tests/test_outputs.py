"""Outputs are all-or-nothing: signals clean up, leftovers of killed runs are removed, a concurrent run's result is
never replaced, names stay inside the output, files follow the umask."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentedit.commands import sample as sampling
from latentedit.commands.photos import photo_names
from latentedit.commands.sample import SampleRequest
from latentedit.errors import UsageError
from latentedit.files.images import read_image
from latentedit.files.outputs import HOST, staged_output
from latentedit.specs import GeneratorSpec, OutputSpec


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def start_sample(out: Path) -> subprocess.Popen:
    """``latentedit sample`` of many faces in a child process, returned once its temporary folder exists."""
    child = subprocess.Popen(
        [sys.executable, "-m", "latentedit", "sample", "-n", "20000", "-b", "16", "-o", str(out), "--device", "cpu"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not partials(out.parent) and time.time() < deadline:
        if child.poll() is not None:
            pytest.fail(f"sample ended early: {child.stderr.read()}")
        time.sleep(0.1)
    assert partials(out.parent), "no temporary folder appeared"
    return child


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path, signum):
    child = start_sample(tmp_path / "faces")
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 128 + signum
    assert stderr.strip().splitlines()[-1] == f"latentedit: interrupted ({signal.Signals(signum).name})"
    assert os.listdir(tmp_path) == []  # no output, no temporary folder


@pytest.mark.slow
def test_a_killed_runs_leftovers_are_removed_by_the_next_run(tmp_path, run_cli):
    child = start_sample(tmp_path / "faces")
    child.kill()  # SIGKILL: nothing can clean up
    child.communicate(timeout=60)
    left = partials(tmp_path)
    assert len(left) == 1
    code, _, stderr = run_cli("sample", "-n", 2, "-o", tmp_path / "other", "--device", "cpu")
    assert code == 0, stderr
    assert f"removed {tmp_path / left[0]}, left behind by an interrupted run" in stderr
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_a_running_processes_temporary_folder_is_left_alone(tmp_path, run_cli):
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / f".faces.partial-{HOST}-{busy.pid}-abc"
        mine.mkdir()
        os.utime(mine, (0, 0))
        code, _, stderr = run_cli("sample", "-n", 2, "-o", tmp_path / "other", "--device", "cpu")
        assert code == 0 and mine.exists() and "removed" not in stderr
    finally:
        busy.kill()
        busy.wait()


def test_output_written_meanwhile_by_another_run_is_kept(tmp_path, monkeypatch):
    """Two runs into the same new folder: the second finds the first's result at the end, keeps it untouched and
    puts its own results beside it."""
    out = tmp_path / "faces"
    real_render = sampling.render

    def render_then_compete(*args, **kwargs):
        yield from real_render(*args, **kwargs)
        out.mkdir()
        (out / "first.txt").write_text("the other run's result")

    monkeypatch.setattr(sampling, "render", render_then_compete)
    with pytest.raises(UsageError, match=f"{out} was written by another run while this one worked.*{out}-2"):
        sampling.sample(SampleRequest(OutputSpec(out), GeneratorSpec(device="cpu"), n=2))
    assert os.listdir(out) == ["first.txt"]
    assert sorted(os.listdir(out.parent / "faces-2")) == [
        "000000.png",
        "000001.png",
        "grid.png",
        "manifest.json",
        "z.npy",
    ]
    assert partials(tmp_path) == []


def test_outputs_follow_the_umask(tmp_path, run_cli):
    previous = os.umask(0o027)
    try:
        code, _, stderr = run_cli("sample", "-n", 2, "-o", tmp_path / "faces", "--device", "cpu")
        assert code == 0, stderr
        code, _, stderr = run_cli(
            "rank",
            "--codes",
            tmp_path / "faces" / "z.npy",
            "--boundary",
            "smile",
            "--per-group",
            1,
            "-o",
            tmp_path / "rank.png",
            "--device",
            "cpu",
        )
        assert code == 0, stderr
    finally:
        os.umask(previous)
    assert (tmp_path / "faces").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "faces" / "z.npy").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "rank.png").stat().st_mode & 0o777 == 0o640


def test_an_error_inside_names_the_output_not_the_temporary_folder(tmp_path):
    with pytest.raises(UsageError) as caught:
        with staged_output(tmp_path / "out") as staging:
            (staging / "file").write_text("x")
            open(staging / "missing" / "deeper", "w")  # noqa: SIM115 (an OSError on purpose)
    assert str(caught.value).startswith(f"cannot write {tmp_path / 'out'}: No such file")
    assert ".partial" not in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_photo_names_stay_inside_the_output():
    assert photo_names([Path("...png"), Path("a/..png"), Path("codes.npy.png"), Path("me.jpg"), Path("b/me.png")]) == [
        "photo_0",
        "photo_1",
        "codes.npy_photo",
        "me_3",
        "me_4",
    ]


def test_float_images_are_scaled_by_their_range(tmp_path, dcgan):
    face = np.concatenate(list(sampling.render(dcgan, dcgan.sample(1, 0))))[0]
    gray = face.mean(2).astype(np.float32)
    for name, values in [("unit.tif", gray / 255), ("bytes.tif", gray), ("wide.tif", gray * 10 - 500)]:
        Image.fromarray(values, mode="F").save(tmp_path / name)
        image = read_image(tmp_path / name).astype(float)
        assert image.shape == (64, 64, 3) and np.corrcoef(image[..., 0].ravel(), gray.ravel())[0, 1] > 0.999
        if name == "wide.tif":  # stretched from its minimum to its maximum
            assert image.min() == 0 and image.max() == 255
        else:  # the face's own grey levels, not black
            assert np.abs(image[..., 0] - gray).max() <= 1, name
