"""Reading the ``.npy`` arrays that users give (latent codes, scores, boundaries), checked before they are loaded."""

import os
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .paths import require_file

HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def available_memory() -> int:
    """Bytes of memory available to this process now (the whole machine's when it cannot be told)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(size: int, what: str) -> None:
    """Refuse work whose arrays would need ``size`` bytes, more than half the memory available now."""
    if size > available_memory() // 2:
        raise UsageError(
            f"{what} would need {size / 2**30:.1f} GiB, more than this machine has free: work in smaller "
            "parts (fewer faces per run, --no-images)"
        )


def array_shape(path: Path, what: str = "codes") -> tuple[int, ...]:
    """The shape an ``.npy`` file's header declares, checked as :func:`load_array` checks it, without loading it."""
    return _header(require_file(path, f"{what} file"), what)[0]


def load_array(path: Path, what: str = "codes") -> np.ndarray:
    """The ``.npy`` array in ``path`` (never unpickled), or a one-line :class:`UsageError` naming ``what`` it is.

    The header is read first: an array that would not fit in the available memory is refused before anything is
    allocated, and so is a file shorter than its header says.
    """
    path = require_file(path, f"{what} file")
    _header(path, what)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from None


def _header(path: Path, what: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version not in HEADER_READERS:
                raise ValueError(f".npy format version {version} is not supported")
            shape, _, dtype = HEADER_READERS[version](handle)
            header_end = handle.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        hint = " (an .npz archive? save one array with numpy.save)" if path.suffix.lower() == ".npz" else ""
        raise UsageError(f"cannot read {what} {path}: not a NumPy .npy file{hint} ({exc})") from None
    if dtype.hasobject:
        raise UsageError(f"{what} {path} holds Python objects; latentedit reads numeric arrays only")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    check_fits(size, f"{what} {path} (shape {shape})")
    if path.stat().st_size - header_end < size:
        raise UsageError(f"{what} {path} is truncated: its header says shape {shape}, the file is too short")
    return shape, dtype


def load_codes(path: Path) -> np.ndarray:
    """Latent codes (or scores) from a ``.npy`` file; see :func:`load_array`."""
    return load_array(path, "codes")
