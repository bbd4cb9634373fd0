"""Parts of sharded jobs (``sample|score --shard K/N``): where a part goes, its rows, its record.

A part is an ordinary ``sample`` or ``score`` folder for its rows, named ``part-0000K-of-0000N``, written all at once
(``staged_output``) with a ``part.json`` (:class:`~latentedit.records.PartRecord`) naming the job and its rows. A
rerun finds a complete part of the same job and skips it; ``latentedit merge`` (commands/merge.py) joins the parts.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.shards import Shard
from ..errors import UsageError
from ..files.outputs import read_json, write_json
from ..records import PartRecord
from ..specs import OutputSpec

PART_RECORD = "part.json"


def job_head(run: dict[str, Any]) -> dict[str, Any]:
    """The fields of a run record (``run_record``) that make a job what it is: not its date, nor where the
    weights file lies (its sha256 is kept)."""
    return {key: value for key, value in run.items() if key not in ("date", "weights_file")}


def job_digest(job: dict[str, Any]) -> str:
    """The sha256 of a job's canonical JSON."""
    return hashlib.sha256(json.dumps(job, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Part:
    """Where part ``shard`` of ``job`` goes, its rows, and whether a complete copy of it is already there."""

    folder: Path
    rows: range
    record: PartRecord
    done: bool


def plan_part(output: OutputSpec, shard: Shard, job: dict[str, Any], *, total: int, granularity: int = 1) -> Part:
    """Part ``shard`` of ``job`` (``total`` rows in blocks of ``granularity``) in OUT/part-0000K-of-0000N.

    A complete part of the same job there is reused (``done``) unless ``output.overwrite``; one of another job
    is refused."""
    try:
        rows = shard.rows(total=total, granularity=granularity)
    except ValueError as exc:
        raise UsageError(f"--shard {shard.index}/{shard.count}: {str(exc).removeprefix('count: ')}") from None
    folder = Path(output.path) / shard.name
    if folder.is_file():
        raise UsageError(f"{output.path} holds a file named {shard.name}; give another output folder")
    record = PartRecord(
        job=job, job_sha256=job_digest(job), index=shard.index, count=shard.count, start=rows.start, stop=rows.stop
    )
    done = False
    if (folder / PART_RECORD).is_file() and not output.overwrite:
        there = PartRecord.from_json(read_json(folder / PART_RECORD, "part record"), str(folder / PART_RECORD))
        if there.job_sha256 != record.job_sha256:
            raise UsageError(f"{folder} is a part of another job; give another output folder or pass --overwrite")
        done = True
    return Part(folder, rows, record, done)


def write_part_record(part: Part, staging: Path) -> None:
    write_json(part.record, staging / PART_RECORD)
