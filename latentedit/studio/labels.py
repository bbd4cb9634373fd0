"""Labels CSV files of the studio's labelling mode, and the codes files their items name.

The format is the project's labels format: a header ``item,label``; ``item`` is an image path or ``CODES.npy:ROW``
(a codes file and a row of it, the path relative to the CSV's folder); ``label`` is ``1`` (yes), ``0`` (no), or
``?`` or empty (unclear). The studio keeps one CSV per attribute, ``labels/ATTRIBUTE.csv``, beside the codes files
of its sheets, so every item is a plain ``FILE.npy:ROW``.
"""

import csv
import io
import re
import threading
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..files.codes import load_array
from ..files.outputs import write_files_atomically
from ..files.paths import first_line

LABELS = ("1", "0", "?")
ATTRIBUTE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,59}$")
ITEM = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]{0,119}\.npy):(\d{1,9})$")


class LabelBook:
    """The labels CSVs and sheet codes files of one folder; safe to call from several threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def csv_path(self, attribute: str) -> Path:
        if not isinstance(attribute, str) or not ATTRIBUTE.match(attribute):
            raise UsageError(f"an attribute name is letters, digits, _ and - (up to 60), got {attribute!r}")
        return self.folder / f"{attribute}.csv"

    def read(self, attribute: str) -> dict[str, str]:
        """The labels of ``attribute`` by item (``""`` read as ``?``); none when its CSV does not exist yet."""
        path = self.csv_path(attribute)
        if not path.is_file():
            return {}
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsageError(f"cannot read labels file {path}: {first_line(exc)}") from None
        if not rows or rows[0] != ["item", "label"] or any(len(row) != 2 for row in rows[1:]):
            raise UsageError(f"{path} is not a labels file (header item,label and two columns per row)")
        return {item: label or "?" for item, label in rows[1:]}

    def set(self, attribute: str, item: str, label: str) -> dict[str, int]:
        """Record ``label`` (1, 0 or ?) for ``item`` in ``attribute``'s CSV (rewritten whole, atomically; a
        relabelled item keeps its row); returns the counts of each label."""
        if label not in LABELS:
            raise UsageError(f"a label is 1 (yes), 0 (no) or ? (unclear), got {label!r}")
        self.code(item)
        with self._lock:
            labels = self.read(attribute)
            labels[item] = label
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["item", "label"])
            writer.writerows(labels.items())
            write_files_atomically({self.csv_path(attribute): lambda p: p.write_text(text.getvalue())}, overwrite=True)
        return {value: sum(1 for v in labels.values() if v == value) for value in LABELS}

    def code(self, item: str) -> np.ndarray:
        """The code an item names (``FILE.npy:ROW`` of this folder)."""
        match = ITEM.match(item) if isinstance(item, str) else None
        if not match or ".." in match[1]:
            raise UsageError(f"a labels item of the studio is FILE.npy:ROW, got {item!r}")
        path, row = self.folder / match[1], int(match[2])
        if not path.is_file():
            raise UsageError(f"no codes file {match[1]} in the labels folder")
        codes = load_array(path)
        if row >= len(codes):
            raise UsageError(f"{match[1]} has {len(codes)} rows, no row {row}")
        return np.array(codes[row])

    def add_codes(self, codes: np.ndarray, stem: str) -> list[str]:
        """Keep ``codes`` as ``STEM.npy`` (or ``STEM-2.npy``… when a file of that name holds other codes; files are
        never changed, so that the items of earlier labels keep naming the same faces); returns their items."""
        codes = np.ascontiguousarray(codes, np.float32)
        with self._lock:
            for number in range(1, 1000):
                path = self.folder / f"{stem}{f'-{number}' if number > 1 else ''}.npy"
                if not path.exists():
                    write_files_atomically({path: lambda p: np.save(p, codes)})
                    break
                kept = load_array(path)
                if kept.shape == codes.shape and np.array_equal(kept, codes):
                    break
            else:
                raise UsageError(f"too many codes files named {stem} in {self.folder}")
        return [f"{path.name}:{row}" for row in range(len(codes))]
