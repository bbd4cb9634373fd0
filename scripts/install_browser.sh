#!/usr/bin/env bash
# Installs the browser that the studio's tests drive: Debian's chromium, run by Playwright (pip, test extra)
# through its executable path, since Playwright's own browser download needs a CDN this machine cannot reach.
# As root with apt-get it installs chromium when /usr/bin/chromium is missing; otherwise it says what to do,
# and the browser tests fail (they never skip).
set -euo pipefail
CHROMIUM="${LATENTEDIT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium for the studio's browser tests (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
    echo "warning: $CHROMIUM is missing: install Debian's chromium (sudo apt-get install chromium) or set" \
         "LATENTEDIT_CHROMIUM, or the studio's browser tests will fail" >&2
fi
