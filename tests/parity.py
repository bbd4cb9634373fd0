"""The parity cases in tests/data/parity/ (see latentedit.devtools for how their weights are made)."""

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "parity"


def load_case(name: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The config (JSON) and the expected arrays (npz) of one parity case."""
    config = json.loads((DATA / f"{name}.json").read_text())
    with np.load(DATA / f"{name}.npz") as arrays:
        return config, dict(arrays)
