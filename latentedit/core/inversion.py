"""GAN inversion, the method's core: find the latent code whose rendering reproduces a face aligned to the
generator's framing, and pivotal tuning of a generator to one photo (no file I/O).

A code is optimised with Adam to reproduce the aligned face: pixel loss, a feature loss (see
:mod:`latentedit.models.features`) and a prior that keeps the code where the generator's codes live. The first
start comes from a learned encoder where one is given, else from the mean W (StyleGAN models) or a random code;
further starts are random. All starts of all faces in a batch run together; after a quarter of the iterations
only the best start of each face goes on.
"""

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from ..errors import UsageError
from ..models.encoder import Encoder
from ..models.features import FeatureLoss
from ..models.generators import Generator, to_uint8
from ..models.generators.style import StyleGenerator
from ..records import InversionRun
from ..specs import InversionSettings, TuningSettings
from .metrics import psnr, ssim

Progress = Callable[[str, int, int], None]  # called after each step with the stage, the steps done and their total

DEFAULT_TUNING = TuningSettings()


@contextmanager
def _steps(stage: str, total: int, *, show: bool, on_progress: Progress | None) -> Iterator[Callable[[], None]]:
    """A function to call after each of ``total`` steps of ``stage``: it moves a tqdm bar (when ``show``) and tells
    ``on_progress``."""
    done = 0
    with tqdm(total=total, desc=stage, unit="it", disable=not show or total == 0, leave=False) as bar:

        def step() -> None:
            nonlocal done
            done += 1
            bar.update(1)
            if on_progress is not None:
                on_progress(stage, done, total)

        yield step


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
    w_avg = _style(generator, space).w_avg
    if space == "w":
        return (codes - w_avg).pow(2).mean(1)
    return (codes - w_avg).pow(2).mean((1, 2)) + (codes - codes.mean(1, keepdim=True)).pow(2).mean((1, 2))


def _style(generator: Generator, space: str) -> StyleGenerator:
    """``generator`` as a style-based one, the only kind with W and W+ codes."""
    if not isinstance(generator, StyleGenerator):
        raise ValueError(f"space: {generator.name} has no space {space!r}")
    return generator


@dataclass
class Inversion:
    """The best code found for each target, its rendering (uint8) and how well it reproduces the target."""

    codes: np.ndarray  # float32 (N, *code_shape)
    images: np.ndarray  # uint8 (N, R, R, 3)
    psnr: np.ndarray  # dB, float (N,)
    ssim: np.ndarray  # float (N,)
    space: str
    settings: InversionSettings

    def record(self) -> InversionRun:
        return InversionRun(space=self.space, **asdict(self.settings))


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """Uint8 (N, H, W, 3) images to float (N, 3, H, W) in [-1, 1] on ``device``."""
    pixels = torch.from_numpy(np.require(images, np.uint8, ["C", "W"]))  # a writable copy only where needed
    return pixels.to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _starts(
    generator: Generator,
    space: str,
    targets: torch.Tensor,
    starts: int,
    encoder: Encoder | None,
    rng: np.random.Generator,
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
    style = _style(generator, space)
    w = style.map(z).lerp(style.w_avg, 0.5).view(n, starts, -1)
    w[:, 0] = style.w_avg
    w = w.flatten(0, 1)
    return w if space == "w" else w[:, None].repeat(1, generator.code_shape("wp")[0], 1)


def invert(
    generator: Generator,
    targets: np.ndarray,
    *,
    features: FeatureLoss,
    masks: np.ndarray | None = None,
    encoder: Encoder | None = None,
    space: str = "z",
    settings: InversionSettings | None = None,
    progress: bool = True,
    on_progress: Progress | None = None,
) -> Inversion:
    """Find a code in ``space`` for each uint8 (N, R, R, 3) target aligned to the generator's framing, with the
    perceptual distance ``features`` and the first start from ``encoder`` where one is given.

    ``masks`` (N, R, R) bool marks the target pixels that come from the photo: elsewhere (past the photo's edge,
    black in the target) the rendering is replaced by the target before the losses, so that the optimiser does
    not try to draw black, and PSNR and SSIM count the marked pixels only. ``progress`` shows a bar; ``on_progress``
    is told each step (see :data:`Progress`).
    """
    settings = settings or InversionSettings()
    settings.check()
    generator.check_space(space)
    if targets.ndim != 4 or targets.shape[1:] != (generator.resolution, generator.resolution, 3):
        size = generator.resolution
        raise UsageError(f"targets must be (N, {size}, {size}, 3) images, got {targets.shape}")
    device = generator.device
    starts = settings.starts or (1 if encoder is not None else 4)
    settings = replace(settings, starts=starts)
    rng = np.random.default_rng(settings.seed)
    # High-resolution models run at most max_batch codes at once (faces x starts), as when rendering.
    per_batch = min(settings.batch_size, max(1, (generator.max_batch or settings.batch_size * starts) // starts))
    chunks = range(0, len(targets), per_batch)
    codes, images = [], []
    inside = (
        torch.ones(targets.shape[:3], dtype=torch.bool) if masks is None else torch.from_numpy(np.asarray(masks, bool))
    )
    if inside.shape != targets.shape[:3]:
        raise UsageError(f"masks must be (N, R, R) like the targets, got {tuple(inside.shape)}")
    with _steps(
        f"inverting {len(targets)} face(s)", len(chunks) * settings.iterations, show=progress, on_progress=on_progress
    ) as step:
        for start in chunks:
            target = to_tensor(targets[start : start + per_batch], device)
            mask = inside[start : start + per_batch, None].to(device)
            best = _optimise(generator, space, target, mask, settings, starts, features, encoder, rng, step)
            codes.append(best.cpu())
            with torch.no_grad():
                images.append(to_uint8(generator.synthesize(best, space)))
    codes_np, images_np = torch.cat(codes).numpy(), np.concatenate(images)
    t, r = to_tensor(targets, torch.device("cpu")), to_tensor(images_np, torch.device("cpu"))
    metrics_mask = None if masks is None else inside
    return Inversion(
        codes_np,
        images_np,
        psnr(r, t, mask=metrics_mask).numpy(),
        ssim(r, t, mask=metrics_mask).numpy(),
        space,
        settings,
    )


def _optimise(
    generator: Generator,
    space: str,
    target: torch.Tensor,
    mask: torch.Tensor,
    settings: InversionSettings,
    starts: int,
    features: FeatureLoss,
    encoder: Encoder | None,
    rng: np.random.Generator,
    step_done: Callable[[], None],
) -> torch.Tensor:
    """Adam with a cosine learning rate over ``starts`` starts per target, narrowed to the best start per target
    after the exploration phase; returns the best code of each target."""
    n = len(target)
    with torch.no_grad():
        codes = _starts(generator, space, target, starts, encoder, rng)
        goal = [f.repeat_interleave(starts, 0) for f in features.features(target)]
    goal_pixels = target.repeat_interleave(starts, 0)
    goal_mask = mask.repeat_interleave(starts, 0)
    lr = settings.lr
    explore = math.ceil(settings.iterations * settings.explore) if starts > 1 else 0

    def losses(c: torch.Tensor, pixels: torch.Tensor, goal_features: list[torch.Tensor]) -> torch.Tensor:
        rendered = torch.where(goal_mask, generator.synthesize(c, space), pixels)  # past the photo's edge: no loss
        pixel = (rendered - pixels).pow(2).flatten(1).mean(1)
        feature = features(features.features(rendered), goal_features)
        return pixel + settings.feature_weight * feature + settings.prior_weight * prior_penalty(generator, c, space)

    codes = codes.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([codes], lr=lr)
    for step in range(settings.iterations):
        if step == explore and starts > 1:  # keep the best start of each target
            with torch.no_grad():
                keep = (
                    losses(codes, goal_pixels, goal).view(n, starts).argmin(1)
                    + torch.arange(n, device=codes.device) * starts
                )
            codes = codes.detach()[keep].clone().requires_grad_(True)
            goal_pixels, goal_mask, goal = goal_pixels[keep], goal_mask[keep], [f[keep] for f in goal]
            state = optimizer.state[optimizer.param_groups[0]["params"][0]]
            optimizer = torch.optim.Adam([codes], lr=lr)
            if state:  # carry the moments of the kept starts over
                optimizer.state[codes] = {
                    "step": state["step"],
                    "exp_avg": state["exp_avg"][keep],
                    "exp_avg_sq": state["exp_avg_sq"][keep],
                }
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
        step_done()
    with torch.no_grad():
        if starts > 1:
            keep = (
                losses(codes, goal_pixels, goal).view(n, starts).argmin(1)
                + torch.arange(n, device=codes.device) * starts
            )
            codes = codes[keep]
    return codes.detach()


def tune_generator(
    generator: Generator,
    code: np.ndarray,
    target: np.ndarray,
    *,
    features: FeatureLoss,
    mask: np.ndarray | None = None,
    space: str = "z",
    settings: TuningSettings = DEFAULT_TUNING,
    progress: bool = True,
    on_progress: Progress | None = None,
) -> Generator:
    """Pivotal tuning (Roich et al. 2022): a copy of ``generator`` whose weights are fine-tuned for
    ``settings.steps`` Adam steps so that ``code`` (one inverted code) renders the uint8 ``target`` face itself, with
    the inversion's pixel and feature (``features``) losses, counted where ``mask`` (R, R) is true (see
    :func:`invert`). A locality term keeps the renders of nearby codes (``code`` moved up to 30 % of the way to
    random codes, four per step) as the original generator makes them, so that editing the code still works as
    before. Normalisation layers stay in eval mode. ``progress`` and ``on_progress``: as in :func:`invert`."""
    steps, lr, locality, seed = settings.steps, settings.lr, settings.locality, settings.seed
    tuned = copy.deepcopy(generator).requires_grad_(True)
    device = generator.device
    pivot = torch.from_numpy(generator.validate_codes(code[None], space)).to(device)
    goal_pixels = to_tensor(target[None], device)
    inside = (
        torch.ones(goal_pixels.shape[-2:], dtype=torch.bool)
        if mask is None
        else torch.from_numpy(np.asarray(mask, bool))
    )
    inside = inside.to(device)[None, None]
    goal = features.features(goal_pixels)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(tuned.parameters(), lr=lr)
    with _steps("tuning the generator to the photo", steps, show=progress, on_progress=on_progress) as step:
        for _ in range(steps):
            rendered = torch.where(inside, tuned.synthesize(pivot, space), goal_pixels)
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
            step()
    return tuned.eval().requires_grad_(False)
