"""Latency of latentedit studio: the render request, and slider input to image shown in a real browser.

    python benchmarks/studio.py [--requests 300] [--moves 150] [--drags 10] [--screenshot docs/images/studio.png]

Starts ``latentedit studio`` (embedded model, CPU) in a subprocess as a user would, then measures
1. the render request: POST /api/render of a new edit state (1-3 sliders moved, 10 seeds), one at a time as the page
   sends them, from sending to the last byte of the PNG;
2. in Chromium (Debian's, under Playwright): a slider set to a new value, from its input event to the frame after
   the new image has loaded (measured inside the page with performance.now());
3. drags: 60 input events at 60 Hz per drag; how many renders went out, the latency of every image shown during
   the drag, and of the final state's image after the last input.
Writes the section "Studio" of docs/benchmarks.md (with --no-write: prints it only). The browser runs on the same
machine as the server, as it does for a user of the studio.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from latentedit.devtools import machine, write_section
from latentedit.studio.harness import StudioProcess, chromium_browser

SLIDERS = ["age", "eyeglasses", "gender", "pose", "smile"]
TARGET_MS = 100.0


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def render_requests(url: str, count: int, rng: np.random.Generator) -> tuple[list[float], list[float], list[float]]:
    """Of ``count`` sequential render requests of new states (after 20 unmeasured ones): the wall-clock ms of each
    request, and the server's own wall-clock and CPU ms for the render (plan, forward pass, PNG)."""
    times, server, cpu = [], [], []
    for i in range(count + 20):
        moved = rng.choice(SLIDERS, size=int(rng.integers(1, 4)), replace=False)
        strengths = {str(name): round(float(rng.uniform(-5, 5)), 1) or 0.1 for name in moved}
        body = json.dumps({"state": {"source": {"kind": "seed", "seed": int(i % 10)}, "strengths": strengths}}).encode()
        request = urllib.request.Request(
            f"{url}api/render", body, {"Content-Type": "application/json", "X-Latentedit-Studio": "1"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request) as response:
            response.read()
            assert response.status == 200
            if i >= 20:
                times.append((time.perf_counter() - start) * 1000)
                server.append(float(response.headers["x-render-ms"]))
                cpu.append(float(response.headers["x-render-cpu-ms"]))
    return times, server, cpu


def slider_moves(page, count: int, rng: np.random.Generator) -> list[float]:
    """Input-to-shown ms of ``count`` single moves of the smile slider (each to a new value)."""
    slider = page.locator('.slider[data-name="smile"] input[type=range]')
    latencies, value = [], 0.0
    for _ in range(count + 5):
        new = value
        while new in (value, 0.0):
            new = round(float(rng.uniform(-5, 5)), 1)
        value = new
        slider.fill(f"{value}")
        page.wait_for_selector(f'#after[data-state="seed:0 smile={value:+g}"]', timeout=60_000)
        latencies.append(page.evaluate("studio.latencies[studio.latencies.length - 1]"))
    return latencies[5:]


DRAG = """async (n) => {
    const range = document.querySelector('.slider[data-name="smile"] input');
    const shownBefore = studio.latencies.length;
    for (let i = 0; i < n; i++) {
        range.value = (-4 + 8 * i / (n - 1)).toFixed(1);
        range.dispatchEvent(new Event("input", {bubbles: true}));
        await new Promise((resolve) => setTimeout(resolve, 1000 / 60));
    }
    return shownBefore;
}"""


def drags(page, count: int, events: int = 60) -> tuple[list[float], list[float], list[int]]:
    """Latencies of every image shown during the drags, of each drag's final image, and renders per drag."""
    renders: list[str] = []
    page.on("request", lambda r: renders.append(r.url) if r.url.endswith("/api/render") else None)
    during, final, sent = [], [], []
    for i in range(count):
        page.evaluate(f"applyState({{source: {{kind: 'seed', seed: {i + 1}}}, strengths: {{}}, fixed: []}})")
        page.wait_for_selector(f'#after[data-state="seed:{i + 1}"]', timeout=60_000)
        renders.clear()
        first = page.evaluate(DRAG, events)
        page.wait_for_selector(f'#after[data-state="seed:{i + 1} smile=+4"]', timeout=60_000)
        shown = page.evaluate(f"studio.latencies.slice({first})")
        during += shown
        final.append(shown[-1])
        sent.append(len(renders))
    return during, final, sent


def screenshot(page, path: Path) -> None:
    """The page on a clear edit: seed 4, smile +2.5 and eyeglasses +2.5 with age kept fixed, scores shown."""
    page.evaluate(
        "applyState({source: {kind: 'seed', seed: 4}, strengths: {smile: 2.5, eyeglasses: 2.5}, fixed: ['age']})"
    )
    key = "seed:4 eyeglasses=+2.5 smile=+2.5 | fixed age"
    page.wait_for_selector(f'#after[data-state="{key}"]', timeout=60_000)
    page.wait_for_selector(f'#scores[data-state="{key}"]', timeout=120_000)
    page.wait_for_function("document.querySelectorAll('#scores td.before:empty').length === 0", timeout=120_000)
    page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1400, "height": 620})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--moves", type=int, default=150)
    parser.add_argument("--drags", type=int, default=10)
    parser.add_argument("--screenshot", type=Path, help="also save a screenshot of the page here")
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as workdir:
        studio = StudioProcess("--workdir", workdir, "--device", "cpu")
        try:
            requests, server, cpu = render_requests(studio.url, args.requests, rng)
            with chromium_browser() as browser:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(studio.url)
                page.wait_for_selector('#after[data-state="seed:0"]', timeout=60_000)
                moves = slider_moves(page, args.moves, rng)
                during, final, sent = drags(page, args.drags)
                if args.screenshot:
                    screenshot(page, args.screenshot)
        finally:
            studio.stop()
    load.append(os.getloadavg()[0])

    rows = [
        ("render request (HTTP, sequential)", requests),
        ("of which the server's render (wall clock)", server),
        ("of which the server's render (CPU time of its thread)", cpu),
        ("slider input to image shown (Chromium)", moves),
        ("drag: every image shown, from its input", during),
        ("drag: final image, from the last input", final),
    ]
    table = ["| measure | n | p50 (ms) | p95 (ms) | target met (p95 < 100 ms) |", "| --- | ---: | ---: | ---: | --- |"]
    for name, values in rows:
        p50, p95 = percentiles(values)
        table.append(f"| {name} | {len(values)} | {p50:.1f} | {p95:.1f} | {'yes' if p95 < TARGET_MS else 'no'} |")
    body = "\n".join(
        [
            (
                "`python benchmarks/studio.py` — `latentedit studio` (dcgan-digiface64, 64 x 64, CPU, 1 torch "
                "thread per "
                f"worker) in a subprocess; {args.requests} render requests of new states one at a time; "
                f"{args.moves} slider "
                "moves in Debian's Chromium under Playwright (input event to the frame after the image loaded, "
                "measured in "
                f"the page); {args.drags} drags of 60 input events at 60 Hz each. Browser and server share the machine."
            ),
            (
                f"Machine: {machine()}. 1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end, on "
                f"{os.cpu_count()} cores"
                + (" (other work was running)." if max(load) > 0.5 * (os.cpu_count() or 1) else ", a quiet machine.")
            ),
            "",
            *table,
            "",
            (
                f"Drags: {statistics.mean(sent):.1f} render requests per drag of 60 input events on average (min "
                f"{min(sent)}, "
                f"max {max(sent)}): a render waits for the one before it, and only the newest state goes next."
            ),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Studio (`benchmarks/studio.py`)", body)


if __name__ == "__main__":
    main()
