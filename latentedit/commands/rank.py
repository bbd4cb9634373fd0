"""``latentedit rank``: the faces at both ends and the middle of a boundary's ranking, as one picture."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.boundary import Boundary
from ..errors import UsageError
from ..files.boundaries import resolve_boundary
from ..files.codes import load_codes
from ..files.outputs import save_png, write_files_atomically
from ..models.generators import Generator, render
from ..pictures import annotated_grid, preview_tiles
from ..specs import GeneratorSpec, OutputSpec

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class RankRequest:
    """Rank the codes in ``codes_file`` by their signed distance to ``boundary`` (a shipped name or a path) in
    latent ``space`` (None: the boundary's own, else z); ``per_group`` faces per row; the output is a picture."""

    output: OutputSpec
    codes_file: Path
    boundary: str
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str | None = None
    per_group: int = 8


def rank(request: RankRequest) -> Path:
    """Write the ranking picture to the output path; returns it."""
    out = Path(request.output.path)
    if out.suffix.lower() not in PICTURE_SUFFIXES:
        raise UsageError(
            "the ranking is a picture: give an output file ending in .png "
            f"(or {', '.join(PICTURE_SUFFIXES[1:])}), got {out}"
        )
    boundary = resolve_boundary(request.boundary, request.generator.name)
    generator, _ = request.generator.load()
    space = request.space or boundary.info.space or "z"
    picture = render_ranking(
        generator, load_codes(request.codes_file), boundary, per_group=request.per_group, space=space
    )
    write_files_atomically(
        {out: lambda p: save_png(picture, p)}, request.output.overwrite, inputs=[request.codes_file, boundary.path]
    )
    return out


def render_ranking(
    generator: Generator, codes: np.ndarray, boundary: Boundary, *, per_group: int = 8, space: str = "z"
) -> np.ndarray:
    """A labelled picture of the faces at the top, middle and bottom of the signed-distance ranking (codes and
    boundary in latent ``space``)."""
    codes = generator.validate_codes(codes, space)
    if boundary.dim != codes.shape[1]:
        raise UsageError(f"boundary {boundary.name} has dimension {boundary.dim}, the codes have {codes.shape[1]}")
    per_group = max(1, min(per_group, len(codes) // 3))
    distance = boundary.distance(codes)
    order = np.argsort(-distance, kind="stable")
    middle = (len(order) - per_group) // 2
    groups = [order[:per_group], order[middle : middle + per_group], order[len(order) - per_group :]]
    chosen = np.concatenate(groups)
    faces = preview_tiles(np.concatenate(list(render(generator, codes[chosen], space=space, progress=False))))
    tiles = faces.reshape(3, per_group, *faces.shape[1:])
    captions = [[f"{distance[i]:+.2f}" for i in group] for group in groups]
    title = f"{boundary.name}: {len(codes)} codes ranked by signed distance to the boundary"
    return annotated_grid(tiles, title, ["highest", "middle", "lowest"], None, captions)
