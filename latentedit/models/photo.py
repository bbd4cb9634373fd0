"""A photo's face aligned to a generator's framing, and the edited face blended back into the photo."""

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import NoFaceError, UsageError
from .alignment import align, coverage, face_mask, unalign
from .analysis import FaceAnalysis
from .generators import Generator, generator_template
from .mtcnn import Face

MIN_FACE_PIXELS = 32  # faces with a shorter box side than this are warned about: too little of them to go on
PASTE_MODES = ("change", "paste")


@dataclass
class PhotoFace:
    """A photo, the face chosen in it, and that face aligned to the generator's framing."""

    name: str
    image: np.ndarray  # uint8 (H, W, 3)
    face: Face
    crop: np.ndarray  # uint8 (R, R, 3), R = the generator's resolution
    matrix: np.ndarray  # 2x3: image pixel coordinates -> crop pixel coordinates
    faces_found: int
    template: np.ndarray  # the framing the crop was aligned to (crop units)
    inside: np.ndarray  # bool (R, R): crop pixels that come from the photo (not from past its edge)

    @classmethod
    def aligned(cls, name: str, image: np.ndarray, template: np.ndarray) -> "PhotoFace":
        """An image that already is an aligned face crop at the generator's framing and resolution."""
        size = image.shape[0]
        box = np.array([0.0, 0.0, float(image.shape[1]), float(size)])
        face = Face(box, 1.0, template * size)
        return cls(
            name,
            image,
            face,
            image,
            np.hstack([np.eye(2), np.zeros((2, 1))]),
            1,
            template,
            np.ones(image.shape[:2], bool),
        )

    def filled(self, reconstruction: np.ndarray) -> np.ndarray:
        """The aligned face with the pixels from past the photo's edge taken from ``reconstruction`` (for pictures)."""
        return np.where(self.inside[..., None], self.crop, reconstruction)

    def paste(self, before: np.ndarray, after: np.ndarray, mode: str = "change") -> np.ndarray:
        """The photo with its face changed from crop ``before`` to crop ``after`` (uint8, the crop's size),
        blended in through a feathered mask of the inner face (see :func:`~latentedit.models.alignment.face_mask`).

        ``change`` adds the difference after - before, resampled to the photo, so that the photo keeps its own
        detail and colours; ``paste`` puts the ``after`` crop itself in place of the face.
        """
        if mode not in PASTE_MODES:
            raise UsageError(f"paste mode must be one of {', '.join(PASTE_MODES)}, got {mode!r}")
        new = after.astype(np.float32) - (before.astype(np.float32) if mode == "change" else 0)
        region, values, where = unalign(new, self.matrix, self.image.shape)
        weights = face_mask(where, self.template)[..., None]
        original = self.image[region].astype(np.float32)
        blended = original + weights * values if mode == "change" else original + weights * (values - original)
        out = self.image.copy()
        out[region] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        return out

    def surroundings(self, scale: float = 1.8) -> tuple[slice, slice]:
        """Rows and columns of a square around the face box, ``scale`` times its longer side, clipped to the image."""
        x1, y1, x2, y2 = self.face.box
        half = max(x2 - x1, y2 - y1) * scale / 2
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        height, width = self.image.shape[:2]
        rows = slice(max(0, int(cy - half)), min(height, int(np.ceil(cy + half))))
        cols = slice(max(0, int(cx - half)), min(width, int(np.ceil(cx + half))))
        return rows, cols


def align_photos(
    images: Sequence[np.ndarray],
    names: Sequence[str],
    generator: Generator,
    analysis: FaceAnalysis,
    *,
    face_index: int = 0,
) -> list[PhotoFace]:
    """Detect the faces of each image and align face number ``face_index`` (0 = largest) to the generator.

    Raises :class:`NoFaceError` naming the first image without a face and :class:`UsageError` when an image has
    fewer faces than ``face_index + 1``; warns when a face is smaller than :data:`MIN_FACE_PIXELS`.
    """
    if face_index < 0:
        raise UsageError(f"the face index must be 0 (the largest face) or more, got {face_index}")
    template = generator_template(generator)
    found = analysis.mtcnn.detect(images)
    photos = []
    for image, name, faces in zip(images, names, found):
        if not faces:
            raise NoFaceError(f"no face found in {name}")
        if face_index >= len(faces):
            raise UsageError(f"{name} has {len(faces)} face(s); face index {face_index} asks for face {face_index + 1}")
        face = faces[face_index]
        side = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
        if side < MIN_FACE_PIXELS:
            warnings.warn(
                f"the face in {name} is only {side:.0f} pixels across: its reconstruction will be coarse", stacklevel=2
            )
        crop, matrix = align(image, face.landmarks, generator.resolution, template)
        inside = coverage(image.shape, face.landmarks, generator.resolution, template)
        photos.append(PhotoFace(name, image, face, crop, matrix, len(faces), template, inside))
    return photos


def aligned_photos(images: Sequence[np.ndarray], names: Sequence[str], generator: Generator) -> list[PhotoFace]:
    """Images that already are face crops aligned to the generator's framing at its resolution (as e4e and pSp take
    FFHQ-aligned faces): used as they are, without face detection."""
    size = generator.resolution
    wrong = [
        f"{name} ({image.shape[1]}x{image.shape[0]})"
        for image, name in zip(images, names)
        if image.shape[:2] != (size, size)
    ]
    if wrong:
        raise UsageError(f"aligned faces for {generator.name} must be {size}x{size} pixels: {', '.join(wrong)}")
    template = generator_template(generator)
    return [PhotoFace.aligned(name, image, template) for image, name in zip(images, names)]
