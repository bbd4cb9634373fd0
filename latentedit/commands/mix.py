"""``latentedit mix``: one blend of two faces, or the interpolation between them as a grid and a GIF."""

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..core.mixing import interpolate
from ..errors import UsageError
from ..files.outputs import save_gif, save_png, staged_output, write_json
from ..models.generators import Generator, render, run_record
from ..pictures import annotated_grid, preview_tiles
from ..records import InversionRun, MixRecord
from ..specs import GeneratorSpec, OutputSpec, PhotoOptions
from .sources import Source, resolve_sources, single, source_paths

PATHS = ("auto", "spherical", "linear")


@dataclass(frozen=True)
class MixRequest:
    """Blend sources ``a`` and ``b`` (each a photo, ``codes.npy[:ROW]`` or ``seed:N``) at ``weight`` (0 = A, 1 = B;
    default 0.5), or with ``steps`` interpolate from A to B along ``path`` (auto: spherical for Z, linear for W)."""

    output: OutputSpec
    a: str
    b: str
    weight: float | None = None
    steps: int | None = None
    path: str = "auto"
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str = "z"
    options: PhotoOptions = field(default_factory=PhotoOptions)


def mix(request: MixRequest) -> MixRecord:
    """Write ``mix.png`` (A, the blend, B) and ``code.npy``, or with steps ``grid.png``, ``interpolation.gif`` and
    ``codes.npy``; both with ``mix.json``."""
    weight, steps, space = request.weight, request.steps, request.space
    if weight is not None and steps is not None:
        raise UsageError("give either a weight (one blend) or steps (an interpolation), not both")
    if weight is not None and not math.isfinite(weight):
        raise UsageError(f"the weight must be a finite number, got {weight}")
    if steps is not None and steps < 2:
        raise UsageError(f"steps must be at least 2, got {steps}")
    if request.path not in PATHS:
        raise UsageError(f"path must be auto, spherical or linear, got {request.path!r}")
    generator, digest = request.generator.load()
    generator.check_space(space)
    spherical = request.path == "spherical" or (request.path == "auto" and space == "z")
    inputs = source_paths([request.a, request.b])
    with staged_output(request.output.path, request.output.overwrite, inputs=inputs) as staging:
        sources = resolve_sources([request.a, request.b], generator, space=space, options=request.options)
        code_a, code_b = single(sources[0]), single(sources[1])
        blend = [0.5 if weight is None else weight] if steps is None else list(np.linspace(0, 1, steps))
        codes = generator.normalize_z(interpolate(code_a[0], code_b[0], blend, spherical), space)
        record = MixRecord(
            **sources_head(generator, digest, request.generator, space, request.options, sources),
            a=request.a,
            b=request.b,
            path="spherical" if spherical else "linear",
            weights=[round(float(w), 6) for w in blend],
        )
        if steps is None:
            tiles = render_tiles(generator, np.concatenate([code_a, codes, code_b]), space)
            labels = ["A", f"{1 - blend[0]:.2g} A + {blend[0]:.2g} B", "B"]
            save_png(annotated_grid(tiles[None], None, None, labels), staging / "mix.png")
            np.save(staging / "code.npy", codes)
        else:
            tiles = render_tiles(generator, codes, space)
            save_png(
                annotated_grid(tiles[None], f"A -> B ({record.path})", None, [f"{w:.2g}" for w in blend]),
                staging / "grid.png",
            )
            save_gif(list(tiles), staging / "interpolation.gif")
            np.save(staging / "codes.npy", codes)
        write_json(record, staging / "mix.json")
    return record


def render_tiles(generator: Generator, codes: np.ndarray, space: str) -> np.ndarray:
    """Codes rendered as enlarged tiles for a picture."""
    return preview_tiles(np.concatenate(list(render(generator, codes, space=space))))


def sources_head(
    generator: Generator, digest: str, spec: GeneratorSpec, space: str, options: PhotoOptions, sources: list[Source]
) -> dict:
    """The fields that ``mix.json`` and ``arith.json`` share: the run head, the space, each source's origin, and the
    inversion settings when a source was a photo."""
    inverted = any(s.record.photo is not None for s in sources)
    return {
        **run_record(generator.name, digest, generator, spec.weights),
        "space": space,
        "sources": {s.spec: s.record for s in sources},
        "inversion": InversionRun(**asdict(options.settings)) if inverted else None,
    }
