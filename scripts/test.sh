#!/usr/bin/env bash
# Installs latentedit (see install.sh) and the browser the studio's tests drive (install_browser.sh), then runs
# the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
LATENTEDIT_EXTRAS=test,ray bash scripts/install.sh  # ray: tests/test_ray.py runs a local Ray cluster
bash scripts/install_browser.sh
exec "${PYTHON:-python3}" -m pytest -q "$@"
