"""Photos into codes, for the commands that take photos (``invert``, ``edit``, ``mix``, ``arith``): read them,
find and align their faces, invert them; and the names their outputs get."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.inversion import Inversion, Progress, invert
from ..files.images import read_image
from ..models.analysis import FaceAnalysis
from ..models.encoder import load_encoder
from ..models.features import FeatureLoss
from ..models.generators import Generator
from ..models.photo import PhotoFace, align_photos, aligned_photos
from ..specs import PhotoOptions

DEFAULT_PHOTO_OPTIONS = PhotoOptions()


def invert_photos(
    paths: Sequence[Path],
    generator: Generator,
    *,
    space: str = "z",
    options: PhotoOptions = DEFAULT_PHOTO_OPTIONS,
    analysis: FaceAnalysis | None = None,
    progress: bool = True,
    on_progress: Progress | None = None,
) -> tuple[list[PhotoFace], Inversion]:
    """Read, detect, align and invert photos (all read and checked before any optimisation), with the shipped
    encoder's start where there is one for ``generator`` and ``space``; ``on_progress`` is told each step."""
    options.settings.check()
    generator.check_space(space)
    analysis = analysis or FaceAnalysis(generator.device)
    images = [read_image(path) for path in paths]
    names = [str(path) for path in paths]
    photos = (
        aligned_photos(images, names, generator)
        if options.aligned
        else align_photos(images, names, generator, analysis, face_index=options.face_index)
    )
    targets = np.stack([photo.crop for photo in photos])
    inversion = invert(
        generator,
        targets,
        features=FeatureLoss(analysis),
        masks=np.stack([p.inside for p in photos]),
        encoder=load_encoder(generator, space),
        space=space,
        settings=options.settings,
        progress=progress,
        on_progress=on_progress,
    )
    return photos, inversion


RESERVED = {"codes", "photos", "gifs", "grid", "report", "inversion", "edit", "mix", "arith", "source_codes"}


def photo_names(paths: Sequence[Path]) -> list[str]:
    """Output folder names for photos: their file stems (``photo`` where a stem could not name a folder, such as
    ``..``), with ``_photo`` after a stem that an output file of the commands also uses, numbered where two are the
    same."""
    stems = []
    for path in paths:
        stem = Path(path).stem
        stem = "photo" if not stem or stem.strip(".") == "" or stem.startswith(".") else stem
        stems.append(f"{stem}_photo" if stem.split(".")[0] in RESERVED else stem)
    return [stem if stems.count(stem) == 1 else f"{stem}_{i}" for i, stem in enumerate(stems)]
