"""Training a real-or-fake detector, the method's core: augmentation, the person-disjoint split, the training loop
with early stopping and the held-out metrics (no file I/O)."""

import io
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm import tqdm

from .. import __version__
from ..device import resolve_device
from ..errors import UsageError
from ..models.detector import DEFAULT_ARCHITECTURE, Detector, InputSpec, build_model, to_tensor
from ..records import DetectorHeader, utc_now

MIN_PER_CLASS = 20  # fewest faces of each class that train-detector accepts (split into train/validation/test)


def augment(crops: np.ndarray, rng: np.random.Generator, p: float = 0.3) -> np.ndarray:
    """Random flips, brightness and contrast, saturation (colour crops), Gaussian blur, down-and-up resizing and
    JPEG re-compression of uint8 (N, S, S, C) crops (each with probability ``p``, flips with 0.5)."""
    out = np.empty_like(crops)
    size = crops.shape[1]
    for i, crop in enumerate(crops):
        if rng.random() < p:  # so that overall brightness and contrast say little about the class
            mean = crop.mean()
            crop = np.clip((crop - mean) * rng.uniform(0.7, 1.4) + mean + rng.uniform(-30, 30), 0, 255).round()
            crop = crop.astype(np.uint8)
        if crop.shape[2] == 3 and rng.random() < p:  # from gray to 1.3x as colourful: colour alone says little either
            gray = crop.mean(2, keepdims=True)
            crop = np.clip(gray + (crop - gray) * rng.uniform(0.0, 1.3), 0, 255).round().astype(np.uint8)
        pil = Image.fromarray(crop[..., 0] if crop.shape[2] == 1 else crop)
        if rng.random() < 0.5:
            pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < p:
            pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.1, 1.0)))
        if rng.random() < p:
            small = max(4, round(size * rng.uniform(0.5, 0.9)))
            pil = pil.resize((small, small), Image.Resampling.BICUBIC).resize((size, size), Image.Resampling.BICUBIC)
        if rng.random() < p:
            pil = jpeg(pil, int(rng.integers(50, 96)))
        out[i] = np.asarray(pil).reshape(crop.shape)
    return out


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip at ``quality``."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert(image.mode)


def metrics(p_fake: np.ndarray, is_fake: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, AUC, average precision (fake = positive) and the confusion table."""
    is_fake = np.asarray(is_fake, bool)
    said_fake = np.asarray(p_fake) >= threshold
    both = is_fake.any() and not is_fake.all()
    return {
        "n_real": int((~is_fake).sum()),
        "n_fake": int(is_fake.sum()),
        "accuracy": round(float((said_fake == is_fake).mean()), 4),
        "balanced_accuracy": (
            round(float((said_fake[is_fake].mean() + (~said_fake[~is_fake]).mean()) / 2), 4) if both else None
        ),
        "auc": round(float(roc_auc_score(is_fake, p_fake)), 4) if both else None,
        "average_precision": round(float(average_precision_score(is_fake, p_fake)), 4) if both else None,
        "confusion": {
            "real_as_real": int((~is_fake & ~said_fake).sum()),
            "real_as_fake": int((~is_fake & said_fake).sum()),
            "fake_as_real": int((is_fake & ~said_fake).sum()),
            "fake_as_fake": int((is_fake & said_fake).sum()),
        },
    }


@dataclass
class Split:
    """Indices of each class's training, validation (early stopping) and held-out test crops."""

    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]

    @classmethod
    def make(
        cls,
        n_real: int,
        n_fake: int,
        seed: int,
        val: float = 0.15,
        test: float = 0.25,
        groups: tuple[Sequence, Sequence] | None = None,
    ) -> "Split":
        """Random split of each class; with ``groups`` (a label per real and per fake crop, such as the person
        or the source latent code) every group falls wholly into one part, so no person is in two parts.

        Groups are taken in a random order for test, then validation, until each part holds its share; a group
        bigger than a part's whole share is left for training while smaller ones can fill that part, so that one
        big group (many photos of one person) does not make up a part alone."""
        if min(n_real, n_fake) < MIN_PER_CLASS:
            raise UsageError(
                f"training needs at least {MIN_PER_CLASS} faces of each class, found {n_real} real and {n_fake} fake"
            )
        rng = np.random.default_rng(seed)
        parts = []
        for n, group_labels in zip((n_real, n_fake), groups or (range(n_real), range(n_fake))):
            labels = np.asarray(group_labels)
            if len(labels) != n:
                raise ValueError(f"{len(labels)} group labels for {n} crops")
            left = list(rng.permutation(np.unique(labels)))
            sizes = {g: int((labels == g).sum()) for g in left}
            held = [_take(left, sizes, max(2, round(n * share))) for share in (test, val)]
            parts.append(tuple(np.flatnonzero(np.isin(labels, chosen)) for chosen in (left, held[1], held[0])))
            if not all(len(part) for part in parts[-1]):
                raise UsageError(f"{len(sizes)} groups are too few to split into training, validation and test parts")
        return cls(*zip(*parts))

    def counts(self) -> dict:
        return {name: {"real": len(r), "fake": len(f)} for name, (r, f) in vars(self).items()}


def _take(left: list, sizes: dict, quota: int) -> list:
    """Remove from ``left`` (in its order) the groups that fill ``quota`` crops, passing over groups bigger than
    the quota while smaller ones remain (the smallest group when every one is bigger)."""
    chosen: list = []
    total = 0
    for group in list(left):
        if total >= quota:
            break
        if sizes[group] <= quota:
            chosen.append(group)
            total += sizes[group]
    if not chosen and left:
        chosen = [min(left, key=lambda g: sizes[g])]
    for group in chosen:
        left.remove(group)
    return chosen


@dataclass(frozen=True)
class TrainingSettings:
    """How a detector is trained: its architecture, the seed, at most ``epochs`` epochs with early stopping after
    ``patience`` epochs without progress, AdamW's batch size and learning rate."""

    architecture: str = DEFAULT_ARCHITECTURE
    seed: int = 0
    epochs: int = 40
    patience: int = 6
    batch_size: int = 64
    lr: float = 1e-3


def train(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    spec: InputSpec,
    settings: TrainingSettings = TrainingSettings(),
    split: Split | None = None,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> tuple[Detector, list[dict]]:
    """Train a detector on uint8 crops of real and fake faces; returns it and the training history.

    Each epoch draws as many real as fake training crops (the smaller class with replacement) and augments them
    (:func:`augment`); training stops when the validation loss (the mean of the two classes' mean losses) has not
    improved for ``patience`` epochs, and the best epoch's weights are kept. The header's metrics are measured on the
    held-out test split.
    """
    architecture, seed, epochs, patience = settings.architecture, settings.seed, settings.epochs, settings.patience
    batch_size, lr = settings.batch_size, settings.lr
    split = split or Split.make(len(real), len(fake), seed)
    device = resolve_device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(architecture, spec).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    train_real, train_fake = real[split.train[0]], fake[split.train[1]]
    val_x = np.concatenate([real[split.val[0]], fake[split.val[1]]])
    val_y = np.r_[np.zeros(len(split.val[0])), np.ones(len(split.val[1]))]
    per_class = max(len(train_real), len(train_fake))
    detector = Detector(model, spec)
    best: tuple[float, dict[str, torch.Tensor] | None, int] = (math.inf, None, -1)  # loss, weights, epoch
    history = []
    for epoch in range(epochs):
        model.train()
        pick_r = rng.choice(len(train_real), per_class, replace=len(train_real) < per_class)
        pick_f = rng.choice(len(train_fake), per_class, replace=len(train_fake) < per_class)
        x = np.concatenate([train_real[pick_r], train_fake[pick_f]])
        y = np.r_[np.zeros(per_class), np.ones(per_class)].astype(np.float32)
        order = rng.permutation(len(x))
        seen = correct = 0
        loss_sum = 0.0
        with tqdm(
            total=len(x), desc=f"epoch {epoch + 1}/{epochs}", unit="img", disable=not progress, leave=False
        ) as bar:
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                target = torch.from_numpy(y[idx]).to(device)
                logits = model(to_tensor(augment(x[idx], rng), device))
                loss = F.binary_cross_entropy_with_logits(logits, target)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                seen += len(idx)
                loss_sum += loss.item() * len(idx)
                correct += int(((logits > 0) == (target > 0.5)).sum())
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
                bar.update(len(idx))
        p_val = detector.probabilities(val_x)
        losses = F.binary_cross_entropy(
            torch.from_numpy(p_val).double().clamp(1e-7, 1 - 1e-7), torch.from_numpy(val_y), reduction="none"
        ).numpy()
        val_loss = float((losses[val_y == 0].mean() + losses[val_y == 1].mean()) / 2)  # each class counts alike
        right = (p_val >= 0.5) == val_y
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": round(loss_sum / seen, 4),
                "train_accuracy": round(correct / seen, 4),
                "val_loss": round(val_loss, 4),
                "val_accuracy": round(float((right[val_y == 0].mean() + right[val_y == 1].mean()) / 2), 4),
            }
        )
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}: train loss {loss_sum / seen:.3f} acc {correct / seen:.3f}, "
                f"validation loss {val_loss:.3f} balanced acc {history[-1]['val_accuracy']:.3f}",
                file=sys.stderr,
            )
        if val_loss < best[0] - 1e-4:
            best = (val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        elif epoch + 1 - best[2] >= patience:
            break
    assert best[1] is not None, "the first epoch's validation loss improves on infinity unless it is NaN"
    model.load_state_dict(best[1])
    model.eval()
    test_x = np.concatenate([real[split.test[0]], fake[split.test[1]]])
    test_y = np.r_[np.zeros(len(split.test[0])), np.ones(len(split.test[1]))]
    detector.header = DetectorHeader(
        architecture=architecture,
        parameters=sum(p.numel() for p in model.parameters()),
        input=spec.record(),
        threshold=0.5,
        training={
            "seed": seed,
            "epochs_run": len(history),
            "best_epoch": best[2],
            "split": split.counts(),
            "history": history,
        },
        held_out=metrics(detector.probabilities(test_x), test_y),
        created=utc_now(),
        latentedit_version=__version__,
    )
    return detector, history
