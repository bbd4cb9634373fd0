"""The generator interface every model in the registry implements."""

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ...errors import UsageError
from ...files.codes import check_fits

SKIP_BLOCK = 1 << 20  # normals drawn at once when skipping ahead in the random stream


class Generator(nn.Module):
    """A pretrained face generator: latent codes in, images in [-1, 1] (N, 3, H, W) out.

    Subclasses set the class attributes and implement :meth:`synthesize`.
    """

    name: str
    resolution: int
    latent_dim: int
    spaces: tuple[str, ...] = ("z",)
    # InterFaceGAN rescales sampled Z codes to norm sqrt(dim) (PGGAN, StyleGAN); its boundaries live there.
    z_on_sphere: bool = False
    # Batches are padded to a multiple of this so that convolution kernels see the same batch shapes
    # whatever the caller's batch size: that keeps images bit-identical across batch sizes on the CPU.
    batch_multiple: int = 4
    # Largest batch run at once (high-resolution models: InterFaceGAN's 4 images per forward).
    max_batch: int | None = None
    # Where faces sit in its samples (a latentedit.models.alignment.TEMPLATES name or (5, 2) points in crop units),
    # when the weights file says so (generators trained by train-gan); None: the registry entry's framing.
    template: str | np.ndarray | None = None

    def code_shape(self, space: str) -> tuple[int, ...]:
        """Shape of one code in ``space`` (without the batch axis)."""
        self.check_space(space)
        return (self.latent_dim,)

    def check_space(self, space: str) -> None:
        if space not in self.spaces:
            raise UsageError(f"model {self.name} has no latent space {space!r}; it has: {', '.join(self.spaces)}")

    def sample(self, n: int, seed: int, start: int = 0) -> np.ndarray:
        """``n`` Gaussian Z codes, float32 (n, latent_dim); the same seed gives the same codes. ``start``: rows
        ``start..start+n`` of the stream, bit-identical to those rows of ``sample(start + n, seed)``."""
        if n <= 0:
            raise UsageError(f"the number of faces must be positive, got {n}")
        if seed < 0:
            raise UsageError(f"the seed must be 0 or more, got {seed}")
        check_fits(n * self.latent_dim * 12, f"{n} codes")  # float64 draws, then float32 codes
        rng = np.random.default_rng(seed)
        skip = start * self.latent_dim
        while skip:  # the generator's normals are drawn one after another: drawing in blocks skips ahead exactly
            skip -= len(rng.standard_normal(min(skip, SKIP_BLOCK)))
        return self.normalize_z(rng.standard_normal((n, self.latent_dim)))

    def normalize_z(self, codes: np.ndarray, space: str = "z") -> np.ndarray:
        """Codes in ``space`` as InterFaceGAN edits them, float32: Z codes of models with ``z_on_sphere`` rescaled to
        the typical norm (see :func:`to_typical_norm`), anything else as it is."""
        return np.asarray(to_typical_norm(codes) if space == "z" and self.z_on_sphere else codes, np.float32)

    def latents(self, codes: torch.Tensor, space: str = "z") -> dict[str, torch.Tensor]:
        """``codes`` in ``space`` and in every later space (style-based models map z -> w -> wp)."""
        self.check_space(space)
        return {space: codes}

    def settings(self) -> dict:
        """Run-time options that change the images (truncation, noise), for manifests."""
        return {}

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        """Images in [-1, 1], shape (N, 3, resolution, resolution), for a batch of codes."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def validate_codes(self, codes: np.ndarray, space: str = "z") -> np.ndarray:
        """Return ``codes`` as float32 (N, *code_shape), or raise a one-line error naming the expected shape."""
        expected = self.code_shape(space)
        arr = np.asarray(codes)
        if arr.ndim == len(expected) + 1 and arr.shape[1:] == expected and arr.shape[0] > 0:
            pass
        elif arr.ndim == len(expected) + 3 and arr.shape[1:] == (*expected, 1, 1) and arr.shape[0] > 0:
            arr = arr.reshape(arr.shape[0], *expected)  # DCGAN's (N, dim, 1, 1) layout
        else:
            want = "(N, " + ", ".join(map(str, expected)) + ")"
            raise UsageError(f"codes for {self.name} in space {space} must have shape {want}, got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.floating):
            raise UsageError(f"codes must be floating point, got dtype {arr.dtype}")
        if not np.isfinite(arr).all():
            raise UsageError("codes contain NaN or infinite values")
        return arr.astype(np.float32, copy=False)


def to_typical_norm(codes: np.ndarray) -> np.ndarray:
    """Codes rescaled along their last axis to norm sqrt(dim): the sphere InterFaceGAN's PGGAN and StyleGAN sample Z
    on, and within a few percent the norm of Gaussian Z codes."""
    return codes * (np.sqrt(codes.shape[-1]) / np.linalg.norm(codes, axis=-1, keepdims=True))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) images in [-1, 1] to (N, H, W, 3) uint8 on the host."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def synthesize_padded(generator: Generator, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
    """:meth:`Generator.synthesize` with the batch padded to ``generator.batch_multiple`` (see there)."""
    n, extra = len(codes), -len(codes) % generator.batch_multiple
    if extra:
        codes = torch.cat([codes, codes[:1].expand(extra, *codes.shape[1:])])
    return generator.synthesize(codes, space)[:n]


@torch.inference_mode()
def render(
    generator: Generator,
    codes: np.ndarray,
    *,
    space: str = "z",
    batch_size: int = 64,
    progress: bool | None = None,
) -> Iterator[np.ndarray]:
    """Yield uint8 (B, H, W, 3) image batches for ``codes``, ``batch_size`` at a time.

    The progress bar shows when ``progress`` is true, or by default for more than one batch.
    """
    if batch_size <= 0:
        raise UsageError(f"batch size must be positive, got {batch_size}")
    codes = generator.validate_codes(codes, space)
    batch_size = min(batch_size, generator.max_batch or batch_size)
    device = generator.device
    show = progress if progress is not None else len(codes) > batch_size
    with tqdm(total=len(codes), unit="img", desc=f"rendering {generator.name}", disable=not show, leave=False) as bar:
        for start in range(0, len(codes), batch_size):
            batch = torch.from_numpy(codes[start : start + batch_size]).to(device, non_blocking=True)
            yield to_uint8(synthesize_padded(generator, batch, space))
            bar.update(len(batch))


@torch.inference_mode()
def downstream_codes(
    generator: Generator, codes: np.ndarray, *, space: str = "z", batch_size: int = 256
) -> dict[str, np.ndarray]:
    """``codes`` in ``space`` and in every space after it (z -> w -> wp), float32, as InterFaceGAN saves them."""
    codes = generator.validate_codes(codes, space)
    later = generator.spaces[generator.spaces.index(space) :]
    if len(later) == 1:
        return {space: codes}
    parts: dict[str, list[np.ndarray]] = {name: [] for name in later}
    for start in range(0, len(codes), batch_size):
        batch = torch.from_numpy(codes[start : start + batch_size]).to(generator.device)
        latents = generator.latents(batch, space)
        for name in later:
            parts[name].append(latents[name].float().cpu().numpy())
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}
