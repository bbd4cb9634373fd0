"""A wheel of latentedit carries every file it needs at run time: weights, shipped boundaries, the detector, the
studio's page."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_boundaries_detector_and_weights(tmp_path):
    pytest.importorskip("setuptools")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("latentedit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"latentedit/shipped/boundaries/dcgan-digiface64/{attr}.{ext}"
        for attr in ("pose", "smile", "age", "gender", "eyeglasses")
        for ext in ("npy", "json")
    }
    expected |= {
        "latentedit/shipped/detectors/default.pt",
        "latentedit/models/scorers/attribute_probe.pt",
        "latentedit/models/encoders/dcgan-digiface64.pt",
        "latentedit/models/identity.py",
        "latentedit/core/targets.py",
        "latentedit/core/conditions.py",
    }
    expected |= {f"latentedit/studio/static/{name}" for name in ("index.html", "studio.css", "studio.js")}
    assert expected <= names, sorted(expected - names)
