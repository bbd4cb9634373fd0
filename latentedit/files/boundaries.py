"""Boundary files: ``NAME.npy`` (float32 (1, dim), unit norm: InterFaceGAN's format, so its files load too) and
the ``NAME.json`` sidecar (:class:`~latentedit.records.BoundaryInfo`); the boundaries shipped with latentedit."""

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.boundary import Boundary, unit
from ..errors import UsageError
from ..records import BoundaryInfo, utc_now
from .codes import load_array
from .outputs import read_json, write_files_atomically
from .weights import shipped_folder

SHIPPED_DIR = shipped_folder("boundaries")
BOUNDARY_SPACES = ("z", "w")  # a W boundary also edits W+ codes (every layer alike)


def boundary_writers(boundary: Boundary, path: Path) -> dict[Path, Callable[[Path], None]]:
    """Writers for ``NAME.npy`` and its ``NAME.json``, to pass to :func:`write_files_atomically`."""
    npy = Path(path).with_suffix(".npy")
    info = boundary.info
    info = dataclasses.replace(info, date=info.date or utc_now(), version=info.version or __version__)
    text = json.dumps(info.to_json(), indent=2) + "\n"
    return {
        npy: lambda p: np.save(p, boundary.normal.reshape(1, -1).astype(np.float32)),
        npy.with_suffix(".json"): lambda p: p.write_text(text),
    }


def save_boundary(boundary: Boundary, path: Path, overwrite: bool = False) -> None:
    """Write a boundary's ``.npy`` and ``.json`` pair as a unit."""
    write_files_atomically(boundary_writers(boundary, path), overwrite)


def load_boundary(path: Path) -> Boundary:
    """Load a boundary ``.npy`` (ours or InterFaceGAN's bare (1, dim) file) and its JSON sidecar if present."""
    path = Path(path)
    array = load_array(path, "boundary")
    if (
        not np.issubdtype(array.dtype, np.floating)
        or array.ndim not in (1, 2)
        or (array.ndim == 2 and array.shape[0] != 1)
    ):
        raise UsageError(f"boundary {path} must be a float array of shape (1, dim), got {array.dtype} {array.shape}")
    sidecar, name = path.with_suffix(".json"), path.stem.removesuffix("_boundary")
    if sidecar.is_file():
        data = read_json(sidecar, "boundary sidecar")
        info = BoundaryInfo.from_json({"name": name, **data} if isinstance(data, dict) else data, str(sidecar))
    else:
        info = BoundaryInfo(name=name)
    return Boundary(unit(array.reshape(-1).astype(np.float64), f"boundary {path}"), info, path)


def shipped_boundaries(model: str) -> dict[str, Path]:
    """The boundary files shipped in ``boundaries/MODEL/`` by attribute name."""
    folder = SHIPPED_DIR / model
    return {p.stem: p for p in sorted(folder.glob("*.npy"))} if folder.is_dir() else {}


def resolve_boundary(spec: str, model: str) -> Boundary:
    """A boundary by shipped attribute name (for ``model``) or by path to a ``.npy`` file."""
    shipped = shipped_boundaries(model)
    if spec in shipped:
        return load_boundary(shipped[spec])
    if spec.endswith(".npy") or Path(spec).exists():
        return load_boundary(Path(spec))
    choices = ", ".join(shipped) or "none shipped"
    raise UsageError(f"no boundary {spec!r} for model {model} (shipped: {choices}); give a path to a .npy file")
