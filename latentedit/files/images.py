"""Reading images from disk as uint8 RGB arrays, whatever their mode, bit depth or EXIF orientation."""

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def read_image(path: Path | str) -> np.ndarray:
    """The image at ``path`` as uint8 (H, W, 3) RGB, upright per its EXIF orientation.

    Grayscale, palette, RGBA (composited on white), CMYK and 16-bit images are converted; raises
    :class:`UsageError` with one line for a missing, empty, corrupted or non-image file.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"image {path} does not exist")
    if path.stat().st_size == 0:
        raise UsageError(f"image {path} is empty")
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot read image {path}: {reason}") from None


def to_rgb(image: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as uint8 (H, W, 3) RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit, 32-bit or float grayscale: 16-bit range to 0..255, other types by their maximum.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 255.0)
        gray = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info or image.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder`` (by suffix), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
