"""Device selection: ``auto`` picks CUDA when available, else the CPU; and the host allocator's settings."""

import ctypes
import sys

import torch

from .errors import UsageError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` into a usable :class:`torch.device`."""
    if isinstance(spec, torch.device):
        return spec
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise UsageError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UsageError(f"unsupported device {spec!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise UsageError(f"device {spec!r} requested but CUDA is not available here; use --device cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise UsageError(f"device {spec!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found")
    return device


# glibc's mallopt parameters, and the largest value its int argument takes (2 GiB).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _KEEP = -1, -3, 2**31 - 1


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next allocation instead of giving it back to the system at once
    (trim and mmap thresholds 2 GiB). Otherwise every batch's large tensors are fresh mappings whose pages fault in
    one by one: on 2 CPU cores a fifth of scoring's time went to the kernel (docs/benchmarks.md). Peak memory stays
    the same; what a finished batch freed is reused rather than returned. Returns whether it applied (not on other
    C libraries or systems)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # no glibc (musl, ...)
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, _KEEP) and mallopt(_M_MMAP_THRESHOLD, _KEEP))
