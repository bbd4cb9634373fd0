"""Inversion of photos: metrics, alignment round trip, blend mask, pasting back, convergence, mixing and bad input."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.core.inversion import invert, tune_generator
from latentedit.core.metrics import psnr, ssim
from latentedit.core.mixing import interpolate, parse_expression
from latentedit.devtools import random_state
from latentedit.errors import UsageError
from latentedit.models.alignment import TEMPLATES, align, face_mask, unalign
from latentedit.models.encoder import load_encoder
from latentedit.models.features import FeatureLoss
from latentedit.models.generators import model_template, render
from latentedit.models.generators.stylegan import StyleGANGenerator
from latentedit.models.identity import image_similarity
from latentedit.models.photo import PhotoFace
from latentedit.specs import InversionSettings, TuningSettings


def run_invert(generator, targets, analysis, space="z", **settings):
    """Invert ``targets`` as the commands do: the shipped encoder's start where there is one, the feature loss."""
    return invert(
        generator,
        targets,
        features=FeatureLoss(analysis),
        encoder=load_encoder(generator, space),
        space=space,
        settings=InversionSettings(**settings),
        progress=False,
    )


def nchw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, np.float64)).permute(2, 0, 1)[None]


def on_canvas(shape, faces, noise=30):
    """A grey canvas with ``noise`` levels of noise and each (uint8 face, size, (x, y)) on it, enlarged bicubically."""
    rng = np.random.default_rng(0)
    canvas = (np.full((*shape, 3), 190) + rng.integers(0, noise + 1, (*shape, 3))).astype(np.uint8)
    for face, size, (x, y) in faces:
        canvas[y : y + size, x : x + size] = np.asarray(Image.fromarray(face).resize((size, size), Image.BICUBIC))
    return canvas


@pytest.fixture(scope="module")
def generated(dcgan):
    """Six faces of dcgan-digiface64 (seed 0), their codes and their images."""
    codes = dcgan.sample(6, 0)
    return codes, np.concatenate(list(render(dcgan, codes)))


@pytest.fixture(scope="module")
def photos(tmp_path_factory, generated):
    """Photo files: one face, two faces, a tiny face, no face, not an image."""
    folder = tmp_path_factory.mktemp("photos")
    faces = generated[1]
    images = {
        "one.png": on_canvas((300, 360), [(faces[1], 200, (80, 50))]),
        "two.png": on_canvas((300, 400), [(faces[2], 180, (10, 60)), (faces[1], 110, (250, 100))]),
        "tiny.png": on_canvas((200, 200), [(faces[1], 40, (80, 80))]),
        "blank.png": on_canvas((120, 160), []),
    }
    for name, image in images.items():
        Image.fromarray(image).save(folder / name)
    (folder / "notes.png").write_text("not an image")
    return folder


# ------------------------------------------------------------------------------------------------ metrics


@pytest.mark.parametrize("shape", [(48, 40, 3), (64, 64, 1)])
def test_ssim_and_psnr_match_skimage(shape):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), np.uint8)).resize(shape[1::-1], Image.BICUBIC))
    a = smooth[..., : shape[2]].astype(np.float64)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255)
    expected = skimage_metrics.structural_similarity(
        a, b, data_range=255, channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(nchw(a), nchw(b), 255).item() == pytest.approx(expected, abs=1e-9)
    assert ssim(nchw(a), nchw(a), 255).item() == pytest.approx(1.0)
    expected_psnr = skimage_metrics.peak_signal_noise_ratio(a, b, data_range=255)
    assert psnr(nchw(a), nchw(b), 255).item() == pytest.approx(expected_psnr)
    batch = torch.cat([nchw(a), nchw(b)])
    np.testing.assert_allclose(ssim(batch, batch.flip(0), 255).numpy(), [expected, expected], atol=1e-9)


# -------------------------------------------------------------------------------------- geometry and blending


def test_align_then_unalign_returns_the_face_region():
    rng = np.random.default_rng(2)
    image = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), np.uint8)).resize((320, 240), Image.BICUBIC))
    # A tilted face: the template placed at scale 90 px, rotated by 12 degrees, at (150, 110).
    angle = np.deg2rad(12)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (TEMPLATES["dcgan-digiface64"] - 0.5) * 90 @ rotation.T + [150, 110]
    crop, matrix = align(image, landmarks, 128, "dcgan-digiface64")  # enlarges: no detail lost
    region, values, where = unalign(crop.astype(np.float32), matrix, image.shape)
    inside = (where.min(-1) > 0.05) & (where.max(-1) < 0.95)
    assert inside.sum() > 0.7 * 90 * 90  # the region holds the whole face square
    error = np.abs(values - image[region])[inside]
    assert error.mean() < 1.5 and np.percentile(error, 99) < 8
    # The crop's corners land where the face square is in the image.
    corners = np.argwhere(inside)
    assert abs(corners[:, 0].mean() + region[0].start - 110) < 3
    assert abs(corners[:, 1].mean() + region[1].start - 150) < 3


def test_blend_mask_covers_the_inner_face_and_fades_out():
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101)), -1)
    for template in ("dcgan-digiface64", "ffhq"):
        mask = face_mask(grid, template)
        points = TEMPLATES[template]
        assert mask.min() >= 0 and mask.max() <= 1
        for x, y in points[:3]:  # both eyes and the nose are fully inside
            assert mask[round(y * 100), round(x * 100)] > 0.95
        assert mask[0].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0  # zero at the crop's edges
        ray = mask[round(points[2, 1] * 100), round(points[2, 0] * 100) :: -1]  # from the nose to the left edge
        assert np.all(np.diff(ray) <= 1e-12) and 0 < (0.05 < ray).sum() - (ray > 0.95).sum()  # falls off smoothly
    assert face_mask(np.array([[-0.5, 0.5], [1.5, 0.5]]), "ffhq").max() == 0


def test_paste_changes_only_the_face(generated):
    image = on_canvas((240, 300), [])
    landmarks = (TEMPLATES["dcgan-digiface64"] - 0.5) * 80 + [150, 120]
    crop, matrix = align(image, landmarks, 64, "dcgan-digiface64")
    face = PhotoFace("canvas", image, None, crop, matrix, 1, TEMPLATES["dcgan-digiface64"], np.ones((64, 64), bool))
    assert np.array_equal(face.paste(crop, crop), image)
    brighter = np.clip(crop.astype(int) + 40, 0, 255).astype(np.uint8)
    changed = face.paste(crop, brighter).astype(int) - image
    assert 35 <= changed[130, 150].mean() <= 40  # the middle of the face moves by the change
    assert not changed[:60].any() and not changed[:, :80].any() and not changed[:, 220:].any()
    assert np.all(changed >= 0)
    pasted = face.paste(crop, np.full_like(crop, 7), mode="paste")
    assert np.abs(pasted[130, 150].astype(int) - 7).max() <= 2 and np.array_equal(pasted[:60], image[:60])
    with pytest.raises(UsageError, match="paste mode"):
        face.paste(crop, crop, mode="swap")


# --------------------------------------------------------------------------------------------------- inversion


def test_inversion_of_a_generated_face_converges(dcgan, generated, analysis):
    codes, images = generated
    start = run_invert(dcgan, images[:2], analysis, iterations=0, starts=1)
    found = run_invert(dcgan, images[:2], analysis, iterations=40, starts=2)
    assert found.codes.shape == (2, 100) and found.images.shape == (2, 64, 64, 3)
    assert np.all(found.psnr > start.psnr + 3) and np.all(found.psnr > 26) and np.all(found.ssim > 0.85)
    rendered = np.concatenate(list(render(dcgan, found.codes)))
    np.testing.assert_array_equal(rendered, found.images)
    # Closer to the true code than the encoder's start.
    assert np.all(np.linalg.norm(found.codes - codes[:2], axis=1) < np.linalg.norm(start.codes - codes[:2], axis=1))


def test_tuning_the_generator_to_a_photo(dcgan, generated, analysis):
    codes, images = generated
    start = run_invert(dcgan, images[3:4], analysis, iterations=0)
    tuned = tune_generator(
        dcgan,
        start.codes[0],
        images[3],
        features=FeatureLoss(analysis),
        settings=TuningSettings(steps=15),
        progress=False,
    )
    again = np.concatenate(list(render(tuned, start.codes)))
    target = torch.from_numpy(images[3:4]).permute(0, 3, 1, 2).double()
    assert psnr(torch.from_numpy(again).permute(0, 3, 1, 2).double(), target, 255).item() > start.psnr[0] + 2
    elsewhere = codes[:3]  # other faces barely change
    before, after = (
        torch.from_numpy(np.concatenate(list(render(g, elsewhere)))).permute(0, 3, 1, 2).double()
        for g in (dcgan, tuned)
    )
    assert psnr(after, before, 255).min().item() > 25
    assert not any(p.requires_grad for p in tuned.parameters())
    assert any(p.requires_grad is False for p in dcgan.parameters())
    assert not torch.equal(next(tuned.parameters()), next(dcgan.parameters()))  # a tuned copy, the original untouched


@pytest.mark.slow
@pytest.mark.parametrize("space", ["w", "wp"])
def test_inversion_in_w_and_wp_of_a_stylegan(space, analysis):
    generator = StyleGANGenerator("tiny-stylegan", [64, 64, 32, 32], [False] * 3)
    generator.load_state_dict(random_state(generator.state_dict(), 3))
    generator = generator.eval().requires_grad_(False)
    with torch.no_grad():
        w = generator.map(torch.from_numpy(generator.sample(2, 4)))
        target = np.concatenate(list(render(generator, w.numpy(), space="w")))
    start = run_invert(generator, target, analysis, space, iterations=0, starts=1)
    found = run_invert(generator, target, analysis, space, iterations=15, starts=2)
    assert found.codes.shape == (2, *generator.code_shape(space))
    assert np.all(found.psnr > start.psnr + 2)


# ------------------------------------------------------------------------------------------------------ mixing


def test_interpolation_paths_and_expressions():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 100)).astype(np.float32)
    line = interpolate(a, b, np.linspace(0, 1, 5), spherical=False)
    arc = interpolate(a, b, np.linspace(0, 1, 5), spherical=True)
    assert line.shape == arc.shape == (5, 100)
    np.testing.assert_allclose(arc[[0, -1]], [a, b], atol=1e-5)
    np.testing.assert_allclose(line[2], (a + b) / 2, atol=1e-6)
    norms = np.linalg.norm(arc, axis=1)  # slerp keeps Gaussian codes at a typical norm, the line sags
    assert norms.min() > 0.9 * min(np.linalg.norm(a), np.linalg.norm(b)) > np.linalg.norm(line[2])
    wp = interpolate(np.zeros((3, 4)), np.ones((3, 4)), [0.25], spherical=False)
    assert wp.shape == (1, 3, 4) and np.allclose(wp, 0.25)
    assert parse_expression("smiling_woman - neutral_woman + neutral_man") == [
        (1.0, "smiling_woman"),
        (-1.0, "neutral_woman"),
        (1.0, "neutral_man"),
    ]
    assert parse_expression("0.5*a + .5 b - 2 c") == [(0.5, "a"), (0.5, "b"), (-2.0, "c")]
    for bad in ("", "a b", "a + ", "a * b"):
        with pytest.raises(UsageError):
            parse_expression(bad)


def test_mix_and_interpolate_cli(tmp_path, run_cli, dcgan):
    code, _, stderr = run_cli("mix", "seed:1", "seed:2", "--steps", 6, "-o", tmp_path / "walk", "--device", "cpu")
    assert code == 0, stderr
    codes = np.load(tmp_path / "walk" / "codes.npy")
    ends = np.concatenate([dcgan.sample(1, 1), dcgan.sample(1, 2)])
    assert codes.shape == (6, 100)
    np.testing.assert_allclose(codes[[0, -1]], ends, atol=1e-5)
    assert Image.open(tmp_path / "walk" / "interpolation.gif").n_frames == 10  # 6 forward and 4 back
    assert Image.open(tmp_path / "walk" / "grid.png").width > 6 * 64
    np.save(tmp_path / "ends.npy", ends)
    code, _, stderr = run_cli(
        "mix",
        f"{tmp_path / 'ends.npy'}:0",
        f"{tmp_path / 'ends.npy'}:1",
        "--weight",
        0.25,
        "--path",
        "linear",
        "-o",
        tmp_path / "one",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    np.testing.assert_allclose(np.load(tmp_path / "one" / "code.npy"), [0.75 * ends[0] + 0.25 * ends[1]], atol=1e-6)
    assert json.loads((tmp_path / "one" / "mix.json").read_text())["path"] == "linear"
    code, _, stderr = run_cli("mix", tmp_path / "ends.npy", "seed:3", "-o", tmp_path / "two", "--device", "cpu")
    assert code == 2 and "holds 2 codes; pick one" in stderr


def test_arith_cli(tmp_path, run_cli, dcgan):
    codes = dcgan.sample(6, 7)
    np.save(tmp_path / "codes.npy", codes)
    out = tmp_path / "arith"
    code, _, stderr = run_cli(
        "arith",
        "smiling_woman - neutral_woman + neutral_man",
        "--group",
        f"smiling_woman={tmp_path / 'codes.npy'}:0,1,2",
        "--group",
        f"neutral_woman={tmp_path / 'codes.npy'}:3,4",
        "--group",
        "neutral_man=seed:5",
        "-o",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    expected = codes[:3].mean(0) - codes[3:5].mean(0) + dcgan.sample(1, 5)[0]
    expected *= 10 / np.linalg.norm(expected)  # rescaled to the typical norm of 100-d Gaussian codes
    np.testing.assert_allclose(np.load(out / "code.npy"), [expected], atol=1e-5)
    np.testing.assert_allclose(np.load(out / "group_codes.npy")[1], codes[3:5].mean(0), atol=1e-6)
    assert np.load(out / "group_codes.npy").shape == (3, 100)
    record = json.loads((out / "arith.json").read_text())
    assert record["faces_per_group"] == {"smiling_woman": 3, "neutral_woman": 2, "neutral_man": 1}
    code, _, stderr = run_cli("arith", "a - b", "--group", "a=seed:1", "-o", tmp_path / "bad", "--device", "cpu")
    assert code == 2 and "no group b=" in stderr


# ------------------------------------------------------------------------------------------------ photos, CLI


def test_invert_cli_writes_codes_pictures_and_metrics(tmp_path, run_cli, photos, analysis):
    out = tmp_path / "inverted"
    code, stdout, stderr = run_cli(
        "invert", photos / "one.png", photos / "two.png", "--iterations", 8, "--starts", 2, "-o", out, "--device", "cpu"
    )
    assert code == 0, stderr
    assert np.load(out / "codes.npy").shape == (2, 100)
    for name in ("one", "two"):
        assert np.load(out / name / "code.npy").shape == (1, 100)
        target, reconstruction = (Image.open(out / name / f"{kind}.png") for kind in ("target", "reconstruction"))
        assert target.size == reconstruction.size == (64, 64)
        assert Image.open(out / name / "side_by_side.png").width > 2 * 64
    record = json.loads((out / "inversion.json").read_text())
    assert [p["faces_found"] for p in record["photos"]] == [1, 2]
    assert all(10 < p["psnr_db"] < 60 and 0 < p["ssim"] <= 1 for p in record["photos"])
    assert "PSNR" in stdout and record["iterations"] == 8
    # identity: the aligned photo (target.png) against its own reconstruction, recomputed here from the files
    pictures = {
        name: [np.asarray(Image.open(out / f / f"{name}.png")) for f in ("one", "two")]
        for name in ("target", "reconstruction")
    }
    expected = image_similarity(
        analysis, pictures["target"], pictures["reconstruction"], framing=model_template("dcgan-digiface64")
    )
    assert [p["identity"] for p in record["photos"]] == pytest.approx(expected, abs=1e-4)
    assert record["mean_identity"] == pytest.approx(expected.mean(), abs=1e-4) and expected.max() < 0.999
    assert "identity" in stdout
    code, _, stderr = run_cli("invert", photos / "one.png", "-o", out, "--device", "cpu")
    assert code == 2 and "--overwrite" in stderr


def test_several_faces_take_the_largest_or_the_one_asked_for(tmp_path, run_cli, photos):
    crops = {}
    for index in (0, 1):
        out = tmp_path / f"face{index}"
        code, _, stderr = run_cli(
            "invert", photos / "two.png", "--face-index", index, "--iterations", 0, "-o", out, "--device", "cpu"
        )
        assert code == 0, stderr
        box = json.loads((out / "inversion.json").read_text())["photos"][0]["face_box"]
        crops[index] = box
    assert crops[0][0] < 150 < crops[1][0]  # the big face is on the left
    code, _, stderr = run_cli("invert", photos / "two.png", "--face-index", 2, "-o", tmp_path / "x", "--device", "cpu")
    assert code == 2 and "has 2 face(s)" in stderr and not (tmp_path / "x").exists()


def test_bad_photos_give_one_line_and_distinct_exit_codes(tmp_path, run_cli, photos):
    code, _, stderr = run_cli("invert", photos / "blank.png", "-o", tmp_path / "a", "--device", "cpu")
    assert code == 4 and "no face found in" in stderr and stderr.count("\n") == 1
    code, _, stderr = run_cli("invert", photos / "notes.png", "-o", tmp_path / "b", "--device", "cpu")
    assert code == 2 and "cannot read image" in stderr and stderr.count("\n") == 1
    code, _, stderr = run_cli(
        "edit", photos / "one.png", photos / "blank.png", "--attrs", "smile=+1", "-o", tmp_path / "c", "--device", "cpu"
    )
    assert code == 4 and "blank.png" in stderr
    assert not any((tmp_path / name).exists() for name in "abc")
    code, _, stderr = run_cli("invert", photos / "tiny.png", "--iterations", 0, "-o", tmp_path / "d", "--device", "cpu")
    assert code == 0 and "warning: the face in" in stderr and "pixels across" in stderr


def test_huge_photo(tmp_path, run_cli, generated):
    image = on_canvas((2400, 3200), [(generated[1][1], 800, (1400, 900))], noise=0)
    Image.fromarray(image).save(tmp_path / "huge.png")
    code, _, stderr = run_cli(
        "invert", tmp_path / "huge.png", "--iterations", 0, "-o", tmp_path / "out", "--device", "cpu"
    )
    assert code == 0, stderr
    box = json.loads((tmp_path / "out" / "inversion.json").read_text())["photos"][0]["face_box"]
    assert 1400 < box[0] < 1700 and 900 < box[1] < 1300  # found where it is, in the photo's own pixels


@pytest.mark.slow
def test_edit_photo_changes_the_face_and_nothing_else(tmp_path, run_cli, photos):
    normal = np.random.default_rng(0).standard_normal(100)
    np.save(tmp_path / "up.npy", (normal / np.linalg.norm(normal)).reshape(1, -1).astype(np.float32))
    out = tmp_path / "edit"
    code, stdout, stderr = run_cli(
        "edit",
        photos / "one.png",
        "--attrs",
        "up=+3",
        "--boundary",
        f"up={tmp_path / 'up.npy'}",
        "--iterations",
        5,
        "--starts",
        1,
        "--tune",
        3,
        "-o",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    photo = np.asarray(Image.open(photos / "one.png"))
    folder = out / "photos" / "one"
    edited = np.asarray(Image.open(folder / "edited.png"))
    assert edited.shape == photo.shape
    difference = np.abs(edited.astype(int) - photo).max(2)
    assert difference[100:220, 130:230].mean() > 2  # the face changed
    assert not difference[:40].any() and not difference[:, :70].any() and not difference[:, 300:].any()
    assert Image.open(folder / "edited_face.png").size == (64, 64)
    assert Image.open(folder / "steps.gif").n_frames == 8  # 5 steps forward and 3 back
    record = json.loads((out / "edit.json").read_text())
    assert record["photos"][0]["faces_found"] == 1
    assert record["inversion"]["iterations"] == 5 and record["tune_steps"] == 3
    assert np.load(out / "codes.npy").shape == (1, 5, 100)
    assert "edited photo" in stdout
    code, _, stderr = run_cli("edit", "--replay", out / "edit.json", "-o", tmp_path / "again", "--device", "cpu")
    assert code == 0, stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again" / "photos" / "one" / "edited.png")), edited)


@pytest.mark.slow
def test_pixels_past_the_photos_edge_are_left_out(tmp_path, run_cli, dcgan, generated):
    """A generator's own 64x64 face saved as PNG: its aligned crop reaches past the file's edge. Those pixels are not
    counted in PSNR, and target.png shows the reconstruction there instead of black."""
    Image.fromarray(generated[1][4]).save(tmp_path / "face.png")
    code, _, stderr = run_cli(
        "invert", tmp_path / "face.png", "--iterations", 10, "-o", tmp_path / "inv", "--device", "cpu"
    )
    assert code == 0, stderr
    target = np.asarray(Image.open(tmp_path / "inv" / "face" / "target.png")).astype(float)
    rendered = np.asarray(Image.open(tmp_path / "inv" / "face" / "reconstruction.png")).astype(float)
    from latentedit.files.images import read_image
    from latentedit.models.analysis import FaceAnalysis
    from latentedit.models.photo import align_photos

    (photo,) = align_photos([read_image(tmp_path / "face.png")], ["face"], dcgan, FaceAnalysis("cpu"))
    outside = ~photo.inside
    assert outside.any() and outside.mean() < 0.5  # the crop does reach past the edge
    np.testing.assert_array_equal(target[outside], rendered[outside])
    np.testing.assert_array_equal(target[~outside], photo.crop[~outside])
    mse = ((rendered - photo.crop) ** 2)[~outside].mean()
    recorded = json.loads((tmp_path / "inv" / "inversion.json").read_text())["photos"][0]["psnr_db"]
    assert recorded == pytest.approx(10 * np.log10(255**2 / mse), abs=0.01)


@pytest.mark.slow
def test_aligned_crops_skip_detection_and_reconstruct(tmp_path, run_cli, generated):
    """--aligned takes a generator's own faces as they are: the target is the file itself and the reconstruction
    comes close (the photo path would re-frame it)."""
    for i in (0, 2):
        Image.fromarray(generated[1][i]).save(tmp_path / f"f{i}.png")
    code, stdout, stderr = run_cli(
        "invert",
        tmp_path / "f0.png",
        tmp_path / "f2.png",
        "--aligned",
        "--iterations",
        40,
        "-o",
        tmp_path / "inv",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    record = json.loads((tmp_path / "inv" / "inversion.json").read_text())
    assert record["aligned"] is True and all(p["psnr_db"] > 26 for p in record["photos"]), record["photos"]
    for i in (0, 2):
        target = np.asarray(Image.open(tmp_path / "inv" / f"f{i}" / "target.png"))
        np.testing.assert_array_equal(target, generated[1][i])
    Image.fromarray(generated[1][0]).resize((80, 80)).save(tmp_path / "big.png")
    code, _, stderr = run_cli("invert", tmp_path / "big.png", "--aligned", "-o", tmp_path / "x", "--device", "cpu")
    assert code == 2 and "must be 64x64 pixels" in stderr
