#!/usr/bin/env bash
# Installs latentedit (see install.sh) and the browser the studio's tests drive (install_browser.sh), then runs
# the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install_browser.sh
"${PYTHON:-python3}" -m pip install --quiet -e ".[ray]"  # tests/test_ray.py runs a local Ray cluster
exec "${PYTHON:-python3}" -m pytest -q "$@"
