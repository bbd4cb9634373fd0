"""Shared fixtures: the embedded generator and a CLI runner that sees the real exit codes and stderr."""

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


@pytest.fixture
def run_cli(capsys):
    """Run ``latentedit ARGS``; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
