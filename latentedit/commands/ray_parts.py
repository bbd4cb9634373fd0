"""``score|sample ... --ray [ADDRESS] --parts N``: the parts of a sharded job (commands/parts.py) on Ray actors.

A pool of actors, as many as the cluster can hold at once (at most one per part), each loading the generator and
scorers once and then running part after part: the ordinary command for one part (``--shard K/N``) into
``OUT.parts/``. A part appears whole or not at all, so an actor killed mid-part leaves nothing that counts: Ray starts
it again and the part is redone (``retries``). Parts already complete there are kept, so a rerun after a failure only
computes what is missing. The driver then merges the parts into OUT. Ray is optional (``pip install
'latentedit[ray]'``); without an address a local cluster is started on 127.0.0.1 with usage statistics off.
"""

import contextlib
import dataclasses
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..core.shards import Shard
from ..errors import UsageError
from ..specs import OutputSpec
from .merge import MergeRequest, MergeResult, merge
from .parts import PART_RECORD

INSTALL = "pip install 'latentedit[ray]' (or: pip install ray)"


@dataclass(frozen=True)
class RaySettings:
    """How a job's parts run on Ray: ``parts`` parts on actors of ``cpus`` CPUs and ``gpus`` GPUs each (None: one GPU
    where the cluster has GPUs and the job's device is not the CPU, else none), on the cluster at ``address`` (None: a
    new local one with ``local_cpus`` CPUs), an actor that dies restarted and its part redone up to ``retries``
    times."""

    parts: int = 4
    address: str | None = None
    cpus: float = 1.0
    gpus: float | None = None
    local_cpus: int | None = None
    retries: int = 3


@dataclass(frozen=True)
class RayRequest:
    """Run ``job`` (a ``SampleRequest`` or ``ScoreRequest`` without a shard) on Ray as ``settings`` say, and merge
    the parts into the job's output."""

    job: Any
    settings: RaySettings = RaySettings()
    progress: bool | None = None


def parts_folder(out: Path) -> Path:
    """Where the parts of a job whose output is ``out`` go: ``OUT.parts`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


@dataclass(frozen=True)
class RayResult:
    """The merged output, and how many actors ran its parts."""

    merged: MergeResult
    workers: int


def run_on_ray(request: RayRequest) -> RayResult:
    """Compute every part of ``request.job`` on Ray, then merge them into ``request.job.output``."""
    settings = request.settings
    if settings.parts < 1:
        raise UsageError(f"--parts must be 1 or more, got {settings.parts}")
    if getattr(request.job, "shard", None) is not None:
        raise UsageError("--ray runs every part itself: give --parts N, not --shard")
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray needs Ray, which is not installed: {INSTALL}") from None

    output = request.job.output
    folder = parts_folder(output.path).absolute()
    _connect(ray, settings)
    try:
        resources = ray.cluster_resources()
        gpus = gpus_per_part(settings.gpus, request.job.generator.device, resources.get("GPU", 0))
        worker = ray.remote(
            num_cpus=settings.cpus, num_gpus=gpus, max_restarts=settings.retries, max_task_retries=settings.retries
        )(_PartWorker)
        size = pool_size(settings.parts, settings.cpus, gpus, resources)
        actors: list[Any] = [worker.remote(settings.cpus) for _ in range(size)]
        job = absolute_paths(request.job)  # workers elsewhere do not start in this directory
        parts = [
            dataclasses.replace(job, output=OutputSpec(folder), shard=Shard(k, settings.parts), progress=False)
            for k in range(settings.parts)
        ]
        _run_parts(ray, actors, parts, settings.retries, request.progress)
    finally:
        ray.shutdown()  # a local cluster stops; on a cluster the actors end with this driver
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty: a failed run's complete parts stay for the rerun
    merged = merge(MergeRequest(output=output, parts=(folder,), device=request.job.generator.device))
    return RayResult(merged, workers=len(actors))


def absolute_paths(request: Any) -> Any:
    """``request`` (a frozen dataclass) with every path in it, in nested requests and in mappings of names to paths,
    made absolute."""
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(request):
        value = getattr(request, item.name)
        if isinstance(value, Path):
            changes[item.name] = value.absolute()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[item.name] = absolute_paths(value)
        elif isinstance(value, Mapping) and any(isinstance(path, Path) for path in value.values()):
            changes[item.name] = {name: Path(path).absolute() for name, path in value.items()}
    return dataclasses.replace(request, **changes)


def pool_size(parts: int, cpus: float, gpus: float, resources: Mapping[str, float]) -> int:
    """How many actors to start: as many as the cluster's CPUs (and GPUs, where each holds some) fit at once, at
    most one per part. Refuses an actor bigger than the cluster (Ray would wait for room forever)."""
    cluster_cpus = resources.get("CPU", 0)
    if cpus > cluster_cpus:
        raise UsageError(f"--ray-cpus {cpus:g}: the cluster has {cluster_cpus:g} CPUs")
    fit = cluster_cpus // cpus
    if gpus > 0:
        fit = min(fit, resources.get("GPU", 0) // gpus)
    return int(min(parts, fit))


def gpus_per_part(asked: float | None, device: str, cluster_gpus: float) -> float:
    """The GPUs each part holds: ``asked``, else one where the cluster has GPUs and ``device`` is not the CPU.
    Refuses a number the cluster cannot give (Ray would wait for it forever)."""
    if asked is None:
        return 1.0 if cluster_gpus >= 1 and device != "cpu" else 0.0
    if asked < 0 or asked > cluster_gpus:
        raise UsageError(f"--ray-gpus {asked:g}: the cluster has {cluster_gpus:g} GPUs, a part cannot hold {asked:g}")
    return asked


def _connect(ray, settings: RaySettings) -> None:
    """Join the cluster at ``settings.address``, or start a local one bound to 127.0.0.1."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if settings.address not in (None, "auto"):
        _probe(settings.address)
    quiet = logging.getLogger("ray")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # Ray's start-up notes (token authentication...) would interleave with ours
    # joining a cluster, Ray's C++ client writes every retry straight to stderr; why it failed is in the exception
    with _stderr_silenced() if settings.address else contextlib.nullcontext():
        try:
            if settings.address is None:
                # "local": a new cluster even where RAY_ADDRESS or a `ray start` cluster (live or stale) is found
                ray.init(address="local", num_cpus=settings.local_cpus, _node_ip_address="127.0.0.1", **options)
            else:
                ray.init(address=settings.address, **options)
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError... depending on how the address fails
            raise _connection_error(exc, settings.address) from None
        finally:
            quiet.setLevel(level)


def _connection_error(exc: BaseException, address: str | None) -> UsageError:
    """One line saying why joining the cluster at ``address`` (None: starting a local one) failed."""
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None:
        chain.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    if any("InvalidAuthToken" in text for text in chain):
        return UsageError(
            f"the Ray cluster at {address} asks for its token: set RAY_AUTH_MODE=token here, with the cluster's token "
            "in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        )
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return UsageError(f"cannot reach the Ray cluster at {address or 'a local cluster'}: {reason}")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Discard what this process writes to file descriptor 2 meanwhile, C++ libraries included."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _probe(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a HOST:PORT (or ray://HOST:PORT) nothing listens on: ``ray.init`` would retry for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray takes a cluster address HOST:PORT (or ray://HOST:PORT, or auto), not {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _run_parts(ray, actors: list, parts: list, retries: int, progress: bool | None) -> None:
    """Hand the parts out to the actors, the next part to whichever is free, showing parts done and faces per second.
    The first part that fails for good stops the run with its error, once the parts already running have ended (so
    that none is left half-written)."""
    todo, free = list(parts), list(actors)
    running: dict[Any, tuple[Any, Shard]] = {}  # a part's result -> the actor running it, and which part
    failure: UsageError | None = None
    start, faces = time.perf_counter(), 0
    show = progress if progress is not None else True
    with tqdm(total=len(parts), unit="part", desc="parts", disable=not show, leave=False) as bar:
        while running or (todo and failure is None):
            while todo and free and failure is None:
                actor, part = free.pop(), todo.pop(0)
                running[actor.run.remote(part)] = actor, part.shard
            done, _ = ray.wait(list(running), num_returns=1)
            actor, shard = running.pop(done[0])
            try:
                rows, host, folder = ray.get(done[0])
                check_part_seen(Path(folder), host)
            except (ray.exceptions.RayError, UsageError) as exc:
                failure = failure or _part_error(exc, shard, retries)
                continue
            faces += rows
            free.append(actor)
            bar.update(1)
            bar.set_postfix_str(f"{faces / (time.perf_counter() - start):.1f} faces/s")
    if failure is not None:
        raise failure


def _part_error(exc: Exception, shard: Shard, retries: int) -> UsageError:
    """The one line a failed part ends the run with: the command's own error, or Ray's reason."""
    cause = getattr(exc, "cause", exc)
    if isinstance(cause, UsageError):
        return cause
    return UsageError(f"part {shard.index} of {shard.count} failed after {retries} retries: {str(exc).splitlines()[0]}")


class _PartWorker:
    """A Ray actor running parts of one job with ``cpus`` torch threads, keeping the models it loads for the next
    part. Returns each part's row count, the worker's host name and the part's folder."""

    def __init__(self, cpus: float) -> None:
        import torch

        from ..device import keep_freed_memory
        from ..models.cache import ModelCache

        keep_freed_memory()
        torch.set_num_threads(max(1, int(cpus)))
        self.models = ModelCache()

    def run(self, job: Any) -> tuple[int, str, str]:
        from .sample import SampleRequest, sample
        from .score import score

        result = sample(job, models=self.models) if isinstance(job, SampleRequest) else score(job, models=self.models)
        return result.n, socket.gethostname(), str(result.out)


def check_part_seen(folder: Path, host: str) -> None:
    """Refuse a part that a worker on ``host`` wrote to ``folder`` but that this machine cannot see there: the
    output folder is not on a file system every node shares at the same path."""
    if not (folder / PART_RECORD).is_file():
        raise UsageError(
            f"a Ray worker on {host} wrote {folder}, which is not there on this machine: put the output folder, "
            "the codes and the weights on a file system every node shares, at the same path"
        )
