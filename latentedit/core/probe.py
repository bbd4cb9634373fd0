"""Learning an attribute from a few labels: a linear probe on fixed face features, fitted with cross-validation, and
which faces to label next (uncertainty sampling with diversity). Pure: arrays in, arrays out."""

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from ..errors import UsageError

MIN_PER_CLASS = 10
# Inverse regularisation strengths tried, on standardised features (with few labels the ranking barely depends on it).
C_GRID = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)
FOLDS = 5


@dataclass(frozen=True)
class ProbeFit:
    """A logistic-regression probe on raw features: ``logit = features @ weight + bias``, with the regularisation
    chosen by stratified k-fold cross-validation and that choice's fold ROC AUCs (mean and standard deviation)."""

    weight: np.ndarray  # float32 (dim,)
    bias: float
    c: float
    folds: int
    cv_auc: float
    cv_auc_std: float
    positive: int
    negative: int

    def logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, np.float64) @ self.weight.astype(np.float64) + self.bias


def require_classes(labels: np.ndarray, minimum: int = MIN_PER_CLASS) -> tuple[int, int]:
    """The counts of label 1 and label 0, or a :class:`UsageError` saying how many more of each are needed."""
    positive, negative = int((labels == 1).sum()), int((labels == 0).sum())
    short = [
        f"{minimum - count} more labelled {value}" for value, count in ((1, positive), (0, negative)) if count < minimum
    ]
    if short:
        raise UsageError(
            f"need at least {minimum} labels of each class (1 and 0), got {positive} labelled 1 and "
            f"{negative} labelled 0: label {' and '.join(short)}"
        )
    return positive, negative


# small matrices: one thread is faster, and far faster on a busy machine
@threadpool_limits.wrap(limits=1, user_api="blas")
def fit_probe(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    augmented: np.ndarray | None = None,
    c_grid: tuple[float, ...] = C_GRID,
    folds: int = FOLDS,
    seed: int = 0,
    min_per_class: int = MIN_PER_CLASS,
) -> ProbeFit:
    """Logistic regression of ``labels`` (0 or 1) on ``features`` (N, dim), standardised per feature.

    ``augmented`` (N, dim), optional: features of another view of each face (its mirror image), trained on with the
    same label and kept in the same fold, but never scored in cross-validation. Each C of ``c_grid`` is scored by the
    mean ROC AUC over ``folds`` stratified folds (fewer when a class has fewer members); the best is refitted on all
    rows and folded back onto the raw features. The reported AUC is that of the chosen C on its own folds, so it is
    slightly optimistic; measure a held-out set for an unbiased figure.

    With fewer rows than features, an L2-penalised weight lies in the span of the rows it is fitted to, which lies
    in the span of all rows: every fit runs on the rows' coordinates in that span (N numbers per row, from the
    eigenvectors of the rows' Gram matrix) and gives the same solution as on the features themselves, many times
    faster.
    """
    x, y = np.asarray(features, np.float64), np.asarray(labels)
    if x.ndim != 2 or y.shape != (len(x),):
        raise UsageError(f"features must be (N, dim) and labels (N,), got {x.shape} and {y.shape}")
    if augmented is not None and np.shape(augmented) != x.shape:
        raise UsageError(f"augmented must have the shape of features {x.shape}, got {np.shape(augmented)}")
    if not np.isin(y, (0, 1)).all():
        raise UsageError("labels must be 0 or 1")
    positive, negative = require_classes(y, min_per_class)
    n = len(x)
    if augmented is not None:
        x, y = np.concatenate([x, np.asarray(augmented, np.float64)]), np.concatenate([y, y])
    if not np.isfinite(x).all():
        raise UsageError("features contain NaN or infinite values")
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    eigenvalues, vectors = np.linalg.eigh(x @ x.T)
    keep = eigenvalues > eigenvalues[-1] * 1e-10
    singular = np.sqrt(eigenvalues[keep])
    basis = x.T @ (vectors[:, keep] / singular)  # (dim, rank): orthonormal, spans the rows
    x = vectors[:, keep] * singular  # each row's coordinates in that basis
    k = min(folds, positive, negative)
    copies = len(x) // n
    splits = [
        (np.concatenate([train + j * n for j in range(copies)]), test)  # a face's views stay together
        for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(x[:n], y[:n])
    ]
    results = {}
    for c in c_grid:
        aucs = [
            roc_auc_score(y[test], _model(c).fit(x[train], y[train]).decision_function(x[test]))
            for train, test in splits
        ]
        results[c] = (float(np.mean(aucs)), float(np.std(aucs)))
    best = max(c_grid, key=lambda c: results[c][0])  # the first (strongest regularisation) among equals
    model = _model(best).fit(x, y)
    weight = basis @ model.coef_[0] / std
    return ProbeFit(
        weight.astype(np.float32),
        float(model.intercept_[0] - weight @ mean),
        best,
        k,
        *results[best],
        positive,
        negative,
    )


def _model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000)


def suggest(logits: np.ndarray, features: np.ndarray, *, n: int, shortlist: int = 4, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` faces to label next: the ``shortlist * n`` whose ``logits`` are nearest 0 (where the probe
    is least sure), of which ``n`` spread over the face features (k-means++ seeding on unit-normalised ``features``,
    starting from the least sure face), most uncertain first. Rows with a NaN logit (no face) are never chosen."""
    logits, features = np.asarray(logits, np.float64), np.asarray(features, np.float64)
    if logits.ndim != 1 or features.shape[:1] != logits.shape:
        raise UsageError(f"logits must be (N,) and features (N, dim), got {logits.shape} and {features.shape}")
    if n < 1 or shortlist < 1:
        raise UsageError(f"n and shortlist must be at least 1, got {n} and {shortlist}")
    usable = np.flatnonzero(np.isfinite(logits))
    if len(usable) < n:
        raise UsageError(f"only {len(usable)} faces to choose from, fewer than n={n}")
    order = usable[np.argsort(np.abs(logits[usable]), kind="stable")]
    candidates = order[: max(n, shortlist * n)]
    points = features[candidates]
    points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    rng = np.random.default_rng(seed)
    chosen = [0]
    nearest = ((points - points[0]) ** 2).sum(1)
    for _ in range(n - 1):
        pick = (
            int(rng.choice(len(points), p=nearest / nearest.sum()))
            if nearest.sum() > 0
            else int(np.flatnonzero(~np.isin(np.arange(len(points)), chosen))[0])
        )
        chosen.append(pick)
        nearest = np.minimum(nearest, ((points - points[pick]) ** 2).sum(1))
    return candidates[np.sort(chosen)]
