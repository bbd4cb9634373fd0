"""Photos into codes, for the commands that take photos (``invert``, ``edit``, ``mix``, ``arith``): read them,
find and align their faces, invert them; and the names their outputs get."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.inversion import Inversion, invert
from ..files.images import read_image
from ..models.analysis import FaceAnalysis
from ..models.encoder import load_encoder
from ..models.features import FeatureLoss
from ..models.generators import Generator
from ..models.photo import PhotoFace, align_photos
from ..specs import PhotoOptions


def invert_photos(
    paths: Sequence[Path],
    generator: Generator,
    *,
    space: str = "z",
    options: PhotoOptions = PhotoOptions(),
    analysis: FaceAnalysis | None = None,
    progress: bool = True,
) -> tuple[list[PhotoFace], Inversion]:
    """Read, detect, align and invert photos (all read and checked before any optimisation), with the shipped
    encoder's start where there is one for ``generator`` and ``space``."""
    options.settings.check()
    generator.check_space(space)
    analysis = analysis or FaceAnalysis(generator.device)
    images = [read_image(path) for path in paths]
    photos = align_photos(images, [str(path) for path in paths], generator, analysis, face_index=options.face_index)
    targets = np.stack([photo.crop for photo in photos])
    inversion = invert(generator, targets, features=FeatureLoss(analysis), encoder=load_encoder(generator, space),
                       space=space, settings=options.settings, progress=progress)
    return photos, inversion


def photo_names(paths: Sequence[Path]) -> list[str]:
    """Output names for photos: their file stems, numbered where two are the same."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else f"{stem}_{i}" for i, stem in enumerate(stems)]
