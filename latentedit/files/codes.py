"""Reading the ``.npy`` arrays that users give (latent codes, scores, boundaries), checked before they are loaded."""

import os
from pathlib import Path

import numpy as np

from ..errors import UsageError

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


def load_array(path: Path, what: str = "codes") -> np.ndarray:
    """The ``.npy`` array in ``path`` (never unpickled), or a one-line :class:`UsageError` naming ``what`` it is.

    The header is read first: an array that would not fit in the available memory is refused before anything is
    allocated, and so is a file shorter than its header says.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} file {path} is a folder, not a .npy file")
    if not path.is_file():
        raise UsageError(f"{what} file {path} does not exist")
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
    if size > available_memory() // 2:
        raise UsageError(f"{what} {path} claims shape {shape} ({size / 2**30:.1f} GiB), more than this machine has "
                         "free: split it into smaller files")
    if path.stat().st_size - header_end < size:
        raise UsageError(f"{what} {path} is truncated: its header says shape {shape}, the file is too short")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from None


def load_codes(path: Path) -> np.ndarray:
    """Latent codes (or scores) from a ``.npy`` file; see :func:`load_array`."""
    return load_array(path, "codes")
