"""Writing results: all-or-nothing output folders, image grids, PNG writing off the compute path, JSON."""

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError


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


def image_grid(images: np.ndarray | Sequence[np.ndarray], columns: int = 8, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images into one grid image with ``pad`` pixels of ``fill`` between tiles."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid


def preview_tiles(images: np.ndarray, size: int | None = None) -> np.ndarray:
    """Resize (N, H, W, 3) uint8 faces to ``size`` for viewing: small faces are enlarged (nearest), big ones reduced.

    By default the tile size is the resolution clamped to [128, 256].
    """
    images = np.asarray(images)
    size = size or int(np.clip(images.shape[1], 128, 256))
    if images.shape[1:3] == (size, size):
        return images
    method = Image.NEAREST if size > images.shape[1] else Image.LANCZOS
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), method)) for im in images])


def annotated_grid(
    tiles: np.ndarray,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    pad: int = 4,
) -> np.ndarray:
    """Lay out (R, C, H, W, 3) uint8 tiles on white with an optional title, row and column labels,
    and a caption under each tile; returns the picture as a uint8 array."""
    rows, cols, h, w, _ = tiles.shape
    font = ImageFont.load_default(size=max(11, min(18, w // 9)))
    line = font.size + 6
    left = pad + (max(int(font.getlength(t)) for t in row_labels) + pad if row_labels else 0)
    top = pad + (line if title else 0) + (line if column_labels else 0)
    cell_h = h + pad + (line if captions else 0)
    canvas = Image.new("RGB", (left + cols * (w + pad), top + rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    for c, label in enumerate(column_labels or []):
        x = left + c * (w + pad) + (w - font.getlength(label)) / 2
        draw.text((x, top - line), label, fill="black", font=font)
    for r in range(rows):
        y = top + r * cell_h
        if row_labels:
            draw.text((pad, y + (h - font.size) / 2), row_labels[r], fill="black", font=font)
        for c in range(cols):
            x = left + c * (w + pad)
            canvas.paste(Image.fromarray(tiles[r, c]), (x, y))
            if captions:
                text = captions[r][c]
                draw.text((x + (w - font.getlength(text)) / 2, y + h + 2), text, fill="black", font=font)
    return np.asarray(canvas)


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


def write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def load_codes(path: Path) -> np.ndarray:
    """Load a ``.npy`` code file, or raise a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"codes file {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"cannot read codes {path}: not a NumPy .npy file ({exc})") from None


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
