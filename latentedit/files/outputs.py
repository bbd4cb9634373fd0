"""Writing results (all-or-nothing output folders and files, PNGs written off the compute path, JSON records) and
reading the JSON files that users give back."""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import UsageError
from ..records import Record


@contextmanager
def staged_output(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out`` and move it to ``out`` only if the block succeeds.

    Refuses a non-empty ``out`` unless ``overwrite``; on any error nothing is left behind.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"output folder {out} already holds results; choose another or pass --overwrite")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as exc:
        raise UsageError(f"cannot write to {parent}: {exc.strerror}") from None
    try:
        yield staging
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            os.replace(out, trash / out.name)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{what} {path} does not exist")
    if path.stat().st_size > max_bytes:
        raise UsageError(f"{what} {path} is too large for a latentedit record ({path.stat().st_size} bytes)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).splitlines()[0]
        raise UsageError(f"cannot read {what} {path}: not valid JSON ({reason})") from None


def write_files_atomically(writers: dict[Path, Callable[[Path], None]], overwrite: bool = False) -> None:
    """Write several files as a unit: each writer fills a temporary path, then all are renamed into place.

    Refuses existing files unless ``overwrite``; on any error no target is touched.
    """
    targets = [Path(p) for p in writers]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not overwrite:
        raise UsageError(f"{', '.join(existing)} already exist(s); choose another name or pass --overwrite")
    temporaries: list[Path] = []
    try:
        for target, write in writers.items():
            target = Path(target)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial" + target.suffix, dir=target.parent)
            except OSError as exc:
                raise UsageError(f"cannot write to {target.parent}: {exc.strerror}") from None
            os.close(handle)
            temporaries.append(Path(name))
            write(Path(name))
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
