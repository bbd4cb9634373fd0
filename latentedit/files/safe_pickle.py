"""Reading NVIDIA's StyleGAN2-ADA network pickles without running any of the code they carry.

Those ``.pkl`` files pickle each network together with the source code of its module
(``torch_utils/persistence.py``); a plain unpickle executes that code. Here the unpickler resolves only a
fixed list of globals: the persistence hook becomes a record of the class name and its state (the source is
never compiled), tensors are rebuilt by torch with ``weights_only=True``, and any other global, such as
``os.system``, is refused before anything is called.
"""

import io
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from .paths import first_line


@dataclass
class PickledModule:
    """A ``torch.nn.Module`` as stored in the pickle: its class name and its ``__dict__``, nothing executed."""

    class_name: str
    state: dict = field(repr=False)

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this module and its children, by dotted name."""
        tensors: dict[str, torch.Tensor] = {}
        skip = self.state.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            for name, value in (self.state.get(group) or {}).items():
                if value is not None and name not in skip:
                    tensors[prefix + name] = value.detach() if isinstance(value, torch.Tensor) else value
        for name, child in (self.state.get("_modules") or {}).items():
            if isinstance(child, PickledModule):
                tensors.update(child.state_dict(f"{prefix}{name}."))
        return tensors


def _persistent_object(meta: dict) -> PickledModule:
    """Stands in for ``torch_utils.persistence._reconstruct_persistent_obj``: keeps data, ignores ``module_src``."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("malformed persistent object")
    return PickledModule(str(meta.get("class_name")), meta["state"])


def _storage_from_bytes(data: bytes):
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool, backward_hooks, *state) -> torch.Tensor:
    return data


def _numpy_scalar(dtype: np.dtype, data: bytes = b""):
    """A NumPy number (the networks keep gains as float64 scalars); any other kind of scalar is refused."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise pickle.UnpicklingError("refused numpy scalar that is not a number")
    return np.frombuffer(data, dtype=np.dtype(dtype.str), count=1)[0]  # a fresh dtype: ignores any pickled state


def _numpy_dtype(kind: str, align: bool = False, copy: bool = False) -> np.dtype:
    dtype = np.dtype(kind)
    if dtype.hasobject:
        raise pickle.UnpicklingError("refused numpy object dtype")
    return dtype


ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("dnnlib.util", "EasyDict"): dict,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in :data:`ALLOWED`; anything else raises ``UnpicklingError``."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused persistent id")


def read_network_pickle(path: Path, key: str = "G_ema") -> PickledModule:
    """The network ``key`` of a StyleGAN2-ADA pickle, read with :class:`RestrictedUnpickler`."""
    try:
        with open(path, "rb") as handle:
            data = RestrictedUnpickler(handle).load()
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror}") from None
    except Exception as exc:  # pickle raises many types for bad or hostile files
        raise WeightsError(f"cannot read {path} as a StyleGAN2-ADA pickle: {first_line(exc)}") from None
    network = data.get(key) if isinstance(data, dict) else None
    if not isinstance(network, PickledModule):
        raise WeightsError(f"{path} has no {key!r} network: not a StyleGAN2-ADA pickle")
    return network
