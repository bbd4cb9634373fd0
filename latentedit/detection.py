"""Real-or-fake face detection: classifiers, face-crop preprocessing, training, checkpoints and detection.

A detector sees one aligned face crop (or a whole image resized) at its input size and colour mode and outputs
the probability that the face is fake. Both classes go through exactly the same preprocessing (see
:class:`InputSpec`), so that the model cannot separate them by format.
"""

import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn
from tqdm import tqdm

from . import __version__
from .device import resolve_device
from .errors import UsageError, WeightsError
from .faces import MTCNN, align, template_points
from .images import list_images, read_image
from .outputs import utc_now
from .weights import shipped_folder

FORMAT = "latentedit-detector"
FORMAT_VERSION = 1
SHIPPED_DETECTOR = shipped_folder("detectors") / "default.pt"
MIN_PER_CLASS = 20  # fewest faces of each class that train-detector accepts (split into train/validation/test)
WORK_FACTOR = 4  # faces are aligned at WORK_FACTOR x the input size, then reduced with Pillow's bicubic filter


# ----------------------------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class InputSpec:
    """What a detector sees: ``size`` x ``size`` crops, ``gray`` or ``rgb``, faces aligned to ``template``.

    The same chain serves both classes and detection: similarity alignment of the five landmarks onto the
    template at ``WORK_FACTOR * size`` (bilinear), Pillow bicubic reduction to ``size`` (antialiased), then,
    for gray, the mean of the R, G, B values rounded to a byte.
    """

    size: int
    colour: str
    template: tuple[tuple[float, float], ...]
    template_name: str

    @classmethod
    def create(cls, size: int, colour: str, template: str | np.ndarray, template_name: str | None = None) -> "InputSpec":
        if colour not in ("gray", "rgb"):
            raise UsageError(f"colour must be gray or rgb, got {colour!r}")
        if not 16 <= size <= 256:
            raise UsageError(f"input size must be between 16 and 256 pixels, got {size}")
        try:
            points = template_points(template)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        name = template_name or (template if isinstance(template, str) else "custom")
        return cls(size, colour, tuple(map(tuple, np.round(points, 5).tolist())), name)

    @property
    def channels(self) -> int:
        return 1 if self.colour == "gray" else 3

    def describe(self) -> str:
        return f"{self.size}x{self.size} {self.colour}, {self.template_name} framing"

    def finish(self, image: np.ndarray) -> np.ndarray:
        """Reduce an RGB uint8 image to the input size and colour mode: uint8 (size, size, channels)."""
        pil = Image.fromarray(np.ascontiguousarray(image))
        if pil.size != (self.size, self.size):
            pil = pil.resize((self.size, self.size), Image.BICUBIC)
        pixels = np.asarray(pil)
        if self.colour == "gray":
            return np.round(pixels.astype(np.float32).mean(2, keepdims=True)).astype(np.uint8)
        return pixels

    def crop(self, image: np.ndarray, landmarks: np.ndarray, target: np.ndarray | None = None) -> np.ndarray:
        """The face with these landmarks, aligned to the template (or to ``target`` points in crop units)."""
        points = np.asarray(self.template if target is None else target)
        work = self.size * WORK_FACTOR
        return self.finish(align(image, landmarks, work, points)[0])


def face_crops(
    images: Sequence[np.ndarray],
    spec: InputSpec,
    detector: MTCNN | None,
    whole_image: bool = False,
    batch_size: int = 64,
) -> tuple[list[list[np.ndarray]], list[list[list[float]]]]:
    """Input crops of every face in each image, largest first, and their boxes (whole-image mode: one per image)."""
    crops: list[list[np.ndarray]] = []
    boxes: list[list[list[float]]] = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        if whole_image:
            crops += [[spec.finish(image)] for image in batch]
            boxes += [[[0.0, 0.0, float(image.shape[1]), float(image.shape[0])]] for image in batch]
            continue
        for image, faces in zip(batch, detector.detect(batch)):
            crops.append([spec.crop(image, face.landmarks) for face in faces])
            boxes.append([[round(float(v), 1) for v in face.box] for face in faces])
    return crops, boxes


# ------------------------------------------------------------------------------------------------ architectures


class SeedCNN(nn.Module):
    """The seed project's classifier: three convolution + max-pool layers, a dense layer, a sigmoid output (as logit)."""

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in ((channels, 32), (32, 64), (64, 128)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * (size // 8) ** 2, 128), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(128, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))[:, 0]


class _Residual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.skip = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.skip(x))


class ResNetFFT(nn.Module):
    """A compact residual network plus a frequency branch on the log-magnitude spectrum of the crop.

    Upsampling layers leave periodic traces in a generated image's spectrum (Wang et al. 2020; Durall et al.
    2020); the spectral branch sees them directly, the residual branch sees texture and shape.
    """

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, 24, 3, 1, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(_Residual(24, 48, 2), _Residual(48, 96, 2), _Residual(96, 128, 2))
        self.spectrum = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * size * size, 64), nn.BatchNorm1d(64), nn.ReLU(inplace=True)
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128 + 64, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = self.blocks(self.stem(x)).mean((2, 3))
        magnitude = torch.fft.fft2(x - x.mean((2, 3), keepdim=True), norm="ortho").abs()
        frequency = self.spectrum(torch.log(magnitude + 1e-3))
        return self.head(torch.cat([spatial, frequency], 1))[:, 0]


ARCHITECTURES: dict[str, type[nn.Module]] = {"seed-cnn": SeedCNN, "resnet-fft": ResNetFFT}
DEFAULT_ARCHITECTURE = "resnet-fft"


def build_model(architecture: str, spec: InputSpec) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise UsageError(f"unknown architecture {architecture!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](spec.size, spec.channels)


def to_tensor(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    """Uint8 (N, S, S, C) crops to float (N, C, S, S) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


# ---------------------------------------------------------------------------------------------------- checkpoint


@dataclass
class Detector:
    """A trained classifier with its self-describing header (architecture, input, training data, metrics)."""

    model: nn.Module
    header: dict

    @property
    def spec(self) -> InputSpec:
        inp = self.header["input"]
        return InputSpec(inp["size"], inp["colour"], tuple(map(tuple, inp["template"])), inp["template_name"])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def probabilities(self, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """P(fake) for uint8 (N, size, size, channels) crops made with :attr:`spec`."""
        spec = self.spec
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (spec.size, spec.size, spec.channels):
            raise UsageError(
                f"this detector expects {spec.size}x{spec.size} {spec.colour} crops, got shape {crops.shape[1:]}"
            )
        self.model.eval()
        out = [
            torch.sigmoid(self.model(to_tensor(crops[i : i + batch_size], self.device))).cpu().numpy()
            for i in range(0, len(crops), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def save(self, path: Path) -> None:
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save({FORMAT: json.dumps(self.header), "state_dict": state}, path)

    @classmethod
    def load(cls, path: Path | None = None, device: str | torch.device = "auto") -> "Detector":
        """Read a detector file (default: the shipped one) safely with ``weights_only=True``."""
        path = Path(path) if path is not None else SHIPPED_DETECTOR
        if not path.is_file():
            raise WeightsError(f"detector file {path} does not exist")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for files that are not checkpoints
            raise WeightsError(f"{path} is not a latentedit detector: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        if not isinstance(checkpoint, dict) or FORMAT not in checkpoint or "state_dict" not in checkpoint:
            raise WeightsError(f"{path} is not a latentedit detector (no {FORMAT!r} header); train one with train-detector")
        try:
            header = json.loads(checkpoint[FORMAT])
            spec = InputSpec.create(header["input"]["size"], header["input"]["colour"], np.array(header["input"]["template"]))
            architecture = header["architecture"]
        except (ValueError, KeyError, TypeError, UsageError) as exc:
            raise WeightsError(f"{path} has a damaged detector header: {exc}") from None
        if header.get("format_version") != FORMAT_VERSION:
            raise WeightsError(f"{path} is detector format {header.get('format_version')}, this version reads {FORMAT_VERSION}")
        model = build_model(architecture, spec)
        try:
            model.load_state_dict(checkpoint["state_dict"])
        except RuntimeError:
            raise WeightsError(
                f"{path}: its weights do not fit a {architecture} for {spec.size}x{spec.size} {spec.colour} input "
                "(trained for another input size?)"
            ) from None
        return cls(model.eval().to(resolve_device(device)), header)


# ------------------------------------------------------------------------------------------------------ training


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
            pil = pil.transpose(Image.FLIP_LEFT_RIGHT)
        if rng.random() < p:
            pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.1, 1.0)))
        if rng.random() < p:
            small = max(4, round(size * rng.uniform(0.5, 0.9)))
            pil = pil.resize((small, small), Image.BICUBIC).resize((size, size), Image.BICUBIC)
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
        "balanced_accuracy": round(float((said_fake[is_fake].mean() + (~said_fake[~is_fake]).mean()) / 2), 4) if both else None,
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
        for n, labels in zip((n_real, n_fake), groups or (range(n_real), range(n_fake))):
            labels = np.asarray(labels)
            if len(labels) != n:
                raise ValueError(f"{len(labels)} group labels for {n} crops")
            left = list(rng.permutation(np.unique(labels)))
            sizes = {g: int((labels == g).sum()) for g in left}
            held = [_take(left, sizes, max(2, round(n * share))) for share in (test, val)]
            member = lambda chosen: np.flatnonzero(np.isin(labels, chosen))  # noqa: E731
            parts.append((member(left), member(held[1]), member(held[0])))
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


def train(
    real: np.ndarray,
    fake: np.ndarray,
    spec: InputSpec,
    architecture: str = DEFAULT_ARCHITECTURE,
    split: Split | None = None,
    seed: int = 0,
    epochs: int = 40,
    patience: int = 6,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> tuple[Detector, dict]:
    """Train a detector on uint8 crops of real and fake faces; returns it and the training history.

    Each epoch draws as many real as fake training crops (the smaller class with replacement) and augments them
    (:func:`augment`); training stops when the validation loss (the mean of the two classes' mean losses) has not
    improved for ``patience`` epochs, and the best epoch's weights are kept. The header's metrics are measured on the held-out test split.
    """
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
    inputs = {"size": spec.size, "colour": spec.colour, "template_name": spec.template_name,
              "template": [list(p) for p in spec.template], "work_factor": WORK_FACTOR}
    detector = Detector(model, {"input": inputs})
    best = (math.inf, None, -1)
    history = []
    for epoch in range(epochs):
        model.train()
        pick_r = rng.choice(len(train_real), per_class, replace=len(train_real) < per_class)
        pick_f = rng.choice(len(train_fake), per_class, replace=len(train_fake) < per_class)
        x = np.concatenate([train_real[pick_r], train_fake[pick_f]])
        y = np.r_[np.zeros(per_class), np.ones(per_class)].astype(np.float32)
        order = rng.permutation(len(x))
        seen = loss_sum = correct = 0
        with tqdm(total=len(x), desc=f"epoch {epoch + 1}/{epochs}", unit="img", disable=not progress, leave=False) as bar:
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
        losses = F.binary_cross_entropy(torch.from_numpy(p_val).double().clamp(1e-7, 1 - 1e-7), torch.from_numpy(val_y),
                                        reduction="none").numpy()
        val_loss = float((losses[val_y == 0].mean() + losses[val_y == 1].mean()) / 2)  # each class counts alike
        right = (p_val >= 0.5) == val_y
        history.append({"epoch": epoch + 1, "train_loss": round(loss_sum / seen, 4), "train_accuracy": round(correct / seen, 4),
                        "val_loss": round(val_loss, 4),
                        "val_accuracy": round(float((right[val_y == 0].mean() + right[val_y == 1].mean()) / 2), 4)})
        if progress:
            tqdm.write(f"epoch {epoch + 1}: train loss {loss_sum / seen:.3f} acc {correct / seen:.3f}, "
                       f"validation loss {val_loss:.3f} balanced acc {history[-1]['val_accuracy']:.3f}", file=sys.stderr)
        if val_loss < best[0] - 1e-4:
            best = (val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        elif epoch + 1 - best[2] >= patience:
            break
    model.load_state_dict(best[1])
    model.eval()
    test_x = np.concatenate([real[split.test[0]], fake[split.test[1]]])
    test_y = np.r_[np.zeros(len(split.test[0])), np.ones(len(split.test[1]))]
    detector.header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "parameters": sum(p.numel() for p in model.parameters()),
        "input": inputs,
        "threshold": 0.5,
        "training": {"seed": seed, "epochs_run": len(history), "best_epoch": best[2], "split": split.counts(),
                     "history": history},
        "held_out": metrics(detector.probabilities(test_x), test_y),
        "created": utc_now(),
        "latentedit_version": __version__,
    }
    return detector, history


# ------------------------------------------------------------------------------------------ data and the commands


SPLITS = ("image", "subfolder")  # what train-detector keeps whole in one part: an image, or a subfolder's images


def grouped_images(folder: Path, by_subfolder: bool, label: str) -> list[tuple[Path, str]]:
    """The images to read from ``folder`` and each one's group: its own name, or with ``by_subfolder`` also the
    images of every immediate subfolder, grouped by subfolder (one person per subfolder, as in LFW)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--{label} folder {folder} does not exist")
    paths = [(path, path.name) for path in list_images(folder)]
    if by_subfolder:
        subfolders = [(path, sub.name + "/") for sub in sorted(folder.iterdir()) if sub.is_dir() for path in list_images(sub)]
        if label == "real" and not subfolders:
            raise UsageError(f"--split-by subfolder: --real folder {folder} has no subfolders with images "
                             "(put each person's photos in a subfolder of their own)")
        paths += subfolders
    if not paths:
        raise UsageError(f"--{label} folder {folder} holds no images (.png, .jpg, …)")
    return paths


def crops_from_folder(
    folder: Path, spec: InputSpec, detector: MTCNN | None, whole_image: bool, label: str, by_subfolder: bool = False
) -> tuple[np.ndarray, list[str], dict]:
    """The largest face of every image in ``folder`` (see :func:`grouped_images`) as input crops, each crop's
    group, and a description with counts."""
    paths = grouped_images(folder, by_subfolder, label)
    crops: list[np.ndarray] = []
    groups: list[str] = []
    unreadable = 0
    for start in tqdm(range(0, len(paths), 64), desc=f"finding faces in {folder}", unit="batch", leave=False):
        images, owners = [], []
        for path, group in paths[start : start + 64]:
            try:
                images.append(read_image(path))
                owners.append(group)
            except UsageError:
                unreadable += 1
        for faces, group in zip(face_crops(images, spec, detector, whole_image)[0], owners):
            if faces:
                crops.append(faces[0])
                groups.append(group)
    description = {"source": str(folder), "images": len(paths), "unreadable": unreadable,
                   "no_face": len(paths) - unreadable - len(crops), "faces": len(crops), "groups": len(set(groups))}
    stacked = np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, spec.channels), np.uint8)
    return stacked, groups, description


def crops_from_generator(
    model: str, n: int, seed: int, spec: InputSpec, detector: MTCNN | None, whole_image: bool, device: str
) -> tuple[np.ndarray, dict]:
    """Input crops of ``n`` faces sampled from generator ``model`` (those where a face is found)."""
    from .generators import load_generator, render

    generator, digest = load_generator(model, device)
    crops: list[np.ndarray] = []
    for batch in render(generator, generator.sample(n, seed), "z", 64, progress=True):
        crops += [faces[0] for faces in face_crops(list(batch), spec, detector, whole_image)[0] if faces]
    description = {"source": f"{model} samples (seed {seed})", "weights_sha256": digest, "images": n,
                   "no_face": n - len(crops), "faces": len(crops)}
    return np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, spec.channels), np.uint8), description


def train_detector_files(
    out: Path,
    real_dir: Path,
    fake_dir: Path | None,
    fake_model: str | None,
    n: int,
    architecture: str,
    size: int,
    colour: str,
    template: str,
    whole_image: bool,
    seed: int,
    epochs: int,
    device: str,
    overwrite: bool,
    split_by: str = "image",
) -> Detector:
    """The ``train-detector`` command: prepare both classes identically, train, write the checkpoint.

    ``split_by="subfolder"`` keeps the images of each subfolder (a person) wholly in training, validation or test.
    """
    from .outputs import write_files_atomically

    if (fake_dir is None) == (fake_model is None):
        raise UsageError("give exactly one of --fake DIR or --fake-model MODEL")
    if Path(out).exists() and not overwrite:
        raise UsageError(f"{out} already exists; choose another name or pass --overwrite")
    if split_by not in SPLITS:
        raise UsageError(f"--split-by must be one of {', '.join(SPLITS)}, got {split_by!r}")
    spec = InputSpec.create(size, colour, template)
    build_model(architecture, spec)  # fail early on a bad architecture
    by_subfolder = split_by == "subfolder"
    mtcnn = None if whole_image else MTCNN.load(device)
    real, real_groups, real_info = crops_from_folder(real_dir, spec, mtcnn, whole_image, "real", by_subfolder)
    if fake_dir is not None:
        fake, fake_groups, fake_info = crops_from_folder(fake_dir, spec, mtcnn, whole_image, "fake", by_subfolder)
    else:
        fake, fake_info = crops_from_generator(fake_model, n, seed, spec, mtcnn, whole_image, device)
        fake_groups = [str(i) for i in range(len(fake))]  # one per sampled code
    for name, crops, info in (("real", real, real_info), ("fake", fake, fake_info)):
        if len(crops) < MIN_PER_CLASS:
            raise UsageError(
                f"training needs at least {MIN_PER_CLASS} {name} faces; {info['source']} gave {len(crops)} "
                f"({info['images']} images, {info['no_face']} without a face"
                + (f", {info['unreadable']} unreadable)" if info.get("unreadable") else ")")
            )
    split = Split.make(len(real), len(fake), seed, groups=(real_groups, fake_groups)) if by_subfolder else None
    detector, _ = train(real, fake, spec, architecture, split=split, seed=seed, epochs=epochs, device=device)
    detector.header["training"]["data"] = {"real": real_info, "fake": fake_info, "whole_image": whole_image,
                                           "split_by": split_by}
    write_files_atomically({Path(out): detector.save}, overwrite)
    return detector


@dataclass
class FaceResult:
    """One line of ``detect``: a face (index, box, P(fake)) in a file, or a file without a face (face is None)."""

    file: str
    face: int | None
    p_fake: float | None = None
    label: str = "no face"
    box: list[float] | None = None


def detect_files(
    paths: Sequence[Path],
    detector: Detector,
    threshold: float | None = None,
    whole_image: bool = False,
    device: str = "auto",
) -> list[FaceResult]:
    """Classify every face in every image (or each whole image) as real or fake."""
    threshold = detector.header.get("threshold", 0.5) if threshold is None else threshold
    if not 0.0 < threshold < 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, got {threshold}")
    images = [read_image(path) for path in paths]  # all readable before any work
    spec = detector.spec
    mtcnn = None if whole_image else MTCNN.load(device)
    crops, boxes = face_crops(images, spec, mtcnn, whole_image, batch_size=32)
    flat = [c for cs in crops for c in cs]
    probabilities = iter(detector.probabilities(np.stack(flat)) if flat else [])
    results = []
    for path, cs, bs in zip(paths, crops, boxes):
        if not cs:
            results.append(FaceResult(str(path), None))
        for i, box in enumerate(bs):
            p = float(next(probabilities))
            results.append(FaceResult(str(path), i, round(p, 4), "fake" if p >= threshold else "real", box))
    return results


def format_results(results: Sequence[FaceResult], as_json: bool) -> str:
    """``detect``'s output: one line per face (or per file without a face), or a JSON list."""
    if as_json:
        return json.dumps([vars(r) for r in results], indent=2)
    lines = []
    for r in results:
        if r.face is None:
            lines.append(f"{r.file}\t-\tno face")
        else:
            lines.append(f"{r.file}\tface {r.face}\t{r.label}\tp_fake={r.p_fake:.3f}")
    return "\n".join(lines)

