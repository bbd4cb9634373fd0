"""Shared by the tests of unsafe and damaged files: a small StyleGAN2 configuration and a pickle payload that
would run a shell command if it were ever unpickled."""

import os

# The smallest StyleGAN2 the loaders accept: 16x16 images, 6 W+ layers of 16 dimensions.
SMALL_STYLEGAN2 = {
    "z_dim": 16,
    "w_dim": 16,
    "c_dim": 0,
    "img_resolution": 16,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 256, "channel_max": 16, "conv_clamp": 256, "architecture": "skip"},
}


class SystemCall:
    """Unpickling this would run ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)
