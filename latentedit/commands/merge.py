"""``latentedit merge``: the parts of a sharded ``sample`` or ``score`` job (see commands/parts.py) joined into
the folder the unsharded run would have written: the same arrays, CSV, images and grid byte for byte, and its
manifest (with the merge's date). It first checks that the parts are the whole job, each part once."""

import csv
import dataclasses
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.shards import Shard, missing_or_repeated
from ..errors import UsageError
from ..files.codes import load_codes
from ..files.outputs import read_json, save_png, staged_output, write_json
from ..models.generators import render
from ..pictures import image_grid, preview_tiles
from ..records import PartRecord, SampleManifest, ScoreManifest, utc_now
from ..specs import GeneratorSpec, OutputSpec, StyleOptions
from .parts import PART_RECORD, job_digest
from .sample import GRID_FACES


@dataclass(frozen=True)
class MergeRequest:
    """Merge the parts in ``parts`` (part folders, or folders holding them) into ``output``; a sample job's grid is
    drawn again on ``device``."""

    output: OutputSpec
    parts: tuple[Path, ...]
    device: str = "auto"


@dataclass
class MergeResult:
    out: Path
    command: str
    n: int
    parts: int


def merge(request: MergeRequest) -> MergeResult:
    """Check that the parts are all of one job, each once, none missing, and write the job's output folder."""
    parts = _read_parts(request.parts)
    first = parts[0][1]
    command = first.job.get("command")
    if command not in ("sample", "score"):
        raise UsageError(f"{parts[0][0]} is a part of a {command!r} job, which merge does not know")
    with staged_output(request.output.path, request.output.overwrite, inputs=[f for f, _ in parts]) as staging:
        folders = [folder for folder, _ in parts]
        for name in sorted(p.name for p in folders[0].glob("*.npy")):
            _concatenate(folders, name, staging / name)
        manifests = [read_json(f / "manifest.json", "manifest") for f in folders]
        if command == "sample":
            samples = [SampleManifest.from_json(m, str(f / "manifest.json")) for m, f in zip(manifests, folders)]
            whole = dataclasses.replace(samples[0], n=first.job["rows"], date=utc_now())
            if whole.files.images:
                for folder, (_, record) in zip(folders, parts):
                    for i in range(record.start, record.stop):
                        _link(folder / (whole.files.images % i), staging / (whole.files.images % i))
            _write_grid(whole, staging, request.device)
            manifest: SampleManifest | ScoreManifest = whole
        else:
            heads = [ScoreManifest.from_json(m, str(f / "manifest.json")) for m, f in zip(manifests, folders)]
            manifest = dataclasses.replace(
                heads[0],
                n=first.job["rows"],
                date=utc_now(),
                faces_not_found=sum(h.faces_not_found for h in heads),
                skipped_files=[name for h in heads for name in h.skipped_files],
            )
            _join_csv(folders, staging / "scores.csv")
        write_json(manifest, staging / "manifest.json")
    return MergeResult(Path(request.output.path), command, first.job["rows"], len(parts))


def _read_parts(given: Sequence[Path]) -> list[tuple[Path, PartRecord]]:
    """The parts in ``given`` in row order, checked: one job, every part once, rows joining up."""
    folders: list[Path] = []
    for path in map(Path, given):
        if (path / PART_RECORD).is_file():
            folders.append(path)
        elif path.is_dir():
            inside = sorted(p for p in path.glob("part-*-of-*") if (p / PART_RECORD).is_file())
            if not inside:
                raise UsageError(f"{path} holds no parts (folders part-0000K-of-0000N with a {PART_RECORD})")
            folders.extend(inside)
        else:
            raise UsageError(f"{path} is not a part folder (no {PART_RECORD}) nor a folder of parts")
    if not folders:
        raise UsageError("give the parts to merge")
    parts = [
        (f, PartRecord.from_json(read_json(f / PART_RECORD, "part record"), str(f / PART_RECORD))) for f in folders
    ]
    first_folder, first = parts[0]
    for folder, record in parts[1:]:
        if record.job_sha256 != first.job_sha256 or record.count != first.count:
            raise UsageError(f"{folder} and {first_folder} are parts of different jobs")
    for folder, record in parts:
        if record.job_sha256 != job_digest(record.job):
            raise UsageError(f"{folder / PART_RECORD} was changed: its job no longer matches its job_sha256")
    missing, repeated = missing_or_repeated([r.index for _, r in parts], count=first.count)
    if repeated:
        twice = [str(f) for f, r in parts if r.index == repeated[0]]
        raise UsageError(f"part {repeated[0]} of {first.count} is given more than once: {', '.join(twice)}")
    if missing:
        names = [Shard(i, first.count).name for i in missing]
        raise UsageError(
            f"missing {len(missing)} of {first.count} parts: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        )
    parts.sort(key=lambda item: item[1].index)
    stop = 0
    for folder, record in parts:
        if record.start != stop:
            raise UsageError(f"{folder} starts at row {record.start}, but the parts before it end at {stop}")
        stop = record.stop
    if stop != first.job["rows"]:
        raise UsageError(f"the parts end at row {stop}, but the job has {first.job['rows']} rows")
    return parts


def _concatenate(folders: list[Path], name: str, target: Path) -> None:
    """``name`` of each part, joined along the first axis into ``target``, written as ``np.save`` would."""
    arrays = []
    for folder in folders:
        if not (folder / name).is_file():
            raise UsageError(f"{folder} has no {name}, which the other parts have")
        arrays.append(np.load(folder / name, mmap_mode="r"))
    if len({(a.dtype, a.shape[1:]) for a in arrays}) > 1:
        raise UsageError(f"the parts' {name} differ in type or shape: {[a.shape for a in arrays]}")
    out = np.lib.format.open_memmap(
        target, mode="w+", dtype=arrays[0].dtype, shape=(sum(len(a) for a in arrays), *arrays[0].shape[1:])
    )
    row = 0
    for array in arrays:
        out[row : row + len(array)] = array
        row += len(array)
    out.flush()
    del out


def _join_csv(folders: list[Path], target: Path) -> None:
    """The parts' scores.csv files as one (their rows already carry the job's row numbers)."""
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        for i, folder in enumerate(folders):
            with open(folder / "scores.csv", newline="") as source:
                rows = csv.reader(source)
                header = next(rows)
                if i == 0:
                    writer.writerow(header)
                writer.writerows(rows)


def _link(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _write_grid(manifest: SampleManifest, staging: Path, device: str) -> None:
    """grid.png of the job's first faces, rendered from the merged codes as ``sample`` renders it."""
    spec = GeneratorSpec(
        model=manifest.model,
        weights=Path(manifest.weights_file) if manifest.weights_file else None,
        device=device,
        style=StyleOptions(**manifest.style),
    )
    generator, digest = spec.load()
    if digest != manifest.weights_sha256:
        raise UsageError(
            f"the parts were rendered with weights {(manifest.weights_sha256 or 'none')[:12]}, these are "
            f"{digest[:12]}: the grid cannot be drawn again"
        )
    codes = load_codes(staging / manifest.files.codes)[:GRID_FACES]
    faces = np.concatenate(list(render(generator, codes, space=manifest.space, progress=False)))
    save_png(image_grid(preview_tiles(faces)), staging / "grid.png")
