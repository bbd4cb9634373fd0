"""What StyleGAN and StyleGAN2 share: the Z, W and W+ spaces, truncation and the noise mode."""

import torch

from ...errors import UsageError
from ...specs import NOISE_MODES
from .base import Generator


class StyleGenerator(Generator):
    """A mapping network z -> w, truncation towards ``w_avg`` per layer, and a synthesis network driven by W+.

    Spaces: ``z`` (latent_dim), ``w`` (w_dim, the mapping output before truncation, as in InterFaceGAN's
    ``w.npy``) and ``wp`` (num_ws, w_dim, one code per layer after truncation). Codes in ``w`` are truncated
    like the mapping output; codes in ``wp`` are used as they are.
    """

    spaces = ("z", "w", "wp")
    max_batch = 4
    w_dim: int
    num_ws: int
    truncation_psi: float = 1.0
    truncation_layers: int | None = None
    noise: str = "const"

    def configure(self, truncation_psi: float, truncation_layers: int | None, noise: str) -> "StyleGenerator":
        """Set the truncation (psi 1 = off; ``truncation_layers`` None = all layers) and the noise mode."""
        if noise not in NOISE_MODES:
            raise UsageError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
        if truncation_layers is not None and truncation_layers < 0:
            raise UsageError(f"truncation layers must be >= 0, got {truncation_layers}")
        self.truncation_psi, self.truncation_layers, self.noise = float(truncation_psi), truncation_layers, noise
        return self

    def code_shape(self, space: str) -> tuple[int, ...]:
        self.check_space(space)
        return {"z": (self.latent_dim,), "w": (self.w_dim,), "wp": (self.num_ws, self.w_dim)}[space]

    @property
    def w_avg(self) -> torch.Tensor:
        """The mean W (w_dim,) that truncation pulls towards."""
        raise NotImplementedError

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """The mapping network: (N, latent_dim) -> (N, w_dim)."""
        raise NotImplementedError

    def synthesize_wp(self, wp: torch.Tensor) -> torch.Tensor:
        """The synthesis network: (N, num_ws, w_dim) -> images (N, 3, H, W)."""
        raise NotImplementedError

    def truncate(self, w: torch.Tensor) -> torch.Tensor:
        """Broadcast w (N, w_dim) to W+ and pull the first ``truncation_layers`` towards ``w_avg`` by psi."""
        wp = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if self.truncation_psi != 1:
            cut = self.num_ws if self.truncation_layers is None else min(self.truncation_layers, self.num_ws)
            wp[:, :cut] = self.w_avg.to(wp.dtype).lerp(wp[:, :cut], self.truncation_psi)
        return wp

    def latents(self, codes: torch.Tensor, space: str = "z") -> dict[str, torch.Tensor]:
        self.check_space(space)
        if space == "wp":
            return {"wp": codes}
        w = self.map(codes) if space == "z" else codes
        return {**({"z": codes} if space == "z" else {}), "w": w, "wp": self.truncate(w)}

    def settings(self) -> dict:
        return {"truncation_psi": self.truncation_psi, "truncation_layers": self.truncation_layers, "noise": self.noise}

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        self.check_space(space)
        if space != "wp":
            codes = self.truncate(self.map(codes) if space == "z" else codes)
        return self.synthesize_wp(codes)
