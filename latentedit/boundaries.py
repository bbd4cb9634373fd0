"""Semantic boundaries: InterFaceGAN's training protocol, boundary files, conditional projection."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .device import resolve_device
from .errors import UsageError
from .generators import DEFAULT_MODEL, Generator, downstream_codes, load_generator, render
from .outputs import annotated_grid, load_codes, preview_tiles, utc_now, write_files_atomically
from .weights import shipped_folder

SHIPPED_DIR = shipped_folder("boundaries")


@dataclass
class Boundary:
    """A unit normal in a latent space, with an offset so that ``distance(x) = x @ normal + offset``."""

    name: str
    normal: np.ndarray  # float32 (dim,), unit norm
    offset: float = 0.0
    meta: dict = field(default_factory=dict)
    path: Path | None = None  # the file it was loaded from, if any

    @property
    def dim(self) -> int:
        return self.normal.shape[0]

    def distance(self, codes: np.ndarray) -> np.ndarray:
        """Signed distance of each code (N, dim) to the hyperplane; positive = more of the attribute."""
        return codes.reshape(len(codes), -1) @ self.normal + self.offset


def _unit(vector: np.ndarray, what: str) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm < 1e-8:
        raise UsageError(f"{what} has zero or non-finite norm")
    return (vector / norm).astype(np.float32)


@dataclass
class ChosenSamples:
    """The InterFaceGAN split: top/bottom codes for training and validation, the rest for a sanity check."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    rest_x: np.ndarray
    rest_y: np.ndarray
    per_side: int
    n_valid: int


def choose_samples(
    codes: np.ndarray,
    scores: np.ndarray,
    ratio: float = 0.02,
    split: float = 0.7,
    seed: int = 0,
    invalid_value: float | None = None,
) -> ChosenSamples:
    """Pick the top and bottom ``ratio`` of codes by score (a value ≥ 1 is a count per side) and split them.

    Rows whose score is NaN or ``invalid_value`` are dropped. The remaining (middle) codes are labelled by
    whether their score is above the midpoint of the extreme scores, as InterFaceGAN does.
    """
    codes, scores = np.asarray(codes), np.asarray(scores)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.floating):
        raise UsageError(f"codes must be a float array of shape (N, dim), got {codes.dtype} {codes.shape}")
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1 or not np.issubdtype(scores.dtype, np.number):
        raise UsageError(f"scores must be numeric of shape (N, 1) or (N,), got {scores.dtype} {scores.shape}")
    if len(codes) != len(scores):
        raise UsageError(f"codes and scores differ in length: {len(codes)} codes, {len(scores)} scores")
    if not 0 < split < 1:
        raise UsageError(f"split must be in (0, 1), got {split}")
    valid = np.isfinite(scores)
    if invalid_value is not None:
        valid &= scores != invalid_value
    if not valid.any():
        raise UsageError("no valid scores: all are NaN or the invalid value")
    codes, scores = codes[valid].astype(np.float32), scores[valid].astype(np.float64)
    if ratio >= 1:
        if ratio != int(ratio):
            raise UsageError(f"ratio must be in (0, 0.5] or a whole count, got {ratio}")
        per_side = int(ratio)
    elif 0 < ratio <= 0.5:
        per_side = int(len(scores) * ratio)
    else:
        raise UsageError(f"ratio must be in (0, 0.5] or a whole count, got {ratio}")
    train_per_side = int(per_side * split)
    if per_side * 2 > len(scores) or train_per_side < 1 or per_side - train_per_side < 1:
        raise UsageError(
            f"too few valid samples ({len(scores)}) for ratio {ratio} and split {split}: "
            f"need at least 2 per side for training and validation"
        )
    order = np.argsort(-scores, kind="stable")
    top, bottom = order[:per_side], order[len(order) - per_side :]
    if scores[top[-1]] <= scores[bottom[0]]:
        raise UsageError("scores do not separate: the top and bottom samples have the same score (constant scores?)")
    rng = np.random.default_rng(seed)
    top, bottom = rng.permutation(top), rng.permutation(bottom)
    rest = order[per_side : len(order) - per_side]
    midpoint = (scores[order[0]] + scores[order[-1]]) / 2

    def labelled(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return codes[np.concatenate([pos, neg])], np.r_[np.ones(len(pos)), np.zeros(len(neg))].astype(np.int64)

    train_x, train_y = labelled(top[:train_per_side], bottom[:train_per_side])
    val_x, val_y = labelled(top[train_per_side:], bottom[train_per_side:])
    return ChosenSamples(
        train_x, train_y, val_x, val_y, codes[rest], (scores[rest] >= midpoint).astype(np.int64), per_side, len(scores)
    )


def _lbfgs(objective: Callable[[torch.Tensor], tuple[float, torch.Tensor]], x: torch.Tensor, max_iter: int = 500,
           history: int = 10, tol: float = 1e-6) -> torch.Tensor:
    """Minimise a smooth convex function given as ``objective(x) -> (value, gradient)``: limited-memory BFGS with
    a backtracking (Armijo) line search. (``torch.optim.LBFGS`` would import torch._dynamo, about a second.)"""
    value, grad = objective(x)
    steps: list[tuple[torch.Tensor, torch.Tensor]] = []  # (s, y) pairs, oldest first
    for _ in range(max_iter):
        if float(grad.abs().max()) <= tol:
            break
        direction, alphas = -grad, []
        for s, y in reversed(steps):
            alphas.append((s @ direction) / (y @ s))
            direction = direction - alphas[-1] * y
        if steps:
            direction = direction * ((steps[-1][0] @ steps[-1][1]) / (steps[-1][1] @ steps[-1][1]))
        for (s, y), alpha in zip(steps, reversed(alphas)):
            direction = direction + s * (alpha - (y @ direction) / (y @ s))
        slope, rate = float(grad @ direction), 1.0 if steps else min(1.0, 1.0 / float(grad.abs().sum()))
        while True:
            candidate = x + rate * direction
            new_value, new_grad = objective(candidate)
            if new_value <= value + 1e-4 * rate * slope or rate < 1e-10:
                break
            rate /= 2
        s, y = candidate - x, new_grad - grad
        if float(y @ s) > 1e-10:
            steps = [*steps[-history + 1 :], (s, y)]
        converged = abs(value - new_value) <= 1e-10 * max(1.0, abs(value))
        x, value, grad = candidate, new_value, new_grad
        if converged:
            break
    return x


def fit_linear_svm(x: np.ndarray, y: np.ndarray, c: float = 0.01, device: str | torch.device = "cpu") -> tuple[np.ndarray, float]:
    """Linear SVM on labels {0, 1}; returns the unit normal and the distance offset.

    The primal L2-regularised squared-hinge SVM (liblinear's L2R_L2LOSS_SVC objective, with the intercept left
    unregularised), ``0.5 |w|^2 + C sum max(0, 1 - t (w.x + b))^2``, solved by L-BFGS in torch on ``device``:
    two matrix-vector products per step, so it scales linearly with the sample count where InterFaceGAN's
    ``SVC(kernel="linear")`` grows about quadratically, and it runs on a GPU when given one. The stronger
    regularisation (C=0.01 against SVC's 1) gives the same or better validation accuracy on noisy scores
    (benchmarks/boundary.py).
    """
    device = resolve_device(device)
    features = torch.as_tensor(np.ascontiguousarray(x, np.float32), device=device)
    signs = torch.as_tensor(np.where(np.asarray(y) == 1, 1.0, -1.0), dtype=torch.float32, device=device)
    n, dim = features.shape
    reg = 1.0 / (c * n)  # the objective divided by C n, so that the gradient's scale does not grow with n

    def objective(params: torch.Tensor) -> tuple[float, torch.Tensor]:
        weight, bias = params[:-1], params[-1]
        slack = (1 - signs * torch.addmv(bias.expand(n), features, weight)).clamp_(min=0)
        pull = signs * slack
        grad = torch.empty_like(params)
        grad[:-1] = reg * weight - (2.0 / n) * (features.T @ pull)
        grad[-1] = -(2.0 / n) * pull.sum()
        return float(0.5 * reg * (weight @ weight) + (slack @ slack) / n), grad

    solution = _lbfgs(objective, torch.zeros(dim + 1, device=device)).double().cpu().numpy()
    norm = float(np.linalg.norm(solution[:-1]))
    if not np.isfinite(norm) or norm < 1e-12:
        raise UsageError("the SVM found no direction: the chosen samples may be identical")
    return (solution[:-1] / norm).astype(np.float32), float(solution[-1] / norm)


def accuracy(normal: np.ndarray, offset: float, x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) == 0:
        return None
    return float(np.mean(((x @ normal + offset) > 0) == (y == 1)))


def train_boundary(
    codes: np.ndarray,
    scores: np.ndarray,
    name: str,
    ratio: float = 0.02,
    split: float = 0.7,
    seed: int = 0,
    invalid_value: float | None = None,
    meta: dict | None = None,
    device: str | torch.device = "cpu",
) -> Boundary:
    """Train a boundary with InterFaceGAN's protocol (the SVM on ``device``); ``meta`` (model, attribute, space…)
    goes into its record."""
    chosen = choose_samples(codes, scores, ratio, split, seed, invalid_value)
    start = time.perf_counter()
    normal, offset = fit_linear_svm(chosen.train_x, chosen.train_y, device=device)
    seconds = time.perf_counter() - start
    record = {
        **(meta or {}),
        "n": int(len(codes)),
        "n_valid": chosen.n_valid,
        "ratio": ratio,
        "chosen_per_side": chosen.per_side,
        "split": split,
        "seed": seed,
        "solver": "primal linear SVM (squared hinge, L2, C=0.01, unregularised intercept), L-BFGS in torch",
        "fit_seconds": round(seconds, 3),
        "train_accuracy": accuracy(normal, offset, chosen.train_x, chosen.train_y),
        "validation_accuracy": accuracy(normal, offset, chosen.val_x, chosen.val_y),
        "remaining_accuracy": accuracy(normal, offset, chosen.rest_x, chosen.rest_y),
    }
    return Boundary(name, normal, offset, record)


def project_out(primal: Boundary, conditions: list[Boundary]) -> Boundary:
    """The primal normal with every condition normal projected out, renormalised (any number of conditions)."""
    for condition in conditions:
        if condition.dim != primal.dim:
            raise UsageError(
                f"condition boundary {condition.name} has dimension {condition.dim}, {primal.name} has {primal.dim}"
            )
    if not conditions:
        return primal
    basis, _ = np.linalg.qr(np.stack([c.normal.astype(np.float64) for c in conditions], axis=1))
    direction = primal.normal.astype(np.float64)
    direction -= basis @ (basis.T @ direction)
    if np.linalg.norm(direction) < 1e-6:
        raise UsageError(f"{primal.name} lies in the span of its conditions: nothing is left after projection")
    names = [c.name for c in conditions]
    meta = {**primal.meta, "conditions": names, "primal": primal.name}
    return Boundary(f"{primal.name}_c_{'_'.join(names)}", _unit(direction, primal.name), primal.offset, meta)


def cosine_matrix(boundaries: list[Boundary]) -> np.ndarray:
    """Cosine similarity between boundary normals (the correlation view of the InterFaceGAN paper)."""
    dims = {b.dim for b in boundaries}
    if len(dims) > 1:
        raise UsageError(f"boundaries of different dimensions cannot be compared: {sorted(dims)}")
    normals = np.stack([b.normal.astype(np.float64) for b in boundaries])
    return normals @ normals.T


def boundary_writers(boundary: Boundary, path: Path) -> dict[Path, Callable[[Path], None]]:
    """Writers for ``NAME.npy`` (float32 (1, dim), unit norm, InterFaceGAN layout) and its ``NAME.json``."""
    npy = Path(path).with_suffix(".npy")
    record = {"name": boundary.name, "dim": boundary.dim, "offset": boundary.offset, **boundary.meta}
    record.setdefault("date", utc_now())
    record.setdefault("version", __version__)
    return {
        npy: lambda p: np.save(p, boundary.normal.reshape(1, -1).astype(np.float32)),
        npy.with_suffix(".json"): lambda p: p.write_text(json.dumps(record, indent=2) + "\n"),
    }


def save_boundary(boundary: Boundary, path: Path, overwrite: bool = False) -> None:
    """Write a boundary's ``.npy`` and ``.json`` pair as a unit."""
    write_files_atomically(boundary_writers(boundary, path), overwrite)


def load_boundary(path: Path) -> Boundary:
    """Load a boundary ``.npy`` (ours or InterFaceGAN's bare (1, dim) file) and its JSON sidecar if present."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"boundary file {path} does not exist")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise UsageError(f"cannot read boundary {path}: not a NumPy .npy file") from None
    if not np.issubdtype(array.dtype, np.floating) or array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[0] != 1):
        raise UsageError(f"boundary {path} must be a float array of shape (1, dim), got {array.dtype} {array.shape}")
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    offset = float(meta.pop("offset", 0.0))
    name = meta.pop("name", path.stem.removesuffix("_boundary"))
    return Boundary(name, _unit(array.reshape(-1).astype(np.float64), f"boundary {path}"), offset, meta, path)


def shipped_boundaries(model: str) -> dict[str, Path]:
    """The boundary files shipped in ``boundaries/MODEL/`` by attribute name."""
    folder = SHIPPED_DIR / model
    return {p.stem: p for p in sorted(folder.glob("*.npy"))} if folder.is_dir() else {}


def resolve_boundary(spec: str, model: str) -> Boundary:
    """A boundary by shipped attribute name (for ``model``) or by path to a ``.npy`` file."""
    shipped = shipped_boundaries(model)
    if spec in shipped:
        return load_boundary(shipped[spec])
    if spec.endswith(".npy") or Path(spec).exists():
        return load_boundary(Path(spec))
    choices = ", ".join(shipped) or "none shipped"
    raise UsageError(f"no boundary {spec!r} for model {model} (shipped: {choices}); give a path to a .npy file")


BOUNDARY_SPACES = ("z", "w")  # a W boundary also edits W+ codes (every layer alike)


def render_ranking(
    generator: Generator, codes: np.ndarray, boundary: Boundary, per_group: int = 8, space: str = "z"
) -> np.ndarray:
    """A labelled picture of the faces at the top, middle and bottom of the signed-distance ranking (codes and
    boundary in latent ``space``)."""
    codes = generator.validate_codes(codes, space)
    if boundary.dim != codes.shape[1]:
        raise UsageError(f"boundary {boundary.name} has dimension {boundary.dim}, the codes have {codes.shape[1]}")
    per_group = max(1, min(per_group, len(codes) // 3))
    distance = boundary.distance(codes)
    order = np.argsort(-distance, kind="stable")
    middle = (len(order) - per_group) // 2
    groups = [order[:per_group], order[middle : middle + per_group], order[len(order) - per_group :]]
    chosen = np.concatenate(groups)
    faces = preview_tiles(np.concatenate(list(render(generator, codes[chosen], space, progress=False))))
    tiles = faces.reshape(3, per_group, *faces.shape[1:])
    captions = [[f"{distance[i]:+.2f}" for i in group] for group in groups]
    title = f"{boundary.name}: {len(codes)} codes ranked by signed distance to the boundary"
    return annotated_grid(tiles, title, ["highest", "middle", "lowest"], None, captions)


def _codes_provenance(codes_file: Path) -> dict:
    """Model and weights recorded by ``sample`` in a manifest.json beside the codes, if any."""
    manifest = Path(codes_file).with_name("manifest.json")
    if not manifest.is_file():
        return {}
    record = json.loads(manifest.read_text())
    return {key: record[key] for key in ("model", "weights_sha256") if key in record}


def train_boundary_files(
    out: Path,
    codes_file: Path | None = None,
    scores_file: Path | None = None,
    attr: str | None = None,
    n: int = 50000,
    seed: int = 0,
    model: str = DEFAULT_MODEL,
    ratio: float = 0.02,
    split: float = 0.7,
    invalid_value: float | None = None,
    conditions: list[str] | None = None,
    name: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    overwrite: bool = False,
    space: str = "z",
) -> list[tuple[Boundary, Path]]:
    """What ``latentedit train-boundary`` does: train from files, or sample + score + train end to end.

    Writes ``OUT/NAME.npy`` + ``NAME.json`` (and the conditional boundary when ``conditions`` are given);
    end to end it also keeps ``OUT/z.npy`` (and ``w.npy`` for a W boundary) and ``OUT/{attr}_scores.npy``.
    ``space`` (z or w) is the latent space of the codes, recorded in the sidecar. Returns the boundaries written.
    """
    if (codes_file is None) != (scores_file is None):
        raise UsageError("give both --codes and --scores, or neither (then --attr samples and scores end to end)")
    if space not in BOUNDARY_SPACES:
        raise UsageError(f"boundaries are trained in space z or w (a w boundary also edits wp codes), not {space!r}")
    extra: dict[Path, Callable[[Path], None]] = {}
    if codes_file is not None:
        codes, scores = load_codes(codes_file), load_codes(scores_file)
        attr = attr or Path(scores_file).stem.removesuffix("_scores")
        meta = {"attribute": attr, "space": space, **_codes_provenance(codes_file), "codes_file": str(codes_file),
                "scores_file": str(scores_file)}
    else:
        if not attr:
            raise UsageError("give --codes and --scores, or --attr to sample and score end to end")
        from .scoring import score_codes

        generator, digest = load_generator(model, device)
        generator.check_space(space)
        sampled = generator.sample(n, seed)
        scores = score_codes(generator, sampled, [attr], batch_size)[attr].reshape(-1, 1)
        kept = downstream_codes(generator, sampled, "z", batch_size) if space != "z" else {"z": sampled}
        codes = kept[space]
        meta = {"attribute": attr, "space": space, "model": model, "weights_sha256": digest, "sample_seed": seed}
        extra = {Path(out) / f"{key}.npy": partial(np.save, arr=kept[key]) for key in ("z", space)}
        extra[Path(out) / f"{attr}_scores.npy"] = partial(np.save, arr=scores.astype(np.float32))
    name = name or attr
    condition_boundaries = [resolve_boundary(spec, meta.get("model", model)) for spec in conditions or []]
    if any(b.name == attr for b in condition_boundaries):
        raise UsageError(f"--condition names the trained attribute {attr!r} itself")
    boundary = train_boundary(codes, scores, name, ratio, split, seed, invalid_value, meta, device)
    written = [(boundary, Path(out) / f"{name}.npy")]
    if condition_boundaries:
        conditional = project_out(boundary, condition_boundaries)
        written.append((conditional, Path(out) / f"{conditional.name}.npy"))
    pairs = {}
    for item, path in written:
        pairs.update(boundary_writers(item, path))
    write_files_atomically({**extra, **pairs}, overwrite)
    return written
