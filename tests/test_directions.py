"""``latentedit directions`` (SeFa, GANSpace, naming by measurement) and layer-wise W+ edits."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latentedit.commands.directions import name_directions
from latentedit.core.boundary import Boundary
from latentedit.core.directions import (
    Directions,
    Effect,
    early_features,
    factorize,
    ganspace,
    latent_weight,
    measure_effects,
    name_line,
    orientation,
    sefa,
    style_weights,
)
from latentedit.core.editing import apply_edit, format_layers, parse_layers, plan_edit
from latentedit.devtools import random_state, write_nvidia_pickle
from latentedit.errors import UsageError
from latentedit.files.boundaries import load_boundary, shipped_boundaries
from latentedit.models.generators.pggan import PGGANGenerator
from latentedit.models.generators.stylegan import StyleGANGenerator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator
from latentedit.records import DirectionEntry, DirectionsRecord, Naming

from parity import DATA, load_case, parity_generator

SG2 = {
    "z_dim": 64,
    "w_dim": 64,
    "c_dim": 0,
    "img_resolution": 32,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "synthesis_kwargs": {"channel_base": 1024, "channel_max": 64, "conv_clamp": 256, "architecture": "skip"},
}


def seeded(generator: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    generator.load_state_dict(random_state(generator.state_dict(), seed))
    return generator.eval().requires_grad_(False)


def same_up_to_sign(a: np.ndarray, b: np.ndarray, tolerance: float) -> None:
    """Rows of ``a`` and ``b`` are equal up to the sign of each row."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    signs = np.sign((a * b).sum(axis=1, keepdims=True))
    assert np.abs(a - signs * b).max() <= tolerance, np.abs(a - signs * b).max(axis=1)


@pytest.fixture(scope="module")
def stylegan2_pickle(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "stylegan2.pkl"
    write_nvidia_pickle(path, seeded(StyleGAN2Generator.from_config("t", SG2), 13), SG2)
    return path


def test_parse_layers_reads_ranges_and_refuses_bad_specs():
    assert parse_layers("0-3", num_layers=10) == (0, 1, 2, 3)
    assert parse_layers(" 5-7,0,2 ", num_layers=10) == (0, 2, 5, 6, 7)
    assert parse_layers("all", num_layers=4) == (0, 1, 2, 3)
    assert format_layers((7, 0, 1, 2, 5, 6)) == "0-2,5-7" and format_layers((3,)) == "3"
    for layers in [(0, 2, 5, 6, 7), (1,), tuple(range(10))]:
        assert parse_layers(format_layers(layers), num_layers=10) == layers
    for spec, message in [
        ("0-10", "out of range"),
        ("3-1", "backwards"),
        ("a", "must look like"),
        ("", "must look like"),
        ("1-", "must look like"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_layers(spec, num_layers=10)


def test_factorize_gives_the_sorted_eigenvectors_of_the_column_normalised_weight():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((6, 40)) * np.linspace(0.1, 5, 40)  # columns of very different lengths
    vectors, values = factorize(weight, k=6)
    normalised = weight / np.linalg.norm(weight, axis=0)
    gram = normalised @ normalised.T
    assert vectors.dtype == np.float32 and vectors.shape == (6, 6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(gram @ vectors.T.astype(np.float64), vectors.T * values, atol=1e-5)
    assert np.all(np.diff(values) < 0) and abs(values.sum() - 40) < 1e-9  # unit columns: the trace is their number
    assert np.all(vectors[np.arange(6), np.abs(vectors).argmax(axis=1)] > 0)  # sign convention
    # rescaling an output (a column), even by a negative factor, changes nothing: only its direction counts
    scaled, scaled_values = factorize(weight * rng.uniform(-3, 3, 40), k=6)
    same_up_to_sign(scaled, vectors, 1e-5)
    np.testing.assert_allclose(scaled_values, values, rtol=1e-9)
    with pytest.raises(ValueError, match="k=7"):
        factorize(weight, k=7)


def test_dcgan_sefa_factorises_the_first_layer_with_its_batchnorm(dcgan):
    """The matrix factorised is the first transposed convolution's own map from z; the BatchNorm after it changes
    no direction (the docstring's claim), so SeFa of the measured Jacobian of conv + BatchNorm agrees."""
    found = sefa(dcgan, k=10)
    with torch.inference_mode():
        basis = torch.eye(100).reshape(100, 100, 1, 1)
        conv = dcgan.main[0](basis).reshape(100, -1).double().numpy()
        bn = (dcgan.main[:2](basis) - dcgan.main[:2](torch.zeros(1, 100, 1, 1))).reshape(100, -1).double().numpy()
    np.testing.assert_allclose(latent_weight(dcgan), conv, atol=1e-6)
    vectors, values = factorize(bn, k=10)
    same_up_to_sign(found.vectors, vectors, 1e-4)
    np.testing.assert_allclose(found.values, values, rtol=1e-6)
    assert found.space == "z" and found.layers is None and found.values[0] > 1.5 * found.values[1]


def test_pggan_weight_is_the_first_convolution_as_a_map_from_z():
    generator = seeded(PGGANGenerator("t", [16, 8, 8]))
    layer = generator.layer0
    with torch.inference_mode():
        jacobian = F.conv2d(torch.eye(16).reshape(16, 16, 1, 1), layer.conv.weight, padding=layer.padding)
    np.testing.assert_allclose(latent_weight(generator), jacobian.reshape(16, -1).double().numpy(), atol=1e-6)


def affine_inputs(generator, wp: torch.Tensor) -> dict[int, torch.Tensor]:
    """The input of the affine layer that :func:`style_weights` names for each W+ index, from one synthesis."""
    # the module whose forward reads the weight: StyleGAN's Dense holds it in an nn.Linear it never calls
    owners = {
        id(m.linear.weight if hasattr(m, "linear") else m.weight): m
        for m in generator.modules()
        if type(m).__name__ == "Dense"
    }
    inputs: dict[int, torch.Tensor] = {}

    def record(index: int):
        def hook(module, args, output) -> None:
            inputs.setdefault(index, args[0])

        return hook

    hooks = [owners[id(w)].register_forward_hook(record(i)) for i, w in enumerate(style_weights(generator))]
    with torch.inference_mode():
        generator.synthesize_wp(wp)
    for hook in hooks:
        hook.remove()
    return inputs


@pytest.mark.parametrize("architecture", ["skip", "orig", "resnet"])
def test_style_weights_are_the_affine_layers_reading_each_wp_code(architecture):
    """Hook every affine layer: the one named for W+ index i must have been fed exactly code i."""
    kwargs = {**SG2, "synthesis_kwargs": {**SG2["synthesis_kwargs"], "architecture": architecture}}
    for generator in (
        seeded(StyleGANGenerator("t", [32, 32, 32, 16], [False, False, True])),
        seeded(StyleGAN2Generator.from_config("t", kwargs)),
    ):
        assert len(style_weights(generator)) == generator.num_ws
        wp = torch.randn(2, generator.num_ws, generator.w_dim)
        inputs = affine_inputs(generator, wp)
        for i in range(generator.num_ws):
            assert torch.equal(inputs[i], wp[:, i]), (type(generator).__name__, i)


SEFA_CASES = [
    ("pggan32", None),
    ("pggan32_fused", None),
    ("stylegan64", "all"),
    ("stylegan64", "0-3"),
    ("stylegan64", "4-7"),
    ("stylegan2_64_skip", "all"),
    ("stylegan2_64_skip", "0-3"),
    ("stylegan2_64_skip", "8-9"),
    ("stylegan2_32_orig", "all"),
    ("stylegan2_32_orig", "2-5"),
]


@pytest.mark.parametrize("case, spec", SEFA_CASES)
def test_sefa_matches_genforce_sefa_factorize_weight(case, spec):
    """Fixtures: genforce/sefa's factorize_weight on the parity cases' seeded weights
    (scripts/build_sefa_fixtures.py)."""
    config, _ = load_case(case)
    with np.load(DATA / f"sefa_{case}.npz") as stored:
        key = spec or "first"
        values, vectors, layers = stored[f"{key}_values"], stored[f"{key}_vectors"], stored[f"{key}_layers"]
    generator = parity_generator(config)
    found = sefa(generator, k=len(vectors), layers=spec if spec != "all" else None)
    full = factorize(latent_weight(generator, layers=found.layers), k=len(values))[1]
    np.testing.assert_allclose(full, values, rtol=1e-4, atol=1e-4)
    same_up_to_sign(found.vectors, vectors, 2e-4)
    if spec is not None:
        assert list(found.layers) == layers.tolist()


def test_sefa_layers_choose_the_factorised_layers_and_bad_requests_fail(dcgan):
    generator = seeded(StyleGAN2Generator.from_config("t", SG2))
    weights = style_weights(generator)
    chosen = sefa(generator, k=5, layers="1,3")
    vectors, _ = factorize(torch.cat([weights[1].T, weights[3].T], 1).double().numpy(), k=5)
    same_up_to_sign(chosen.vectors, vectors, 1e-5)
    assert chosen.layers == (1, 3) and chosen.space == "w"
    assert sefa(generator, k=5).layers == tuple(range(generator.num_ws))
    with pytest.raises(ValueError, match="k=65 must be between 1 and the latent dimension 64"):
        sefa(generator, k=65)
    with pytest.raises(ValueError, match="out of range"):
        sefa(generator, layers="0-20")
    with pytest.raises(ValueError, match="no per-layer"):
        sefa(dcgan, layers="0-3")
    with pytest.raises(ValueError, match="samples=3 must exceed k=5"):
        ganspace(dcgan, k=5, samples=3)


def test_ganspace_w_directions_are_the_principal_axes_of_sampled_w():
    generator = seeded(StyleGAN2Generator.from_config("t", SG2))
    found = ganspace(generator, k=4, samples=3000, seed=5, layers="0-1")
    with torch.inference_mode():
        w = generator.map(torch.from_numpy(generator.sample(3000, 5))).double().numpy()
    _, singular, axes = np.linalg.svd(w - w.mean(0), full_matrices=False)
    same_up_to_sign(found.vectors, axes[:4], 1e-4)
    np.testing.assert_allclose(found.values, (singular**2 / (singular**2).sum())[:4], rtol=1e-6)
    assert found.space == "w" and found.layers == (0, 1)
    assert found.record["samples"] == 3000 and found.record["seed"] == 5


def test_ganspace_z_directions_move_their_own_feature_component(dcgan):
    """For the DCGAN (no W), each Z direction found by regression moves the early features mostly along its own
    principal component (the components computed here from the same samples, in standard deviations)."""
    found = ganspace(dcgan, k=3, samples=1500, seed=3)
    with torch.inference_mode():
        features = early_features(dcgan, torch.from_numpy(dcgan.sample(1500, 3))).double().numpy()
        mean = features.mean(0)
        _, singular, axes = np.linalg.svd(features - mean, full_matrices=False)
        scale = singular[:3] / np.sqrt(len(features) - 1)
        codes = dcgan.sample(100, 9)

        def coords(z: np.ndarray) -> np.ndarray:
            return (early_features(dcgan, torch.from_numpy(z)).double().numpy() - mean) @ axes[:3].T / scale

        for i, vector in enumerate(found.vectors):
            change = np.abs((coords(codes + vector) - coords(codes)).mean(0))
            assert change.argmax() == i and change[i] > 1.5 * np.delete(change, i).max(), (i, change)
    assert np.all(np.diff(found.values) < 0) and "regression" in found.record


def effects_fixture():
    """Seeded scores of 40 faces before and after moving -2 / +2: pose rises 6 deg per unit (noisy), gender falls
    strongly, age rises consistently but by little, smile only jitters; two faces lost at one end."""
    rng = np.random.default_rng(7)
    n = 40
    before = {
        "pose": rng.normal(0, 15, n),
        "smile": rng.uniform(0, 1, n),
        "age": rng.normal(35, 8, n),
        "gender": rng.uniform(0, 1, n),
    }
    minus = {
        "pose": before["pose"] - 12 + rng.normal(0, 3, n),
        "smile": before["smile"] + rng.normal(0, 0.05, n),
        "age": before["age"] - 0.2 + rng.normal(0, 0.05, n),
        "gender": before["gender"] + 0.4,
    }
    plus = {
        "pose": before["pose"] + 12 + rng.normal(0, 3, n),
        "smile": before["smile"] + rng.normal(0, 0.05, n),
        "age": before["age"] + 0.2 + rng.normal(0, 0.05, n),
        "gender": before["gender"] - 0.4,
    }
    plus["pose"][[3, 17]] = np.nan
    return before, minus, plus


def test_naming_measures_change_per_unit_and_same_sign_share():
    before, minus, plus = effects_fixture()
    effects = measure_effects(before, minus, plus, distance=2.0)
    pose_change = (plus["pose"] - minus["pose"])[np.isfinite(plus["pose"])]
    assert effects["pose"].faces == 38 and effects["pose"].per_unit == pytest.approx(pose_change.mean() / 4)
    assert 5 < effects["pose"].per_unit < 7 and effects["pose"].same_sign == 1.0 and effects["pose"].moved
    assert effects["gender"].per_unit == pytest.approx(-0.2) and effects["gender"].moved
    assert effects["gender"].size == pytest.approx(0.8 / np.std(before["gender"]))
    age = effects["age"]
    assert age.per_unit == pytest.approx(0.1, abs=0.01) and age.same_sign == 1.0 and not age.moved  # too small
    smile = effects["smile"]
    assert smile.same_sign < 0.75 and not smile.moved  # jitter only
    # pose moves by about 24 / 12 of its spread, gender by 0.8 / 0.27: gender is the strongest and falls, so flip
    assert effects["gender"].size > effects["pose"].size and orientation(effects) == -1
    line = name_line("sefa_03", effects, {"pose": 0.12, "gender": -0.81}, {"pose": " deg", "age": " y"})
    assert line == (
        f"sefa_03: gender -0.2/unit (100 % same sign), pose {effects['pose'].per_unit:+.3g} deg/unit "
        f"(100 % same sign); cos -0.81 with gender"
    )


def test_a_direction_that_moves_nothing_is_listed_as_such():
    effects = {"pose": Effect(0.4, 0.55, 30, 0.05, False), "age": Effect(-1.2, 0.7, 30, 0.4, False)}
    line = name_line("ganspace_07", effects, {}, {"pose": " deg", "age": " y"})
    assert line == "ganspace_07: moves none of pose, age (strongest: age -1.2 y/unit (70 % same sign))"
    assert orientation(effects) == 1
    assert name_line("x", {"pose": Effect(None, None, 0, None, False)}, {}, {}) == "x: no face was scored at both ends"


@pytest.mark.slow
def test_naming_recognises_the_shipped_pose_and_smile_boundaries(dcgan, analysis):
    """Real scorers: the shipped pose boundary, given reversed, is named pose, turned back and matched to the pose
    boundary; the smile boundary is named smile."""
    pose, smile = (load_boundary(shipped_boundaries("dcgan-digiface64")[n]).normal for n in ("pose", "smile"))
    given = Directions("test", np.stack([-pose, smile]), np.array([2.0, 1.0]), "z", None)
    normals = {name: load_boundary(path).normal for name, path in shipped_boundaries("dcgan-digiface64").items()}
    named = name_directions(dcgan, given, dcgan.sample(12, 1), space="z", boundaries=normals, analysis=analysis)
    assert named[0].sign == -1 and np.allclose(named[0].vector, pose)
    assert named[0].line.startswith("test_00: pose +") and named[0].line.endswith("cos +1.00 with pose")
    assert named[0].effects["pose"].same_sign >= 0.9 and named[0].effects["pose"].per_unit > 5
    assert named[1].sign == 1 and named[1].effects["smile"].moved and named[1].line.endswith("cos +1.00 with smile")


def test_manifest_round_trips_and_refuses_malformed_files():
    manifest = DirectionsRecord(
        model="m",
        weights_sha256="ab",
        method="sefa",
        space="z",
        k=2,
        naming=Naming(faces=4, seed=0, distance=2.0, space="z"),
        directions=[
            DirectionEntry(
                name="sefa_00", file="sefa_00.npy", eigenvalue=3.5, meaning="sefa_00: x", moved=[], flipped=False
            )
        ],
    )
    data = json.loads(json.dumps(manifest.to_json()))
    assert data["format"] == "latentedit-directions" and "explained_variance_ratio" not in data["directions"][0]
    assert DirectionsRecord.from_json(data) == manifest
    for key, value, message in [
        ("k", "two", "k must be a whole number"),
        ("naming", {"faces": 4}, "has no 'seed'"),
        ("directions", [{"name": 1}], r"directions\[0\]: name must be text"),
        ("format_version", 9, "format version 9"),
    ]:
        with pytest.raises(UsageError, match=message):
            DirectionsRecord.from_json({**data, key: value}, "directions.json")


@pytest.mark.slow
def test_directions_cli_writes_boundaries_that_edit_and_rank_use(tmp_path, run_cli, dcgan):
    out = tmp_path / "found"
    code, stdout, stderr = run_cli("directions", "-k", 2, "-n", 6, "--seed", 3, "-o", out, "--device", "cpu")
    assert code == 0, stderr
    lines = stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:2]] == ["sefa_00", "sefa_01"] and "wrote 2 directions" in lines[2]
    reference = sefa(dcgan, k=2)
    manifest = DirectionsRecord.from_json(json.loads((out / "directions.json").read_text()))
    for rank in range(2):
        boundary = load_boundary(out / f"sefa_{rank:02d}.npy")
        stored = np.load(out / f"sefa_{rank:02d}.npy")
        assert stored.dtype == np.float32 and stored.shape == (1, 100) and abs(np.linalg.norm(stored) - 1) < 1e-6
        info = boundary.info
        sign = -1 if info.flipped else 1
        np.testing.assert_allclose(stored[0], sign * reference.vectors[rank], atol=1e-7)
        assert info.eigenvalue == pytest.approx(reference.values[rank]) and info.explained_variance_ratio is None
        assert (info.method, info.rank, info.space, info.layers, info.extra) == ("sefa", rank, "z", None, {})
        assert info.meaning == lines[rank] == manifest.directions[rank].meaning
        assert info.moved == [a for a, e in info.effects.items() if e.moved] == manifest.directions[rank].moved
        assert set(info.effects) == {"pose", "smile", "age", "gender", "eyeglasses"} and info.naming.faces == 6
        assert info.weights_sha256 == manifest.weights_sha256 and (out / "sheets" / f"sefa_{rank:02d}.png").is_file()
    assert (out / "overview.png").is_file()
    code, _, stderr = run_cli(
        "edit",
        "--attrs",
        "found",
        "--boundary",
        f"found={out / 'sefa_00.npy'}",
        "-n",
        2,
        "--steps",
        3,
        "-o",
        tmp_path / "edit",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    source, edited = np.load(tmp_path / "edit" / "source_codes.npy"), np.load(tmp_path / "edit" / "codes.npy")
    steps = np.array([-3, 0, 3])[None, :, None]
    np.testing.assert_allclose(edited, source[:, None] + steps * np.load(out / "sefa_00.npy"), atol=1e-5)
    np.save(tmp_path / "z.npy", dcgan.sample(30, 0))
    code, _, stderr = run_cli(
        "rank",
        "--codes",
        tmp_path / "z.npy",
        "--boundary",
        out / "sefa_01.npy",
        "-o",
        tmp_path / "r.png",
        "--device",
        "cpu",
    )
    assert code == 0 and (tmp_path / "r.png").is_file(), stderr


@pytest.mark.slow
def test_ganspace_cli_records_samples_seed_and_explained_variance(tmp_path, run_cli, dcgan):
    out = tmp_path / "pcs"
    code, stdout, stderr = run_cli(
        "directions",
        "--method",
        "ganspace",
        "-k",
        2,
        "-n",
        3,
        "--samples",
        600,
        "--seed",
        4,
        "-o",
        out,
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    assert stdout.startswith("ganspace_00: ")
    reference = ganspace(dcgan, k=2, samples=600, seed=4)
    for rank in range(2):
        boundary = load_boundary(out / f"ganspace_{rank:02d}.npy")
        info = boundary.info
        same_up_to_sign(boundary.normal[None], reference.vectors[rank : rank + 1], 1e-6)
        assert info.explained_variance_ratio == pytest.approx(reference.values[rank]) and info.eigenvalue is None
        assert (info.found["samples"], info.found["seed"]) == (600, 4)


def test_apply_edit_moves_only_the_plan_layers():
    normal = np.random.default_rng(4).standard_normal(8)
    boundary = Boundary.from_normal("d", normal)
    plan = plan_edit([boundary], [None], steps=np.array([-1.0, 2.0]), layers=[3, 1])
    assert plan.layers == (1, 3) and plan.describe().endswith("| layers 1,3")
    codes = np.random.default_rng(5).standard_normal((2, 5, 8)).astype(np.float32)
    edited = apply_edit(codes, plan)
    moved = np.isin(np.arange(5), [1, 3])
    np.testing.assert_array_equal(edited[:, :, ~moved], np.repeat(codes[:, None, ~moved], 2, axis=1))
    expected = codes[:, None, moved] + np.array([-1.0, 2.0])[None, :, None, None] * boundary.normal
    np.testing.assert_allclose(edited[:, :, moved], expected, atol=1e-6)
    np.testing.assert_allclose(
        apply_edit(codes, plan_edit([boundary], [None], steps=np.array([2.0])))[:, 0],
        codes + 2 * boundary.normal,
        atol=1e-6,
    )  # no layers: every layer moves
    with pytest.raises(UsageError, match="need W\\+ codes"):
        apply_edit(codes[:, 0], plan)  # Z or W codes have no layers
    with pytest.raises(UsageError, match="need W\\+ codes"):
        apply_edit(codes[:, :3], plan)  # layer 3 of 3


def test_layerwise_edit_moves_only_the_chosen_wp_layers_and_replays(tmp_path, run_cli, stylegan2_pickle):
    direction = np.random.default_rng(2).standard_normal((1, 64))
    np.save(tmp_path / "d.npy", (direction / np.linalg.norm(direction)).astype(np.float32))
    common = ("-m", "stylegan2-ffhq", "--weights", stylegan2_pickle, "--device", "cpu")
    code, stdout, stderr = run_cli(
        "edit",
        "--attrs",
        "d",
        "--boundary",
        f"d={tmp_path / 'd.npy'}",
        "--space",
        "wp",
        "--layers",
        "1-2,5",
        "-n",
        2,
        "--steps",
        3,
        "-o",
        tmp_path / "e",
        *common,
    )
    assert code == 0, stderr
    assert "layers 1,2,5" in stdout
    source, edited = np.load(tmp_path / "e" / "source_codes.npy"), np.load(tmp_path / "e" / "codes.npy")
    assert source.shape == (2, 8, 64) and edited.shape == (2, 3, 8, 64)
    moved = np.isin(np.arange(8), [1, 2, 5])
    np.testing.assert_array_equal(edited[:, :, ~moved], np.repeat(source[:, None, ~moved], 3, axis=1))
    expected = source[:, None, moved] + np.array([-3, 0, 3])[None, :, None, None] * np.load(tmp_path / "d.npy")[0]
    np.testing.assert_allclose(edited[:, :, moved], expected, atol=1e-5)
    record = json.loads((tmp_path / "e" / "edit.json").read_text())
    assert record["layers"] == [1, 2, 5]
    code, _, stderr = run_cli(
        "edit", "--replay", tmp_path / "e" / "edit.json", "-o", tmp_path / "again", "--device", "cpu"
    )
    assert code == 0, stderr
    np.testing.assert_array_equal(np.load(tmp_path / "again" / "codes.npy"), edited)
    assert json.loads((tmp_path / "again" / "edit.json").read_text())["layers"] == [1, 2, 5]


@pytest.mark.slow
def test_directions_on_stylegan2_layers_feed_a_layerwise_edit(tmp_path, run_cli, stylegan2_pickle):
    common = ("-m", "stylegan2-ffhq", "--weights", stylegan2_pickle, "--device", "cpu")
    code, _, stderr = run_cli("directions", "--layers", "0-3", "-k", 3, "-n", 2, "-o", tmp_path / "d", *common)
    assert code == 0, stderr
    boundary = load_boundary(tmp_path / "d" / "sefa_00.npy")
    assert boundary.info.layers == [0, 1, 2, 3] and boundary.info.space == "w" and boundary.dim == 64
    code, _, stderr = run_cli(
        "edit",
        "--attrs",
        "s",
        "--boundary",
        f"s={tmp_path / 'd' / 'sefa_00.npy'}",
        "--space",
        "wp",
        "--layers",
        "0-3",
        "-n",
        1,
        "--steps",
        2,
        "-o",
        tmp_path / "e",
        *common,
    )
    assert code == 0 and "warning" not in stderr, stderr
    edited = np.load(tmp_path / "e" / "codes.npy")
    assert np.array_equal(edited[:, 0, 4:], edited[:, 1, 4:]) and not np.allclose(edited[:, 0, :4], edited[:, 1, :4])
