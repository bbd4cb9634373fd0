"""Telling a user exactly what is wrong with a path they gave."""

import os
from pathlib import Path

from ..errors import LatentEditError, UsageError


def require_file(path: Path | str, what: str, error: type[LatentEditError] = UsageError) -> Path:
    """``path`` if it is a readable file, else a one-line ``error`` saying what it is instead (missing, a folder, a
    broken or looping link)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file")
    if path.is_symlink():
        raise error(f"{what} {path} is a link that leads nowhere (broken, or a loop)")
    if os.path.lexists(path) or path.exists():
        raise error(f"{what} {path} is not a regular file")
    raise error(f"{what} {path} does not exist")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type's name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
