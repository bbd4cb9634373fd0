"""Shared fixtures (the embedded generator, the face analysis networks, the labelled check set, a CLI runner that
sees the real exit codes and stderr) and the CI rule: with the environment variable CI set, a skipped test fails."""

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from latentedit.cli import main
from latentedit.core.boundary import Boundary
from latentedit.devtools import load_checkset, random_state, write_nvidia_pickle
from latentedit.files.boundaries import save_boundary
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator

from hostile import SMALL_STYLEGAN2

torch.set_num_threads(2)


def _fail_skips_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    """In CI (``CI`` set and not empty) a skip is a failure: a missing package or file must not pass unnoticed."""
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, which CI counts as a failure (CI={os.environ['CI']!r}): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    _fail_skips_in_ci((yield).get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    _fail_skips_in_ci((yield).get_result())  # a whole module skipped (a module-level importorskip)


@pytest.fixture(scope="session")
def dcgan():
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    return generator


@pytest.fixture(scope="session")
def analysis():
    """The face-analysis networks (MTCNN, dlib's age network) on the CPU, shared by the whole session."""
    return FaceAnalysis("cpu")


@pytest.fixture(scope="session")
def checkset() -> tuple[np.ndarray, list[dict[str, str]]]:
    """The labelled check set (tests/data/checkset_*, CHECKSET.md): codes (320, 100) and one label row per code."""
    return load_checkset()


@pytest.fixture(scope="session")
def run_cli():
    """Run ``latentedit ARGS`` in this process; return (exit code, stdout, stderr)."""

    def run(*args: object) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.fixture(scope="session")
def small_stylegan2(tmp_path_factory) -> tuple[Path, Path]:
    """A small seeded StyleGAN2 (16 x 16, 6 W+ layers of 16) pickled as NVIDIA's ``.pkl`` files are (load it as
    ``stylegan2-ffhq`` with these weights), and a folder of boundaries for it: W boundaries ``wide`` and ``tone``
    and a Z one, ``zonly``."""
    root = tmp_path_factory.mktemp("small_stylegan2")
    generator = StyleGAN2Generator.from_config("small", SMALL_STYLEGAN2)
    generator.load_state_dict(random_state(generator.state_dict(), 3))
    write_nvidia_pickle(root / "small.pkl", generator, SMALL_STYLEGAN2)
    folder = root / "directions"
    folder.mkdir()
    rng = np.random.default_rng(8)
    for name, space in [("wide", "w"), ("tone", "w"), ("zonly", "z")]:
        save_boundary(Boundary.from_normal(name, rng.standard_normal(16), space=space), folder / f"{name}.npy")
    return root / "small.pkl", folder
