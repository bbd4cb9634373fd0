"""``latentedit sample``: faces from a generator, with their codes, a preview grid and a manifest."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.shards import Shard
from ..errors import UsageError
from ..files.codes import load_codes
from ..files.outputs import PngWriter, read_json, save_png, staged_output, write_json
from ..files.weights import sha256_file
from ..models.cache import ModelCache
from ..models.generators import downstream_codes, render, run_record
from ..pictures import image_grid, preview_tiles
from ..records import SampleFiles, SampleManifest
from ..specs import GeneratorSpec, OutputSpec
from .parts import job_head, plan_part, write_part_record

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
    shard: Shard | None = None  # write only this part of the job (see commands/parts.py)


@dataclass
class SampleResult:
    out: Path
    n: int
    manifest: SampleManifest
    reused: bool = False  # a complete part of the same job was already there


def sample(request: SampleRequest, *, models: ModelCache | None = None) -> SampleResult:
    """Write ``z.npy`` (float32, (N, dim)), ``000000.png``… unless ``images`` is false, ``grid.png`` with the first
    64 faces, and ``manifest.json`` into the output folder, which appears only when everything is written.
    StyleGAN models also write ``w.npy`` (N, 512) and ``wp.npy`` (N, layers, 512), as InterFaceGAN does.

    With ``shard``, only that part's rows, into OUT/part-0000K-of-0000N (images keep the job's numbers); a
    complete part of the same job there is kept as it is (``reused``). ``models`` keeps the generator loaded for the
    next part (a Ray worker); None loads it here."""
    generator, digest = (models or ModelCache()).generator(request.generator)
    space = request.space
    codes: np.ndarray | None = None
    source: dict[str, Any]
    if request.codes_file is not None:
        codes = generator.validate_codes(load_codes(request.codes_file), space)
        source = {"codes_file": str(request.codes_file), "codes_sha256": sha256_file(Path(request.codes_file))}
    elif space != "z":
        raise UsageError(f"sampling draws Z codes; give a codes file to render codes in space {space}")
    else:
        source = {"seed": request.seed}
    total = request.n if codes is None else len(codes)
    rows, out = range(total), Path(request.output.path)
    if request.shard is not None:
        job = {
            "command": "sample",
            "rows": total,
            "space": space,
            "images": request.images,
            **job_head(run_record(generator.name, digest, generator)),
            **source,
        }
        job.pop("codes_file", None)
        part = plan_part(request.output, request.shard, job, total=total)
        if part.done:
            manifest = SampleManifest.from_json(read_json(part.folder / "manifest.json", "manifest"))
            return SampleResult(part.folder, len(part.rows), manifest, reused=True)
        rows, out = part.rows, part.folder
    if codes is None:
        codes = generator.sample(len(rows), request.seed, start=rows.start)
    else:
        codes = codes[rows.start : rows.stop]
    n = len(codes)
    with staged_output(out, request.output.overwrite, inputs=[request.codes_file]) as staging:
        saved = downstream_codes(generator, codes, space=space, batch_size=request.batch_size)
        for name, array in saved.items():
            np.save(staging / f"{name}.npy", array)
        preview: list[np.ndarray] = []
        todo = n if request.images else min(n, GRID_FACES)  # without images only the grid needs rendering
        with PngWriter() as writer:
            done = 0
            for batch in render(
                generator, codes[:todo], space=space, batch_size=request.batch_size, progress=request.progress
            ):
                if done < GRID_FACES:
                    preview.append(batch[: GRID_FACES - done])
                if request.images:
                    for i, image in enumerate(batch, start=rows.start + done):
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
        if request.shard is not None:
            write_part_record(part, staging)
    return SampleResult(out, n, manifest)
