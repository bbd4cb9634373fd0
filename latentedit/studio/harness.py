"""Driving a studio from outside, as its browser tests and ``benchmarks/studio.py`` do: ``latentedit studio`` in a
subprocess, and the system's Chromium driven by Playwright.

Playwright cannot download its own browser here, so it drives Debian's ``chromium`` (``/usr/bin/chromium``, or
``$LATENTEDIT_CHROMIUM``), which ``scripts/install_browser.sh`` installs.
"""

import base64
import io
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = Path(os.environ.get("LATENTEDIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
]
URL_LINE = re.compile(r"latentedit studio: (http://\S+)")


class StudioProcess:
    """``latentedit studio --port 0 ARGS`` running in a subprocess; :attr:`url` once it listens."""

    def __init__(self, *args: str, timeout: float = 180) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "latentedit.cli", "studio", "--port", "0", *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout, lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr, None), daemon=True).start()
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"latentedit studio printed no URL within {timeout} s") from None
            if line is None:
                self.process.wait()
                raise RuntimeError(f"latentedit studio exited with {self.process.returncode}: {''.join(self.stderr)}")
            if match := URL_LINE.search(line):
                self.url = match[1]
                return

    @staticmethod
    def _pump(stream, store: list[str], lines: "queue.Queue[str | None] | None") -> None:
        for line in stream:
            store.append(line)
            if lines is not None:
                lines.put(line)
        if lines is not None:
            lines.put(None)

    def stop(self, timeout: float = 30) -> int:
        """Ctrl-C (SIGINT), as a user stops it; returns its exit code (killed after ``timeout`` seconds)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def chromium_browser() -> Iterator[object]:
    """A headless Chromium (the system's) under Playwright; a clear error when it is not installed."""
    if not CHROMIUM.is_file():
        raise RuntimeError(
            f"{CHROMIUM} not found: the studio's browser tests need Debian's chromium; run "
            "scripts/install_browser.sh (as root) or set LATENTEDIT_CHROMIUM"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shown_image(page, selector: str) -> np.ndarray:
    """The pixels of the image an ``<img>`` of the page shows, as uint8 (H, W, 3)."""
    data = page.evaluate(
        """async (selector) => {
        const blob = await (await fetch(document.querySelector(selector).src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let text = "";
        for (const byte of bytes) text += String.fromCharCode(byte);
        return btoa(text);
    }""",
        selector,
    )
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
