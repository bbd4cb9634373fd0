"""latentedit: InterFaceGAN-style latent-space face editing."""

__version__ = "0.1.0"
