"""``sample`` and ``edit`` end to end on PGGAN, StyleGAN and StyleGAN2 checkpoints (small, seeded weights)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from latentedit.devtools import random_state, write_nvidia_pickle
from latentedit.models.generators.pggan import PGGANGenerator
from latentedit.models.generators.stylegan import StyleGANGenerator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator

SG2 = {
    "z_dim": 512,
    "w_dim": 512,
    "c_dim": 0,
    "img_resolution": 32,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 1024, "channel_max": 64, "conv_clamp": 256, "architecture": "skip"},
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{model name: weights file} in each official format: 32 px PGGAN, 64 px StyleGAN, 32 px StyleGAN2 pickle.

    Latents are 512-d as in the published models; the layers are narrower (the loaders read widths from the file).
    """
    folder = tmp_path_factory.mktemp("weights")
    pggan = PGGANGenerator("t", [512, 64, 64, 32, 32])
    torch.save(random_state(pggan.state_dict(), 11), folder / "pggan.pth")
    stylegan = StyleGANGenerator("t", [64, 64, 64, 64, 32, 32], [False] * 5)
    torch.save(random_state(stylegan.state_dict(), 12), folder / "stylegan.pth")
    stylegan2 = StyleGAN2Generator.from_config("t", SG2)
    stylegan2.load_state_dict(random_state(stylegan2.state_dict(), 13))
    write_nvidia_pickle(folder / "stylegan2.pkl", stylegan2, SG2)
    return {
        "pggan-celebahq": folder / "pggan.pth",
        "stylegan-ffhq": folder / "stylegan.pth",
        "stylegan2-ffhq": folder / "stylegan2.pkl",
    }


@pytest.fixture(scope="module")
def interfacegan_boundary(tmp_path_factory):
    """A boundary file exactly as InterFaceGAN ships them: bare float64 (1, 512), unit norm, no sidecar."""
    normal = np.random.default_rng(5).standard_normal((1, 512))
    path = tmp_path_factory.mktemp("boundaries") / "stylegan_ffhq_smile_w_boundary.npy"
    np.save(path, normal / np.linalg.norm(normal))
    return path


def pngs(folder):
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("0*.png"))]


def check_edit(out, boundary, steps) -> None:
    """The edited codes are the source codes moved along the boundary's normal by ``steps``, and the faces change."""
    source, edited = np.load(out / "source_codes.npy"), np.load(out / "codes.npy")
    assert edited.shape == (len(source), len(steps), *source.shape[1:])
    offsets = np.reshape(steps, (1, len(steps), *[1] * (source.ndim - 1))) * np.load(boundary)[0]
    np.testing.assert_allclose(edited, source[:, None] + offsets, atol=1e-5)
    with Image.open(out / "gifs" / "face_000.gif") as gif:
        frames = [np.asarray(frame.convert("RGB"), dtype=float) for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == 2 * len(steps) - 2  # played forward, then back
    assert np.abs(frames[len(steps) - 1] - frames[0]).mean() > 2


def test_stylegan_sample_saves_z_w_wp_and_every_space_renders_the_same_faces(tmp_path, run_cli, checkpoints):
    weights = checkpoints["stylegan-ffhq"]
    common = ("--model", "stylegan-ffhq", "--weights", weights, "--device", "cpu")
    code, _, stderr = run_cli("sample", "-n", 3, "--seed", 1, "-o", tmp_path / "z", *common)
    assert code == 0, stderr
    z, w, wp = (np.load(tmp_path / "z" / f"{name}.npy") for name in ("z", "w", "wp"))
    assert z.shape == (3, 512) and w.shape == (3, 512) and wp.shape == (3, 10, 512)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.sqrt(512), rtol=1e-5)  # InterFaceGAN's Z sphere
    manifest = json.loads((tmp_path / "z" / "manifest.json").read_text())
    assert manifest["spaces"] == {"z": [512], "w": [512], "wp": [10, 512]} and manifest["resolution"] == 64
    assert (manifest["truncation_psi"], manifest["truncation_layers"], manifest["noise"]) == (0.7, 8, "const")
    faces = pngs(tmp_path / "z")
    assert len(faces) == 3 and faces[0].shape == (64, 64, 3)
    for space in ("w", "wp"):
        code, _, stderr = run_cli(
            "sample", "--codes", tmp_path / "z" / f"{space}.npy", "--space", space, "-o", tmp_path / space, *common
        )
        assert code == 0, stderr
        for a, b in zip(pngs(tmp_path / space), faces):
            assert np.abs(a.astype(int) - b).max() <= 1
    run_cli("sample", "-n", 3, "--seed", 1, "-o", tmp_path / "random", "--noise", "random", *common)
    assert any(np.abs(a.astype(int) - b).mean() > 0.5 for a, b in zip(pngs(tmp_path / "random"), faces))
    run_cli("sample", "-n", 3, "--seed", 1, "-o", tmp_path / "psi1", "--truncation-psi", 1, *common)
    assert not np.array_equal(np.load(tmp_path / "psi1" / "wp.npy"), wp)
    np.testing.assert_array_equal(np.load(tmp_path / "psi1" / "w.npy"), w)  # W is taken before truncation


def test_score_renders_codes_as_sample_did(tmp_path, run_cli, checkpoints, monkeypatch):
    """`score` on a `sample --no-images` folder of W codes, and `score --codes --space w` with the same style, scores
    the faces that `sample` drew (not the codes read as Z, nor without the truncation)."""
    from latentedit.models import scoring

    seen = []
    score_images = scoring.score_images

    def spy(images, *args, **kwargs):
        seen.append(np.stack(list(images)))
        return score_images(list(seen[-1]), *args, **kwargs)

    monkeypatch.setattr(scoring, "score_images", spy)
    common = (
        "--model",
        "stylegan-ffhq",
        "--weights",
        checkpoints["stylegan-ffhq"],
        "--truncation-psi",
        0.5,
        "--device",
        "cpu",
    )
    assert run_cli("sample", "-n", 2, "--seed", 4, "-o", tmp_path / "s", *common)[0] == 0
    faces = np.stack(pngs(tmp_path / "s"))
    w = tmp_path / "s" / "w.npy"
    assert run_cli("sample", "--codes", w, "--space", "w", "--no-images", "-o", tmp_path / "w", *common)[0] == 0
    code, _, stderr = run_cli("score", tmp_path / "w", "-a", "pose", "-o", tmp_path / "o1", "--device", "cpu")
    assert code == 0, stderr
    code, _, stderr = run_cli("score", "--codes", w, "--space", "w", "-a", "pose", "-o", tmp_path / "o2", *common)
    assert code == 0, stderr
    assert len(seen) == 2
    for images in seen:
        assert np.abs(images.astype(int) - faces).max() <= 1
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text())
    assert (manifest["space"], manifest["truncation_psi"]) == ("w", 0.5)


def test_edit_report_renders_codes_in_the_edit_space(
    tmp_path, run_cli, checkpoints, interfacegan_boundary, monkeypatch
):
    from latentedit.commands import edit as editing

    spaces = []
    score_codes = editing.score_codes

    def spy(*args, space="z", **kwargs):
        spaces.append(space)
        return score_codes(*args, space=space, **kwargs)

    monkeypatch.setattr(editing, "score_codes", spy)
    code, stdout, stderr = run_cli(
        "edit",
        "--attrs",
        "smile=+2",
        "--boundary",
        f"smile={interfacegan_boundary}",
        "--model",
        "stylegan-ffhq",
        "--weights",
        checkpoints["stylegan-ffhq"],
        "--space",
        "w",
        "-n",
        2,
        "--report",
        "-o",
        tmp_path / "e",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    assert spaces == ["w", "w"]  # before, and every step (the last is "after") for report.png
    report = json.loads(
        (tmp_path / "e" / "edit.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    assert report["report"]["targets"]["smile"]["faces_scored"] == 0  # random weights draw no faces: nulls, no NaN
    assert "smile: no face found both before and after the edit" in stdout


def test_w_boundary_is_trained_ranked_and_used_in_w(tmp_path, run_cli, checkpoints, monkeypatch):
    """A boundary trained on a StyleGAN sample's w.npy records space w (and the model); `rank` renders the codes
    as W codes by default; an edit in Z with it is warned about, one in W+ is not."""
    from latentedit.commands import rank as ranking

    model = ("--model", "stylegan-ffhq", "--weights", checkpoints["stylegan-ffhq"], "--device", "cpu")
    assert run_cli("sample", "-n", 60, "--seed", 2, "--no-images", "-o", tmp_path / "s", *model)[0] == 0
    w = tmp_path / "s" / "w.npy"
    direction = np.random.default_rng(3).standard_normal(512)
    np.save(tmp_path / "smile_scores.npy", (np.load(w) @ direction)[:, None].astype(np.float32))
    code, _, stderr = run_cli(
        "train-boundary",
        "--codes",
        w,
        "--scores",
        tmp_path / "smile_scores.npy",
        "--space",
        "w",
        "--ratio",
        0.2,
        "-o",
        tmp_path / "b",
    )
    assert code == 0, stderr
    record = json.loads((tmp_path / "b" / "smile.json").read_text())
    assert (record["space"], record["model"]) == ("w", "stylegan-ffhq")

    spaces = []
    render = ranking.render
    monkeypatch.setattr(
        ranking, "render", lambda g, codes, space="z", **kw: spaces.append(space) or render(g, codes, space=space, **kw)
    )
    code, _, stderr = run_cli(
        "rank",
        "--codes",
        w,
        "--boundary",
        tmp_path / "b" / "smile.npy",
        "--per-group",
        2,
        "-o",
        tmp_path / "rank.png",
        *model,
    )
    assert code == 0 and spaces == ["w"], stderr
    code, _, stderr = run_cli(
        "rank",
        "--codes",
        w,
        "--boundary",
        tmp_path / "b" / "smile.npy",
        "--per-group",
        2,
        "--truncation-psi",
        0.3,
        "-o",
        tmp_path / "rank_psi.png",
        *model,
    )
    assert code == 0, stderr
    pictures = [np.asarray(Image.open(tmp_path / name), dtype=float) for name in ("rank.png", "rank_psi.png")]
    assert np.abs(pictures[0] - pictures[1]).mean() > 1  # the style options reach the generator

    edit = (
        "edit",
        "--attrs",
        "smile",
        "--boundary",
        f"smile={tmp_path / 'b' / 'smile.npy'}",
        "-n",
        1,
        "--steps",
        2,
        *model,
    )
    code, _, stderr = run_cli(*edit, "--space", "z", "-o", tmp_path / "ez")
    assert code == 0 and "trained on w codes, the edit is in space z" in stderr
    code, _, stderr = run_cli(*edit, "--space", "wp", "-o", tmp_path / "ewp")
    assert code == 0 and "warning" not in stderr
    code, _, stderr = run_cli(
        "train-boundary", "--attr", "pose", "-n", 10, "--space", "w", "-o", tmp_path / "x", "--device", "cpu"
    )
    assert code == 2 and "no latent space 'w'" in stderr and not (tmp_path / "x").exists()  # the embedded DCGAN: Z only


@pytest.mark.parametrize("space", ["w", "wp"])
def test_interfacegan_boundary_drives_a_stylegan_edit(tmp_path, run_cli, checkpoints, interfacegan_boundary, space):
    out = tmp_path / "edit"
    code, stdout, stderr = run_cli(
        "edit",
        "--attrs",
        "smile",
        "--boundary",
        f"smile={interfacegan_boundary}",
        "--model",
        "stylegan-ffhq",
        "--weights",
        checkpoints["stylegan-ffhq"],
        "--space",
        space,
        "-n",
        2,
        "--steps",
        3,
        "-o",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    check_edit(out, interfacegan_boundary, [-3.0, 0.0, 3.0])
    edited = np.load(out / "codes.npy")
    record = json.loads((out / "edit.json").read_text())
    assert record["space"] == space and record["truncation_psi"] == 0.7
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.ndim == 3 and grid.std() > 10
    assert run_cli("edit", "--replay", out / "edit.json", "-o", tmp_path / "again", "--device", "cpu")[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "codes.npy"), edited)


@pytest.mark.parametrize("model, space", [("pggan-celebahq", "z"), ("stylegan2-ffhq", "wp")])
def test_pggan_and_stylegan2_sample_and_edit(tmp_path, run_cli, checkpoints, interfacegan_boundary, model, space):
    common = ("--model", model, "--weights", checkpoints[model], "--device", "cpu")
    code, _, stderr = run_cli("sample", "-n", 2, "-o", tmp_path / "s", *common)
    assert code == 0, stderr
    assert pngs(tmp_path / "s")[0].shape == (32, 32, 3)
    saved = sorted(p.name for p in (tmp_path / "s").glob("*.npy"))
    assert saved == (["z.npy"] if model.startswith("pggan") else ["w.npy", "wp.npy", "z.npy"])
    code, _, stderr = run_cli(
        "edit",
        "--attrs",
        "smile=+2",
        "--boundary",
        f"smile={interfacegan_boundary}",
        "--space",
        space,
        "-n",
        2,
        "-o",
        tmp_path / "e",
        *common,
    )
    assert code == 0, stderr
    check_edit(tmp_path / "e", interfacegan_boundary, 2 * np.linspace(0, 1, 5))


def test_style_options_are_refused_for_other_models(tmp_path, run_cli, checkpoints):
    code, _, stderr = run_cli(
        "sample",
        "-n",
        1,
        "-o",
        tmp_path / "x",
        "--model",
        "pggan-celebahq",
        "--weights",
        checkpoints["pggan-celebahq"],
        "--truncation-psi",
        0.5,
        "--device",
        "cpu",
    )
    assert code == 2 and "only apply to StyleGAN models" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run_cli("sample", "-n", 1, "-o", tmp_path / "y", "--space", "w")
    assert code == 2 and "codes file" in stderr
    code, _, stderr = run_cli(
        "sample",
        "-n",
        1,
        "-o",
        tmp_path / "z",
        "--model",
        "stylegan-ffhq",
        "--weights",
        checkpoints["pggan-celebahq"],
        "--device",
        "cpu",
    )
    assert code == 3 and "not an InterFaceGAN StyleGAN state dict" in stderr
    assert not any(tmp_path.iterdir())


def test_high_resolution_models_render_at_most_four_at_once_and_identically(checkpoints):
    from latentedit.models.generators import load_generator, render

    generator, _ = load_generator("stylegan2-ffhq", device="cpu", weights=checkpoints["stylegan2-ffhq"])
    codes = generator.sample(6, seed=2)
    batches = list(render(generator, codes, batch_size=64, progress=False))
    assert [len(b) for b in batches] == [4, 2]
    for batch_size in (1, 3):
        rendered = np.concatenate(list(render(generator, codes, batch_size=batch_size, progress=False)))
        np.testing.assert_array_equal(rendered, np.concatenate(batches))
