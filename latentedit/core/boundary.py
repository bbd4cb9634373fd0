"""Semantic boundaries, the method's core: InterFaceGAN's choice of samples, the linear SVM, conditional
projection and the cosine between boundaries (no file I/O; boundary files: :mod:`latentedit.files.boundaries`)."""

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import resolve_device
from ..errors import UsageError
from ..records import BoundaryInfo


@dataclass(frozen=True)
class Boundary:
    """A unit normal in a latent space and its record (name, offset, how it was made), so that
    ``distance(x) = x @ normal + offset``."""

    normal: np.ndarray  # float32 (dim,), unit norm
    info: BoundaryInfo
    path: Path | None = None  # the file it was loaded from, if any

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def offset(self) -> float:
        return self.info.offset

    @property
    def dim(self) -> int:
        return self.normal.shape[0]

    @classmethod
    def from_normal(cls, name: str, normal: np.ndarray, **info: Any) -> "Boundary":
        """A boundary through the origin along ``normal`` (normalised here); ``info``: more fields of its record."""
        return cls(
            unit(np.asarray(normal, np.float64).reshape(-1), name), BoundaryInfo(name=name, dim=np.size(normal), **info)
        )

    def renamed(self, name: str) -> "Boundary":
        """The same boundary under another name (the attribute it stands for in an edit)."""
        return dataclasses.replace(self, info=dataclasses.replace(self.info, name=name))

    def distance(self, codes: np.ndarray) -> np.ndarray:
        """Signed distance of each code (N, dim) to the hyperplane; positive = more of the attribute."""
        return codes.reshape(len(codes), -1) @ self.normal + self.offset


def unit(vector: np.ndarray, what: str) -> np.ndarray:
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
    *,
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
    if not np.isfinite(codes).all():
        raise UsageError("codes contain NaN or infinite values")
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.ndim != 1 or not np.issubdtype(scores.dtype, np.number):
        raise UsageError(f"scores must be numeric of shape (N, 1) or (N,), got {scores.dtype} {scores.shape}")
    if len(codes) != len(scores):
        raise UsageError(f"codes and scores differ in length: {len(codes)} codes, {len(scores)} scores")
    if np.isinf(scores).any():
        raise UsageError("scores contain infinite values (NaN marks a face that was not found; infinity is no score)")
    if not 0 < split < 1:
        raise UsageError(f"split must be in (0, 1), got {split}")
    if not np.isfinite(ratio):
        raise UsageError(f"ratio must be in (0, 0.5] or a whole count, got {ratio}")
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


def _lbfgs(
    objective: Callable[[torch.Tensor], tuple[float, torch.Tensor]],
    x: torch.Tensor,
    max_iter: int = 500,
    history: int = 10,
    tol: float = 1e-6,
) -> torch.Tensor:
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


def fit_linear_svm(
    x: np.ndarray, y: np.ndarray, c: float = 0.01, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, float]:
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
    *,
    name: str,
    ratio: float = 0.02,
    split: float = 0.7,
    seed: int = 0,
    invalid_value: float | None = None,
    provenance: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> Boundary:
    """Train a boundary with InterFaceGAN's protocol (the SVM on ``device``); ``provenance`` (attribute, space,
    model... : fields of :class:`~latentedit.records.BoundaryInfo`) goes into its record."""
    chosen = choose_samples(codes, scores, ratio=ratio, split=split, seed=seed, invalid_value=invalid_value)
    start = time.perf_counter()
    normal, offset = fit_linear_svm(chosen.train_x, chosen.train_y, device=device)
    seconds = time.perf_counter() - start
    info = BoundaryInfo(
        name=name,
        dim=int(normal.shape[0]),
        offset=offset,
        **(provenance or {}),
        n=int(len(codes)),
        n_valid=chosen.n_valid,
        ratio=ratio,
        chosen_per_side=chosen.per_side,
        split=split,
        seed=seed,
        solver="primal linear SVM (squared hinge, L2, C=0.01, unregularised intercept), L-BFGS in torch",
        fit_seconds=round(seconds, 3),
        train_accuracy=accuracy(normal, offset, chosen.train_x, chosen.train_y),
        validation_accuracy=accuracy(normal, offset, chosen.val_x, chosen.val_y),
        remaining_accuracy=accuracy(normal, offset, chosen.rest_x, chosen.rest_y),
    )
    return Boundary(normal, info)


def train_labelled_boundary(
    codes: np.ndarray,
    labels: np.ndarray,
    *,
    name: str,
    seed: int = 0,
    folds: int = 5,
    provenance: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
) -> Boundary:
    """A boundary straight from labelled codes (the route InterFaceGAN's authors suggest for attributes without a
    predictor): the linear SVM of :func:`fit_linear_svm` on ``codes`` (N, dim) with ``labels`` 0 or 1, at least
    :data:`~latentedit.core.probe.MIN_PER_CLASS` of each. Its record's validation accuracy is the mean over
    ``folds`` stratified folds (fewer when a class has fewer members)."""
    from sklearn.model_selection import StratifiedKFold  # scikit-learn takes a second to import: only when needed

    from .probe import require_classes

    codes, labels = np.asarray(codes, np.float32), np.asarray(labels)
    if codes.ndim != 2 or labels.shape != (len(codes),) or not np.isin(labels, (0, 1)).all():
        raise UsageError(f"codes must be (N, dim) and labels (N,) of 0 or 1, got {codes.shape} and {labels.shape}")
    if not np.isfinite(codes).all():
        raise UsageError("codes contain NaN or infinite values")
    positive, negative = require_classes(labels)
    k = min(folds, positive, negative)
    held = [
        accuracy(*fit_linear_svm(codes[train], labels[train], device=device), codes[test], labels[test])
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(codes, labels)
    ]
    start = time.perf_counter()
    normal, offset = fit_linear_svm(codes, labels, device=device)
    info = BoundaryInfo(
        name=name,
        dim=int(normal.shape[0]),
        offset=offset,
        **(provenance or {}),
        n=len(codes),
        n_valid=len(codes),
        seed=seed,
        solver="primal linear SVM (squared hinge, L2, C=0.01, unregularised intercept), L-BFGS in torch; "
        f"validation accuracy: mean over {k} stratified folds of the labelled codes",
        fit_seconds=round(time.perf_counter() - start, 3),
        train_accuracy=accuracy(normal, offset, codes, labels),
        validation_accuracy=float(np.mean([a for a in held if a is not None])),
    )
    return Boundary(normal, info)


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
    info = dataclasses.replace(
        primal.info, name=f"{primal.name}_c_{'_'.join(names)}", conditions=names, primal=primal.name
    )
    return Boundary(unit(direction, primal.name), info)


def cosine_matrix(boundaries: list[Boundary]) -> np.ndarray:
    """Cosine similarity between boundary normals (the correlation view of the InterFaceGAN paper)."""
    dims = {b.dim for b in boundaries}
    if len(dims) > 1:
        raise UsageError(f"boundaries of different dimensions cannot be compared: {sorted(dims)}")
    normals = np.stack([b.normal.astype(np.float64) for b in boundaries])
    return normals @ normals.T
