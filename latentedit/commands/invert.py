"""``latentedit invert``: the latent code of the face in each photo, with the aligned face, its reconstruction and
how close it comes (PSNR, SSIM, and the identity similarity of the two faces)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..files.outputs import save_png, staged_output, write_json
from ..models.analysis import FaceAnalysis
from ..models.generators import generator_template, run_record
from ..models.identity import image_similarity
from ..pictures import annotated_grid, preview_tiles
from ..records import InversionRecord, InvertedPhoto
from ..specs import GeneratorSpec, OutputSpec, PhotoOptions
from .photos import invert_photos, photo_names


@dataclass(frozen=True)
class InvertRequest:
    """Invert the chosen face of each photo into latent ``space`` of ``generator``."""

    output: OutputSpec
    photos: Sequence[Path]
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str = "z"
    options: PhotoOptions = field(default_factory=PhotoOptions)


def invert_to_folder(request: InvertRequest) -> InversionRecord:
    """Write, per photo, ``NAME/code.npy``, ``NAME/target.png`` (the aligned face; where the crop reaches past the
    photo's edge, the reconstruction's pixels), ``NAME/reconstruction.png`` and ``NAME/side_by_side.png``; for all
    photos ``codes.npy`` (N, *code_shape) and ``inversion.json`` (settings and PSNR / SSIM per photo, over the
    pixels that come from the photo, and the cosine of the identity embeddings of the aligned photo, ``target.png``,
    and the reconstruction; null where no face is found in either)."""
    generator, digest = request.generator.load()
    paths = list(request.photos)
    with staged_output(request.output.path, request.output.overwrite, inputs=paths) as staging:
        analysis = FaceAnalysis(generator.device)
        photos, result = invert_photos(
            paths, generator, space=request.space, options=request.options, analysis=analysis
        )
        targets = [photo.filled(image) for photo, image in zip(photos, result.images)]
        identity = image_similarity(analysis, targets, list(result.images), framing=generator_template(generator))
        entries = []
        for name, photo, code, image, target, p, s, same in zip(
            photo_names(paths), photos, result.codes, result.images, targets, result.psnr, result.ssim, identity
        ):
            folder = staging / name
            folder.mkdir()
            np.save(folder / "code.npy", code[None])
            save_png(target, folder / "target.png")
            save_png(image, folder / "reconstruction.png")
            save_png(comparison(target, image, float(p), float(s), float(same)), folder / "side_by_side.png")
            entries.append(
                InvertedPhoto(
                    photo=photo.name,
                    folder=name,
                    face_index=request.options.face_index,
                    faces_found=photo.faces_found,
                    face_box=[round(float(v), 1) for v in photo.face.box],
                    psnr_db=round(float(p), 3),
                    ssim=round(float(s), 4),
                    identity=None if np.isnan(same) else round(float(same), 4),
                )
            )
        np.save(staging / "codes.npy", result.codes)
        found = identity[np.isfinite(identity)]
        record = InversionRecord(
            **run_record(generator.name, digest, generator, request.generator.weights),
            inversion=result.record(),
            photos=entries,
            aligned=request.options.aligned or None,
            mean_psnr_db=round(float(result.psnr.mean()), 3),
            mean_ssim=round(float(result.ssim.mean()), 4),
            mean_identity=round(float(found.mean()), 4) if len(found) else None,
        )
        write_json(record, staging / "inversion.json")
    return record


def comparison(
    target: np.ndarray, reconstruction: np.ndarray, psnr_db: float, ssim_value: float, identity: float
) -> np.ndarray:
    """The aligned photo and its reconstruction side by side, enlarged, with the metrics (identity: NaN where no face
    was found) as a title."""
    tiles = preview_tiles(np.stack([target, reconstruction]))
    title = f"PSNR {psnr_db:.1f} dB, SSIM {ssim_value:.3f}"
    title += f", identity {identity:.3f}" if np.isfinite(identity) else ""
    return annotated_grid(tiles[None], title, None, ["photo, aligned", "reconstruction"])
