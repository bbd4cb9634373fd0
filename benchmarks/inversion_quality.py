"""How well inversion reproduces faces: generated faces with known codes, the astronaut portrait, LFW crops.

    python benchmarks/inversion_quality.py [--model dcgan-digiface64] [--generated 100] [--lfw 100] [--no-write]

* Generated: faces rendered from known codes (seed 13; the encoder was trained on seeds 10 and 11), inverted from
  their uint8 images. PSNR and SSIM against the rendered image. The same faces are also saved as PNG files and
  inverted as ``latentedit invert`` does: through the photo path (MTCNN, alignment to the generator's framing; the
  aligned crop reaches past the 64 x 64 file's edge, and those pixels are left out of the loss and the metrics), and
  with ``--aligned`` (the files are taken as aligned crops, no detection).
* Astronaut: scikit-image's ``data/astronaut.png`` (512 x 512, public domain), detected and aligned like any photo.
* LFW: the first 100 rows of scikit-image's ``data/lfw_subset.npy`` (25 x 25 grayscale face crops), enlarged 4x
  bicubically, grey copied to R, G and B, and padded by 40 pixels of replicated edge (the crops are tighter than
  the generator's framing, which would otherwise show black margins). Faces MTCNN does not find are counted.

PSNR and SSIM compare the aligned face with its reconstruction at the generator's resolution, over the crop's
pixels that come from the photo. Default inversion settings (``latentedit invert``). Also saves example pictures to
docs/images/.
"""

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentedit.commands.photos import invert_photos
from latentedit.core.inversion import invert
from latentedit.devtools import machine, write_section
from latentedit.files.images import read_image
from latentedit.files.outputs import save_png
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.encoder import load_encoder
from latentedit.models.features import FeatureLoss
from latentedit.models.generators import load_generator, render
from latentedit.models.photo import align_photos
from latentedit.pictures import annotated_grid, preview_tiles
from latentedit.specs import InversionSettings, PhotoOptions

SEED = 13
IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"


def skimage_data(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None:
        sys.exit("scikit-image is needed for its sample photos: pip install scikit-image")
    return Path(spec.submodule_search_locations[0]) / "data" / name


def lfw_photos(n: int) -> list[np.ndarray]:
    crops = np.load(skimage_data("lfw_subset.npy"))[:n]
    photos = []
    for crop in crops:
        gray = Image.fromarray(np.round(crop * 255).astype(np.uint8)).resize((100, 100), Image.BICUBIC)
        padded = np.pad(np.asarray(gray), 40, mode="edge")
        photos.append(np.repeat(padded[..., None], 3, axis=2))
    return photos


def summary(label: str, psnr: np.ndarray, ssim: np.ndarray, note: str) -> str:
    return (
        f"| {label} | {len(psnr)} | {psnr.mean():.2f} | {np.median(psnr):.2f} | {psnr.min():.2f} | "
        f"{(psnr >= 30).mean():.0%} | {ssim.mean():.3f} | {note} |"
    )


def examples(targets: np.ndarray, reconstructions: np.ndarray, title: str) -> np.ndarray:
    """Targets above their reconstructions, enlarged."""
    tiles = preview_tiles(np.concatenate([targets, reconstructions]))
    return annotated_grid(tiles.reshape(2, len(targets), *tiles.shape[1:]), title, ["target", "inverted"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("--generated", type=int, default=100)
    parser.add_argument("--lfw", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/")
    args = parser.parse_args()

    generator, _ = load_generator(args.model, device=args.device)
    settings = InversionSettings()
    analysis = FaceAnalysis(generator.device)
    detector = analysis.mtcnn
    options = {"features": FeatureLoss(analysis), "encoder": load_encoder(generator, "z"), "settings": settings}
    started = time.time()
    rows = [
        "| faces | n | mean PSNR (dB) | median | min | ≥ 30 dB | mean SSIM | notes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]

    targets = np.concatenate(list(render(generator, generator.sample(args.generated, SEED))))
    generated = invert(generator, targets, **options)
    rows.append(summary("generated, arrays (known codes)", generated.psnr, generated.ssim, f"seed {SEED}"))
    print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, image in enumerate(targets):
            files.append(Path(folder) / f"{i:06d}.png")
            save_png(image, files[-1])
        for aligned, label in (
            (False, "generated, PNG files, photo path (detect, align)"),
            (True, "generated, PNG files, `--aligned`"),
        ):
            faces, result = invert_photos(
                files, generator, options=PhotoOptions(settings, aligned=aligned), analysis=analysis, progress=False
            )
            inside = np.mean([face.inside.mean() for face in faces])
            rows.append(summary(label, result.psnr, result.ssim, f"{inside:.0%} of the aligned crop inside the file"))
            print(rows[-1], flush=True)

    astronaut = align_photos([read_image(skimage_data("astronaut.png"))], ["astronaut.png"], generator, analysis)
    inverted = invert(generator, astronaut[0].crop[None], masks=astronaut[0].inside[None], **options)
    rows.append(summary("astronaut portrait", inverted.psnr, inverted.ssim, "scikit-image data/astronaut.png"))
    print(rows[-1], flush=True)

    photos = lfw_photos(args.lfw)
    found = [i for i, faces in enumerate(detector.detect(photos)) if faces]
    lfw_faces = align_photos([photos[i] for i in found], [f"lfw {i}" for i in found], generator, analysis)
    lfw = invert(
        generator, np.stack([f.crop for f in lfw_faces]), masks=np.stack([f.inside for f in lfw_faces]), **options
    )
    rows.append(
        summary(
            "LFW crops (grey, 25 px, enlarged)", lfw.psnr, lfw.ssim, f"faces found in {len(found)} of {len(photos)}"
        )
    )
    print(rows[-1], flush=True)

    body = "\n".join(
        [
            f"`python benchmarks/inversion_quality.py` — model {args.model}, default `invert` settings "
            f"({settings.iterations} iterations, {generated.settings.starts} start(s)); device {generator.device}; "
            f"{time.time() - started:.0f} s in all.",
            f"Machine: {machine()}. Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
            "",
            *rows,
            "",
            "PSNR and SSIM (11 x 11 Gaussian window, sigma 1.5) compare the aligned face with its reconstruction at "
            "the "
            "generator's resolution, over the pixels of the aligned crop that come from the photo (SSIM: the "
            "windows that "
            "lie wholly inside them). LFW crops are grey, 25 x 25 pixels, enlarged 4x and padded with "
            "replicated edges; the generator renders colour, so the grey has to be matched too.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Inversion quality (`benchmarks/inversion_quality.py`)", body)
        IMAGES.mkdir(parents=True, exist_ok=True)
        save_png(
            examples(targets[:8], generated.images[:8], "generated faces (known codes)"),
            IMAGES / "inversion_generated.png",
        )
        save_png(
            examples(np.stack([f.crop for f in lfw_faces[:8]]), lfw.images[:8], "LFW crops"),
            IMAGES / "inversion_lfw.png",
        )
        save_png(examples(astronaut[0].crop[None], inverted.images, "astronaut"), IMAGES / "inversion_astronaut.png")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
