"""Sampling faces from a generator and saving codes, images, a preview grid and a manifest."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .generators import DEFAULT_MODEL, downstream_codes, load_generator, render, run_record
from .outputs import PngWriter, image_grid, load_codes, preview_tiles, save_png, staged_output, write_json
from .weights import sha256_file

GRID_FACES = 64


@dataclass
class SampleResult:
    out: Path
    n: int
    manifest: dict


def sample_faces(
    out: Path,
    n: int = 64,
    seed: int = 0,
    model: str = DEFAULT_MODEL,
    batch_size: int = 64,
    images: bool = True,
    device: str = "auto",
    codes_file: Path | None = None,
    overwrite: bool = False,
    weights: Path | None = None,
    progress: bool | None = None,
    space: str = "z",
    style: dict | None = None,
) -> SampleResult:
    """Sample ``n`` faces (or render the codes in ``codes_file``) into the folder ``out``.

    Writes ``z.npy`` (float32, (N, dim)), ``000000.png``… unless ``images`` is false, ``grid.png`` with the
    first 64 faces, and ``manifest.json``. The folder appears only when everything is written.
    StyleGAN models also write ``w.npy`` (N, 512) and ``wp.npy`` (N, layers, 512), as InterFaceGAN does;
    ``space`` is the space of ``codes_file``; ``style`` holds truncation and noise options (see load_generator).
    """
    generator, digest = load_generator(model, device, weights, **(style or {}))
    if codes_file is not None:
        codes = generator.validate_codes(load_codes(codes_file), space)
        source = {"codes_file": str(codes_file), "codes_sha256": sha256_file(Path(codes_file))}
    elif space != "z":
        raise UsageError(f"sampling draws Z codes; give --codes to render codes in space {space}")
    else:
        codes = generator.sample(n, seed)
        source = {"seed": seed}
    n = len(codes)
    with staged_output(out, overwrite) as staging:
        saved = downstream_codes(generator, codes, space, batch_size)
        for name, array in saved.items():
            np.save(staging / f"{name}.npy", array)
        preview: list[np.ndarray] = []
        todo = n if images else min(n, GRID_FACES)  # without images only the grid needs rendering
        with PngWriter() as writer:
            done = 0
            for batch in render(generator, codes[:todo], space, batch_size, progress):
                if done < GRID_FACES:
                    preview.append(batch[: GRID_FACES - done])
                if images:
                    for i, image in enumerate(batch, start=done):
                        writer.submit(image, staging / f"{i:06d}.png")
                done += len(batch)
        save_png(image_grid(preview_tiles(np.concatenate(preview))), staging / "grid.png")
        manifest = {
            **run_record(model, digest, generator, weights),
            "resolution": generator.resolution,
            "spaces": {name: list(generator.code_shape(name)) for name in saved},
            "n": n,
            **source,
            "files": {"codes": f"{space}.npy", "images": "%06d.png" if images else None, "grid": "grid.png"},
        }
        write_json(manifest, staging / "manifest.json")
    return SampleResult(Path(out), n, manifest)
