"""Image reconstruction metrics: PSNR and SSIM (Wang et al. 2004), per image, in torch."""

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image pair in (N, C, H, W) batches (default range: [-1, 1]); with
    ``mask`` (N, H, W), over the pixels where it is true only."""
    squared = (a.double() - b.double()) ** 2
    if mask is None:
        mse = squared.flatten(1).mean(1)
    else:
        weight = mask.double()[:, None].expand_as(squared)
        mse = (squared * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1)
    return (10 * torch.log10(data_range**2 / mse.clamp(min=1e-20))).to(a.dtype)


def _gaussian_window(sigma: float, radius: int, device: torch.device) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0, sigma: float = 1.5, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Structural similarity of each image pair in (N, C, H, W) batches, averaged over channels and pixels.

    Wang et al.'s definition: local means, variances and covariance under an 11 x 11 Gaussian window
    (sigma 1.5, truncated at 3.5 sigma), constants (0.01 L)^2 and (0.03 L)^2 for data range L, and the
    SSIM map averaged over the positions where the window fits inside the image (no padding). Equals
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, use_sample_covariance=False)``. With
    ``mask`` (N, H, W), only the positions whose whole window lies where the mask is true count.
    """
    radius = int(3.5 * sigma + 0.5)
    if min(a.shape[-2:]) < 2 * radius + 1:
        side = 2 * radius + 1
        raise ValueError(f"SSIM needs images of at least {side} x {side} pixels, got {tuple(a.shape[-2:])}")
    n, c = a.shape[:2]
    w = _gaussian_window(sigma, radius, a.device)
    rows, cols = w.view(1, 1, -1, 1).repeat(c, 1, 1, 1), w.view(1, 1, 1, -1).repeat(c, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, rows, groups=c), cols, groups=c)

    x, y = a.double(), b.double()
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    if mask is None:
        return s.reshape(n, -1).mean(1).to(a.dtype)
    window = torch.ones(1, 1, 2 * radius + 1, 2 * radius + 1, dtype=torch.float64, device=a.device)
    whole = F.conv2d((~mask.bool()).double()[:, None], window) == 0  # no pixel outside the mask under the window
    weight = whole.expand_as(s).double()
    return ((s * weight).reshape(n, -1).sum(1) / weight.reshape(n, -1).sum(1).clamp(min=1)).to(a.dtype)
