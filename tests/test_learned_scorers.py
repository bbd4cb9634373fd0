"""Your own attribute from a few labels: train-scorer, the scorer file, label sheet / suggest, and the boundaries
trained with a learned scorer or on labelled codes. Answers are checked against the faces labelled by eye in
tests/data/train_attributes_labels.csv (TRAINSET.md)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from latentedit.commands.label import suggest_for_labels
from latentedit.commands.train_scorer import fit_labels
from latentedit.core.probe import fit_probe, suggest
from latentedit.files.boundaries import load_boundary, shipped_boundaries
from latentedit.files.labels import Label, read_labels
from latentedit.files.weights import sha256_file
from latentedit.models.scorers.attribute_probe import EyeglassesScorer
from latentedit.models.scorers.learned import HEADER_KEY, LearnedScorer, probe_input, read_scorer
from latentedit.models.scoring import codes_features, score_codes
from latentedit.records import ScorerHeader

DATA = Path(__file__).parent / "data"
CODES = DATA / "train_attributes_codes.npy"
MARK = {"yes": "1", "no": "0", "unclear": "?"}


def pool_labels(attr: str) -> list[str]:
    with open(DATA / "train_attributes_labels.csv", newline="") as handle:
        return [MARK[row[attr]] for row in csv.DictReader(handle)]


def write_labels(path: Path, rows: range, attr: str = "smile", flip: bool = False) -> Path:
    labels = pool_labels(attr)
    swap = {"1": "0", "0": "1", "?": "?"} if flip else {}
    path.write_text("item,label\n" + "".join(f"{CODES}:{i},{swap.get(labels[i], labels[i])}\n" for i in rows))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_cli):
    """A smile scorer trained by the CLI on the first 120 faces of the labelled pool (17 smiles, 82 not, 21 unclear)."""
    folder = tmp_path_factory.mktemp("scorer")
    labels = write_labels(folder / "labels.csv", range(120))
    code, stdout, stderr = run_cli("train-scorer", "--labels", labels, "-o", folder / "mine.scorer", "--device", "cpu")
    assert code == 0, stderr
    assert "mine from 17 faces labelled 1 and 75 labelled 0 (21 unclear, 7 without a face found)" in stdout
    return folder / "mine.scorer"


@pytest.mark.slow
def test_scorer_beats_chance_on_held_out_labels(trained, run_cli, tmp_path):
    rows = np.arange(400, 560)
    np.save(tmp_path / "held.npy", np.load(CODES)[rows])
    code, _, stderr = run_cli(
        "score",
        "--codes",
        tmp_path / "held.npy",
        "--attrs",
        "mine",
        "--scorer",
        f"mine={trained}",
        "-o",
        tmp_path / "out",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    scores = np.load(tmp_path / "out" / "mine_scores.npy")[:, 0]
    truth = np.array(pool_labels("smile"))[rows]
    used = (truth != "?") & ~np.isnan(scores)
    auc = roc_auc_score(truth[used] == "1", scores[used])
    assert auc >= 0.8, auc  # 15 smiles and 122 other faces never seen in training (measured 0.846)
    print(f"held-out ROC AUC {auc:.3f}")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["attributes"]["mine"]["scorer"]["sha256"] == sha256_file(trained)


@pytest.mark.slow
def test_scorer_file_round_trip(trained, analysis, dcgan):
    scorer = read_scorer(trained)
    header = scorer.header
    assert header.attribute == "mine" and header.labels.positive == 17 and header.labels.unclear == 21
    assert ScorerHeader.from_json(header.to_json()) == header
    assert 0.8 < header.cv_auc <= 1 and header.cv_auc_std >= 0 and header.cv_folds == 5
    raw = torch.load(trained, weights_only=True)
    assert set(raw) == {HEADER_KEY, "weight", "bias"} and json.loads(raw[HEADER_KEY])["format"] == "latentedit-scorer"
    # The scorer object scores a batch as its file's weights say: sigmoid(sqrt(features) @ weight + bias).
    from latentedit.models.generators import render

    images = list(np.concatenate(list(render(dcgan, np.load(CODES)[:8], progress=False))))
    batch = analysis.detect(images)
    features = analysis.attribute_probe.batch_features(batch, batch.found).double().numpy()
    expected = 1 / (1 + np.exp(-(np.sqrt(features) @ raw["weight"].double().numpy() + float(raw["bias"][0]))))
    got = LearnedScorer.load(trained, analysis).score(batch)
    np.testing.assert_allclose(got[batch.found], expected, rtol=1e-9)


@pytest.mark.slow
def test_scorer_learns_a_shipped_scorers_decisions(dcgan, analysis):
    """Labels from the shipped eyeglasses scorer's decisions on 240 faces teach a probe (fitted as train-scorer fits
    it) to rank 160 other faces (the check set's) as that scorer decides them; flipped labels reverse the ranking."""
    train, held = np.load(CODES)[:240], np.load(DATA / "checkset_codes.npy")[:160]
    shipped = {"eyeglasses": EyeglassesScorer(analysis)}
    decided = [score_codes(dcgan, codes, shipped, progress=False)["eyeglasses"] > 0.5 for codes in (train, held)]
    features = codes_features(dcgan, train, analysis, mirror=True, progress=False)
    held_features = probe_input(codes_features(dcgan, held, analysis, progress=False))
    aucs = []
    for flip in (False, True):
        labels = [Label(CODES, i, float(yes != flip), f"row {i}") for i, yes in enumerate(decided[0])]
        fit, counts = fit_labels(labels, features)
        assert counts.positive + counts.negative + counts.no_face == 240
        assert counts.no_face == np.isnan(features[:, 0, 0]).sum()
        logits = fit.logits(held_features)
        found = ~np.isnan(logits)
        aucs.append(roc_auc_score(decided[1][found], logits[found]))
    assert decided[0].sum() >= 20 and decided[1].sum() >= 10
    assert aucs[0] >= 0.95 and aucs[1] <= 0.05, aucs
    print(f"AUC against the shipped scorer's decisions on 160 held-out faces: {aucs[0]:.3f} (flipped {aucs[1]:.3f})")


def test_fit_probe_learns_and_reports_cross_validation():
    """An attribute carried by 50 of 500 noisy features: the probe finds it from 120 labels (25 positive), and
    flipped labels give the opposite ranking."""
    rng = np.random.default_rng(0)

    def faces(n: int) -> tuple[np.ndarray, np.ndarray]:
        attribute = rng.standard_normal(n)
        x = rng.standard_normal((n, 500)) + 2.0  # features away from 0, as ReLU features are
        x[:, :50] += attribute[:, None]
        return x, attribute > 0.8

    x, y = faces(120)
    test, truth = faces(400)
    fit = fit_probe(x, y.astype(int))
    assert roc_auc_score(truth, fit.logits(test)) > 0.9
    assert fit.cv_auc > 0.85 and fit.positive == int(y.sum())
    assert roc_auc_score(truth, fit_probe(x, 1 - y.astype(int)).logits(test)) < 0.1
    # The probe on raw features is the logistic regression on standardised ones (fitted in the rows' span, folded back)
    mean, std = x.mean(0), x.std(0) + 1e-6
    reference = LogisticRegression(C=fit.c, max_iter=10000, tol=1e-8).fit((x - mean) / std, y)
    np.testing.assert_allclose(fit.logits(test), reference.decision_function((test - mean) / std), atol=0.02)


def test_suggest_prefers_uncertain_faces():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, 1000)
    features = rng.standard_normal((1000, 32))
    chosen = suggest(logits, features, n=20, shortlist=4, seed=0)
    assert len(set(chosen)) == 20
    # all among the 80 least sure faces, and the least sure face of all first
    assert np.abs(logits[chosen]).max() <= np.sort(np.abs(logits))[79]
    assert chosen[0] == np.argmin(np.abs(logits))
    logits[5] = np.nan  # no face: never suggested
    assert 5 not in suggest(logits, features, n=200, shortlist=5, seed=0)


def test_suggest_spreads_out_over_the_features():
    """Among equally uncertain faces in two tight clusters, both clusters are picked, not just the first one."""
    noise = np.random.default_rng(2).normal(0, 0.01, (100, 8))
    features = np.concatenate([np.full((50, 8), 1.0), np.full((50, 8), -1.0)]) + noise
    chosen = suggest(np.zeros(100), features, n=4, shortlist=25, seed=0)
    assert (chosen < 50).any() and (chosen >= 50).any()


@pytest.mark.slow
def test_label_sheet_and_suggest(trained, run_cli, tmp_path):
    code, stdout, stderr = run_cli("label", "sheet", "-n", 50, "--seed", 3, "-o", tmp_path / "sheet", "--device", "cpu")
    assert code == 0, stderr
    sheet = tmp_path / "sheet"
    assert sorted(p.name for p in sheet.iterdir()) == [
        "codes.npy",
        "labels.csv",
        "sheet.json",
        "sheet_01.png",
        "sheet_02.png",
    ]
    labels = read_labels(sheet / "labels.csv")
    assert [(label.path.name, label.row) for label in labels] == [("codes.npy", i) for i in range(50)]
    assert all(np.isnan(label.label) for label in labels)
    from latentedit.models.generators import load_generator

    generator, _ = load_generator("dcgan-digiface64", device="cpu")
    np.testing.assert_array_equal(np.load(sheet / "codes.npy"), generator.sample(50, 3))
    # The suggested faces are ones the scorer is less sure about than faces at random.
    code, stdout, stderr = run_cli(
        "label",
        "suggest",
        "--scorer",
        trained,
        "-n",
        12,
        "--pool",
        240,
        "--seed",
        5,
        "-o",
        tmp_path / "next",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    for folder in ("sheet", "next"):
        code, _, stderr = run_cli(
            "score",
            "--codes",
            tmp_path / folder / "codes.npy",
            "--attrs",
            "mine",
            "--scorer",
            f"mine={trained}",
            "-o",
            tmp_path / f"{folder}_scores",
            "--device",
            "cpu",
        )
        assert code == 0, stderr
    doubt = {
        folder: np.nanmean(np.abs(np.load(tmp_path / f"{folder}_scores" / "mine_scores.npy") - 0.5))
        for folder in ("sheet", "next")
    }
    assert doubt["next"] < doubt["sheet"] - 0.15, doubt


@pytest.mark.slow
def test_studio_suggest_hook_picks_uncertain_faces(trained, dcgan, analysis, tmp_path):
    """The studio's suggest round fits the probe train-scorer fits to the same labels (so the trained scorer reads
    its doubt) and picks faces it is far less sure about than random faces of the same pool."""
    labels = write_labels(tmp_path / "labels.csv", range(120))
    codes, name = suggest_for_labels(labels, 8, generator=dcgan, analysis=analysis, pool=160)
    assert codes.shape == (8, 100) and name.startswith("suggest-")
    pool = dcgan.sample(160, int(name.removeprefix("suggest-"), 16))
    assert all((pool == code).all(1).any() for code in codes)
    scorers = {"mine": LearnedScorer.load(trained, analysis)}
    doubt = {
        key: np.nanmean(np.abs(score_codes(dcgan, faces, scorers, progress=False)["mine"] - 0.5))
        for key, faces in (("chosen", codes), ("pool", pool))
    }
    assert doubt["chosen"] < doubt["pool"] - 0.15, doubt


def test_boundary_from_labelled_codes(run_cli, tmp_path):
    """The SVM on 600 codes labelled by eye for smile points where the shipped smile boundary points."""
    labels = write_labels(tmp_path / "labels.csv", range(600))
    code, stdout, stderr = run_cli(
        "train-boundary", "--labels", labels, "--attr", "smile", "-o", tmp_path / "b", "--device", "cpu"
    )
    assert code == 0, stderr
    learned = load_boundary(tmp_path / "b" / "smile.npy")
    shipped = load_boundary(shipped_boundaries("dcgan-digiface64")["smile"])
    assert learned.normal @ shipped.normal > 0.75
    assert learned.info.validation_accuracy > 0.85 and "labelled 1" in learned.info.scores
    assert learned.info.model == "dcgan-digiface64" or learned.info.model is None


@pytest.mark.slow
def test_boundary_and_edit_report_with_a_learned_scorer(trained, run_cli, tmp_path):
    code, _, stderr = run_cli(
        "train-boundary",
        "--attr",
        "mine",
        "--scorer",
        trained,
        "-n",
        600,
        "--ratio",
        60,
        "-o",
        tmp_path / "b",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    boundary = load_boundary(tmp_path / "b" / "mine.npy")
    assert boundary.info.scorer_file.sha256 == sha256_file(trained) and boundary.info.scorer_file.path == str(trained)
    shipped = load_boundary(shipped_boundaries("dcgan-digiface64")["smile"])
    assert boundary.normal @ shipped.normal > 0.4  # 600 faces only, but it is a smile direction
    # A target in the learned scorer's units (a probability) along its own boundary: the sidecar's scorer file
    # measures the search and the report; --scorer adds the same file under another name to the report.
    code, stdout, stderr = run_cli(
        "edit",
        "--attrs",
        "mine=0.9",
        "--boundary",
        f"mine={tmp_path / 'b' / 'mine.npy'}",
        "-n",
        4,
        "--seed",
        4,
        "--report",
        "--scorer",
        f"again={trained}",
        "-o",
        tmp_path / "e",
        "--device",
        "cpu",
    )
    assert code == 0, stderr
    record = json.loads((tmp_path / "e" / "edit.json").read_text())
    target = record["targets"]["mine"]
    assert target["unit"] == "probability" and target["scorer"] == "mine"
    faces = [face for face in target["faces"] if face["before"] is not None and face["reading"] is not None]
    readings, befores = (np.array([face[key] for face in faces]) for key in ("reading", "before"))
    assert len(faces) >= 3 and (readings > befores + 0.2).all(), (befores, readings)  # all moved towards 0.9
    assert all(abs(face["reading"] - 0.9) <= 0.02 for face in faces if face["status"] == "reached")
    report = record["report"]
    assert report["targets"]["mine"]["mean_change"] > 0.3
    assert report["side_effects_signed"]["again"] == pytest.approx(report["targets"]["mine"]["mean_change"], abs=1e-6)
    assert report["side_effects_signed"]["smile"] > 0.2  # the shipped smile scorer agrees: a smile was added
    assert {name: ref["sha256"] for name, ref in record["scorers"].items()} == {
        "mine": sha256_file(trained),
        "again": sha256_file(trained),
    }


@pytest.mark.slow
def test_directions_named_with_a_learned_scorer(trained, run_cli, tmp_path):
    """directions --scorer measures each direction with the learned scorer too; trained on smile labels, it moves
    the way the shipped smile scorer moves along the direction that moves smile most."""
    code, stdout, stderr = run_cli(
        "directions", "-k", 4, "-n", 16, "--scorer", f"mine={trained}", "-o", tmp_path / "d", "--device", "cpu"
    )
    assert code == 0, stderr
    record = json.loads((tmp_path / "d" / "directions.json").read_text())
    assert record["scorers"]["mine"]["sha256"] == sha256_file(trained)
    effects = [load_boundary(tmp_path / "d" / f"{entry['name']}.npy").info.effects for entry in record["directions"]]
    smiliest = max(effects, key=lambda e: abs(e["smile"].change_per_unit))
    assert smiliest["smile"].change_per_unit * smiliest["mine"].change_per_unit > 0, smiliest
