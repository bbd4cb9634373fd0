"""Pictures for people to look at: grids of faces, labelled tiles, small line charts (uint8 arrays, no file I/O)."""

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def image_grid(
    images: np.ndarray | Sequence[np.ndarray], columns: int = 8, pad: int = 2, fill: int = 255
) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images into one grid image with ``pad`` pixels of ``fill`` between tiles."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), fill, np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid


def preview_tiles(images: np.ndarray, size: int | None = None) -> np.ndarray:
    """Resize (N, H, W, 3) uint8 faces to ``size`` for viewing: small faces are enlarged (nearest), big ones reduced.

    By default the tile size is the resolution clamped to [128, 256].
    """
    images = np.asarray(images)
    size = size or int(np.clip(images.shape[1], 128, 256))
    if images.shape[1:3] == (size, size):
        return images
    method = Image.Resampling.NEAREST if size > images.shape[1] else Image.Resampling.LANCZOS
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), method)) for im in images])


def annotated_grid(
    tiles: np.ndarray,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    pad: int = 4,
) -> np.ndarray:
    """Lay out (R, C, H, W, 3) uint8 tiles on white with an optional title, row and column labels,
    and a caption under each tile; returns the picture as a uint8 array."""
    rows, cols, h, w, _ = tiles.shape
    font_size = max(11, min(18, w // 9))
    font = ImageFont.load_default(size=font_size)
    line = font_size + 6
    left = pad + (max(int(font.getlength(t)) for t in row_labels) + pad if row_labels else 0)
    top = pad + (line if title else 0) + (line if column_labels else 0)
    cell_h = h + pad + (line if captions else 0)
    canvas = Image.new("RGB", (left + cols * (w + pad), top + rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, pad), title, fill="black", font=font)
    for c, label in enumerate(column_labels or []):
        x = left + c * (w + pad) + (w - font.getlength(label)) / 2
        draw.text((x, top - line), label, fill="black", font=font)
    for r in range(rows):
        y = top + r * cell_h
        if row_labels:
            draw.text((pad, y + (h - font_size) / 2), row_labels[r], fill="black", font=font)
        for c in range(cols):
            x = left + c * (w + pad)
            canvas.paste(Image.fromarray(tiles[r, c]), (x, y))
            if captions:
                text = captions[r][c]
                draw.text((x + (w - font.getlength(text)) / 2, y + h + 2), text, fill="black", font=font)
    return np.asarray(canvas)


def column_means(values: np.ndarray) -> np.ndarray:
    """Mean of each column over its finite entries (NaN for a column without any), without NumPy's warning."""
    finite = np.isfinite(values)
    return np.where(finite.any(0), np.where(finite, values, 0).sum(0) / np.maximum(finite.sum(0), 1), np.nan)


def line_panels(
    x: Sequence[float] | np.ndarray,
    series: dict[str, np.ndarray],
    units: dict[str, str],
    title: str,
    x_labels: Sequence[str] | None = None,
    per_row: int = 3,
    smooth: int = 1,
    limits: dict[str, tuple[float, float]] | None = None,
) -> np.ndarray:
    """Small line charts, one per entry of ``series`` ((rows, len(x)) values, NaN where missing): every row as a
    thin grey line, their mean (its running mean over ``smooth`` points) as a thick red one, on the rows' own value
    range or the series' ``limits``; returns a uint8 picture. Empty ``x_labels`` leave their positions unlabelled."""
    width, height, left, top, bottom, pad = 250, 180, 48, 34, 24, 8
    font = ImageFont.load_default(size=12)
    cols = min(per_row, len(series))
    rows = -(-len(series) // cols)
    canvas = Image.new("RGB", (cols * width + pad, 24 + rows * height + pad), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 6), title, fill="black", font=font)
    xs = np.asarray(x, float)
    for k, (name, values) in enumerate(series.items()):
        ox, oy = pad + (k % cols) * width, 24 + (k // cols) * height
        x0, x1, y0, y1 = ox + left, ox + width - pad * 2, oy + top, oy + height - bottom
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        low, high = (low - 1, high + 1) if high == low else (low - 0.05 * (high - low), high + 0.05 * (high - low))
        low, high = (limits or {}).get(name, (low, high))

        span = (xs.min(), xs.max()) if xs.max() > xs.min() else (xs[0] - 1, xs[0] + 1)  # one step: in the middle
        at = _mapper((span[0], low), (span[1], high), (x0, y0, x1, y1))

        draw.text((x0, oy + 12), f"{name} ({units.get(name, '')})", fill="black", font=font)
        draw.rectangle((x0, y0, x1, y1), outline=(120, 120, 120))
        for v in np.linspace(low, high, 3):
            label = f"{v:.3g}"
            draw.text((x0 - 4 - font.getlength(label), at(xs[0], v)[1] - 6), label, fill="black", font=font)
        for u, label in zip(xs, x_labels or [f"{u:+.2g}" for u in xs]):
            draw.text((at(u, low)[0] - font.getlength(label) / 2, y1 + 4), label, fill="black", font=font)
        window = max(1, min(smooth, values.shape[1]))
        mean = np.convolve(column_means(values), np.ones(window) / window, mode="valid")
        lines = [*[(xs, row, (190, 190, 190), 1) for row in values], (xs[window - 1 :], mean, (200, 30, 30), 3)]
        for points_x, line, colour, thickness in lines:
            points = [at(u, v) for u, v in zip(points_x, line) if np.isfinite(v)]
            if len(points) > 1:
                draw.line(points, fill=colour, width=thickness)
            elif points:  # a single step: a dot
                (u, v), r = points[0], thickness + 1
                draw.ellipse((u - r, v - r, u + r, v + r), fill=colour)
    return np.asarray(canvas)


def curve_panels(
    panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
    *,
    x_label: str,
    y_labels: dict[str, str],
    title: str,
    point_labels: Sequence[str] = (),
    per_row: int = 3,
) -> np.ndarray:
    """Small x-y charts, one per entry of ``panels``, each with its curves ``{label: (x, y)}`` drawn as lines with
    dots in colours that the legend under the title names; ``point_labels`` are written beside the first curve's
    points (for example the strengths). Every panel has its own ranges. Returns a uint8 picture."""
    width, height, left, top, bottom, pad = 300, 220, 52, 34, 38, 8
    colours = [(200, 30, 30), (30, 90, 200), (40, 150, 60), (150, 80, 170)]
    font = ImageFont.load_default(size=12)
    cols = min(per_row, len(panels))
    rows = -(-len(panels) // cols)
    canvas = Image.new("RGB", (cols * width + pad, 44 + rows * height + pad), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 6), title, fill="black", font=font)
    legend_x: float = pad
    for colour, label in zip(colours, next(iter(panels.values()))):
        draw.line((legend_x, 32, legend_x + 20, 32), fill=colour, width=3)
        draw.text((legend_x + 24, 26), label, fill="black", font=font)
        legend_x += 34 + font.getlength(label)
    for k, (name, curves) in enumerate(panels.items()):
        ox, oy = pad + (k % cols) * width, 44 + (k // cols) * height
        x0, x1, y0, y1 = ox + left, ox + width - pad * 2, oy + top, oy + height - bottom
        every = np.concatenate([np.stack(xy, 1) for xy in curves.values()])
        every = every[np.isfinite(every).all(1)]
        low, high = every.min(0), every.max(0)
        span = np.where(high > low, high - low, 1.0)
        low, high = low - 0.06 * span, high + 0.06 * span
        at = _mapper(low, high, (x0, y0, x1, y1))

        draw.text((x0, oy + 12), f"{name}: {y_labels.get(name, '')}", fill="black", font=font)
        draw.rectangle((x0, y0, x1, y1), outline=(120, 120, 120))
        for v in np.linspace(low[1], high[1], 3):
            text = f"{v:.3g}"
            draw.text((x0 - 4 - font.getlength(text), at(low[0], v)[1] - 6), text, fill="black", font=font)
        for u in np.linspace(low[0], high[0], 3):
            text = f"{u:.3g}"
            draw.text((at(u, low[1])[0] - font.getlength(text) / 2, y1 + 4), text, fill="black", font=font)
        draw.text(((x0 + x1 - font.getlength(x_label)) / 2, y1 + 20), x_label, fill="black", font=font)
        for c, (colour, (xs, ys)) in enumerate(zip(colours, curves.values())):
            points = {i: at(u, v) for i, (u, v) in enumerate(zip(xs, ys)) if np.isfinite(u) and np.isfinite(v)}
            if len(points) > 1:
                draw.line(list(points.values()), fill=colour, width=2)
            for i, (u, v) in points.items():
                draw.ellipse((u - 3, v - 3, u + 3, v + 3), fill=colour)
                if c == 0 and i < len(point_labels):
                    draw.text((u + 5, v - 14), point_labels[i], fill=(90, 90, 90), font=font)
    return np.asarray(canvas)


def _mapper(
    low: Sequence[float], high: Sequence[float], box: tuple[float, float, float, float]
) -> Callable[[float, float], tuple[float, float]]:
    """The map from data (x, y) in ``low``..``high`` to the pixels of ``box`` (x0, y0, x1, y1), y upward."""
    x0, y0, x1, y1 = box
    return lambda u, v: (
        x0 + (u - low[0]) / (high[0] - low[0]) * (x1 - x0),
        y1 - (v - low[1]) / (high[1] - low[1]) * (y1 - y0),
    )


def zoom(images: Sequence[np.ndarray], height: int = 256) -> np.ndarray:
    """Same-size uint8 images resized to ``height`` (aspect kept; bicubic up, Lanczos down), stacked."""
    h, w = images[0].shape[:2]
    size = (max(1, round(w * height / h)), height)
    method = Image.Resampling.BICUBIC if height > h else Image.Resampling.LANCZOS
    return np.stack([np.asarray(Image.fromarray(image).resize(size, method)) for image in images])
