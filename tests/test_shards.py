"""Sharded jobs: parts cover the job once, sharded codes and scores equal the unsharded run's byte for byte, a rerun
keeps complete parts, and merge refuses parts that do not make one whole job."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from latentedit.core.shards import Shard, missing_or_repeated


def files(folder: Path) -> dict[str, bytes]:
    """Every file of ``folder`` but its manifest (which carries the run's date), by name."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def manifest(folder: Path) -> dict:
    return {k: v for k, v in json.loads((folder / "manifest.json").read_text()).items() if k != "date"}


@pytest.mark.parametrize(
    "total, count, granularity", [(1, 1, 1), (10, 3, 1), (37, 5, 4), (100, 7, 16), (65, 2, 64), (1000, 1000, 1)]
)
def test_parts_cover_the_job_once(total, count, granularity):
    ranges = [Shard(k, count).rows(total=total, granularity=granularity) for k in range(count)]
    assert [r for rows in ranges for r in rows] == list(range(total))
    assert all(len(rows) > 0 for rows in ranges)
    assert all(rows.start % granularity == 0 for rows in ranges)  # whole batches, as the unsharded run has them
    if granularity == 1:
        assert [rows.start for rows in ranges] == [k * total // count for k in range(count)]


def test_shard_requests_are_checked():
    assert Shard.parse(" 2/5 ") == Shard(2, 5) and Shard(2, 5).name == "part-00002-of-00005"
    for text, message in [
        ("5/5", "index must be in 0..4"),
        ("-1/3", "must read K/N"),
        ("1/0", "count must be"),
        ("1", "must read K/N"),
    ]:
        with pytest.raises(ValueError, match=message):
            Shard.parse(text)
    with pytest.raises(ValueError, match="at most 3 parts"):
        Shard(0, 4).rows(total=10, granularity=4)
    assert missing_or_repeated([0, 2, 2], count=4) == ([1, 3], [2])


def test_codes_skip_ahead_exactly(dcgan, monkeypatch):
    import latentedit.models.generators.base as base

    monkeypatch.setattr(base, "SKIP_BLOCK", 7 * 100 + 3)  # blocks that straddle rows
    whole = dcgan.sample(40, seed=9)
    for start, n in [(0, 5), (1, 3), (13, 27), (39, 1)]:
        np.testing.assert_array_equal(dcgan.sample(n, seed=9, start=start), whole[start : start + n])


def run_parts(run_cli, args: list, out: Path, count: int, order=None) -> None:
    for k in order or range(count):
        code, stdout, stderr = run_cli(*args, "-o", out, "--shard", f"{k}/{count}", "--device", "cpu")
        assert code == 0 and "part-" in stdout, stderr


def test_sharded_sample_equals_unsharded(tmp_path, run_cli):
    args = ["sample", "-n", 11, "--seed", 4, "-b", 4]
    assert run_cli(*args, "-o", tmp_path / "whole", "--device", "cpu")[0] == 0
    run_parts(run_cli, args, tmp_path / "parts", 3, order=[2, 0, 1])
    part = tmp_path / "parts" / "part-00001-of-00003"
    assert sorted(p.name for p in part.glob("*.png")) == [
        "000003.png",
        "000004.png",
        "000005.png",
        "000006.png",
        "grid.png",
    ]  # images keep the job's numbers
    stamp = (part / "z.npy").stat().st_mtime_ns
    code, stdout, _ = run_cli(*args, "-o", tmp_path / "parts", "--shard", "1/3", "--device", "cpu")
    assert code == 0 and "already complete" in stdout and (part / "z.npy").stat().st_mtime_ns == stamp

    code, stdout, stderr = run_cli("merge", tmp_path / "parts", "-o", tmp_path / "merged", "--device", "cpu")
    assert code == 0 and "merged 3 parts" in stdout, stderr
    assert files(tmp_path / "merged") == files(tmp_path / "whole")  # z.npy, images and grid, byte for byte
    assert manifest(tmp_path / "merged") == manifest(tmp_path / "whole")


@pytest.mark.slow
def test_sharded_score_equals_unsharded(tmp_path, run_cli, dcgan):
    """All five scorers, parts cut inside the unsharded run's batches of 4 at 10 and 20 rows: the parts round to
    whole batches, so every number is the same."""
    np.save(tmp_path / "z.npy", dcgan.sample(30, seed=21))
    args = ["score", "--codes", tmp_path / "z.npy", "-b", 4]
    assert run_cli(*args, "-o", tmp_path / "whole", "--device", "cpu")[0] == 0
    run_parts(run_cli, args, tmp_path / "parts", 3)
    code, _, stderr = run_cli(
        "merge", *sorted((tmp_path / "parts").iterdir())[::-1], "-o", tmp_path / "merged", "--device", "cpu"
    )
    assert code == 0, stderr
    assert files(tmp_path / "merged") == files(tmp_path / "whole")
    assert manifest(tmp_path / "merged") == manifest(tmp_path / "whole")
    assert len(files(tmp_path / "whole")) == 6  # five score files and the CSV


def test_merge_refuses_parts_that_are_not_one_job(tmp_path, run_cli):
    args = ["sample", "-n", 6, "--no-images"]
    run_parts(run_cli, [*args, "--seed", 1], tmp_path / "a", 3)
    run_parts(run_cli, [*args, "--seed", 2], tmp_path / "b", 3)
    a = sorted((tmp_path / "a").iterdir())
    b = sorted((tmp_path / "b").iterdir())
    cases = [
        ([a[0], a[1], b[2]], "are parts of different jobs"),
        ([a[0], a[1]], "missing 1 of 3 parts: part-00002-of-00003"),
        ([tmp_path / "a", a[1]], "part 1 of 3 is given more than once"),
    ]
    record = json.loads((a[2] / "part.json").read_text())
    for name, changed, message in [
        ("start", {**record, "start": 3}, "starts at row 3, but the parts before it end at 4"),
        ("job", {**record, "job": {**record["job"], "rows": 7}}, "its job no longer matches"),
    ]:
        shutil.copytree(tmp_path / "a", tmp_path / name)
        (tmp_path / name / a[2].name / "part.json").write_text(json.dumps(changed))
        cases.append(([tmp_path / name], message))
    for parts, message in cases:
        code, _, stderr = run_cli("merge", *parts, "-o", tmp_path / "out", "--device", "cpu")
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1 and message in lines[0], (message, stderr)
        assert not (tmp_path / "out").exists()
    # a part of another job in the same place is not taken for done
    code, _, stderr = run_cli(*args, "--seed", 2, "-o", tmp_path / "a", "--shard", "0/3", "--device", "cpu")
    assert code == 2 and "is a part of another job" in stderr


def test_parts_scored_with_one_model_cache_equal_fresh_loads(tmp_path, dcgan):
    """A Ray actor keeps its generator and scorers for part after part: the parts' scores are the same bytes as
    each part loading its own, and asking again for the same models loads nothing new."""
    from latentedit.commands.score import ScoreRequest, score
    from latentedit.models.cache import ModelCache
    from latentedit.specs import GeneratorSpec, OutputSpec

    np.save(tmp_path / "z.npy", dcgan.sample(12, seed=4))
    cache = ModelCache()

    def part(k: int, models: ModelCache | None, name: str) -> Path:
        request = ScoreRequest(
            output=OutputSpec(tmp_path / name),
            codes_file=tmp_path / "z.npy",
            generator=GeneratorSpec(device="cpu"),
            attrs="pose,smile",
            batch_size=4,
            shard=Shard(k, 3),
            progress=False,
        )
        return score(request, models=models).out

    for k in range(3):
        assert files(part(k, cache, "kept")) == files(part(k, None, "fresh")), k
    spec = GeneratorSpec(device="cpu")
    assert cache.generator(spec)[0] is cache.generator(GeneratorSpec(device="cpu"))[0]
    scorers = cache.scorers(["pose", "smile"], device="cpu", precision="float32", learned={})
    assert scorers is cache.scorers(["pose", "smile"], device="cpu", precision="float32", learned={})
    fast = cache.scorers(["pose", "smile"], device="cpu", precision="bfloat16", learned={})
    assert fast is not scorers and fast["smile"].analysis.precision == "bfloat16"
