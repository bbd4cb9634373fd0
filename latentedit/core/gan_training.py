"""The maths of training a GAN: losses, the gradient penalty, the generator's moving average, progressive growing.

DCGAN (Radford et al. 2016) trains with the non-saturating loss. PGGAN (Karras et al. 2018) trains with WGAN-GP
(Gulrajani et al. 2017) plus a small drift term on the real scores, and grows: each resolution is trained for a
while, then the next one is faded in. No file I/O here.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Karras et al. 2018: gradient penalty weight (lambda), its target norm, and the drift weight (epsilon_drift).
GP_WEIGHT, GP_TARGET, DRIFT_WEIGHT = 10.0, 1.0, 0.001


def nonsaturating_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's binary cross-entropy: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))), batch means."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's non-saturating loss: -log sigmoid(D(G(z))), the batch mean."""
    return F.softplus(-fake_logits).mean()


def gradient_penalty(
    discriminator: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, *, mix: torch.Tensor
) -> torch.Tensor:
    """Mean of (|grad_x D(x)| - 1)^2 at x = real + mix * (fake - real), ``mix`` (N,) in [0, 1]; differentiable
    with respect to the discriminator's weights (double backpropagation)."""
    if mix.shape != real.shape[:1]:
        raise ValueError(f"mix must have shape ({len(real)},), got {tuple(mix.shape)}")
    points = torch.lerp(real.detach(), fake.detach(), mix.view(-1, 1, 1, 1).to(real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(points).sum(), points, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - GP_TARGET).square().mean() / GP_TARGET**2


def wgan_gp_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, *, penalty: torch.Tensor) -> torch.Tensor:
    """The critic's loss: D(G(z)) - D(x) + lambda * penalty + epsilon_drift * D(x)^2, batch means."""
    return fake_scores.mean() - real_scores.mean() + GP_WEIGHT * penalty + DRIFT_WEIGHT * real_scores.square().mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's WGAN loss: -D(G(z)), the batch mean."""
    return -fake_scores.mean()


def ema_beta(*, batch: int, images_seen: int, half_life_images: float, rampup: float = 0.05) -> float:
    """Decay per step of an average of the generator's weights whose half-life is ``half_life_images`` images,
    shortened to ``rampup`` times the images seen so far early on (as in StyleGAN2-ADA), so that the average
    does not keep the random initialisation for long; ``rampup`` 0 turns that off."""
    if batch <= 0 or half_life_images <= 0 or rampup < 0:
        raise ValueError(
            f"batch and half_life_images must be positive and rampup >= 0, got {batch}, {half_life_images}, {rampup}"
        )
    half_life = min(half_life_images, rampup * images_seen) if rampup else half_life_images
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def ema_update(average: nn.Module, model: nn.Module, *, beta: float) -> None:
    """``average`` <- beta * ``average`` + (1 - beta) * ``model``, for parameters and floating-point buffers (batch
    norm statistics); other buffers (counters) are copied."""
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    for weight, target in zip(average.parameters(), model.parameters(), strict=True):
        weight.lerp_(target, 1.0 - beta)
    for buffer, source in zip(average.buffers(), model.buffers(), strict=True):
        if buffer.is_floating_point():
            buffer.lerp_(source, 1.0 - beta)
        else:
            buffer.copy_(source)


@dataclass(frozen=True)
class GrowthSchedule:
    """Karras et al.'s level of detail over training: each resolution from ``start_resolution`` up is trained for
    ``stable_images`` images, then the next is faded in over ``fade_images`` images, up to ``final_resolution``.

    The level of detail (lod) is log2(final / current resolution); during a fade it is fractional and the
    fraction is the weight still given to the coarser resolution.
    """

    final_resolution: int
    stable_images: int
    fade_images: int
    start_resolution: int = 4

    def __post_init__(self) -> None:
        for name in ("final_resolution", "start_resolution"):
            value = getattr(self, name)
            if value < 4 or value & (value - 1):
                raise ValueError(f"{name} must be a power of two of at least 4, got {value}")
        if self.start_resolution > self.final_resolution:
            raise ValueError(
                f"start_resolution {self.start_resolution} exceeds final_resolution {self.final_resolution}"
            )
        if self.stable_images <= 0 or self.fade_images <= 0:
            raise ValueError(
                f"stable_images and fade_images must be positive, got {self.stable_images}, {self.fade_images}"
            )

    @property
    def levels(self) -> int:
        """How many resolutions are grown after the first."""
        return int(math.log2(self.final_resolution // self.start_resolution))

    def lod(self, images_seen: int) -> float:
        """The level of detail after ``images_seen`` training images."""
        phase, into = divmod(images_seen, self.stable_images + self.fade_images)
        lod = self.levels - phase - max(into - self.stable_images, 0) / self.fade_images
        return max(float(lod), 0.0)

    def resolution(self, images_seen: int) -> int:
        """The resolution the networks work at: final / 2**floor(lod)."""
        return self.final_resolution >> math.floor(self.lod(images_seen))

    @property
    def grown_images(self) -> int:
        """Images until the final resolution is fully faded in."""
        return self.levels * (self.stable_images + self.fade_images)


def fade_reals(images: torch.Tensor, *, lod: float) -> torch.Tensor:
    """Real images as the networks see them at level of detail ``lod``: reduced to final / 2**floor(lod) pixels
    by averaging and, during a fade, blended with their 2x coarser version (nearest-upsampled back) by the
    fractional part of ``lod``, as the generator blends its two outputs."""
    if lod < 0:
        raise ValueError(f"lod must be >= 0, got {lod}")
    steps = math.floor(lod)
    if images.shape[-1] >> steps < 1 or images.shape[-1] % (1 << steps):
        raise ValueError(f"lod {lod} is too coarse for {images.shape[-1]}-pixel images")
    x = F.avg_pool2d(images, 1 << steps) if steps else images
    fraction = lod - steps
    if fraction > 0:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(x, coarse, fraction)
    return x
