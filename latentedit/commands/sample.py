"""``latentedit sample``: faces from a generator, with their codes, a preview grid and a manifest."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..files.codes import load_codes
from ..files.outputs import PngWriter, save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.generators import downstream_codes, render, run_record
from ..pictures import image_grid, preview_tiles
from ..records import SampleFiles, SampleManifest
from ..specs import GeneratorSpec, OutputSpec

GRID_FACES = 64


@dataclass(frozen=True)
class SampleRequest:
    """Sample ``n`` faces from ``seed`` (or render the codes in ``codes_file``, in latent ``space``)."""

    output: OutputSpec
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    n: int = 64
    seed: int = 0
    codes_file: Path | None = None
    space: str = "z"
    images: bool = True
    batch_size: int = 64
    progress: bool | None = None


@dataclass
class SampleResult:
    out: Path
    n: int
    manifest: SampleManifest


def sample(request: SampleRequest) -> SampleResult:
    """Write ``z.npy`` (float32, (N, dim)), ``000000.png``… unless ``images`` is false, ``grid.png`` with the first
    64 faces, and ``manifest.json`` into the output folder, which appears only when everything is written.
    StyleGAN models also write ``w.npy`` (N, 512) and ``wp.npy`` (N, layers, 512), as InterFaceGAN does."""
    generator, digest = request.generator.load()
    space = request.space
    if request.codes_file is not None:
        codes = generator.validate_codes(load_codes(request.codes_file), space)
        source = {"codes_file": str(request.codes_file), "codes_sha256": sha256_file(Path(request.codes_file))}
    elif space != "z":
        raise UsageError(f"sampling draws Z codes; give a codes file to render codes in space {space}")
    else:
        codes = generator.sample(request.n, request.seed)
        source = {"seed": request.seed}
    n = len(codes)
    with staged_output(request.output.path, request.output.overwrite, inputs=[request.codes_file]) as staging:
        saved = downstream_codes(generator, codes, space=space, batch_size=request.batch_size)
        for name, array in saved.items():
            np.save(staging / f"{name}.npy", array)
        preview: list[np.ndarray] = []
        todo = n if request.images else min(n, GRID_FACES)  # without images only the grid needs rendering
        with PngWriter() as writer:
            done = 0
            for batch in render(generator, codes[:todo], space=space, batch_size=request.batch_size,
                                progress=request.progress):
                if done < GRID_FACES:
                    preview.append(batch[: GRID_FACES - done])
                if request.images:
                    for i, image in enumerate(batch, start=done):
                        writer.submit(image, staging / f"{i:06d}.png")
                done += len(batch)
        save_png(image_grid(preview_tiles(np.concatenate(preview))), staging / "grid.png")
        manifest = SampleManifest(
            **run_record(generator.name, digest, generator, request.generator.weights),
            resolution=generator.resolution,
            spaces={name: list(generator.code_shape(name)) for name in saved},
            n=n,
            **source,
            files=SampleFiles(codes=f"{space}.npy", images="%06d.png" if request.images else None, grid="grid.png"),
        )
        write_json(manifest, staging / "manifest.json")
    return SampleResult(Path(request.output.path), n, manifest)
