"""latentedit studio in a real browser: Debian's chromium driven by Playwright against `latentedit studio` run as a
user runs it. These tests never skip: without chromium they fail (scripts/install_browser.sh installs it)."""

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.core.editing import apply_edit, plan_edit
from latentedit.files.boundaries import load_boundary, shipped_boundaries
from latentedit.models.generators import render
from latentedit.specs import GeneratorSpec
from latentedit.studio.harness import StudioProcess, chromium_browser, shown_image

MODEL = "dcgan-digiface64"
ASTRONAUT = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"
TIMEOUT = 60_000  # ms: a loaded 2-core machine renders slowly, a right answer still comes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`latentedit studio` in a subprocess (photos inverted briefly); stopped with Ctrl-C at the end, cleanly."""
    workdir = tmp_path_factory.mktemp("studio")
    studio = StudioProcess("--workdir", str(workdir), "--iterations", "8", "--tune", "2", "--device", "cpu")
    studio.workdir = workdir
    yield studio
    assert studio.stop() == 0, "".join(studio.stderr)
    assert "latentedit studio: stopped" in "".join(studio.stdout)
    assert "Traceback" not in "".join(studio.stderr)


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as chromium:
        yield chromium


@contextmanager
def studio_page(browser, url: str, name: str) -> Iterator[object]:
    """A fresh page of the studio at ``url``, ready, at seed 0 unedited; fails the test on any script error. Its
    last screenshot goes to $STUDIO_SCREENSHOTS (if set) as ``name``.png, to be looked at."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    try:
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.goto(url)
        tab.wait_for_selector("body[data-ready='1']", timeout=TIMEOUT)
        tab.evaluate("() => { applyState({source: {kind: 'seed', seed: 0}, strengths: {}, fixed: []}); commit(); }")
        wait_for_state(tab, "seed:0")  # the studio keeps its state across pages: each test starts from seed 0
        yield tab
        if os.environ.get("STUDIO_SCREENSHOTS"):
            tab.screenshot(path=str(Path(os.environ["STUDIO_SCREENSHOTS"]) / f"{name}.png"))
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture
def page(server, browser, request):
    with studio_page(browser, server.url, request.node.name) as tab:
        yield tab


def expected(dcgan, code: np.ndarray, strengths: dict[str, float], fixed=()) -> tuple[np.ndarray, np.ndarray]:
    """The edited code and its rendering, computed here as `edit --attrs ... --condition ...` plans it."""
    boundaries = {name: load_boundary(path) for name, path in shipped_boundaries(MODEL).items()}
    if not strengths:
        return code, next(render(dcgan, code))[0]
    plan = plan_edit(
        [boundaries[n] for n in strengths],
        list(strengths.values()),
        conditions=[boundaries[n] for n in fixed],
        steps=np.array([0.0, 1.0]),
    )
    edited = apply_edit(code, plan)[:, -1]
    return edited, next(render(dcgan, edited))[0]


def slider(page, name: str):
    return page.locator(f'.slider[data-name="{name}"] input[type=range]')


def wait_for_state(page, key: str, selector: str = "#after") -> None:
    page.wait_for_selector(f'{selector}[data-state="{key}"]', timeout=TIMEOUT)


def replay(record: Path, out: Path) -> Path:
    """`latentedit edit --replay` in its own process, as a user would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "latentedit.cli", "edit", "--replay", str(record), "-o", str(out), "--device", "cpu"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_a_drag_ends_on_the_image_of_its_last_value(page, dcgan):
    """A mouse drag sends a burst of input events; the page shows the final state's image (pixel for pixel),
    and fewer renders go out than inputs came in."""
    renders = []
    page.on("request", lambda r: renders.append(r) if r.url.endswith("/api/render") else None)
    page.evaluate(
        "() => { window.inputs = 0; document.querySelector('.slider[data-name=\"smile\"] input')"
        ".addEventListener('input', () => window.inputs++); }"
    )
    box = slider(page, "smile").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    for step in range(1, 31):
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * step / 30), y)
    page.mouse.up()
    value = float(slider(page, "smile").input_value())
    assert value >= 2.5
    wait_for_state(page, f"seed:0 smile={value:+g}")
    _, image = expected(dcgan, dcgan.sample(1, 0), {"smile": value})
    assert np.array_equal(shown_image(page, "#after"), image)
    inputs = page.evaluate("window.inputs")
    assert inputs >= 10 and 1 <= len(renders) < inputs


def test_the_sign_of_a_slider_counts(page, dcgan):
    code = dcgan.sample(1, 0)
    shown = {}
    for value in ("-2.5", "2.5"):
        slider(page, "smile").fill(value)
        wait_for_state(page, f"seed:0 smile={float(value):+g}")
        shown[value] = shown_image(page, "#after")
        assert np.array_equal(shown[value], expected(dcgan, code, {"smile": float(value)})[1])
    assert np.abs(shown["2.5"].astype(int) - shown["-2.5"]).mean() > 5
    assert page.locator("#layers-row").is_hidden()  # Z codes have no layers
    wait_for_state(page, "seed:0 smile=+2.5", "#scores")
    assert page.locator('#scores tr[data-name="smile"] .now').text_content() != ""


def test_keep_fixed_makes_a_conditional_edit(page, dcgan):
    page.locator('.slider[data-name="smile"] input[type=checkbox]').check()
    assert slider(page, "smile").is_disabled()
    slider(page, "age").fill("3")
    wait_for_state(page, "seed:0 age=+3 | fixed smile")
    shown = shown_image(page, "#after")
    code = dcgan.sample(1, 0)
    assert np.array_equal(shown, expected(dcgan, code, {"age": 3.0}, ["smile"])[1])
    assert not np.array_equal(shown, expected(dcgan, code, {"age": 3.0})[1])


def test_undo_reset_and_seeds(page, dcgan):
    for value in ("1", "2"):
        slider(page, "pose").fill(value)
        wait_for_state(page, f"seed:0 pose=+{value}")
    page.click("#undo")
    wait_for_state(page, "seed:0 pose=+1")
    assert slider(page, "pose").input_value() == "1"
    page.click("#reset")
    wait_for_state(page, "seed:0")
    page.click("#undo")
    wait_for_state(page, "seed:0 pose=+1")
    page.click("#seed-next")
    wait_for_state(page, "seed:1 pose=+1")
    wait_for_state(page, "seed:1", "#before")
    assert np.array_equal(shown_image(page, "#before"), expected(dcgan, dcgan.sample(1, 1), {})[1])
    assert np.array_equal(shown_image(page, "#after"), expected(dcgan, dcgan.sample(1, 1), {"pose": 1.0})[1])


@pytest.mark.slow
def test_export_replays_to_the_same_pixels(page, server, dcgan, tmp_path):
    page.fill("#seed", "5")
    page.dispatch_event("#seed", "change")
    page.locator('.slider[data-name="eyeglasses"] input[type=checkbox]').check()
    slider(page, "smile").fill("2")
    slider(page, "age").fill("-1.5")
    wait_for_state(page, "seed:5 age=-1.5 smile=+2 | fixed eyeglasses")
    page.click("#export")
    page.wait_for_selector("#exported[data-folder] a", timeout=TIMEOUT)
    folder = Path(page.locator("#exported").get_attribute("data-folder"))
    assert folder.parent == server.workdir / "exports"
    with page.expect_download() as download:
        page.click("#exported a:text('edit.json')")
    assert json.loads(Path(download.value.path()).read_text()) == json.loads((folder / "edit.json").read_text())
    again = replay(folder / "edit.json", tmp_path / "again")
    replayed = np.load(again / "codes.npy")
    face = np.asarray(Image.open(folder / "face.png"))
    assert np.array_equal(replayed[0, -1], np.load(folder / "code.npy")[0])
    assert np.array_equal(next(render(dcgan, replayed[:, -1]))[0], face)
    assert np.array_equal(shown_image(page, "#after"), face)
    assert np.array_equal(face, expected(dcgan, dcgan.sample(1, 5), {"age": -1.5, "smile": 2.0}, ["eyeglasses"])[1])


@pytest.mark.slow
def test_photo_upload_edit_and_replay(page, tmp_path):
    """The astronaut is uploaded, inverted with a progress indicator, edited and exported; `edit --replay` of the
    export writes the same photo."""
    page.evaluate("""() => { window.progressShown = false; const panel = document.querySelector('#photo-progress');
        new MutationObserver(() => { if (!panel.hidden) window.progressShown = true; })
            .observe(panel, {attributes: true}); }""")
    page.set_input_files("#photo-upload", str(ASTRONAUT))
    page.wait_for_selector('#after[data-state^="photo:astronaut-"]', timeout=300_000)
    assert page.evaluate("window.progressShown") and page.locator("#photo-progress").is_hidden()
    assert "inverted with PSNR" in page.locator("#source-info").text_content()
    key = page.locator("#after").get_attribute("data-state")
    before = shown_image(page, "#before")
    slider(page, "smile").fill("2")
    wait_for_state(page, f"{key} smile=+2")
    after = shown_image(page, "#after")
    assert before.shape == after.shape and before.shape[0] > 100 and np.abs(after.astype(int) - before).max() > 20
    page.click("#export")
    page.wait_for_selector("#exported[data-folder] a", timeout=TIMEOUT)
    folder = Path(page.locator("#exported").get_attribute("data-folder"))
    again = replay(folder / "edit.json", tmp_path / "again")
    stem = key.removeprefix("photo:").rsplit(".", 1)[0]
    exported = np.asarray(Image.open(folder / "face.png"))
    assert exported.shape == (512, 512, 3)
    assert np.array_equal(exported, np.asarray(Image.open(again / "photos" / stem / "edited.png")))


def test_labelling_writes_the_csv(page, server, dcgan):
    page.click("#tab-label")
    page.fill("#label-attr", "beard")
    page.fill("#label-n", "6")
    page.click("#label-new")
    page.wait_for_selector("#grid .tile >> nth=5", timeout=TIMEOUT)
    tiles = page.locator("#grid .tile")
    assert tiles.count() == 6 and tiles.nth(0).get_attribute("data-item") == "seed0-n6.npy:0"
    faces = np.concatenate(list(render(dcgan, dcgan.sample(6, 0))))
    assert np.array_equal(shown_image(page, "#grid .tile:nth-child(2) img"), faces[1])
    tiles.nth(0).locator("button[data-value='1']").click()
    page.wait_for_selector("#grid .tile:nth-child(1)[data-label='1']", timeout=TIMEOUT)
    page.keyboard.press("n")  # the next face is selected after a label
    page.wait_for_selector("#grid .tile:nth-child(2)[data-label='0']", timeout=TIMEOUT)
    page.keyboard.press("ArrowRight")
    page.keyboard.press("u")
    page.wait_for_selector("#grid .tile:nth-child(4)[data-label='?']", timeout=TIMEOUT)
    rows = (server.workdir / "labels" / "beard.csv").read_text().splitlines()
    assert rows == ["item,label", "seed0-n6.npy:0,1", "seed0-n6.npy:1,0", "seed0-n6.npy:3,?"]
    assert page.locator("#label-counts").text_content() == "yes 1, no 1, unclear 1"
    assert page.locator("#label-suggest").is_enabled()  # latentedit studio wires label suggest in
    tiles.nth(4).dblclick()
    wait_for_state(page, "labels/seed0-n6.npy:4")
    assert np.array_equal(shown_image(page, "#after"), faces[4])


def test_errors_show_in_the_page(page, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    page.set_input_files("#photo-upload", str(notes))
    page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT)
    assert page.locator("#error-text").text_content() == "cannot read image notes.png: not an image file"
    page.click("#error-close")
    codes = tmp_path / "codes.npy"
    np.save(codes, np.zeros((3, 7), np.float32))
    page.set_input_files("#codes-upload", str(codes))
    page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT)
    assert "must have shape (N, 100)" in page.locator("#error-text").text_content()


@pytest.fixture(scope="module")
def w_server(tmp_path_factory, small_stylegan2):
    """`latentedit studio` of a small seeded StyleGAN2 (6 W+ layers) with its boundaries folder."""
    weights, folder = small_stylegan2
    workdir = tmp_path_factory.mktemp("w-studio")
    studio = StudioProcess(
        "-m",
        "stylegan2-ffhq",
        "--weights",
        str(weights),
        "--boundaries",
        str(folder),
        "--workdir",
        str(workdir),
        "--device",
        "cpu",
    )
    yield studio
    assert studio.stop() == 0, "".join(studio.stderr)
    assert "Traceback" not in "".join(studio.stderr)


def test_layer_range_of_a_stylegan_model(w_server, browser, small_stylegan2, tmp_path, request):
    """A StyleGAN model is edited in W+: the page shows the layer range, the image follows it pixel for pixel,
    undo restores the range, and the export of layers 0-1 replays to the same code and pixels."""
    weights, folder = small_stylegan2
    generator, _ = GeneratorSpec("stylegan2-ffhq", weights, "cpu").load()
    source = generator.latents(torch.from_numpy(generator.sample(1, 0)))["wp"].numpy()

    def expected_image(layers):
        plan = plan_edit([load_boundary(folder / "wide.npy")], [2.5], steps=np.array([0.0, 1.0]), layers=layers)
        return next(render(generator, apply_edit(source, plan)[:, -1], space="wp"))[0]

    with studio_page(browser, w_server.url, request.node.name) as page:
        assert page.locator("#layers-row").is_visible() and page.locator("#layers").input_value() == "all"
        assert "editing W+ codes" in page.locator("#model").text_content()
        slider(page, "wide").fill("2.5")
        wait_for_state(page, "seed:0 wide=+2.5")
        page.fill("#layers", "1,0")
        page.press("#layers", "Enter")
        wait_for_state(page, "seed:0 wide=+2.5 | layers 0-1")
        some = shown_image(page, "#after")
        assert np.array_equal(some, expected_image((0, 1)))
        assert not np.array_equal(some, expected_image(None))
        page.click("#undo")
        wait_for_state(page, "seed:0 wide=+2.5")
        assert page.locator("#layers").input_value() == "all"
        assert np.array_equal(shown_image(page, "#after"), expected_image(None))
        page.fill("#layers", "0-1")
        page.press("#layers", "Enter")
        wait_for_state(page, "seed:0 wide=+2.5 | layers 0-1")
        page.click("#export")
        page.wait_for_selector("#exported[data-folder] a", timeout=TIMEOUT)
        exported = Path(page.locator("#exported").get_attribute("data-folder"))
        page.fill("#layers", "0-9")
        page.press("#layers", "Enter")
        page.wait_for_selector("#error:not([hidden])", timeout=TIMEOUT)
        assert "out of range: the model has 6 layers, 0-5" in page.locator("#error-text").text_content()
    record = json.loads((exported / "edit.json").read_text())
    assert record["space"] == "wp" and record["layers"] == [0, 1]
    replayed = np.load(replay(exported / "edit.json", tmp_path / "again") / "codes.npy")
    assert np.array_equal(replayed[0, -1], np.load(exported / "code.npy")[0])
    assert np.array_equal(np.asarray(Image.open(exported / "face.png")), some)
