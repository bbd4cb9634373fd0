"""Real-or-fake face detectors: the face-crop preprocessing, the classifiers and the checkpoint format.

A detector sees one aligned face crop (or a whole image resized) at its input size and colour mode and outputs
the probability that the face is fake. Both classes go through exactly the same preprocessing (see
:class:`InputSpec`), so that the model cannot separate them by format.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..device import resolve_device
from ..errors import UsageError, WeightsError
from ..files.weights import check_tensors, read_checkpoint, shipped_folder
from ..records import DetectorHeader, DetectorInput
from .alignment import align, template_points
from .mtcnn import MTCNN

FORMAT = DetectorHeader.FORMAT
SHIPPED_DETECTOR = shipped_folder("detectors") / "default.pt"
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
    def create(
        cls, size: int, colour: str, template: str | np.ndarray, template_name: str | None = None
    ) -> "InputSpec":
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

    @classmethod
    def from_record(cls, record: DetectorInput) -> "InputSpec":
        return cls.create(record.size, record.colour, np.array(record.template), record.template_name)

    def record(self) -> DetectorInput:
        return DetectorInput(
            size=self.size,
            colour=self.colour,
            template_name=self.template_name,
            template=[list(p) for p in self.template],
            work_factor=WORK_FACTOR,
        )

    @property
    def channels(self) -> int:
        return 1 if self.colour == "gray" else 3

    def describe(self) -> str:
        return f"{self.size}x{self.size} {self.colour}, {self.template_name} framing"

    def finish(self, image: np.ndarray) -> np.ndarray:
        """Reduce an RGB uint8 image to the input size and colour mode: uint8 (size, size, channels)."""
        pil = Image.fromarray(np.ascontiguousarray(image))
        if pil.size != (self.size, self.size):
            pil = pil.resize((self.size, self.size), Image.Resampling.BICUBIC)
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
    *,
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
        if detector is None:
            raise ValueError("detector: needed unless whole_image")
        for image, faces in zip(batch, detector.detect(batch)):
            crops.append([spec.crop(image, face.landmarks) for face in faces])
            boxes.append([[round(float(v), 1) for v in face.box] for face in faces])
    return crops, boxes


# ------------------------------------------------------------------------------------------------ architectures


class SeedCNN(nn.Module):
    """The seed project's classifier: three convolution + max-pool layers, a dense layer, a sigmoid output (as
    logit)."""

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for cin, cout in ((channels, 32), (32, 64), (64, 128)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * (size // 8) ** 2, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(128, 1),
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
        self.stem = nn.Sequential(
            nn.Conv2d(channels, 24, 3, 1, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True)
        )
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
    """A classifier with its input spec and, once trained, its self-describing header (architecture, input,
    training data, held-out metrics)."""

    model: nn.Module
    spec: InputSpec
    header: DetectorHeader | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def threshold(self) -> float:
        return self.header.threshold if self.header is not None else 0.5

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
        if self.header is None:
            raise ValueError("an untrained detector has no header to save")
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save({FORMAT: json.dumps(self.header.to_json()), "state_dict": state}, path)

    @classmethod
    def load(cls, path: Path | None = None, device: str | torch.device = "auto") -> "Detector":
        """Read a detector file (default: the shipped one) safely with ``weights_only=True``."""
        path = Path(path) if path is not None else SHIPPED_DETECTOR
        checkpoint = read_checkpoint(path, "detector")
        if (
            not isinstance(checkpoint, dict)
            or FORMAT not in checkpoint
            or not isinstance(checkpoint.get("state_dict"), dict)
        ):
            raise WeightsError(
                f"{path} is not a latentedit detector (no {FORMAT!r} header); train one with train-detector"
            )
        if not isinstance(checkpoint[FORMAT], str):
            raise WeightsError(f"{path} has a damaged detector header: not JSON text")
        state = check_tensors(checkpoint["state_dict"], str(path))
        try:
            header = DetectorHeader.from_json(json.loads(checkpoint[FORMAT]), f"{path}'s header")
            spec = InputSpec.from_record(header.input)
        except (ValueError, TypeError, RecursionError) as exc:  # a UsageError (bad field) is a ValueError too
            raise WeightsError(f"{path} has a damaged detector header: {exc}") from None
        model = build_model(header.architecture, spec)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError):
            raise WeightsError(
                f"{path}: its weights do not fit a {header.architecture} for {spec.size}x{spec.size} {spec.colour} "
                "input (trained for another input size?)"
            ) from None
        return cls(model.eval().to(resolve_device(device)), spec, header)
