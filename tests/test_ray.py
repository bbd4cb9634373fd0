"""Sharded jobs on a real local Ray cluster: two workers give the unsharded result, a worker killed mid-part loses
nothing (its part is done again), an unreachable cluster is one line. Needs ``pip install 'latentedit[ray]'``."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from latentedit.commands.ray_parts import gpus_per_part, pool_size
from latentedit.errors import UsageError

pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[1]


def latentedit(*args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "latentedit", *map(str, args), "--device", "cpu"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


@pytest.mark.slow
def test_a_worker_killed_mid_part_loses_nothing(tmp_path, dcgan):
    # one torch thread everywhere: CPU results are bit-identical only at equal thread counts
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    np.save(tmp_path / "z.npy", dcgan.sample(24, seed=31))
    whole = latentedit("score", "--codes", tmp_path / "z.npy", "-b", 4, "-o", tmp_path / "whole", env=env)
    assert whole.wait(600) == 0, whole.stderr.read()

    out = tmp_path / "merged"
    driver = latentedit("score", "--codes", tmp_path / "z.npy", "-b", 4, "-o", out, "--ray", "--parts", 3, env=env)
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        for staging in Path(f"{out}.parts").glob(".part-*.partial-*"):  # a worker writing its part right now
            pid = int(re.search(r"\.partial-[A-Za-z0-9]+-(\d+)-", staging.name).group(1))
            os.kill(pid, signal.SIGKILL)
            killed = staging.name
            break
        time.sleep(0.05)
    stdout, stderr = driver.communicate(timeout=600)
    assert killed is not None, "no worker was caught writing a part"
    assert driver.returncode == 0 and re.search(r"ran 3 parts on [23] Ray workers and merged 24 rows", stdout), stderr
    assert files(out) == files(tmp_path / "whole")  # every score and the CSV, byte for byte
    parts = sorted(p.name for p in Path(f"{out}.parts").iterdir())
    assert parts == [f"part-0000{k}-of-00003" for k in range(3)], parts  # nothing half-written left


def test_an_unreachable_cluster_is_one_line(tmp_path, run_cli, dcgan):
    np.save(tmp_path / "z.npy", dcgan.sample(4, seed=1))
    code, _, stderr = run_cli(
        "score", "--codes", tmp_path / "z.npy", "-o", tmp_path / "out", "--ray", "127.0.0.1:1", "--device", "cpu"
    )
    assert code == 2 and stderr.strip().count("\n") == 0 and "cannot reach the Ray cluster at 127.0.0.1:1" in stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_train_boundary_on_ray_equals_one_process(tmp_path):
    """End-to-end training with its faces scored as Ray tasks writes the same codes, scores and boundary as one
    process, and removes its work folder once the boundary is written."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    common = ["train-boundary", "--attr", "pose", "-n", 160, "--ratio", 0.25, "--seed", 3, "-b", 16]
    plain = latentedit(*common, "-o", tmp_path / "plain", env=env)
    assert plain.wait(600) == 0, plain.stderr.read()
    ray = latentedit(*common, "-o", tmp_path / "ray", "--ray", "--parts", 2, env=env)
    stdout, stderr = ray.communicate(timeout=600)
    assert ray.returncode == 0, stderr
    for name in ("z.npy", "pose_scores.npy", "pose.npy"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name
    assert np.isfinite(np.load(tmp_path / "ray" / "pose_scores.npy")).mean() > 0.8
    assert not Path(f"{tmp_path / 'ray'}.parts").exists()


def test_parts_hold_a_gpu_where_the_cluster_has_them():
    assert gpus_per_part(None, "auto", 4) == 1 and gpus_per_part(None, "cuda", 1) == 1
    assert gpus_per_part(None, "cpu", 4) == 0 and gpus_per_part(None, "auto", 0) == 0
    assert gpus_per_part(0.5, "auto", 1) == 0.5 and gpus_per_part(0, "auto", 2) == 0
    with pytest.raises(UsageError, match="the cluster has 0 GPUs, a part cannot hold 1"):
        gpus_per_part(1, "auto", 0)


def test_the_pool_holds_as_many_actors_as_the_cluster_fits():
    assert pool_size(8, 1, 0, {"CPU": 2}) == 2 and pool_size(3, 1, 0, {"CPU": 16}) == 3
    assert pool_size(8, 0.5, 0, {"CPU": 2.0}) == 4 and pool_size(8, 1.5, 0, {"CPU": 4}) == 2
    assert pool_size(8, 1, 1, {"CPU": 16, "GPU": 3}) == 3 and pool_size(8, 1, 0.5, {"CPU": 16, "GPU": 3}) == 6
    with pytest.raises(UsageError, match="--ray-cpus 4: the cluster has 2 CPUs"):
        pool_size(8, 4, 0, {"CPU": 2})


@pytest.mark.slow
@pytest.mark.parametrize(
    "option, message", [(["--ray-gpus", 1], "the cluster has 0 GPUs"), (["--ray-cpus", 4096], "--ray-cpus 4096: the")]
)
def test_more_than_the_cluster_has_is_one_line(tmp_path, run_cli, dcgan, option, message):
    """Ray would wait forever for a GPU or CPUs that a local cluster cannot give: refused at once."""
    np.save(tmp_path / "z.npy", dcgan.sample(4, seed=1))
    code, _, stderr = run_cli(
        "score", "--codes", tmp_path / "z.npy", "-o", tmp_path / "out", "--ray", *option, "--device", "cpu"
    )
    assert code == 2 and stderr.strip().count("\n") == 0 and message in stderr, stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        (["--parts", 0], "'--parts': must be positive, got 0"),
        (["--ray-cpus", -1], "'--ray-cpus': must be positive, got -1"),
        (["--ray-gpus", -0.5], "'--ray-gpus': must be 0 or more, got -0.5"),
    ],
)
def test_impossible_ray_resources_are_one_line(tmp_path, run_cli, dcgan, option, message):
    """Refused before any cluster starts (Ray itself answered a negative CPU count with a traceback)."""
    np.save(tmp_path / "z.npy", dcgan.sample(4, seed=1))
    code, _, stderr = run_cli("score", "--codes", tmp_path / "z.npy", "-o", tmp_path / "out", "--ray", *option)
    assert code == 2 and stderr.strip().count("\n") == 0 and message in stderr, stderr
    assert not (tmp_path / "out").exists()
