"""Fit the smile, eyeglasses and gender probes (models/scorers/attribute_probe.py) to the faces labelled by eye.

Renders the codes of tests/data/train_attributes_codes.npy with dcgan-digiface64, detects and aligns the faces
as the scorers do, and computes the age network's feature maps for each face, its mirror image and randomly
augmented copies (flip, small rotation, scale and shift, brightness, contrast, saturation, grey). A stratified fifth
of the labelled faces is held out to choose the logistic regression's regularisation C (by held-out ROC AUC on the
unaugmented faces); the chosen C is then refitted on all labelled faces and written as the probe's state dict.
Deterministic on the CPU; about a minute on 2 cores.

    python scripts/train_attribute_scorers.py [--out latentedit/models/scorers/attribute_probe.pt]
"""

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from latentedit.models.analysis import FaceAnalysis
from latentedit.models.dlib import CHIP_TEMPLATE
from latentedit.models.generators import load_generator, render
from latentedit.models.scorers.attribute_probe import (
    CHIP_SIZE,
    CHUNK,
    OUTPUTS,
    WEIGHTS_PATH,
    AttributeProbe,
)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CODES, LABELS = DATA / "train_attributes_codes.npy", DATA / "train_attributes_labels.csv"
LABEL_VALUES = {"yes": 1.0, "no": 0.0, "male": 1.0, "female": 0.0, "unclear": np.nan}
C_GRID = (0.0003, 0.001, 0.003, 0.01)


def read_labels(path: Path = LABELS) -> np.ndarray:
    """Float (N, len(OUTPUTS)) targets: 1 yes / male, 0 no / female, NaN unclear."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([[LABEL_VALUES[row[name]] for name in OUTPUTS] for row in rows], np.float32)


def labelled_chips(codes: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """The scorers' aligned chips of the rendered codes and the mask of faces MTCNN found."""
    generator, _ = load_generator("dcgan-digiface64", device=device)
    images = np.concatenate(list(render(generator, codes, batch_size=256, progress=False)))
    batch = FaceAnalysis(device).detect(list(images))
    return batch.crops(CHIP_SIZE, CHIP_TEMPLATE), batch.found


def split(targets: np.ndarray, fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean held-out mask, stratified on the joint labels so each part keeps its share of positives."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(targets), bool)
    strata = np.nan_to_num(targets, nan=2.0) @ (3.0 ** np.arange(targets.shape[1]))
    for value in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == value))
        held[members[: round(len(members) * fraction)]] = True
    return held


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flip, rotation (+-6 deg), scale (0.95-1.05), shift (+-2 px), brightness, contrast, saturation, grey."""
    n = len(x)

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle, scale = uniform(-6, 6) * math.pi / 180, uniform(0.95, 1.05)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-0.06, 0.06)], 1),
            torch.stack([sin * flip, cos, uniform(-0.06, 0.06)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False)
    grey = x.mean(1, keepdim=True)
    saturation = torch.where(torch.rand(n, generator=generator) < 0.1, 0.0, uniform(0.6, 1.4))
    x = grey + (x - grey) * saturation.view(n, 1, 1, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = mean + (x - mean) * uniform(0.7, 1.3).view(n, 1, 1, 1)
    return (x * uniform(0.7, 1.3).view(n, 1, 1, 1)).clamp(0, 255)


def features(probe: AttributeProbe, chips: torch.Tensor) -> np.ndarray:
    """The probe's input features for float (N, 3, 64, 64) chips."""
    with torch.inference_mode():
        return np.concatenate([probe.features(chips[i : i + CHUNK]).numpy() for i in range(0, len(chips), CHUNK)])


def fit(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Logistic regression on standardised features, folded back into (weight, bias) on the raw features."""
    known = ~np.isnan(y)
    mean, std = x[known].mean(0), x[known].std(0) + 1e-6
    model = LogisticRegression(C=c, max_iter=3000).fit((x[known] - mean) / std, y[known])
    weight = model.coef_[0] / std
    return weight, float(model.intercept_[0] - weight @ mean)


def auc(y: np.ndarray, scores: np.ndarray) -> float:
    known = ~np.isnan(y)
    return float(roc_auc_score(y[known], scores[known]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument(
        "--copies", type=int, default=4, help="augmented copies of each training face (the first is the mirror image)"
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = time.time()
    targets = read_labels()
    chips, found = labelled_chips(np.load(CODES))
    chips, targets = torch.from_numpy(chips[found]).permute(0, 3, 1, 2).float(), targets[found]
    held = split(targets)
    for k, name in enumerate(OUTPUTS):
        known = ~np.isnan(targets[:, k])
        print(
            f"{name}: {int((targets[known, k] == 1).sum())} positive, {int((targets[known, k] == 0).sum())} "
            f"negative, {int((~known).sum())} unclear among {len(targets)} detected faces; "
            f"{int((held & known).sum())} held out"
        )
    probe = AttributeProbe(FaceAnalysis("cpu").age_network).eval()
    generator = torch.Generator().manual_seed(0)
    views = [features(probe, chips), features(probe, chips.flip(3))]
    views += [features(probe, augment(chips, generator)) for _ in range(args.copies - 1)]
    x, y = np.concatenate(views), np.tile(targets, (len(views), 1))
    train_rows = np.tile(~held, len(views))
    weights, biases = [], []
    for k, name in enumerate(OUTPUTS):
        results = {}
        for c in C_GRID:
            weight, bias = fit(x[train_rows], y[train_rows, k], c)
            results[c] = auc(targets[held, k], views[0][held] @ weight + bias)
        best = max(results, key=results.get)
        print(
            f"{name}: held-out AUC by C "
            + ", ".join(f"{c:g}: {a:.3f}" for c, a in results.items())
            + f"; shipping C={best:g} refitted on all {len(targets)} faces"
        )
        weight, bias = fit(x, y[:, k], best)
        weights.append(weight)
        biases.append(bias)
    state = {
        "weight": torch.tensor(np.stack(weights), dtype=torch.float32),
        "bias": torch.tensor(biases, dtype=torch.float32),
    }
    torch.save(state, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
