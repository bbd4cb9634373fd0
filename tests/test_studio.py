"""latentedit studio without a browser: the session (sliders -> plan -> render -> scores, undo, exports that
`edit --replay` reproduces, labels, W+ layers of StyleGAN models) and the HTTP app (coalescing, path safety, upload
limits, bad requests)."""

import csv
import importlib.util
import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.core.boundary import Boundary
from latentedit.errors import UsageError
from latentedit.files.boundaries import load_boundary, save_boundary, shipped_boundaries
from latentedit.models.generators import render
from latentedit.specs import GeneratorSpec, InversionSettings, PhotoOptions
from latentedit.studio.app import Superseded, Worker, create_app
from latentedit.studio.labels import LabelBook
from latentedit.studio.session import EditState, Source, Studio, StudioRequest

MODEL = "dcgan-digiface64"
ASTRONAUT = Path(importlib.util.find_spec("skimage").origin).parent / "data" / "astronaut.png"
HEADERS = {"X-Latentedit-Studio": "1"}
# Starlette 1.x would rather drive its test client with httpx2; httpx works with every Starlette the studio accepts
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


def shipped(name: str) -> np.ndarray:
    return load_boundary(shipped_boundaries(MODEL)[name]).normal.astype(np.float64)


@pytest.fixture(scope="module")
def extra_boundaries(tmp_path_factory):
    """A --boundaries folder as other commands leave it: a learned boundary with a sidecar, one that shares a
    shipped name, codes and scores files, and a boundary of another dimension."""
    folder = tmp_path_factory.mktemp("mine")
    rng = np.random.default_rng(5)
    save_boundary(
        Boundary.from_normal(
            "beard",
            rng.standard_normal(100),
            attribute="beard",
            validation_accuracy=0.91,
            n=4000,
            extra={"meaning": "more beard"},
        ),
        folder / "beard.npy",
    )
    save_boundary(
        Boundary.from_normal("smile", -shipped("smile"), extra={"method": "sefa", "rank": 2}), folder / "smile.npy"
    )
    np.save(folder / "z.npy", rng.standard_normal((40, 100)).astype(np.float32))
    np.save(folder / "beard_scores.npy", rng.random((40, 1)).astype(np.float32))
    save_boundary(Boundary.from_normal("wide", np.ones(512)), folder / "wide.npy")
    return folder


@pytest.fixture(scope="module")
def studio(tmp_path_factory, extra_boundaries):
    return Studio(
        StudioRequest(
            tmp_path_factory.mktemp("studio"),
            GeneratorSpec(MODEL, device="cpu"),
            [extra_boundaries],
            PhotoOptions(InversionSettings(iterations=6)),
            tune=2,
        )
    )


def state(source=None, fixed=(), **strengths) -> dict:
    return {"source": source or {"kind": "seed", "seed": 3}, "strengths": strengths, "fixed": list(fixed)}


def parse(studio: Studio, data: dict) -> EditState:
    return studio.state(data)


# ------------------------------------------------------------------------------------------------ session


def test_sliders_shipped_and_from_folders(studio, extra_boundaries):
    assert list(studio.sliders)[:5] == ["age", "eyeglasses", "gender", "pose", "smile"]
    assert "beard" in studio.sliders and studio.sliders["beard"].meaning.startswith(
        "more beard; attribute beard; validation accuracy 0.910 on 4000"
    )
    renamed = f"{extra_boundaries.name}/smile"
    assert renamed in studio.sliders and "sefa direction #2" in studio.sliders[renamed].meaning
    assert np.allclose(studio.sliders[renamed].boundary.normal, -studio.sliders["smile"].boundary.normal)
    left_out = "\n".join(studio.skipped)
    assert "z.npy" in left_out and "beard_scores.npy" in left_out and "wide.npy: dimension 512" in left_out


def test_render_follows_the_sliders(studio, dcgan):
    """The edited code is the seed's code moved by strength x unit normal, in the slider's direction."""
    source = dcgan.sample(1, 3)
    up, down = studio.render(parse(studio, state(smile=2.5))), studio.render(parse(studio, state(smile=-2.5)))
    assert np.allclose(up.code - source, 2.5 * shipped("smile"), atol=1e-5)
    assert np.allclose(down.code - source, -2.5 * shipped("smile"), atol=1e-5)
    assert np.array_equal(up.view, next(render(dcgan, up.code))[0])
    assert np.array_equal(studio.render(parse(studio, state())).view, next(render(dcgan, source))[0])
    both = studio.render(parse(studio, state(smile=1.0, age=-2.0)))
    assert np.allclose(both.code - source, shipped("smile") - 2 * shipped("age"), atol=1e-5)
    assert np.abs(up.view.astype(int) - down.view).mean() > 5


def test_scores_move_with_the_edit(studio):
    """The live scores read the face shown: smile +3 reads as more smiling than smile -3, eyeglasses likewise."""
    scores = {
        value: studio.scores(studio.render(parse(studio, state(smile=value, eyeglasses=value))))
        for value in (-3.0, 3.0)
    }
    assert scores[3.0]["smile"] > scores[-3.0]["smile"] + 0.2
    assert scores[3.0]["eyeglasses"] > scores[-3.0]["eyeglasses"] + 0.2
    assert set(scores[3.0]) == {"pose", "smile", "age", "gender", "eyeglasses"}


def test_keep_fixed_projects_the_condition_out(studio, dcgan):
    """Age kept at its place by smile fixed: the move has no smile component; without the condition it has one."""
    source = dcgan.sample(1, 3)[0]
    free = studio.render(parse(studio, state(age=3.0))).code[0] - source
    held = studio.render(parse(studio, state(age=3.0, fixed=["smile"]))).code[0] - source
    assert abs(free @ shipped("smile")) > 0.5
    assert abs(held @ shipped("smile")) < 1e-4
    assert held @ shipped("age") > 2.5


def test_states_are_checked(studio):
    good = parse(studio, state(smile=1.5, age=0, fixed=["pose"]))
    assert good.strengths == (("smile", 1.5),) and good.fixed == ("pose",)
    assert good.key() == "seed:3 smile=+1.5 | fixed pose"
    assert parse(studio, good.to_json()) == good
    bad = [
        (state(nose=1.0), "unknown slider 'nose'"),
        (state(smile=float("nan")), "strength of smile"),
        (state(smile=11.0), "strength of smile"),
        (state(smile="1"), "strength of smile"),
        (state(smile=1.0, fixed=["smile"]), "smile is kept fixed"),
        (state({"kind": "file", "path": "/etc/passwd"}), "source kind"),
        (state({"kind": "codes", "folder": "codes", "file": "../../x.npy", "row": 0}), "not a file name"),
        (state({"kind": "codes", "folder": "/etc", "file": "passwd", "row": 0}), "codes or labels folder"),
        (state({"kind": "codes", "folder": "codes", "file": "a.npy", "row": -1}), "source row"),
        (state({"kind": "seed", "seed": True}), "source seed"),
        ({**state(smile=1.0), "layers": "0-1"}, "codes have no layers"),
        ("nonsense", "edit state must be an object"),
    ]
    for data, message in bad:
        with pytest.raises(UsageError, match=message):
            parse(studio, data)


def test_undo_goes_back_one_commit_at_a_time(tmp_path, studio):
    states = [parse(studio, state(smile=v)) for v in (1.0, 2.0, 3.0)]
    start = studio.current
    for s in states:
        studio.commit(s)
    studio.commit(states[-1])  # the same state again is not a new step
    assert studio.undo() == states[1]
    assert studio.undo() == states[0]
    assert studio.undo() == start
    with pytest.raises(UsageError, match="nothing to undo"):
        studio.undo()


def test_paths_stay_in_the_work_folder(studio, tmp_path):
    assert studio.path("codes", "a.npy") == studio.workdir / "codes" / "a.npy"
    for folder, name in [
        ("codes", "../exports/x"),
        ("codes", "/etc/passwd"),
        ("codes", "a/b.npy"),
        ("..", "x"),
        ("uploads", ".."),
        ("uploads", ""),
        ("labels", "x\\..\\y"),
    ]:
        with pytest.raises(UsageError):
            studio.path(folder, name)
    outside = tmp_path / "secret.npy"
    np.save(outside, np.zeros((1, 100), np.float32))
    (studio.workdir / "codes" / "link.npy").symlink_to(outside)
    with pytest.raises(UsageError, match="leads outside"):
        studio.path("codes", "link.npy")
    with pytest.raises(UsageError, match="no export"):
        studio.path("exports", "face.png", "../..")


def replay(run_cli, record: Path, out: Path) -> Path:
    code, _, stderr = run_cli("edit", "--replay", record, "-o", out, "--device", "cpu")
    assert code == 0, stderr
    return out


def test_export_replays_bit_for_bit(tmp_path, studio, run_cli, dcgan):
    """A seed with two sliders and a condition: `edit --replay` of the exported edit.json makes the same code and
    the same pixels."""
    edit = state({"kind": "seed", "seed": 11}, fixed=["eyeglasses"], smile=2.0, age=-1.5)
    folder = studio.export(parse(studio, edit))
    assert sorted(p.name for p in folder.iterdir()) == ["code.npy", "edit.json", "face.png"]
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    code, replayed = np.load(folder / "code.npy"), np.load(again / "codes.npy")
    assert replayed.shape == (1, 2, 100) and np.array_equal(replayed[0, -1], code[0])
    assert np.array_equal(replayed[0, 0], dcgan.sample(1, 11)[0])
    face = np.asarray(Image.open(folder / "face.png"))
    assert np.array_equal(face, next(render(dcgan, replayed[:, -1]))[0])
    record = json.loads((folder / "edit.json").read_text())
    assert record["conditions"] == ["eyeglasses"] and record["attrs"] == "age=-1.5,smile=+2.0"
    assert record["space"] == "z" and "layers" not in record


def test_export_of_a_codes_row_and_a_folder_boundary(tmp_path, studio, run_cli, dcgan, extra_boundaries):
    codes = np.random.default_rng(1).standard_normal((5, 100)).astype(np.float32)
    buffer = io.BytesIO()
    np.save(buffer, codes)
    added = studio.add_codes("my codes.npy", buffer.getvalue())
    assert added == {"folder": "codes", "file": "my_codes.npy", "rows": 5}
    assert studio.add_codes("my codes.npy", buffer.getvalue()) == added  # the same file again: kept once
    renamed = f"{extra_boundaries.name}/smile"
    folder = studio.export(
        parse(
            studio,
            state(
                {"kind": "codes", "folder": "codes", "file": "my_codes.npy", "row": 3}, **{"beard": 1.5, renamed: 2.0}
            ),
        )
    )
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    replayed = np.load(again / "codes.npy")
    assert np.array_equal(replayed[0, 0], codes[3])
    assert np.array_equal(replayed[0, -1], np.load(folder / "code.npy")[0])
    assert np.array_equal(np.asarray(Image.open(folder / "face.png")), next(render(dcgan, replayed[:, -1]))[0])
    wrong = io.BytesIO()
    np.save(wrong, codes[:, :7])
    with pytest.raises(UsageError, match="must have shape"):
        studio.add_codes("bad.npy", wrong.getvalue())
    with pytest.raises(UsageError, match="not a NumPy .npy file"):
        studio.add_codes("bad.npy", b"not numpy")


def test_unedited_export_replays(tmp_path, studio, run_cli, dcgan):
    folder = studio.export(parse(studio, state({"kind": "seed", "seed": 4}, fixed=["age"])))
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    assert np.array_equal(np.load(again / "codes.npy")[0, -1], dcgan.sample(1, 4)[0])
    assert np.array_equal(np.asarray(Image.open(folder / "face.png")), next(render(dcgan, dcgan.sample(1, 4)))[0])


@pytest.mark.slow
def test_photo_edit_replays_bit_for_bit(tmp_path, studio, run_cli, monkeypatch):
    """An uploaded photo is inverted and tuned as `edit PHOTO` does, the page's progress following every step; the
    exported photo is what `edit --replay` writes, pixel for pixel, and only the face region changed."""
    name = studio.add_photo("astronaut.png", ASTRONAUT.read_bytes())
    reported = []
    report = studio._report_progress

    def spy(stage, done, total):
        report(stage, done, total)
        reported.append(studio.progress())

    monkeypatch.setattr(studio, "_report_progress", spy)
    face = studio.prepare_photo(name)
    assert reported == [{"stage": "inverting 1 face(s)", "done": i, "total": 6} for i in range(1, 7)] + [
        {"stage": "tuning the generator to the photo", "done": i, "total": 2} for i in (1, 2)
    ]
    assert studio.progress() is None
    assert face.quality["faces_found"] >= 1
    photo = {"kind": "photo", "file": name}
    assert np.array_equal(studio.before(Source.from_json(photo)), face.photo.image[face.photo.surroundings()])
    folder = studio.export(parse(studio, state(photo, smile=2.0)))
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    exported = np.asarray(Image.open(folder / "face.png"))
    assert np.array_equal(exported, np.asarray(Image.open(again / "photos" / Path(name).stem / "edited.png")))
    original = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    changed = np.argwhere((exported != original).any(-1))
    _, y1, x2, _ = face.photo.face.box
    assert len(changed) > 500 and changed[:, 0].min() >= y1 - 40 and changed[:, 1].max() <= x2 + 40


@pytest.mark.slow
def test_photo_options_reach_the_export(tmp_path, run_cli, dcgan):
    """The studio's photo options are those of `edit PHOTO`: an aligned face (no detection) is inverted as given,
    and its export records the options, so that `edit --replay` writes the same photo."""
    aligned = Studio(
        StudioRequest(
            tmp_path / "studio",
            GeneratorSpec(MODEL, device="cpu"),
            options=PhotoOptions(InversionSettings(iterations=4), aligned=True),
            tune=1,
        )
    )
    buffer = io.BytesIO()
    Image.fromarray(next(render(dcgan, dcgan.sample(1, 2)))[0]).save(buffer, format="PNG")
    name = aligned.add_photo("face.png", buffer.getvalue())
    aligned.prepare_photo(name)
    folder = aligned.export(parse(aligned, state({"kind": "photo", "file": name}, smile=1.5)))
    record = json.loads((folder / "edit.json").read_text())
    assert record["aligned"] is True and record["inversion"]["iterations"] == 4 and record["tune_steps"] == 1
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    exported = np.asarray(Image.open(folder / "face.png"))
    assert exported.shape == (64, 64, 3)
    assert np.array_equal(exported, np.asarray(Image.open(again / "photos" / Path(name).stem / "edited.png")))


def test_bad_photos_are_refused(studio, tmp_path):
    before = set((studio.workdir / "uploads").iterdir())
    with pytest.raises(UsageError, match="cannot read image notes.png"):
        studio.add_photo("notes.png", b"this is not an image")
    buffer = io.BytesIO()
    Image.new("L", (8000, 7000)).save(buffer, format="PNG")
    with pytest.raises(UsageError, match="8000 x 7000 pixels"):
        studio.add_photo("huge.png", buffer.getvalue())
    assert set((studio.workdir / "uploads").iterdir()) == before
    with pytest.raises(UsageError, match="not prepared"):
        studio.render(parse(studio, state({"kind": "photo", "file": "nothing.png"})))


# ------------------------------------------------------------------------------------ StyleGAN: W+ layers


@pytest.fixture(scope="module")
def w_studio(tmp_path_factory, small_stylegan2):
    """A studio of a small seeded StyleGAN2 (16 x 16, 6 W+ layers of 16) with two W boundaries and a Z one."""
    weights, folder = small_stylegan2
    return Studio(
        StudioRequest(tmp_path_factory.mktemp("w-studio"), GeneratorSpec("stylegan2-ffhq", weights, "cpu"), [folder])
    )


def layered(data: dict, layers: str) -> dict:
    return {**data, "layers": layers}


def test_stylegan_studio_moves_only_the_chosen_w_plus_layers(w_studio):
    """In W+ with layers 0-1, layers 0 and 1 move by strength x unit normal and the other four not at all; without
    a range (or "all") every layer moves; the pictures of the three differ."""
    assert w_studio.space == "wp" and w_studio.num_layers == 6 and list(w_studio.sliders) == ["tone", "wide"]
    assert any("zonly.npy: trained on z codes, the studio edits space wp" in line for line in w_studio.skipped)
    generator = w_studio.generator
    source = generator.latents(torch.from_numpy(generator.sample(1, 3)))["wp"].numpy()
    unedited = w_studio.render(parse(w_studio, state()))
    assert unedited.code.shape == (1, 6, 16) and np.array_equal(unedited.code, source)
    normal = w_studio.sliders["wide"].boundary.normal
    some = w_studio.render(parse(w_studio, layered(state(wide=2.5), "0-1")))
    assert some.state.key() == "seed:3 wide=+2.5 | layers 0-1"
    assert np.allclose(some.code[0, :2] - source[0, :2], 2.5 * normal, atol=1e-5)
    assert np.array_equal(some.code[0, 2:], source[0, 2:])
    every = w_studio.render(parse(w_studio, state(wide=2.5)))
    assert np.allclose(every.code[0] - source[0], 2.5 * normal, atol=1e-5)
    assert parse(w_studio, layered(state(wide=2.5), "all")) == every.state and every.state.layers is None
    assert parse(w_studio, layered(state(wide=2.5), "1,0")).layers == (0, 1)
    assert np.array_equal(some.view, next(render(generator, some.code, space="wp"))[0])
    for a, b in [(some, unedited), (some, every)]:
        assert np.abs(a.view.astype(int) - b.view).mean() > 1


def test_layer_ranges_are_checked_and_undone(w_studio):
    bad = [("0-6", "out of range"), ("3-1", "backwards"), ("x", "must look like"), (5, "must be text")]
    for layers, message in bad:
        with pytest.raises(UsageError, match=message):
            parse(w_studio, layered(state(wide=1.0), layers))
    first, second = (parse(w_studio, layered(state(wide=1.0), text)) for text in ("0-1", "2-5"))
    start = w_studio.current
    w_studio.commit(first)
    w_studio.commit(second)
    assert w_studio.current.layers == (2, 3, 4, 5)
    assert w_studio.undo() == first and w_studio.undo() == start


def test_w_plus_export_replays_bit_for_bit(tmp_path, w_studio, run_cli):
    """A W+ edit of layers 0-1 with a condition: edit.json records space wp and the layers, only layers 0 and 1 of
    the exported code differ from the unedited code, and `edit --replay` makes the same code and pixels."""
    folder = w_studio.export(
        parse(w_studio, layered(state({"kind": "seed", "seed": 6}, fixed=["tone"], wide=-2.0), "0-1"))
    )
    record = json.loads((folder / "edit.json").read_text())
    assert record["space"] == "wp" and record["layers"] == [0, 1] and record["attrs"] == "wide=-2.0"
    assert record["conditions"] == ["tone"] and record["studio"]["state"]["layers"] == "0-1"
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    code, replayed = np.load(folder / "code.npy"), np.load(again / "codes.npy")
    unedited = w_studio.render(parse(w_studio, state({"kind": "seed", "seed": 6}))).code
    assert replayed.shape == (1, 2, 6, 16) and np.array_equal(replayed[0, 0], unedited[0])
    assert np.array_equal(replayed[0, -1], code[0])
    assert np.flatnonzero(np.abs(code[0] - unedited[0]).max(axis=-1)).tolist() == [0, 1]
    face = np.asarray(Image.open(folder / "face.png"))
    assert np.array_equal(face, next(render(w_studio.generator, replayed[:, -1], space="wp"))[0])
    assert np.abs(face.astype(int) - next(render(w_studio.generator, unedited, space="wp"))[0]).mean() > 1


def test_z_codes_rows_are_edited_in_w_plus_and_replay(tmp_path, w_studio, run_cli):
    """A labelling sheet (Z codes) in a StyleGAN studio: its faces render from Z, and a row opened for editing is
    mapped to W+; its export carries that W+ code (source.npy), so that `edit --replay` makes the same pixels."""
    generator = w_studio.generator
    items = w_studio.label_sheet(2, 3)
    z = generator.sample(3, 2)
    assert np.array_equal(np.stack(w_studio.sheet_faces(items)), np.concatenate(list(render(generator, z))))
    row = {"kind": "codes", "folder": "labels", "file": items[1].split(":")[0], "row": 1}
    folder = w_studio.export(parse(w_studio, layered(state(row, wide=1.5), "2-5")))
    source = generator.latents(torch.from_numpy(z[1:2]))["wp"].numpy()
    record = json.loads((folder / "edit.json").read_text())
    assert record["codes_file"] == str(folder / "source.npy") and record["layers"] == [2, 3, 4, 5]
    assert np.array_equal(np.load(folder / "source.npy"), source)
    again = replay(run_cli, folder / "edit.json", tmp_path / "again")
    replayed, code = np.load(again / "codes.npy"), np.load(folder / "code.npy")
    assert np.array_equal(replayed[0, -1], code[0]) and np.array_equal(code[0, :2], source[0, :2])
    assert np.array_equal(
        np.asarray(Image.open(folder / "face.png")), next(render(generator, replayed[:, -1], space="wp"))[0]
    )
    for name, codes in [("z", z), ("wp", np.repeat(source, 2, 0)), ("short", source[:, 0, :8])]:
        buffer = io.BytesIO()
        np.save(buffer, codes)
        if name == "short":
            with pytest.raises(UsageError, match=r"in space wp must have shape \(N, 6, 16\)"):
                w_studio.add_codes(f"{name}.npy", buffer.getvalue())
        else:
            assert w_studio.add_codes(f"{name}.npy", buffer.getvalue())["rows"] == len(codes)


@pytest.mark.slow
def test_photo_in_w_plus_replays_bit_for_bit(tmp_path, small_stylegan2, run_cli):
    """A photo in a StyleGAN studio is inverted in W+ (as `edit PHOTO --space wp`); its export with layers 0-1
    replays to the same photo."""
    weights, folder = small_stylegan2
    studio = Studio(
        StudioRequest(
            tmp_path / "studio",
            GeneratorSpec("stylegan2-ffhq", weights, "cpu"),
            [folder],
            PhotoOptions(InversionSettings(iterations=4)),
            tune=1,
        )
    )
    name = studio.add_photo("astronaut.png", ASTRONAUT.read_bytes())
    assert studio.prepare_photo(name).code.shape == (1, 6, 16)
    exported = studio.export(parse(studio, layered(state({"kind": "photo", "file": name}, wide=2.0), "0-1")))
    record = json.loads((exported / "edit.json").read_text())
    assert record["space"] == "wp" and record["layers"] == [0, 1] and record["inversion"]["space"] == "wp"
    again = replay(run_cli, exported / "edit.json", tmp_path / "again")
    assert np.array_equal(
        np.asarray(Image.open(exported / "face.png")),
        np.asarray(Image.open(again / "photos" / Path(name).stem / "edited.png")),
    )


# ----------------------------------------------------------------------------------------------- labelling


def test_labels_csv(tmp_path, studio, dcgan):
    items = studio.label_sheet(7, 4)
    assert items == [f"seed7-n4.npy:{i}" for i in range(4)]
    assert studio.label_sheet(7, 4) == items  # the same sheet again: the same file
    faces = studio.sheet_faces(items[1:3])
    assert np.array_equal(np.stack(faces), np.concatenate(list(render(dcgan, dcgan.sample(4, 7)[1:3]))))
    book = studio.labels
    book.set("beard", items[0], "1")
    book.set("beard", items[1], "0")
    book.set("beard", items[2], "?")
    counts = book.set("beard", items[0], "0")  # relabelled: one row, the new label
    assert counts == {"1": 0, "0": 2, "?": 1}
    with open(studio.workdir / "labels" / "beard.csv", newline="") as handle:
        assert list(csv.reader(handle)) == [["item", "label"], [items[0], "0"], [items[1], "0"], [items[2], "?"]]
    for attribute, item, label, message in [
        ("beard", items[0], "yes", "a label is"),
        ("beard", "seed7-n4.npy:9", "1", "no row 9"),
        ("beard", "../codes/x.npy:0", "1", "FILE.npy:ROW"),
        ("beard", "other.npy:0", "1", "no codes file"),
        ("../beard", items[0], "1", "attribute name"),
    ]:
        with pytest.raises(UsageError, match=message):
            book.set(attribute, item, label)


def test_label_sheets_never_change_a_file(tmp_path):
    book = LabelBook(tmp_path)
    first = book.add_codes(np.zeros((2, 3)), "sheet")
    second = book.add_codes(np.ones((2, 3)), "sheet")
    assert first == ["sheet.npy:0", "sheet.npy:1"] and second == ["sheet-2.npy:0", "sheet-2.npy:1"]
    assert np.array_equal(np.load(tmp_path / "sheet.npy"), np.zeros((2, 3)))


def test_suggest_hook(studio):
    with pytest.raises(Exception, match="no suggestion method"):
        studio.suggest_sheet("beard", 4)
    asked = []

    def suggest(labels_csv: Path, n: int):
        asked.append((labels_csv, n))
        return np.arange(2 * 100, dtype=np.float32).reshape(2, 100) / 100, "suggest-round1"

    studio.suggest = suggest
    try:
        assert studio.suggest_sheet("beard", 2) == ["suggest-round1.npy:0", "suggest-round1.npy:1"]
    finally:
        studio.suggest = None
    assert asked == [(studio.workdir / "labels" / "beard.csv", 2)]


# ------------------------------------------------------------------------------------------------- worker


def test_worker_keeps_only_the_newest_waiting_job():
    """While one job runs, 30 more of one lane arrive: only the last runs, the others are answered Superseded;
    jobs without a lane are never dropped."""
    worker = Worker("test")
    gate, ran = threading.Event(), []
    first = worker.submit(lambda: gate.wait(5) and ran.append("first"), lane="render")
    time.sleep(0.05)
    waiting = [worker.submit(lambda i=i: ran.append(i) or i, lane="render") for i in range(30)]
    kept = worker.submit(lambda: ran.append("export") or "export")
    gate.set()
    assert waiting[-1].result(5) == 29 and kept.result(5) == "export" and first.result(5) is None
    for future in waiting[:-1]:
        with pytest.raises(Superseded):
            future.result(1)
    assert ran == ["first", "export", 29] or ran == ["first", 29, "export"]
    worker.stop()


# --------------------------------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def client(studio):
    from starlette.testclient import TestClient

    with TestClient(create_app(studio, max_upload=64 * 1024), base_url="http://127.0.0.1") as test_client:
        yield test_client


def test_render_endpoint(client, studio):
    body = {"state": state(smile=-1.5)}
    response = client.post("/api/render", json=body, headers=HEADERS)
    assert response.status_code == 200 and response.headers["x-state"] == "seed:3 smile=-1.5"
    shown = np.asarray(Image.open(io.BytesIO(response.content)))
    assert np.array_equal(shown, studio.render(parse(studio, body["state"])).view)
    info = client.get("/api/info").json()
    assert [s["name"] for s in info["sliders"]][:5] == ["age", "eyeglasses", "gender", "pose", "smile"]
    assert info["space"] == "z" and info["layers"] is None
    assert client.get("/").text.startswith("<!doctype html>") and "studio.js" in client.get("/").text
    assert client.get("/static/studio.js").status_code == 200


def test_bad_requests_get_one_line(client, studio):
    while studio._undo:
        studio.undo()
    cases = [
        (client.post("/api/render", json={"state": state()}), 403, "come from the studio's page"),
        (client.post("/api/render", content=b"{oops", headers=HEADERS), 400, "not JSON"),
        (client.post("/api/render", json=[1, 2], headers=HEADERS), 400, "JSON object"),
        (client.post("/api/render", json={"state": state(nose=2)}, headers=HEADERS), 400, "unknown slider"),
        (client.post("/api/undo", json={}, headers=HEADERS), 400, "nothing to undo"),
        (
            client.post("/api/label", json={"attribute": "x", "item": "/etc/passwd:0", "label": "1"}, headers=HEADERS),
            400,
            "FILE.npy:ROW",
        ),
        (client.post("/api/render", json={"state": "x" * 300_000}, headers=HEADERS), 413, "larger than"),
        (client.get("/api/nothing"), 404, "Not Found"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert message in response.json()["error"] and "Traceback" not in response.text


def test_internal_errors_are_one_line(client, studio, monkeypatch):
    def broken(state):
        raise RuntimeError("boom")

    monkeypatch.setattr(studio, "render", broken)
    response = client.post("/api/render", json={"state": state()}, headers=HEADERS)
    assert response.status_code == 500 and response.json() == {"error": "internal error (RuntimeError: boom)"}


def test_files_only_from_the_work_folder(client, studio):
    folder = studio.export(parse(studio, state(smile=1.0)))
    ok = client.get(f"/files/exports/{folder.name}/face.png")
    assert ok.status_code == 200 and ok.content == (folder / "face.png").read_bytes()
    secret = studio.workdir.parent / "secret.txt"
    secret.write_text("secret")
    for url in [
        "/files/exports/../secret.txt",
        "/files/exports/%2e%2e/secret.txt",
        "/files/uploads/..%2Fsecret.txt",
        f"/files/exports/{folder.name}/..%2F..%2F..%2Fsecret.txt",
        "/files/etc/passwd",
        "/files/exports/..%2F..%2F/secret.txt",
        "/static/../session.py",
        "/files/labels/%2e%2e%2fsecret.txt",
    ]:
        response = client.get(url)
        assert response.status_code in (400, 404), url
        assert "secret" not in response.text.replace("secret.txt", "")


def test_uploads_are_limited_and_checked(client, studio):
    big = client.post("/api/photo", content=b"x" * (65 * 1024), headers={**HEADERS, "X-Filename": "big.png"})
    assert big.status_code == 413 and big.json()["error"] == "the request is larger than the studio's limit of 64 KB"

    def chunks():  # no Content-Length: the limit holds as the body arrives
        for _ in range(40):
            yield b"y" * 4096

    streamed = client.post("/api/codes", content=chunks(), headers={**HEADERS, "X-Filename": "c.npy"})
    assert streamed.status_code == 413
    junk = client.post("/api/photo", content=b"GIF89a not really", headers={**HEADERS, "X-Filename": "../../x.gif"})
    assert junk.status_code == 400 and junk.json()["error"] == "cannot read image x.gif: not an image file"
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(buffer, format="PNG")
    named = client.post("/api/photo", content=buffer.getvalue(), headers={**HEADERS, "X-Filename": "%C3%A9t%C3%A9.png"})
    assert named.status_code == 422 and named.json()["error"].startswith("no face found in ")
    assert any(p.name.startswith("t-") for p in (studio.workdir / "uploads").iterdir())  # kept, by a safe name
    assert not any(p.name.startswith("x-") for p in (studio.workdir / "uploads").iterdir())


def test_concurrent_renders_are_coalesced(client, studio, monkeypatch):
    """Twelve renders sent at once while each takes 0.2 s: a few are rendered, the rest answered 204."""
    rendered = []
    original = studio.render

    def slow(state):
        rendered.append(state)
        time.sleep(0.2)
        return original(state)

    monkeypatch.setattr(studio, "render", slow)
    results = [None] * 12

    def send(i):
        results[i] = client.post("/api/render", json={"state": state(smile=i / 4)}, headers=HEADERS).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    assert sorted(set(results)) == [200, 204] and results.count(200) == len(rendered) <= 4


# ---------------------------------------------------------------------------------------------------- CLI


def test_a_busy_port_is_one_line_before_any_model_loads(run_cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.perf_counter()
        code, _, stderr = run_cli("studio", "--port", port, "--device", "cpu")
    assert code == 2 and stderr.startswith(f"latentedit: error: cannot listen on 127.0.0.1:{port}: ")
    assert stderr.count("\n") == 1 and time.perf_counter() - start < 5


def test_bad_options_are_one_line(run_cli, tmp_path):
    code, _, stderr = run_cli("studio", "--port", 0, "--boundaries", tmp_path / "missing", "--workdir", tmp_path / "w")
    assert code == 2 and "is not a folder" in stderr and stderr.count("\n") == 1
    code, _, stderr = run_cli("studio", "--port", 70000)
    assert code == 2 and "70000" in stderr
    code, _, stderr = run_cli("studio", "--port", 0, "--iterations", -1, "--workdir", tmp_path / "w")
    assert code == 2 and "iterations must be 0 or more" in stderr and stderr.count("\n") == 1


@pytest.mark.slow
def test_another_host_warns_and_ctrl_c_stops_cleanly(tmp_path):
    from latentedit.studio.harness import StudioProcess

    studio = StudioProcess("--host", "0.0.0.0", "--workdir", str(tmp_path), "--device", "cpu")
    assert studio.url.startswith("http://0.0.0.0:")
    assert studio.stop() == 0
    err = "".join(studio.stderr)
    assert "warning: listening on 0.0.0.0: anyone who can reach this address can use the studio" in err
    assert "Traceback" not in err and "latentedit studio: stopped" in "".join(studio.stdout)
