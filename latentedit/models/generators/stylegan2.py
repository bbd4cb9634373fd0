"""StyleGAN2 / StyleGAN2-ADA (Karras et al. 2020) with the parameter names of NVlabs/stylegan2-ada-pytorch.

Mapping: 2nd-moment normalisation and equalised dense layers. Synthesis: per resolution a block of two
modulated, demodulated 3x3 convolutions (the first upsamples x2 by transposed conv and a [1, 3, 3, 1] FIR
filter) with noise, bias, scaled leaky ReLU and clamping, and ToRGB layers; ``skip``, ``resnet`` or ``orig``
architecture. Computed in float32 (the original runs some blocks in float16 on GPUs).
"""

import math
import numbers
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import WeightsError
from ...files.paths import first_line
from ...files.safe_pickle import read_network_pickle
from ...files.weights import check_tensors
from .style import StyleGenerator

SQRT2 = math.sqrt(2.0)
ARCHITECTURES = ("orig", "skip", "resnet")


def fir_filter(taps: list[float]) -> torch.Tensor:
    """The normalised 2-D filter ``outer(taps, taps) / sum`` (stylegan2-ada's ``setup_filter``)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = f.outer(f)
    return f / f.sum()


def blur(x: torch.Tensor, f: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
    """Depthwise convolution with the FIR filter ``f`` (flipped: a true convolution) after zero padding."""
    kernel = (f.flip([0, 1]) * gain).to(x.dtype).expand(x.shape[1], 1, *f.shape)
    return F.conv2d(F.pad(x, [pad] * 4), kernel, groups=x.shape[1])


def upsample(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """x2 upsampling with the 4x4 FIR filter ``f``: zero insertion and filtering in one transposed convolution."""
    kernel = (f * 4).to(x.dtype).expand(x.shape[1], 1, *f.shape)
    return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=x.shape[1])


class Dense(nn.Module):
    """Equalised fully connected layer (``weight``, ``bias``) with an optional scaled leaky ReLU."""

    def __init__(self, cin: int, cout: int, lr_multiplier: float = 1.0, lrelu: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.weight_gain, self.bias_gain, self.lrelu = lr_multiplier / math.sqrt(cin), lr_multiplier, lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.lrelu else x


class Mapping(nn.Module):
    w_avg: torch.Tensor  # buffer

    def __init__(self, z_dim: int, w_dim: int, layers: int, features: int, lr_multiplier: float) -> None:
        super().__init__()
        self.layers = layers
        sizes = [z_dim] + [features] * (layers - 1) + [w_dim]
        for i in range(layers):
            self.add_module(f"fc{i}", Dense(sizes[i], sizes[i + 1], lr_multiplier, lrelu=True))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for i in range(self.layers):
            x = getattr(self, f"fc{i}")(x)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally upsampling x2), demodulation, noise, bias, leaky ReLU, clamp."""

    noise_const: torch.Tensor  # buffers
    resample_filter: torch.Tensor

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, up: bool, conv_clamp: float | None) -> None:
        super().__init__()
        self.up, self.resolution, self.conv_clamp = up, resolution, conv_clamp
        self.affine = Dense(w_dim, cin)
        self.weight = nn.Parameter(torch.zeros(cout, cin, 3, 3))
        self.register_buffer("noise_const", torch.zeros(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("resample_filter", fir_filter([1, 3, 3, 1]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str, gain: float = 1.0) -> torch.Tensor:
        n, (cout, cin, k, _) = len(x), self.weight.shape
        weight = self.weight * self.affine(w).view(n, 1, cin, 1, 1)  # modulate: one kernel per image
        weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)  # demodulate
        x = x.reshape(1, n * cin, *x.shape[2:])
        if self.up:
            x = F.conv_transpose2d(x, weight.transpose(1, 2).reshape(n * cin, cout, k, k), stride=2, groups=n)
            x = blur(x, self.resample_filter, pad=1, gain=4)
        else:
            x = F.conv2d(x, weight.reshape(n * cout, cin, k, k), padding=1, groups=n)
        x = x.reshape(n, cout, *x.shape[2:])
        if noise == "const":
            x.add_(self.noise_const * self.noise_strength)
        else:
            noise_map = torch.randn(n, 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
            x.add_(noise_map * self.noise_strength)
        # bias, then the leaky ReLU's gain applied before it (same result, since the gain is positive), in place
        x = F.leaky_relu(x.add_(self.bias.view(1, -1, 1, 1)).mul_(SQRT2 * gain), 0.2, inplace=True)
        return x if self.conv_clamp is None else x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)


class ToRGB(nn.Module):
    def __init__(self, cin: int, w_dim: int, conv_clamp: float | None, channels: int = 3) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = Dense(w_dim, cin)
        self.weight = nn.Parameter(torch.zeros(channels, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_gain = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = F.conv2d(x * styles.view(len(x), -1, 1, 1), self.weight, self.bias)
        return x if self.conv_clamp is None else x.clamp(-self.conv_clamp, self.conv_clamp)


class Skip(nn.Module):
    """The resnet architecture's 1x1 upsampling shortcut (no bias)."""

    resample_filter: torch.Tensor  # buffer

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.register_buffer("resample_filter", fir_filter([1, 3, 3, 1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight / math.sqrt(self.weight.shape[1]))
        return upsample(x, self.resample_filter) * math.sqrt(0.5)


class Block(nn.Module):
    resample_filter: torch.Tensor  # buffer

    def __init__(
        self,
        cin: int,
        cout: int,
        w_dim: int,
        resolution: int,
        architecture: str,
        is_last: bool,
        conv_clamp: float | None,
    ) -> None:
        super().__init__()
        self.cin, self.architecture = cin, architecture
        if cin == 0:
            self.const = nn.Parameter(torch.zeros(cout, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, True, conv_clamp)
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, False, conv_clamp)
        self.num_conv = 1 if cin == 0 else 2
        self.num_torgb = int(is_last or architecture == "skip")
        if self.num_torgb:
            self.torgb = ToRGB(cout, w_dim, conv_clamp)
        if cin != 0 and architecture == "resnet":
            self.skip = Skip(cin, cout)
        self.register_buffer("resample_filter", fir_filter([1, 3, 3, 1]))

    def forward(self, x, img, ws: torch.Tensor, noise: str):
        if self.cin == 0:
            x = self.conv1(self.const.expand(len(ws), -1, -1, -1), ws[:, 0], noise)
        elif self.architecture == "resnet":
            y = self.skip(x)
            x = self.conv0(x, ws[:, 0], noise)
            x = y + self.conv1(x, ws[:, 1], noise, gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x, ws[:, 0], noise), ws[:, 1], noise)
        if img is not None:
            img = upsample(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, ws[:, self.num_conv])
            img = y if img is None else img + y
        return x, img


class Synthesis(nn.Module):
    def __init__(self, w_dim: int, channels: dict[int, int], architecture: str, conv_clamp: float | None) -> None:
        super().__init__()
        self.resolutions = sorted(channels)
        self.num_ws = 0
        for res in self.resolutions:
            cin = channels[res // 2] if res > 4 else 0
            block = Block(cin, channels[res], w_dim, res, architecture, res == self.resolutions[-1], conv_clamp)
            self.add_module(f"b{res}", block)
            self.num_ws += block.num_conv + (block.num_torgb if res == self.resolutions[-1] else 0)

    def forward(self, ws: torch.Tensor, noise: str) -> torch.Tensor:
        x = img = None
        index = 0
        for res in self.resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws[:, index : index + block.num_conv + block.num_torgb], noise)
            index += block.num_conv
        assert img is not None, "the last block always has an RGB output"
        return img


def _whole(value: object, name: str, low: int, high: int) -> int:
    """``value`` as a whole number in [low, high], or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


class StyleGAN2Generator(StyleGenerator):
    """StyleGAN2-ADA's ``Generator``; ``channels`` maps each resolution (4, 8, …) to its width."""

    def __init__(
        self,
        name: str,
        z_dim: int,
        w_dim: int,
        channels: dict[int, int],
        mapping_layers: int = 8,
        mapping_features: int | None = None,
        mapping_lr: float = 0.01,
        architecture: str = "skip",
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise WeightsError(f"unknown StyleGAN2 architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
        self.name, self.latent_dim, self.w_dim = name, z_dim, w_dim
        self.resolution = max(channels)
        self.mapping = Mapping(z_dim, w_dim, mapping_layers, mapping_features or w_dim, mapping_lr)
        self.synthesis = Synthesis(w_dim, channels, architecture, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.configure(1.0, None, "const")  # generate.py's defaults

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    @classmethod
    def from_config(cls, name: str, kwargs: dict, state: dict[str, torch.Tensor] | None = None) -> "StyleGAN2Generator":
        """Build from the constructor arguments of stylegan2-ada's ``Generator`` and load ``state`` (if given)."""
        try:
            return cls._from_config(name, kwargs, state)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise WeightsError(
                f"{name}: the network's configuration is damaged ({type(exc).__name__}: {first_line(exc)})"
            ) from None

    @classmethod
    def _from_config(cls, name: str, kwargs: dict, state: dict[str, torch.Tensor] | None) -> "StyleGAN2Generator":
        if not isinstance(kwargs, dict):
            raise TypeError("constructor arguments are not a dict")
        if kwargs.get("c_dim", 0):
            raise WeightsError(f"{name}: conditional generators (c_dim={kwargs['c_dim']}) are not supported")
        mapping, synthesis = dict(kwargs.get("mapping_kwargs") or {}), dict(kwargs.get("synthesis_kwargs") or {})
        for key, value in [("activation", "lrelu"), ("embed_features", None), ("w_avg_beta", 0.995)]:
            mapping.setdefault(key, value)
        if mapping["activation"] != "lrelu" or synthesis.get("activation", "lrelu") != "lrelu":
            raise WeightsError(f"{name}: only leaky-ReLU StyleGAN2 networks are supported")
        if list(synthesis.get("resample_filter", [1, 3, 3, 1])) != [1, 3, 3, 1] or kwargs.get("img_channels", 3) != 3:
            raise WeightsError(f"{name}: only RGB StyleGAN2 networks with the [1, 3, 3, 1] filter are supported")
        resolution = _whole(kwargs["img_resolution"], "img_resolution", 4, 4096)
        if resolution & (resolution - 1):
            raise ValueError(f"img_resolution {resolution} is not a power of two")
        base = _whole(synthesis.get("channel_base", 32768), "channel_base", 1, 2**20)
        top = _whole(synthesis.get("channel_max", 512), "channel_max", 1, 4096)
        for key in ("z_dim", "w_dim"):
            _whole(kwargs[key], key, 1, 4096)
        _whole(mapping.get("num_layers", 8), "num_layers", 1, 64)
        channels = {2**i: min(base // 2**i, top) for i in range(2, resolution.bit_length())}
        generator = cls(
            name,
            int(kwargs["z_dim"]),
            int(kwargs["w_dim"]),
            channels,
            mapping.get("num_layers", 8),
            mapping.get("layer_features"),
            mapping.get("lr_multiplier", 0.01),
            synthesis.get("architecture", "skip"),
            synthesis.get("conv_clamp"),
        )
        if state is not None:
            generator.load_weights(state)
        return generator

    @classmethod
    def from_state_dict(
        cls, name: str, state: dict[str, torch.Tensor], conv_clamp: float | None = None
    ) -> "StyleGAN2Generator":
        """Build from a plain ``G_ema.state_dict()``: the architecture is read from the tensor shapes.

        A state dict does not record ``conv_clamp`` (256 in stylegan2-ada's training configs; it only matters
        for extreme activations), so it is taken from the argument.
        """
        try:
            channels = {
                int(key.split(".")[1][1:]): value.shape[0]
                for key, value in state.items()
                if key.startswith("synthesis.b") and key.endswith(".conv1.weight")
            }
            layers = sum(1 for key in state if key.startswith("mapping.fc") and key.endswith(".weight"))
            z_dim, w_dim = state["mapping.fc0.weight"].shape[1], state["mapping.w_avg"].shape[0]
            features = state["mapping.fc0.weight"].shape[0] if layers > 1 else None
            top = max(channels)
            architecture = (
                "resnet"
                if f"synthesis.b{top}.skip.weight" in state
                else ("skip" if "synthesis.b4.torgb.weight" in state else "orig")
            )
            if not channels or max(channels) > 4096 or any(r & (r - 1) for r in channels):
                raise ValueError(f"no synthesis blocks at powers of two up to 4096: {sorted(channels)}")
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as exc:
            raise WeightsError(f"not a StyleGAN2-ADA generator state dict ({first_line(exc)})") from None
        generator = cls(name, z_dim, w_dim, channels, layers, features, 0.01, architecture, conv_clamp)
        generator.load_weights(state)
        return generator

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        check_tensors(state, self.name)
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"weights do not fit {self.name}: {first_line(exc)}") from None

    @classmethod
    def from_file(cls, name: str, path: Path) -> "StyleGAN2Generator":
        """Load ``G_ema`` from an NVIDIA ``.pkl`` (read without running its code) or a plain state dict."""
        network = read_network_pickle(Path(path), "G_ema")
        return cls.from_config(name, network.init_kwargs, network.state_dict())

    def map(self, z: torch.Tensor) -> torch.Tensor:
        return self.mapping(z)

    def synthesize_wp(self, wp: torch.Tensor) -> torch.Tensor:
        return self.synthesis(wp, self.noise)
