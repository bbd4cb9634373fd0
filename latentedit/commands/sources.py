"""Where the codes of ``mix`` and ``arith`` come from: a photo (inverted on the spot), rows of a ``.npy`` code file
(``codes.npy``, ``codes.npy:3`` or ``codes.npy:3,5,8``) or a sample of the generator (``seed:N``)."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..files.codes import load_codes
from ..files.weights import sha256_file
from ..models.generators import Generator, downstream_codes
from ..records import MixSource
from ..specs import PhotoOptions
from .photos import DEFAULT_PHOTO_OPTIONS, invert_photos

_SEED = re.compile(r"^seed:(-?\d+)$")
_ROWS = re.compile(r"^(.+\.npy)(?::([-\d,\s]+))?$", re.I)


@dataclass
class Source:
    """Codes from one source (k, *code_shape) and where they came from."""

    spec: str
    codes: np.ndarray
    record: MixSource


def resolve_sources(
    specs: Sequence[str], generator: Generator, *, space: str = "z", options: PhotoOptions = DEFAULT_PHOTO_OPTIONS
) -> list[Source]:
    """The codes of each source spec, in ``space``; all photos among them are inverted together."""
    sources: list[Source | None] = []
    photos: list[tuple[int, Path]] = []
    for i, spec in enumerate(specs):
        seed, rows = _SEED.match(spec.strip()), _ROWS.match(spec.strip())
        if seed:
            z = generator.sample(1, int(seed.group(1)))
            sources.append(Source(spec, downstream_codes(generator, z)[space], MixSource(seed=int(seed.group(1)))))
        elif rows:
            path = Path(rows.group(1))
            codes = generator.validate_codes(load_codes(path), space)
            index = None
            if rows.group(2):
                try:
                    index = [int(v) for v in rows.group(2).split(",") if v.strip()]
                except ValueError:
                    raise UsageError(f"cannot read the rows in {spec!r}: use FILE.npy:3 or FILE.npy:3,5,8") from None
                bad = [j for j in index if not -len(codes) <= j < len(codes)]
                if bad:
                    raise UsageError(f"row {bad[0]} is out of range: {path} holds {len(codes)} codes")
                codes = codes[index]
            record = MixSource(codes_file=str(path), codes_sha256=sha256_file(path), index=index)
            sources.append(Source(spec, codes, record))
        else:
            photos.append((i, Path(spec)))
            sources.append(None)
    if photos:
        faces, result = invert_photos([path for _, path in photos], generator, space=space, options=options)
        for (i, path), code, p, s in zip(photos, result.codes, result.psnr, result.ssim):
            sources[i] = Source(
                specs[i],
                code[None],
                MixSource(
                    photo=str(path), face_index=options.face_index, psnr_db=round(float(p), 3), ssim=round(float(s), 4)
                ),
            )
    return [source for source in sources if source is not None]


def source_paths(specs: Sequence[str]) -> list[Path]:
    """The files that source specs read (code files and photos; a seed reads none)."""
    paths = []
    for spec in specs:
        rows = _ROWS.match(spec.strip())
        if not _SEED.match(spec.strip()):
            paths.append(Path(rows.group(1)) if rows else Path(spec))
    return paths


def single(source: Source) -> np.ndarray:
    """The one code of ``source`` (1, *code_shape), or an error asking for a row."""
    if len(source.codes) != 1:
        raise UsageError(f"{source.spec} holds {len(source.codes)} codes; pick one, e.g. {source.spec}:0")
    return source.codes
