"""Sharded jobs on a real local Ray cluster: two workers give the unsharded result, a worker killed mid-part loses
nothing (its part is done again), an unreachable cluster is one line. Needs ``pip install 'latentedit[ray]'``."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from latentedit.commands.ray_parts import absolute_paths, check_part_seen, gpus_per_part, pool_size
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


def driver_env(**extra: str) -> dict[str, str]:
    """A driver's environment: this checkout first on the import path, no usage statistics, and one torch thread
    everywhere (CPU results are bit-identical only at equal thread counts)."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": path, **extra}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


@pytest.mark.slow
def test_a_worker_killed_mid_part_loses_nothing(tmp_path, dcgan):
    env = driver_env()
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_cluster_started_elsewhere_gets_the_job_with_relative_paths(tmp_path, dcgan):
    """`ray start --head` from another directory, with token authentication, as a user's cluster is: its workers do
    not start in the driver's directory, yet relative paths work; without the token's mode set it is one line."""
    home, head_dir, work = tmp_path / "home", tmp_path / "head", tmp_path / "work"
    for folder in (home, head_dir, work):
        folder.mkdir()
    (home / "token").write_text("0123456789abcdef0123456789abcdef")
    env = driver_env(HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(home / "token"))
    port = free_port()
    # its own short temp folder (socket paths are limited), so that nothing of it is left where later runs look
    temp = tempfile.mkdtemp(prefix="le-ray-", dir="/tmp")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1"]
        + ["--port", str(port), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
        + ["--temp-dir", temp],
        cwd=head_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        np.save(work / "z.npy", dcgan.sample(12, seed=8))
        args = ["score", "--codes", "z.npy", "-a", "smile", "-b", 4, "--device", "cpu"]
        whole = subprocess.run([sys.executable, "-m", "latentedit", *map(str, args), "-o", "whole"], cwd=work, env=env)
        assert whole.returncode == 0
        command = [sys.executable, "-m", "latentedit", *map(str, args), "--ray", f"127.0.0.1:{port}", "--parts", "3"]
        driver = subprocess.run([*command, "-o", "merged"], cwd=work, env=env, capture_output=True, text=True)
        assert driver.returncode == 0 and "ran 3 parts on 2 Ray workers" in driver.stdout, driver.stderr
        assert files(work / "merged") == files(work / "whole")
        tokenless = {k: v for k, v in env.items() if k != "RAY_AUTH_MODE"}
        refused = subprocess.run([*command, "-o", "refused"], cwd=work, env=tokenless, capture_output=True, text=True)
        assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0, refused.stderr
        assert "asks for its token: set RAY_AUTH_MODE=token" in refused.stderr
        assert not (work / "refused").exists() and not (work / "refused.parts").exists()
    finally:
        head.terminate()
        head.wait(60)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_ray_without_an_address_starts_its_own_cluster(tmp_path, dcgan):
    """Whatever Ray itself would join (RAY_ADDRESS, the last `ray start` cluster, even a dead one): plain `ray.init()`
    hangs on this address."""
    np.save(tmp_path / "z.npy", dcgan.sample(4, seed=2))
    command = ["score", "--codes", tmp_path / "z.npy", "-a", "pose", "-o", tmp_path / "out", "--ray", "--parts", 1]
    env = driver_env(RAY_ADDRESS="127.0.0.1:1")
    done = subprocess.run(
        [sys.executable, "-m", "latentedit", *map(str, command), "--device", "cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0 and "merged 4 rows" in done.stdout, done.stderr


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
    env = driver_env()
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


@pytest.mark.slow
def test_a_part_that_fails_is_one_line_and_leaves_nothing(tmp_path, run_cli):
    """The first part's error, as the command alone gives it; no output, no empty parts folder, no Ray notes."""
    np.save(tmp_path / "bad.npy", np.zeros((8, 3), np.float32))
    args = ["--codes", tmp_path / "bad.npy", "-b", 4, "-o", tmp_path / "out", "--ray", "--parts", 2]
    code, stdout, stderr = run_cli("score", *args, "--device", "cpu")
    assert code == 2 and "must have shape (N, 100), got (4, 3)" in stderr and stderr.strip().count("\n") == 0, stderr
    assert "raylet" not in stdout + stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


def test_parts_hold_a_gpu_where_the_cluster_has_them():
    assert gpus_per_part(None, "auto", 4) == 1 and gpus_per_part(None, "cuda", 1) == 1
    assert gpus_per_part(None, "cpu", 4) == 0 and gpus_per_part(None, "auto", 0) == 0
    assert gpus_per_part(0.5, "auto", 1) == 0.5 and gpus_per_part(0, "auto", 2) == 0
    with pytest.raises(UsageError, match="the cluster has 0 GPUs, a part cannot hold 1"):
        gpus_per_part(1, "auto", 0)


def test_workers_get_absolute_paths(tmp_path, monkeypatch):
    """Workers on other machines do not start in the driver's directory: every path of a job reaches them whole."""
    from latentedit.commands.score import ScoreRequest
    from latentedit.specs import GeneratorSpec, OutputSpec

    monkeypatch.chdir(tmp_path)
    job = ScoreRequest(
        output=OutputSpec(Path("out")),
        codes_file=Path("z.npy"),
        generator=GeneratorSpec(weights=Path("g.pt"), device="cpu"),
        scorers={"beard": Path("beard.scorer")},
        attrs="smile",
    )
    moved = absolute_paths(job)
    assert moved.codes_file == tmp_path / "z.npy" and moved.output.path == tmp_path / "out"
    assert moved.generator.weights == tmp_path / "g.pt" and moved.scorers == {"beard": tmp_path / "beard.scorer"}
    assert moved.attrs == "smile" and moved.generator.device == "cpu" and moved.source is None


def test_a_part_this_machine_cannot_see_is_one_line(tmp_path):
    """A worker elsewhere wrote its part to a folder that is not shared: said at once, naming the host and folder."""
    (tmp_path / "part-00000-of-00002").mkdir()
    with pytest.raises(UsageError, match=r"a Ray worker on node-7 wrote .*part-00000-of-00002, which is not there"):
        check_part_seen(tmp_path / "part-00000-of-00002", "node-7")
    (tmp_path / "part-00000-of-00002" / "part.json").write_text("{}")
    check_part_seen(tmp_path / "part-00000-of-00002", "node-7")


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
