"""Writing results (all-or-nothing output folders and files, PNGs written off the compute path, JSON records) and
reading the JSON files that users give back."""

import json
import os
import re
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UsageError
from ..records import Record
from .paths import first_line, require_file

HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
# Our temporary names carry the writing machine and process: .NAME.partial-HOST-PID-RANDOM (or .old- for a replaced
# one).
_LEFTOVER = re.compile(rf"^\..+\.(?:partial|old)-{HOST}-(\d+)-")


def check_output(
    out: Path, *, overwrite: bool = False, inputs: Iterable[Path | None] = (), folder: bool = True
) -> Path:
    """Refuse, before any work, an output that cannot or must not be written: an empty name, a file where a folder
    is wanted (or the other way round), existing results without ``overwrite``, or an output that contains, or is
    contained in, one of ``inputs`` (it could destroy them). Returns the output path."""
    if str(out).strip() in ("", "."):
        raise UsageError(f"give an output {'folder' if folder else 'file'} name, not {str(out)!r}")
    out = Path(out)
    if out.exists() or out.is_symlink():
        if folder and not out.is_dir():
            raise UsageError(f"output {out} exists and is not a folder")
        if not folder and out.is_dir():
            raise UsageError(f"output {out} is a folder; give a file name")
        if not overwrite and (not folder or any(out.iterdir())):
            raise UsageError(f"{out} already holds results; choose another name or pass --overwrite")
    refuse_overlap(out, inputs)
    return out


def refuse_overlap(out: Path, inputs: Iterable[Path | None]) -> None:
    """Refuse an output that is, contains, or is inside one of ``inputs``."""
    target = Path(out).resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source or target in source.parents or source in target.parents:
            relation = "is" if target == source else "contains" if target in source.parents else "is inside"
            raise UsageError(
                f"output {out} {relation} the input {given}: choose an output elsewhere, so that no "
                "input can be overwritten"
            )


def safe_name(name: str, what: str) -> str:
    """``name`` if it can name a file inside an output folder (no folders, no parent, no hidden or empty name)."""
    if not name or name.strip() != name or name.startswith(".") or any(c in name for c in "/\\\0:") or len(name) > 200:
        raise UsageError(f"{what} {name!r} cannot name a file in the output folder: use letters, digits, - and _")
    return name


def file_mode(path: Path, folder: bool = False) -> None:
    """Give ``path`` the permissions the user's umask allows (temporary files and folders are created private)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, (0o777 if folder else 0o666) & ~mask)


def remove_leftovers(parent: Path) -> None:
    """Remove the temporary folders and files that interrupted runs of this machine left in ``parent`` (their process
    has ended; those of other machines sharing the folder are left alone), with a warning naming each."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if not match or int(match.group(1)) == os.getpid() or _alive(int(match.group(1))):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        except OSError:
            continue
        warnings.warn(f"removed {entry}, left behind by an interrupted run", stacklevel=2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _temporary_prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{HOST}-{os.getpid()}-"


@contextmanager
def staged_output(out: Path, overwrite: bool = False, inputs: Iterable[Path | None] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside ``out`` and move it to ``out`` only if the block succeeds.

    Checks ``out`` first (see :func:`check_output`). At the end the folder is claimed atomically: if another run
    created ``out`` meanwhile, nothing of it is replaced (unless ``overwrite``); this run's results are kept beside
    it under a new name, and the error says where. On any error, or SIGINT / SIGTERM / SIGHUP, nothing is left
    behind; what a killed run left is removed by the next run into the same parent folder.
    """
    out = check_output(out, overwrite=overwrite, inputs=inputs)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(parent)
        staging = Path(tempfile.mkdtemp(prefix=_temporary_prefix(out.name, "partial"), dir=parent))
        file_mode(staging, folder=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        try:
            yield staging
        except OSError as exc:  # name the output, not the temporary folder
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
        _claim(staging, out, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _claim(staging: Path, out: Path, overwrite: bool) -> None:
    """Rename ``staging`` to ``out`` (see :func:`staged_output`)."""
    if overwrite and out.exists():
        trash = Path(tempfile.mkdtemp(prefix=_temporary_prefix(out.name, "old"), dir=out.absolute().parent))
        os.replace(out, trash / out.name)
        os.replace(staging, out)
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:
        os.rename(staging, out)  # fails if out appeared meanwhile and holds anything
    except OSError:
        kept = next(
            out.with_name(f"{out.name}-{i}") for i in range(2, 10**6) if not out.with_name(f"{out.name}-{i}").exists()
        )
        os.rename(staging, kept)
        raise UsageError(
            f"{out} was written by another run while this one worked; it is left as it was, and this "
            f"run's results are in {kept}"
        ) from None


def save_png(array: np.ndarray, path: Path) -> None:
    """Save a uint8 (H, W, 3) array as PNG."""
    Image.fromarray(array).save(path)


class PngWriter:
    """Encodes and writes PNGs on worker threads so that the generator never waits for zlib."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="png")
        self._pending: list[Future] = []

    def submit(self, array: np.ndarray, path: Path) -> None:
        self._pending.append(self._pool.submit(save_png, array, path))
        if len(self._pending) > 256:  # bound memory held by queued images
            self._drain(keep=64)

    def _drain(self, keep: int = 0) -> None:
        while len(self._pending) > keep:
            self._pending.pop(0).result()

    def __enter__(self) -> "PngWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self._drain()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def write_json(data: dict | Record, path: Path) -> None:
    """Write a record (or a plain dict) as indented JSON."""
    plain = data.to_json() if isinstance(data, Record) else data
    path.write_text(json.dumps(plain, indent=2, sort_keys=False) + "\n")


def read_json(path: Path, what: str, max_bytes: int = 64 << 20) -> Any:
    """The parsed JSON in ``path`` (a ``what`` file), or a one-line :class:`UsageError`."""
    path = require_file(path, what)
    if path.stat().st_size > max_bytes:
        raise UsageError(f"{what} {path} is too large for a latentedit record ({path.stat().st_size} bytes)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else first_line(exc)
        raise UsageError(f"cannot read {what} {path}: not valid JSON ({reason})") from None


def write_files_atomically(
    writers: Mapping[Path, Callable[[Path], object]], overwrite: bool = False, inputs: Iterable[Path | None] = ()
) -> None:
    """Write several files as a unit: each writer fills a temporary path, then all are renamed into place.

    Refuses existing files unless ``overwrite`` and targets that are inputs (see :func:`check_output`); on any
    error no target is touched.
    """
    inputs = list(inputs)
    targets = [check_output(Path(p), overwrite=overwrite, inputs=inputs, folder=False) for p in writers]
    temporaries: list[Path] = []
    try:
        for target, write in zip(targets, writers.values()):
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                remove_leftovers(target.parent)
                handle, name = tempfile.mkstemp(
                    prefix=_temporary_prefix(target.name, "partial"), suffix=target.suffix, dir=target.parent
                )
            except OSError as exc:
                raise UsageError(f"cannot write to {target.parent}: {exc.strerror}") from None
            os.close(handle)
            temporaries.append(Path(name))
            try:
                write(Path(name))
                file_mode(Path(name))
            except OSError as exc:
                raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
        clash = [str(target) for target in targets if not overwrite and target.exists()]
        if clash:
            raise UsageError(f"{', '.join(clash)} was written by another run while this one worked; left as it was")
        for temporary, target in zip(temporaries, targets):
            os.replace(temporary, target)
        temporaries.clear()
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def save_gif(frames: Sequence[np.ndarray], path: Path, frame_ms: int = 120) -> None:
    """An animated GIF that plays ``frames`` forward then back, looping."""
    sequence = list(frames) + list(frames[-2:0:-1])
    images = [Image.fromarray(f) for f in sequence]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
