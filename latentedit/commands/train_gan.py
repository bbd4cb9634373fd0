"""``latentedit train-gan``: train a face generator (DCGAN or progressively grown PGGAN) on a folder of faces.

One process, or several under ``torchrun`` (DistributedDataParallel: each process takes its share of every
batch, batch norm statistics are those of the whole batch, process 0 writes). The run folder holds:

- ``checkpoint.pt``: everything to continue (networks, averaged generator, optimisers, random state, loss history);
- ``generator.pt``: the averaged generator as a latentedit generator file (``--weights`` of the other commands);
- ``grid.png`` and ``grids/grid_IMAGES.png``: the same 64 codes rendered at every checkpoint;
- ``losses.csv`` / ``losses.png`` (every step) and ``metrics.csv`` / ``metrics.png`` (every checkpoint: a kernel
  distance to the training faces and the fraction of samples in which MTCNN finds a face);
- ``run.json``: the configuration and the progress.

Checkpoints are written to temporary files and renamed into place, so a failed write leaves the last good one.
Continuing with ``--resume`` gives the same weights as a run that was never interrupted (bit for bit on the CPU
with the same number of threads and processes).
"""

import copy
import csv
import hashlib
import io
import json
import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .. import __version__
from ..core import gan_training as gt
from ..core.kernel_distance import kernel_distance
from ..device import resolve_device
from ..errors import LatentEditError, UsageError, WeightsError
from ..files.images import list_images, read_image
from ..files.outputs import read_json, refuse_overlap, write_files_atomically
from ..files.paths import first_line
from ..files.weights import read_checkpoint
from ..models.alignment import template_points
from ..models.analysis import FaceAnalysis
from ..models.feature_net import ImageFeatures
from ..models.gan import ARCHS, DCGAN_RESOLUTION, PGGAN_RESOLUTIONS, Synthesis, build_networks, generator_file
from ..models.generators import MODELS, Generator, generator_template, render
from ..models.generators.pggan import PGGANGenerator
from ..pictures import image_grid, line_panels, preview_tiles
from ..records import FaceDatasetRecord, SampleManifest, TrainRunRecord, utc_now
from .prepare_faces import MANIFEST
from .score import check_sample_manifest

CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION = "latentedit-gan-checkpoint", 1
MIN_IMAGES, FEW_IMAGES = 16, 1000
GRID_CODES, GRID_SEED_OFFSET, METRICS_SEED_OFFSET = 64, 1_000_003, 2_000_003
LOSS_COLUMNS = ("step", "images", "lod", "d_loss", "g_loss", "d_real", "d_fake", "penalty")
# Radford et al.: Adam, learning rate 2e-4, beta1 0.5. Karras et al.: Adam, 1e-3, betas (0, 0.99), eps 1e-8.
OPTIMISER: dict[str, dict[str, Any]] = {
    "dcgan": {"lr": 2e-4, "betas": (0.5, 0.999), "eps": 1e-8},
    "pggan": {"lr": 1e-3, "betas": (0.0, 0.99), "eps": 1e-8},
}


@dataclass(frozen=True)
class TrainGanRequest:
    """A training run on the faces in ``data``, written to the run folder ``out`` (new, or the run to ``resume``).
    ``size`` must match the dataset's (None: the dataset's); ``kimg`` (thousands of images shown) defaults to 1000
    for DCGAN and, for PGGAN, to the growth plus one more phase at full resolution; ``batch`` is the global batch
    (split across torchrun processes); ``checkpoint_kimg`` the images between checkpoints; ``lr`` Adam's learning
    rate (None: the paper's); ``width`` PGGAN's widest layer; ``phase_kimg`` the images per PGGAN stage and per
    fade; ``ema_kimg`` the half-life of the averaged generator; ``mirror`` flips half of the faces;
    ``eval_samples`` the samples measured at each checkpoint (0: no metrics)."""

    data: Path
    out: Path
    arch: str = "dcgan"
    size: int | None = None
    kimg: float | None = None
    batch: int = 64
    seed: int = 0
    resume: bool = False
    checkpoint_kimg: float = 50.0
    lr: float | None = None
    width: int | None = None
    phase_kimg: float = 600.0
    ema_kimg: float = 10.0
    mirror: bool = False
    eval_samples: int = 1000
    device: str = "auto"


@dataclass
class TrainResult:
    """Where the run is, how far it got, its loss rows and metrics, and this process's rank (0 writes)."""

    out: Path
    images_seen: int
    history: np.ndarray
    metrics: list[dict]
    rank: int = 0


@dataclass
class Dataset:
    """Training faces: uint8 (N, 3, S, S) on the CPU, their framing (None when unknown) and where they came from."""

    images: torch.Tensor
    template: np.ndarray | None
    source: str
    fingerprint: str


def _dataset_files(folder: Path) -> tuple[list[Path], np.ndarray | None, str]:
    """The image files of a dataset folder, the framing of its faces (None when unknown) and what it is."""
    manifest = folder / MANIFEST
    data = read_json(manifest, "manifest") if manifest.is_file() else None
    if isinstance(data, dict) and data.get("format") == FaceDatasetRecord.FORMAT:
        faces = FaceDatasetRecord.from_json(data, str(manifest))
        if np.asarray(faces.template).shape != (5, 2):
            raise UsageError(f"{manifest}: template must be five (x, y) points")
        paths = [folder / Path(entry.file).name for entry in faces.images]
        return paths, np.asarray(faces.template, np.float64), f"prepare-faces ({faces.framing} framing)"
    if isinstance(data, dict) and data.get("tool") == "latentedit" and isinstance(data.get("files"), dict):
        sample = SampleManifest.from_json(data, str(manifest))
        check_sample_manifest(manifest, sample)
        if sample.files.images:
            model = MODELS.get(sample.model)
            template = template_points(model.template) if model else None
            return [folder / (sample.files.images % i) for i in range(sample.n)], template, f"samples of {sample.model}"
    return list_images(folder), None, "a folder of images"


def load_dataset(folder: Path, *, progress: bool = True) -> Dataset:
    """The faces of a ``prepare-faces`` folder, of a ``sample`` folder (its numbered PNGs), or every image file in
    ``folder``; all must be square and of one size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"dataset {folder} is not a folder")
    paths, template, source = _dataset_files(folder)
    if not paths:
        raise UsageError(f"no images (.png, .jpg, ...) in {folder}")
    show = progress and len(paths) >= FEW_IMAGES
    arrays = [read_image(p) for p in tqdm(paths, unit="img", desc="reading faces", disable=not show, leave=False)]
    shapes = Counter(a.shape[:2] for a in arrays)
    if len(shapes) > 1:
        listed = ", ".join(f"{n} of {h}x{w}" for (h, w), n in shapes.most_common(4))
        odd = next(p for p, a in zip(paths, arrays) if a.shape[:2] != shapes.most_common(1)[0][0])
        raise UsageError(
            f"the images in {folder} have different sizes ({listed}; e.g. {odd.name}): "
            f"make them one size with latentedit prepare-faces"
        )
    ((height, width),) = shapes
    if height != width:
        raise UsageError(
            f"the images in {folder} are {width}x{height}, not square: align them with latentedit prepare-faces"
        )
    stacked = np.stack(arrays)
    fingerprint = hashlib.sha256(stacked.tobytes()).hexdigest()
    return Dataset(torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous(), template, source, fingerprint)


def training_curves(
    x: np.ndarray,
    series: Mapping[str, np.ndarray | list[float]],
    units: dict[str, str],
    title: str,
    *,
    smooth: int = 1,
    limits: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """:func:`latentedit.pictures.line_panels` of one curve per panel over ``x`` (thousands of images, five labels):
    the raw values grey, their running mean over ``smooth`` points red."""
    x = np.asarray(x, float)
    ticks = {int(i) for i in np.linspace(0, len(x) - 1, min(5, len(x)))}
    labels = [f"{u:.3g}" if i in ticks else "" for i, u in enumerate(x)]
    rows = {name: np.asarray(values, float)[None] for name, values in series.items()}
    return line_panels(x.tolist(), rows, units, title, labels, per_row=len(rows), smooth=smooth, limits=limits)


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _torch_bytes(obj: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _write_bytes(data: bytes, path: Path) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


class _Distributed:
    """This process's place under torchrun (rank, world size, device), or a single process."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.device = resolve_device(device)
        self.rank, self.created = 0, False
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
                self.created = True
            self.rank = dist.get_rank()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` averaged over the processes."""
        if self.world > 1:
            values = values.to(self.device)
            dist.all_reduce(values)
            values = values / self.world
        return values.cpu()

    def agree(self, error: str | None) -> None:
        """Raise on every process when any of them had ``error`` (process 0's message, others' otherwise)."""
        failed = torch.tensor([0.0 if error is None else 1.0 + (self.rank == 0)], device=self.device)
        if self.world > 1:
            dist.all_reduce(failed, op=dist.ReduceOp.MAX)
        if failed.item():
            raise LatentEditError(error or "another training process failed; see its message")

    def close(self) -> None:
        if self.created:
            dist.destroy_process_group()


class Trainer:
    """The state of one training run and the steps that advance it."""

    def __init__(self, request: TrainGanRequest, data: Dataset, place: _Distributed) -> None:
        self.request, self.data, self.place = request, data, place
        self.size = data.images.shape[-1]
        self.config = training_config(request, data)
        self.batch = request.batch
        self.local = request.batch // place.world
        generator, discriminator = build_networks(
            request.arch, self.size, width=self.config["width"], seed=request.seed
        )
        self.generator = generator.to(place.device).train()
        self.discriminator = discriminator.to(place.device).train()
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        options = OPTIMISER[request.arch] | {"lr": self.config["lr"]}
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        self.opt_g = torch.optim.Adam(trainable, **options)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), **options)
        self.rng = torch.Generator().manual_seed(request.seed)
        self.images_seen = self.step = 0
        self.history: list[list[float]] = []
        self.metrics: list[dict] = []
        phase = int(request.phase_kimg * 1000)
        self.schedule = gt.GrowthSchedule(self.size, phase, phase) if request.arch == "pggan" else None
        self._order: tuple[int, np.ndarray] | None = None
        synthesis = Synthesis(self.generator)
        self.g_step: nn.Module = synthesis
        self.d_step: nn.Module = self.discriminator
        if place.world > 1:
            unused = request.arch == "pggan"  # blocks above the current resolution take no part yet
            ids = [place.device.index] if place.device.type == "cuda" else None
            self.g_step = DistributedDataParallel(synthesis, ids, find_unused_parameters=unused)
            self.d_step = DistributedDataParallel(self.discriminator, ids, find_unused_parameters=unused)

    # ------------------------------------------------------------------------------------------- state

    def state(self) -> dict:
        """Everything a resumed run needs, loadable with ``weights_only=True``."""
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "config": self.config,
            "images_seen": self.images_seen,
            "step": self.step,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "generator_ema": self.ema.state_dict(),
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "history": torch.tensor(self.history, dtype=torch.float64).reshape(-1, len(LOSS_COLUMNS)),
            "metrics": json.dumps(self.metrics),
        }

    def load(self, path: Path) -> None:
        """Continue from the checkpoint at ``path``; refuses one made with another configuration."""
        state = read_checkpoint(path, "checkpoint")
        kind = (state.get("format"), state.get("format_version")) if isinstance(state, dict) else None
        if kind != (CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION) or not isinstance(state.get("config"), dict):
            raise WeightsError(
                f"cannot resume from {path}: not a {CHECKPOINT_FORMAT} of version {CHECKPOINT_FORMAT_VERSION}"
            )

        def shown(key: str, value: object) -> str:
            return repr(value[:12] + "...") if key.endswith("sha256") and isinstance(value, str) else repr(value)

        differences = [
            f"{key} {shown(key, state['config'].get(key))} (now {shown(key, value)})"
            for key, value in self.config.items()
            if state["config"].get(key) != value
        ]
        if differences:
            raise UsageError(
                f"{path.parent} was trained with another configuration: {'; '.join(differences)}; "
                f"resume with the same options and dataset, or train into another folder"
            )
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.ema.load_state_dict(state["generator_ema"])
            self.opt_g.load_state_dict(state["optimizer_g"])
            self.opt_d.load_state_dict(state["optimizer_d"])
            self.rng.set_state(state["rng"])
            self.images_seen, self.step = int(state["images_seen"]), int(state["step"])
            self.history = state["history"].tolist()
            self.metrics = json.loads(state["metrics"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise WeightsError(
                f"cannot resume from {path}: a damaged checkpoint ({type(exc).__name__}: {first_line(exc)})"
            ) from None

    # -------------------------------------------------------------------------------------------- steps

    def _indices(self, start: int, count: int) -> np.ndarray:
        """Dataset rows of images ``start`` ... ``start + count - 1`` of the run: a new permutation every epoch,
        drawn from the seed and the epoch number alone."""
        n = len(self.data.images)
        rows = []
        for position in range(start, start + count):
            epoch, offset = divmod(position, n)
            if self._order is None or self._order[0] != epoch:
                self._order = (epoch, np.random.default_rng([self.request.seed, epoch]).permutation(n))
            rows.append(self._order[1][offset])
        return np.asarray(rows)

    def lod(self) -> float:
        return self.schedule.lod(self.images_seen) if self.schedule else 0.0

    def train_step(self) -> list[float]:
        """One step on the next global batch: the discriminator, then the generator on the same fakes (as in the
        PyTorch DCGAN tutorial), then the generator's average. Returns the row for ``losses.csv``."""
        device, rank, local, batch = self.place.device, self.place.rank, self.local, self.batch
        lod = self.lod()
        mine = slice(rank * local, (rank + 1) * local)
        if self.schedule:
            with torch.no_grad():
                for network in (self.generator, self.ema):
                    assert isinstance(network, PGGANGenerator)  # a growth schedule is made for pggan only
                    network.lod.fill_(lod)
        codes = torch.randn(batch, self.generator.latent_dim, generator=self.rng)[mine].to(device)
        mix, flips = torch.rand(batch, generator=self.rng)[mine], torch.rand(batch, generator=self.rng)[mine]
        rows = torch.from_numpy(self._indices(self.images_seen, batch)[mine])
        reals = self.data.images[rows].to(device).float().div_(127.5).sub_(1.0)
        if self.request.mirror:
            reals = torch.where((flips < 0.5).to(device).view(-1, 1, 1, 1), reals.flip(3), reals)
        if self.schedule:
            reals = gt.fade_reals(reals, lod=lod)
        fakes = self.g_step(codes)

        real_scores, fake_scores = self.d_step(reals, lod), self.d_step(fakes.detach(), lod)
        if self.schedule:
            penalty = gt.gradient_penalty(lambda x: self.d_step(x, lod), reals, fakes, mix=mix.to(device))
            d_loss = gt.wgan_gp_d_loss(real_scores, fake_scores, penalty=penalty)
        else:
            penalty, d_loss = torch.zeros(()), gt.nonsaturating_d_loss(real_scores, fake_scores)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        self.discriminator.requires_grad_(False)
        scores = self.discriminator(fakes, lod)
        g_loss = gt.wgan_g_loss(scores) if self.schedule else gt.nonsaturating_g_loss(scores)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)

        beta = gt.ema_beta(batch=batch, images_seen=self.images_seen, half_life_images=self.request.ema_kimg * 1000)
        gt.ema_update(self.ema, self.generator, beta=beta)
        self.images_seen += batch
        self.step += 1
        values = torch.stack([d_loss, g_loss, real_scores.mean(), fake_scores.mean(), penalty.to(device)]).detach()
        row = [float(self.step), float(self.images_seen), lod, *self.place.mean(values.double()).tolist()]
        self.history.append(row)
        return row


def training_config(request: TrainGanRequest, data: Dataset) -> dict:
    """What determines the weights: compared with a checkpoint's before resuming."""
    return {
        "arch": request.arch,
        "size": int(data.images.shape[-1]),
        "batch": request.batch,
        "seed": request.seed,
        "lr": request.lr or OPTIMISER[request.arch]["lr"],
        "width": (request.width or 512) if request.arch == "pggan" else None,
        "phase_kimg": request.phase_kimg if request.arch == "pggan" else None,
        "ema_kimg": request.ema_kimg,
        "mirror": request.mirror,
        "dataset_images": len(data.images),
        "dataset_sha256": data.fingerprint,
    }


def check_options(request: TrainGanRequest, world: int) -> None:
    """One-line errors for options that cannot train, before the dataset is read."""
    if request.arch not in ARCHS:
        raise UsageError(f"arch must be one of {', '.join(ARCHS)}, got {request.arch!r}")
    if request.arch == "dcgan" and request.width is not None:
        raise UsageError("width applies to pggan; dcgan has the embedded generator's widths")
    if request.width is not None and request.width < 8:
        raise UsageError(f"width must be at least 8, got {request.width}")
    if request.batch < 1 or request.batch % world:
        raise UsageError(f"batch {request.batch} must be a positive multiple of the {world} processes")
    for name in ("kimg", "checkpoint_kimg", "phase_kimg", "ema_kimg", "lr"):
        value = getattr(request, name)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise UsageError(f"{name} must be positive, got {value}")
    if request.eval_samples < 0 or 0 < request.eval_samples < 2:
        raise UsageError(f"eval_samples must be 0 (no metrics) or at least 2, got {request.eval_samples}")


def check_data(request: TrainGanRequest, data: Dataset) -> None:
    """One-line errors for a dataset that the request cannot train on."""
    size = data.images.shape[-1]
    if request.size is not None and request.size != size:
        raise UsageError(
            f"size {request.size} does not match the dataset's {size}x{size} faces; prepare the faces "
            f"at that size (latentedit prepare-faces --size {request.size})"
        )
    if request.arch == "dcgan" and size != DCGAN_RESOLUTION:
        raise UsageError(
            f"dcgan trains at 64x64 only (the embedded generator's architecture), not {size}x{size}; "
            f"use the pggan architecture for other sizes"
        )
    if request.arch == "pggan" and size not in PGGAN_RESOLUTIONS:
        raise UsageError(f"pggan trains at {', '.join(map(str, PGGAN_RESOLUTIONS))} pixels, not {size}")
    needed = max(MIN_IMAGES, request.batch)
    if len(data.images) < needed:
        raise UsageError(
            f"{request.data} holds {len(data.images)} faces; train-gan needs at least {needed} (one batch "
            f"of {request.batch}, and never fewer than {MIN_IMAGES}); thousands make a useful generator"
        )


def total_images(request: TrainGanRequest, size: int) -> int:
    """Images to train on: ``kimg`` thousand, else 1000 kimg for DCGAN and, for PGGAN, the growth plus one more
    phase."""
    if request.kimg is not None:
        return int(round(request.kimg * 1000))
    if request.arch == "pggan":
        phase = int(request.phase_kimg * 1000)
        return gt.GrowthSchedule(size, phase, phase).grown_images + phase
    return 1_000_000


class Evaluator:
    """Measurements of a generator against training faces: the kernel distance between ``samples`` of its images
    (fixed codes from ``seed``) and as many training faces, in the age network's feature space (see
    :mod:`latentedit.models.feature_net`), and the fraction of its images in which MTCNN finds a face."""

    def __init__(self, faces: torch.Tensor, *, samples: int, seed: int, analysis: FaceAnalysis) -> None:
        self.samples, self.seed, self.analysis = samples, seed, analysis
        self.features = ImageFeatures(analysis)
        chosen = np.random.default_rng(seed).choice(len(faces), min(samples, len(faces)), replace=False)
        self.reference = self.features(faces[np.sort(chosen)].permute(0, 2, 3, 1).numpy())

    def __call__(self, generator: Generator) -> dict:
        codes = np.random.default_rng(self.seed).standard_normal((self.samples, generator.latent_dim))
        codes = codes.astype(np.float32)
        images = np.concatenate(list(render(generator, codes, batch_size=64, progress=False)))
        subset = max(2, min(1000, self.samples // 2, len(self.reference) // 2))  # subsets differ: a meaningful spread
        kid, spread = kernel_distance(
            self.features(images), self.reference, subsets=100, subset_size=subset, seed=self.seed
        )
        found = self.analysis.detect(list(images), framing=generator_template(generator)).found.mean()
        return {"kid": kid, "kid_std": spread, "faces_found": float(found)}


def _grid(generator: Generator, codes: np.ndarray) -> np.ndarray:
    images = np.concatenate(list(render(generator, codes, batch_size=64, progress=False)))
    return image_grid(preview_tiles(images), columns=8)


def _csv_text(header: tuple[str, ...] | list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_checkpoint(trainer: Trainer, evaluator: Evaluator | None, grid_codes: np.ndarray) -> None:
    """Process 0: measure, then write the checkpoint and every output of this point as one unit (temporary files
    renamed into place only when all are written)."""
    out, request, ema = trainer.request.out, trainer.request, trainer.ema
    images = trainer.images_seen
    if evaluator is not None:
        trainer.metrics.append({"images": images, "kimg": images / 1000, **evaluator(ema)})
    grid = _grid(ema, grid_codes)
    history = np.asarray(trainer.history).reshape(-1, len(LOSS_COLUMNS))
    kimg = history[:, 1] / 1000
    smooth = max(1, len(history) // 50)
    losses = training_curves(
        kimg,
        {"discriminator": history[:, 3], "generator": history[:, 4]},
        {"discriminator": "loss", "generator": "loss"},
        f"train-gan {request.arch}: losses per step over thousands of images (red: running mean of {smooth})",
        smooth=smooth,
    )
    training = {
        "kimg": images / 1000,
        "steps": trainer.step,
        "dataset": str(request.data),
        "faces": trainer.data.source,
        "date": utc_now(),
        "version": __version__,
        "config": trainer.config,
    }
    run = TrainRunRecord(
        version=__version__,
        date=utc_now(),
        config=trainer.config,
        dataset=str(request.data),
        images_seen=images,
        steps=trainer.step,
        processes=trainer.place.world,
    )
    files = {
        out / "checkpoint.pt": _torch_bytes(trainer.state()),
        out / "generator.pt": _torch_bytes(generator_file(ema, template=trainer.data.template, training=training)),
        out / "grids" / f"grid_{images:09d}.png": _png_bytes(grid),
        out / "grid.png": _png_bytes(grid),
        out / "losses.csv": _csv_text(
            LOSS_COLUMNS, [[int(r[0]), int(r[1]), *(f"{v:.6g}" for v in r[2:])] for r in trainer.history]
        ).encode(),
        out / "losses.png": _png_bytes(losses),
        out / "run.json": (json.dumps(run.to_json(), indent=2) + "\n").encode(),
    }
    if trainer.metrics:
        columns = ["images", "kimg", "kid", "kid_std", "faces_found"]
        files[out / "metrics.csv"] = _csv_text(columns, [[m[c] for c in columns] for m in trainer.metrics]).encode()
        series = {
            "kernel distance": [m["kid"] for m in trainer.metrics],
            "faces found": [m["faces_found"] for m in trainer.metrics],
        }
        units = {"kernel distance": "age-network features", "faces found": "fraction, MTCNN"}
        files[out / "metrics.png"] = _png_bytes(
            training_curves(
                np.array([m["kimg"] for m in trainer.metrics]),
                series,
                units,
                "train-gan: at each checkpoint, over thousands of images",
                limits={"faces found": (0.0, 1.0)},
            )
        )
    write_files_atomically(
        {path: partial(_write_bytes, data) for path, data in files.items()},
        overwrite=True,
        inputs=[request.data],
    )


def train_gan(request: TrainGanRequest, *, progress: bool = True) -> TrainResult:
    """What ``latentedit train-gan`` does (see the module's docstring)."""
    place = _Distributed(request.device)
    try:
        return _train(request, place, progress and place.rank == 0)
    finally:
        place.close()


def _train(request: TrainGanRequest, place: _Distributed, progress: bool) -> TrainResult:
    out = Path(request.out)
    checkpoint = out / "checkpoint.pt"
    check_options(request, place.world)
    if str(out).strip() in ("", "."):
        raise UsageError(f"give a run folder name, not {str(out)!r}")
    refuse_overlap(out, [request.data])
    if request.resume and not checkpoint.is_file():
        raise UsageError(f"nothing to resume in {out}: it has no checkpoint.pt")
    if not request.resume and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already holds files; continue its run with --resume, or train into another folder")
    data = load_dataset(request.data, progress=progress)
    check_data(request, data)
    if place.world > 1:
        dist.barrier()  # every process has checked the folder before process 0 creates it
    trainer = Trainer(request, data, place)
    if request.resume:
        trainer.load(checkpoint)
    if len(data.images) < FEW_IMAGES and place.rank == 0:
        warnings.warn(
            f"only {len(data.images)} faces in {request.data}: the generator will mostly reproduce them", stacklevel=2
        )
    target = total_images(request, trainer.size)
    every = max(1, int(round(request.checkpoint_kimg * 1000)))
    grid_codes = (
        np.random.default_rng(request.seed + GRID_SEED_OFFSET)
        .standard_normal((GRID_CODES, trainer.generator.latent_dim))
        .astype(np.float32)
    )
    evaluator = None
    if place.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if request.eval_samples:
            evaluator = Evaluator(
                data.images,
                samples=request.eval_samples,
                seed=request.seed + METRICS_SEED_OFFSET,
                analysis=FaceAnalysis(place.device),
            )
    with tqdm(
        total=target,
        initial=min(trainer.images_seen, target),
        unit="img",
        unit_scale=True,
        desc=f"train-gan {request.arch}",
        disable=not progress,
    ) as bar:
        while trainer.images_seen < target:
            before = trainer.images_seen
            row = trainer.train_step()
            bar.set_postfix(d=f"{row[3]:.3f}", g=f"{row[4]:.3f}", res=trainer.size >> math.floor(row[2]), refresh=False)
            bar.update(min(trainer.images_seen, target) - min(before, target))
            if trainer.images_seen // every > before // every or trainer.images_seen >= target:
                error = None
                if place.rank == 0:
                    try:
                        write_checkpoint(trainer, evaluator, grid_codes)
                    except (OSError, LatentEditError) as exc:
                        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                        error = (
                            f"cannot write the checkpoint at {trainer.images_seen / 1000:g} kimg to {out}: "
                            f"{reason}; "
                            f"the last good checkpoint is kept ({_last_kimg(checkpoint)}); free some space and "
                            f"continue with --resume"
                        )
                place.agree(error)
    return TrainResult(out, trainer.images_seen, np.asarray(trainer.history), trainer.metrics, place.rank)


def _last_kimg(checkpoint: Path) -> str:
    """Which checkpoint is on disk, for error messages."""
    try:
        state = read_checkpoint(checkpoint, "checkpoint")
        return f"{checkpoint}, {int(state['images_seen']) / 1000:g} kimg"
    except (LatentEditError, KeyError, TypeError, ValueError):  # none yet, or unreadable
        return "none was written yet"
