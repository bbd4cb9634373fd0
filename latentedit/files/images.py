"""Reading images from disk as uint8 RGB arrays, whatever their mode, bit depth or EXIF orientation."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UsageError
from .paths import first_line, require_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def read_image(path: Path | str) -> np.ndarray:
    """The image at ``path`` as uint8 (H, W, 3) RGB, upright per its EXIF orientation.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are converted; raises
    :class:`UsageError` with one line for a missing, empty, corrupted or non-image file.
    """
    path = require_file(path, "image")
    if path.stat().st_size == 0:
        raise UsageError(f"image {path} is empty")
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"cannot read image {path}: {first_line(exc)}") from None


def to_rgb(image: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as uint8 (H, W, 3) RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit, 32-bit or float grayscale: 16-bit range to 0..255; 32-bit by its maximum; float by its range
        # (0..1 as most float images are, else 0..255, else stretched from its minimum to its maximum).
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise UsageError("the image has no finite pixel values")
        low, top = 0.0, 65535.0 if image.mode.startswith("I;16") else max(float(finite.max()), 255.0)
        if image.mode == "F":
            low, top = (
                (0.0, 1.0)
                if finite.min() >= 0 and finite.max() <= 1
                else (0.0, 255.0)
                if finite.min() >= 0 and finite.max() <= 255
                else (float(finite.min()), float(finite.max()))
            )
        scaled = (np.nan_to_num(values, nan=low, posinf=top, neginf=low) - low) / max(top - low, 1e-12) * 255.0
        gray = np.clip(np.round(scaled), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info or image.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
