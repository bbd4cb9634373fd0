"""Labels CSV files, the one format for labels by eye (``label sheet`` / ``label suggest`` write them, the studio's
labelling mode too; ``train-scorer`` and ``train-boundary --labels`` read them).

The header is ``item,label``. ``item`` is an image path, or ``CODES.npy:ROW`` (row ROW of a codes file, rendered by a
generator), relative to the CSV's folder or absolute. ``label`` is ``1``, ``0``, or empty / ``?`` for unclear.
"""

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from .codes import load_codes
from .paths import require_file

HEADER = ("item", "label")
VALUES = {"1": 1.0, "0": 0.0, "": np.nan, "?": np.nan}
MAX_BYTES = 64 << 20
_CODE_ROW = re.compile(r"^(.+\.npy):(\d+)$", re.I)


@dataclass(frozen=True)
class Label:
    """One row: the file it names (an image, or a codes file with ``row``), its label (1.0, 0.0 or NaN = unclear)
    and where it was written (``labels.csv line 7``)."""

    path: Path
    row: int | None
    label: float
    where: str

    @property
    def is_code(self) -> bool:
        return self.row is not None


def read_labels(csv_path: Path) -> list[Label]:
    """The rows of a labels CSV, each file checked to exist; raises a one-line :class:`UsageError` naming the line."""
    csv_path = require_file(csv_path, "labels file")
    if csv_path.stat().st_size > MAX_BYTES:
        raise UsageError(f"labels file {csv_path} is too large ({csv_path.stat().st_size} bytes)")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read labels file {csv_path}: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(cell.strip() for cell in rows[0]) != HEADER:
        got = ",".join(rows[0]) if rows else "nothing"
        raise UsageError(f"labels file {csv_path} must start with the header 'item,label', got {got[:60]!r}")
    labels: list[Label] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(rows[1:], start=2):
        where = f"{csv_path} line {line}"
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != 2:
            raise UsageError(f"{where}: expected 2 cells (item,label), got {len(cells)}")
        item, value = cells[0].strip(), cells[1].strip()
        if value not in VALUES:
            raise UsageError(f"{where}: label must be 1, 0, ? or empty (unclear), got {value[:20]!r}")
        if not item:
            raise UsageError(f"{where}: the item is empty")
        if item in seen:
            raise UsageError(f"{where}: {item!r} is labelled again (first on line {seen[item]})")
        seen[item] = line
        match = _CODE_ROW.match(item)
        path = csv_path.parent / (match.group(1) if match else item)
        require_file(path, f"{where}: {'codes' if match else 'image'} file")
        labels.append(Label(path, int(match.group(2)) if match else None, VALUES[value], where))
    if not labels:
        raise UsageError(f"labels file {csv_path} has no rows")
    return labels


def code_rows(labels: list[Label]) -> dict[Path, np.ndarray]:
    """The codes files the labels name, loaded, each row checked to exist."""
    codes: dict[Path, np.ndarray] = {}
    for label in labels:
        if label.row is None:
            continue
        if label.path not in codes:
            codes[label.path] = load_codes(label.path)
        if label.row >= len(codes[label.path]):
            raise UsageError(
                f"{label.where}: row {label.row} is out of range: {label.path} holds {len(codes[label.path])} codes"
            )
    return codes


def labels_csv(items: list[str], labels: list[str] | None = None) -> str:
    """The text of a labels CSV for ``items`` (empty labels unless given)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(zip(items, labels or [""] * len(items)))
    return out.getvalue()
