"""GAN inversion: find the latent code whose rendering reproduces a face photo aligned to the generator's framing.

A photo's largest face (or the one asked for) is detected with MTCNN and aligned by a similarity transform onto
the framing of the generator's own samples. A code is then optimised with Adam to reproduce the aligned face:
pixel loss, a feature loss on the activations of dlib's age network (CC0, run in torch), and a prior that keeps
the code where the generator's codes live. The first start comes from a learned encoder where one ships
(dcgan-digiface64: ``encoders/``, trained by scripts/train_inversion_encoder.py), else from the mean W (StyleGAN
models) or a random code; further starts are random. All starts of all faces in a batch run together; after a
quarter of the iterations only the best start of each face goes on.
"""

import copy
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

from .errors import NoFaceError, UsageError, WeightsError
from .faces import MTCNN, Face, align, face_mask, template_points, unalign
from .generators import DEFAULT_MODEL, MODELS, Generator, load_generator, run_record, to_uint8
from .images import read_image
from .metrics import psnr, ssim
from .onnxnet import OnnxNet
from .outputs import annotated_grid, preview_tiles, save_png, staged_output, write_json
from .scorers.agegender import AGE_WEIGHTS, CHANNEL_MEANS

ENCODER_DIR = Path(__file__).resolve().parent / "encoders"
ENCODER_FORMAT = "latentedit-encoder"
MIN_FACE_PIXELS = 32  # faces with a shorter box side than this are warned about: too little of them to go on
FEATURE_NODES = ("layer_50_relu", "layer_41_relu", "layer_22_relu")  # age-v1.onnx: 29x29x64, 14x14x64, 7x7x128
FEATURE_SIZE = 128  # renders above this size are reduced to it for the feature loss
PASTE_MODES = ("change", "paste")


# ------------------------------------------------------------------------------------------------- photos


@dataclass
class PhotoFace:
    """A photo, the face chosen in it, and that face aligned to the generator's framing."""

    name: str
    image: np.ndarray  # uint8 (H, W, 3)
    face: Face
    crop: np.ndarray  # uint8 (R, R, 3), R = the generator's resolution
    matrix: np.ndarray  # 2x3: image pixel coordinates -> crop pixel coordinates
    faces_found: int
    template: np.ndarray  # the framing the crop was aligned to (crop units)

    def paste(self, before: np.ndarray, after: np.ndarray, mode: str = "change") -> np.ndarray:
        """The photo with its face changed from crop ``before`` to crop ``after`` (uint8, the crop's size),
        blended in through a feathered mask of the inner face (see :func:`faces.face_mask`).

        ``change`` adds the difference after - before, resampled to the photo, so that the photo keeps its own
        detail and colours; ``paste`` puts the ``after`` crop itself in place of the face.
        """
        if mode not in PASTE_MODES:
            raise UsageError(f"paste mode must be one of {', '.join(PASTE_MODES)}, got {mode!r}")
        new = after.astype(np.float32) - (before.astype(np.float32) if mode == "change" else 0)
        region, values, where = unalign(new, self.matrix, self.image.shape)
        weights = face_mask(where, self.template)[..., None]
        original = self.image[region].astype(np.float32)
        blended = original + weights * values if mode == "change" else original + weights * (values - original)
        out = self.image.copy()
        out[region] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        return out

    def surroundings(self, scale: float = 1.8) -> tuple[slice, slice]:
        """Rows and columns of a square around the face box, ``scale`` times its longer side, clipped to the image."""
        x1, y1, x2, y2 = self.face.box
        half = max(x2 - x1, y2 - y1) * scale / 2
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        height, width = self.image.shape[:2]
        rows = slice(max(0, int(cy - half)), min(height, int(np.ceil(cy + half))))
        cols = slice(max(0, int(cx - half)), min(width, int(np.ceil(cx + half))))
        return rows, cols


def zoom(images: Sequence[np.ndarray], height: int = 256) -> np.ndarray:
    """Same-size uint8 images resized to ``height`` (aspect kept; bicubic up, Lanczos down), stacked."""
    h, w = images[0].shape[:2]
    size = (max(1, round(w * height / h)), height)
    method = Image.BICUBIC if height > h else Image.LANCZOS
    return np.stack([np.asarray(Image.fromarray(image).resize(size, method)) for image in images])


def generator_template(generator: Generator) -> np.ndarray:
    """The five-point framing of ``generator``'s samples (crop units), from the registry (default: FFHQ's)."""
    info = MODELS.get(generator.name)
    return template_points(info.template if info is not None else "ffhq")


def align_photos(
    images: Sequence[np.ndarray], names: Sequence[str], generator: Generator, detector: MTCNN, face_index: int = 0
) -> list[PhotoFace]:
    """Detect the faces of each image and align face number ``face_index`` (0 = largest) to the generator.

    Raises :class:`NoFaceError` naming the first image without a face and :class:`UsageError` when an image has
    fewer faces than ``face_index + 1``; warns when a face is smaller than :data:`MIN_FACE_PIXELS`.
    """
    if face_index < 0:
        raise UsageError(f"--face-index must be 0 (the largest face) or more, got {face_index}")
    template = generator_template(generator)
    found = detector.detect(images)
    photos = []
    for image, name, faces in zip(images, names, found):
        if not faces:
            raise NoFaceError(f"no face found in {name}")
        if face_index >= len(faces):
            raise UsageError(f"{name} has {len(faces)} face(s); --face-index {face_index} asks for face {face_index + 1}")
        face = faces[face_index]
        side = min(face.box[2] - face.box[0], face.box[3] - face.box[1])
        if side < MIN_FACE_PIXELS:
            warnings.warn(f"the face in {name} is only {side:.0f} pixels across: its reconstruction will be coarse", stacklevel=2)
        crop, matrix = align(image, face.landmarks, generator.resolution, template)
        photos.append(PhotoFace(name, image, face, crop, matrix, len(faces), template))
    return photos


# ------------------------------------------------------------------------------------------------ encoder


class Encoder(nn.Module):
    """A small CNN from a generator's 64x64 image (N, 3, 64, 64) in [-1, 1] to its Z code: the inversion's start."""

    def __init__(self, code_dim: int = 100, width: int = 32) -> None:
        super().__init__()

        def down(cin: int, cout: int, kernel: int, norm: bool = True) -> list[nn.Module]:
            conv = nn.Conv2d(cin, cout, kernel, 2, 1, bias=not norm)
            return [conv, *([nn.BatchNorm2d(cout)] if norm else []), nn.LeakyReLU(0.2, inplace=True)]

        self.code_dim, self.width = code_dim, width
        self.net = nn.Sequential(
            *down(3, width, 4, norm=False),  # 32 x 32
            *down(width, 2 * width, 4),  # 16 x 16
            *down(2 * width, 4 * width, 4),  # 8 x 8
            *down(4 * width, 6 * width, 3),  # 4 x 4
            nn.Flatten(),
            nn.Linear(6 * width * 16, code_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def save(self, path: Path, header: dict) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        header = {**header, "code_dim": self.code_dim, "width": self.width}
        torch.save({ENCODER_FORMAT: json.dumps(header), "state_dict": state}, path)

    @classmethod
    def load(cls, path: Path) -> tuple["Encoder", dict]:
        """An encoder file (read with ``weights_only=True``) and its header, in eval mode on the CPU."""
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            header = json.loads(checkpoint[ENCODER_FORMAT])
            encoder = cls(header["code_dim"], header["width"])
            encoder.load_state_dict(checkpoint["state_dict"])
        except Exception as exc:  # torch.load, json and load_state_dict raise many types for bad files
            raise WeightsError(f"{path} is not a latentedit inversion encoder: {type(exc).__name__}: {exc}") from None
        return encoder.eval().requires_grad_(False), header


def load_encoder(generator: Generator, space: str) -> Encoder | None:
    """The shipped encoder for ``generator`` in ``space``, on its device, or None if there is none."""
    path = ENCODER_DIR / f"{generator.name}.pt"
    if not path.is_file():
        return None
    encoder, header = Encoder.load(path)
    fits = header.get("space") == space and header.get("resolution") == generator.resolution
    return encoder.to(generator.device) if fits and encoder.code_dim == generator.code_shape(space)[-1] else None


# ------------------------------------------------------------------------------------------------- losses


class FeatureLoss(nn.Module):
    """Distance between the age network's activations at three depths, each unit-normalised over channels
    (LPIPS's form without its learned weights), averaged over positions and summed over depths."""

    def __init__(self) -> None:
        super().__init__()
        self.net = OnnxNet(AGE_WEIGHTS.verified_path())
        self.register_buffer("means", torch.tensor(CHANNEL_MEANS).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Normalised activations of images in [-1, 1], resized into [64, FEATURE_SIZE] pixels if outside."""
        size = min(max(images.shape[-1], 64), FEATURE_SIZE)
        if size != images.shape[-1]:
            images = F.interpolate(images, size=(size, size), mode="area" if size < images.shape[-1] else "bilinear")
        pixels = (images + 1) * 127.5
        out = self.net.activations((pixels - self.means) / 256.0, FEATURE_NODES)
        return [f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-8) for f in out]

    def forward(self, a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
        return sum((x - y).pow(2).sum(1).flatten(1).mean(1) for x, y in zip(a, b))


def prior_penalty(generator: Generator, codes: torch.Tensor, space: str) -> torch.Tensor:
    """Per-code penalty for leaving the generator's latent distribution.

    Gaussian Z: the negative log-density of the code's norm under the chi distribution (smallest at
    sqrt(dim - 1)), divided by dim. W: mean squared distance to the mean W. W+: that, plus the spread of the
    layers around their own mean (keeps W+ codes close to a single W). Z codes on a sphere are projected instead.
    """
    if space == "z":
        if generator.z_on_sphere:
            return codes.new_zeros(len(codes))
        d = codes.shape[1]
        r2 = codes.pow(2).sum(1)
        return (r2 / 2 - (d - 1) / 2 * torch.log(r2) - ((d - 1) / 2 - (d - 1) / 2 * math.log(d - 1))) / d
    w_avg = generator.w_avg
    if space == "w":
        return (codes - w_avg).pow(2).mean(1)
    return (codes - w_avg).pow(2).mean((1, 2)) + (codes - codes.mean(1, keepdim=True)).pow(2).mean((1, 2))


# ---------------------------------------------------------------------------------------------- inversion


@dataclass
class InversionSettings:
    """How hard to search: Adam iterations, starts per face, learning rate and loss weights."""

    iterations: int = 200
    starts: int | None = None  # None: 1 where a learned encoder gives the first start, else 4
    lr: float = 0.05
    feature_weight: float = 0.1
    prior_weight: float = 0.002
    explore: float = 0.25  # fraction of the iterations run with every start before only the best goes on
    seed: int = 0
    batch_size: int = 16  # faces optimised together (each with all its starts)

    def check(self) -> None:
        if self.iterations < 0:
            raise UsageError(f"--iterations must be 0 or more, got {self.iterations}")
        if self.starts is not None and self.starts < 1:
            raise UsageError(f"--starts must be at least 1, got {self.starts}")
        if self.batch_size < 1:
            raise UsageError(f"the batch size must be positive, got {self.batch_size}")


@dataclass
class Inversion:
    """The best code found for each target, its rendering (uint8) and how well it reproduces the target."""

    codes: np.ndarray  # float32 (N, *code_shape)
    images: np.ndarray  # uint8 (N, R, R, 3)
    psnr: np.ndarray  # dB, float (N,)
    ssim: np.ndarray  # float (N,)
    space: str
    settings: InversionSettings

    def record(self) -> dict:
        return {"space": self.space, **asdict(self.settings)}


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Uint8 (N, H, W, 3) images to float (N, 3, H, W) in [-1, 1] on ``device``."""
    pixels = torch.from_numpy(np.require(images, np.uint8, ["C", "W"]))  # a writable copy only where needed
    return pixels.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _starts(
    generator: Generator, space: str, targets: torch.Tensor, starts: int, encoder: Encoder | None, rng: np.random.Generator
) -> torch.Tensor:
    """Initial codes (N * starts, *code_shape), the starts of each target together: the encoder's (or the mean W)
    first, the others sampled (Z codes; mapped, halfway to the mean W, for W and W+)."""
    n, device = len(targets), targets.device
    z = torch.from_numpy(generator.sample(n * starts, int(rng.integers(2**31)))).to(device)
    if space == "z":
        codes = z.view(n, starts, -1)
        if encoder is not None:
            codes[:, 0] = encoder(targets)
        return codes.flatten(0, 1)
    w = generator.map(z).lerp(generator.w_avg, 0.5).view(n, starts, -1)
    w[:, 0] = generator.w_avg
    w = w.flatten(0, 1)
    return w if space == "w" else w[:, None].repeat(1, generator.code_shape("wp")[0], 1)


def invert(
    generator: Generator,
    targets: np.ndarray,
    space: str = "z",
    settings: InversionSettings | None = None,
    progress: bool = True,
) -> Inversion:
    """Find a code in ``space`` for each uint8 (N, R, R, 3) target aligned to the generator's framing."""
    settings = settings or InversionSettings()
    settings.check()
    generator.check_space(space)
    if targets.ndim != 4 or targets.shape[1:] != (generator.resolution, generator.resolution, 3):
        raise UsageError(f"targets must be (N, {generator.resolution}, {generator.resolution}, 3) images, got {targets.shape}")
    device = generator.device
    features = FeatureLoss().eval().requires_grad_(False).to(device)
    encoder = load_encoder(generator, space)
    settings = replace(settings, starts=settings.starts or (1 if encoder is not None else 4))
    rng = np.random.default_rng(settings.seed)
    # High-resolution models run at most max_batch codes at once (faces x starts), as when rendering.
    per_batch = min(settings.batch_size, max(1, (generator.max_batch or settings.batch_size * settings.starts) // settings.starts))
    chunks = range(0, len(targets), per_batch)
    codes, images = [], []
    with tqdm(total=len(chunks) * settings.iterations, desc=f"inverting {len(targets)} face(s)", unit="it",
              disable=not progress or settings.iterations == 0, leave=False) as bar:
        for start in chunks:
            target = to_tensor(targets[start : start + per_batch], device)
            best = _optimise(generator, space, target, settings, features, encoder, rng, bar)
            codes.append(best.cpu())
            with torch.no_grad():
                images.append(to_uint8(generator.synthesize(best, space)))
    codes_np, images_np = torch.cat(codes).numpy(), np.concatenate(images)
    t, r = to_tensor(targets, torch.device("cpu")), to_tensor(images_np, torch.device("cpu"))
    return Inversion(codes_np, images_np, psnr(r, t).numpy(), ssim(r, t).numpy(), space, settings)


def _optimise(
    generator: Generator,
    space: str,
    target: torch.Tensor,
    settings: InversionSettings,
    features: FeatureLoss,
    encoder: Encoder | None,
    rng: np.random.Generator,
    bar: tqdm,
) -> torch.Tensor:
    """Adam with a cosine learning rate over all starts, narrowed to the best start per target after the
    exploration phase; returns the best code of each target."""
    n, starts = len(target), settings.starts
    with torch.no_grad():
        codes = _starts(generator, space, target, starts, encoder, rng)
        goal = [f.repeat_interleave(starts, 0) for f in features.features(target)]
    goal_pixels = target.repeat_interleave(starts, 0)
    lr = settings.lr
    explore = math.ceil(settings.iterations * settings.explore) if starts > 1 else 0

    def losses(c: torch.Tensor, pixels: torch.Tensor, goal_features: list[torch.Tensor]) -> torch.Tensor:
        rendered = generator.synthesize(c, space)
        pixel = (rendered - pixels).pow(2).flatten(1).mean(1)
        feature = features(features.features(rendered), goal_features)
        return pixel + settings.feature_weight * feature + settings.prior_weight * prior_penalty(generator, c, space)

    codes = codes.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([codes], lr=lr)
    for step in range(settings.iterations):
        if step == explore and starts > 1:  # keep the best start of each target
            with torch.no_grad():
                keep = losses(codes, goal_pixels, goal).view(n, starts).argmin(1) + torch.arange(n, device=codes.device) * starts
            codes = codes.detach()[keep].clone().requires_grad_(True)
            goal_pixels, goal = goal_pixels[keep], [f[keep] for f in goal]
            state = optimizer.state[optimizer.param_groups[0]["params"][0]]
            optimizer = torch.optim.Adam([codes], lr=lr)
            if state:  # carry the moments of the kept starts over
                optimizer.state[codes] = {"step": state["step"], "exp_avg": state["exp_avg"][keep], "exp_avg_sq": state["exp_avg_sq"][keep]}
            starts = 1
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / settings.iterations))
        loss = losses(codes, goal_pixels, goal)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        if space == "z" and generator.z_on_sphere:
            with torch.no_grad():
                codes *= math.sqrt(generator.latent_dim) / codes.norm(dim=1, keepdim=True)
        bar.update(1)
    with torch.no_grad():
        if starts > 1:
            keep = losses(codes, goal_pixels, goal).view(n, starts).argmin(1) + torch.arange(n, device=codes.device) * starts
            codes = codes[keep]
    return codes.detach()


def tune_generator(
    generator: Generator,
    code: np.ndarray,
    target: np.ndarray,
    space: str = "z",
    steps: int = 100,
    lr: float = 3e-4,
    locality: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> Generator:
    """Pivotal tuning (Roich et al. 2022): a copy of ``generator`` whose weights are fine-tuned for ``steps`` Adam
    steps so that ``code`` (one inverted code) renders the uint8 ``target`` face itself, with the inversion's
    pixel and feature losses. A locality term keeps the renders of nearby codes (``code`` moved up to 30 % of the
    way to random codes, four per step) as the original generator makes them, so that editing the code still
    works as before. Normalisation layers stay in eval mode."""
    tuned = copy.deepcopy(generator).requires_grad_(True)
    features = FeatureLoss().eval().requires_grad_(False).to(generator.device)
    device = generator.device
    pivot = torch.from_numpy(generator.validate_codes(code[None], space)).to(device)
    goal_pixels = to_tensor(target[None], device)
    goal = features.features(goal_pixels)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=lr)
    for _ in tqdm(range(steps), desc="tuning the generator to the photo", unit="it", disable=not progress, leave=False):
        rendered = tuned.synthesize(pivot, space)
        loss = (rendered - goal_pixels).pow(2).mean() + 0.1 * features(features.features(rendered), goal).mean()
        if locality:
            with torch.no_grad():
                z = torch.from_numpy(generator.sample(4, int(rng.integers(2**31)))).to(device)
                share = torch.from_numpy(rng.uniform(0, 0.3, 4).astype(np.float32)).to(device)
                nearby = pivot + (generator.latents(z)[space] - pivot) * share.view(-1, *[1] * (pivot.ndim - 1))
                reference = generator.synthesize(nearby, space)
            loss = loss + locality * (tuned.synthesize(nearby, space) - reference).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return tuned.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------- photos in


def invert_photos(
    paths: Sequence[Path],
    generator: Generator,
    space: str = "z",
    settings: InversionSettings | None = None,
    face_index: int = 0,
    progress: bool = True,
) -> tuple[list[PhotoFace], Inversion]:
    """Read, detect, align and invert photos (all read and checked before any optimisation)."""
    settings = settings or InversionSettings()
    settings.check()
    generator.check_space(space)
    images = [read_image(path) for path in paths]
    photos = align_photos(images, [str(path) for path in paths], generator, MTCNN.load(generator.device), face_index)
    return photos, invert(generator, np.stack([photo.crop for photo in photos]), space, settings, progress)


def photo_names(paths: Sequence[Path]) -> list[str]:
    """Output names for photos: their file stems, numbered where two are the same."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else f"{stem}_{i}" for i, stem in enumerate(stems)]


def comparison(target: np.ndarray, reconstruction: np.ndarray, psnr_db: float, ssim_value: float) -> np.ndarray:
    """The aligned photo and its reconstruction side by side, enlarged, with the metrics as a title."""
    tiles = preview_tiles(np.stack([target, reconstruction]))
    return annotated_grid(tiles[None], f"PSNR {psnr_db:.1f} dB, SSIM {ssim_value:.3f}", None, ["photo, aligned", "reconstruction"])


def invert_to_folder(
    out: Path,
    paths: Sequence[Path],
    model: str = DEFAULT_MODEL,
    space: str = "z",
    settings: InversionSettings | None = None,
    face_index: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    weights: Path | None = None,
) -> dict:
    """What ``latentedit invert`` does: invert each photo's face and write, per photo, ``NAME/code.npy``,
    ``NAME/target.png`` (the aligned face), ``NAME/reconstruction.png`` and ``NAME/side_by_side.png``; for all
    photos ``codes.npy`` (N, *code_shape) and ``inversion.json`` (settings and PSNR / SSIM per photo)."""
    generator, digest = load_generator(model, device, weights)
    with staged_output(out, overwrite) as staging:
        photos, result = invert_photos(paths, generator, space, settings, face_index)
        entries = []
        for name, photo, code, image, p, s in zip(photo_names(paths), photos, result.codes, result.images, result.psnr, result.ssim):
            folder = staging / name
            folder.mkdir()
            np.save(folder / "code.npy", code[None])
            save_png(photo.crop, folder / "target.png")
            save_png(image, folder / "reconstruction.png")
            save_png(comparison(photo.crop, image, float(p), float(s)), folder / "side_by_side.png")
            entries.append({
                "photo": photo.name, "folder": name, "face_index": face_index, "faces_found": photo.faces_found,
                "face_box": [round(float(v), 1) for v in photo.face.box], "psnr_db": round(float(p), 3), "ssim": round(float(s), 4),
            })
        np.save(staging / "codes.npy", result.codes)
        record = {
            **run_record(model, digest, generator, weights), **result.record(),
            "photos": entries,
            "mean_psnr_db": round(float(result.psnr.mean()), 3), "mean_ssim": round(float(result.ssim.mean()), 4),
        }
        write_json(record, staging / "inversion.json")
    return record
