"""Shared fixtures: the embedded generator and a CLI runner that sees the real exit codes and stderr."""

import contextlib
import io

import pytest
import torch

from latentedit.cli import main
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def dcgan():
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    return generator


@pytest.fixture(scope="session")
def analysis():
    """The face-analysis networks (MTCNN, dlib's age network) on the CPU, shared by the whole session."""
    return FaceAnalysis("cpu")


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
