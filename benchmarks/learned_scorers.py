"""How few labels a learned scorer needs: learning curves of train-scorer's probe, labels chosen at random or by
``label suggest``, with the faces labelled by eye in the repository as a simulated user.

    python benchmarks/learned_scorers.py [--starts 3] [--sizes 25,50,100,200,400] [--cache FILE] [--no-write]

The user labels faces of the training pool (tests/data/train_attributes_*, 1200 faces labelled by eye for smile,
eyeglasses and gender, TRAINSET.md); an ``unclear`` answer is a label spent and left out, as train-scorer leaves it
out. The pool holds the faces in which MTCNN finds a face. Random: the first N faces of a random order. Suggested:
random faces until the scorer can be trained (10 of each class, as train-scorer requires), then rounds of
ROUND faces chosen by :func:`latentedit.core.probe.suggest` (uncertainty with diversity, shortlist 4 x ROUND) among
the faces not labelled yet, the scorer retrained after each round. Each scorer is fitted exactly as train-scorer
fits it (:func:`latentedit.commands.train_scorer.fit_labels`: probe on the square-rooted age-network features, each
face and its mirror image, C by 5-fold cross-validation).

Measured, mean and spread (standard deviation) over the random starts:
- ROC AUC on the check set (tests/data/checkset_*, 320 other faces labelled by eye, CHECKSET.md), unclear faces and
  faces without a detected face left out;
- the cosine of a boundary trained with the learned scorer (train-boundary's protocol on BOUNDARY_FACES sampled faces,
  ratio BOUNDARY_RATIO per side) with the shipped boundary of the attribute, and for scale the cosine of a boundary
  trained the same way with the shipped scorer;
- for the first start at EDIT_LABELS labels: edit success, the share of EDIT_FACES sampled faces whose shipped
  scorer's reading rises under an edit of +3 along the learned boundary (the shipped boundary for scale).
"""

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from latentedit.commands.train_scorer import fit_labels
from latentedit.core.boundary import train_boundary
from latentedit.core.probe import suggest
from latentedit.devtools import CHECKSET, load_checkset, machine, write_section
from latentedit.errors import UsageError
from latentedit.files.boundaries import load_boundary, shipped_boundaries
from latentedit.files.labels import Label
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import generator_template, load_generator, render
from latentedit.models.scorers.attribute_probe import FEATURE_DIM
from latentedit.models.scorers.learned import probe_input
from latentedit.models.scoring import SCORERS, score_codes

MODEL = "dcgan-digiface64"
ATTRIBUTES = {
    "smile": {"yes": 1.0, "no": 0.0},
    "eyeglasses": {"yes": 1.0, "no": 0.0},
    "gender": {"male": 1.0, "female": 0.0},
}
ROUND = 25
BOUNDARY_FACES, BOUNDARY_SEED, BOUNDARY_RATIO = 2000, 3000, 0.1
EDIT_FACES, EDIT_SEED, EDIT_LABELS, EDIT_STRENGTH = 200, 4000, 100, 3.0
POOL = CHECKSET / "train_attributes_codes.npy"


def features_and_scores(generator, codes: np.ndarray, analysis: FaceAnalysis, *, mirror: bool, batch: int = 64):
    """One pass over ``codes``: (N, 2 or 1, FEATURE_DIM) face features (NaN rows: no face) and the shipped scorers'
    scores of the attributes benchmarked."""
    scorers = {name: SCORERS[name](analysis) for name in ATTRIBUTES}
    views = (False, True) if mirror else (False,)
    features = np.full((len(codes), len(views), FEATURE_DIM), np.nan, np.float32)
    scores = {name: np.full(len(codes), np.nan) for name in ATTRIBUTES}
    for start, images in zip(range(0, len(codes), batch), render(generator, codes, batch_size=batch, progress=False)):
        faces = analysis.detect(list(images), generator_template(generator))
        rows = np.arange(start, start + len(images))
        for k, flipped in enumerate(views):
            features[rows[faces.found], k] = (
                analysis.attribute_probe.batch_features(faces, faces.found, flipped).cpu().numpy()
            )
        for name, scorer in scorers.items():
            scores[name][rows] = scorer.score(faces)
    return features, scores


def load_features(generator, analysis: FaceAnalysis, cache: Path | None) -> dict[str, np.ndarray]:
    """Features (and shipped scores) of the training pool, the check set and the boundary faces, cached in ``cache``."""
    if cache is not None and cache.is_file():
        return dict(np.load(cache))
    parts = {
        "pool": (np.load(POOL), True),
        "check": (load_checkset()[0], False),
        "boundary": (generator.sample(BOUNDARY_FACES, BOUNDARY_SEED), False),
    }
    out = {}
    for key, (codes, mirror) in parts.items():
        start = time.perf_counter()
        out[f"{key}_codes"] = codes
        out[f"{key}_features"], scores = features_and_scores(generator, codes, analysis, mirror=mirror)
        out.update({f"{key}_{name}": values for name, values in scores.items()})
        print(f"features of {len(codes)} {key} faces: {time.perf_counter() - start:.0f} s", flush=True)
    if cache is not None:
        np.savez(cache, **out)
    return out


def eye_labels(rows: list[dict[str, str]], attribute: str) -> np.ndarray:
    return np.array([ATTRIBUTES[attribute].get(row[attribute], np.nan) for row in rows])


def fit(pool_features: np.ndarray, truth: np.ndarray, chosen: np.ndarray):
    """train-scorer's probe on the faces ``chosen`` with the user's answers ``truth``; None if it cannot be trained."""
    labels = [Label(POOL, int(i), float(truth[i]), f"row {i}") for i in chosen]
    try:
        return fit_labels(labels, pool_features[chosen])[0]
    except UsageError:
        return None


def learning_run(pool_features, truth, order: np.ndarray, sizes: list[int], seed: int) -> dict:
    """The probes at each size of ``sizes`` for one random start (``order``: the random order of the pool), with
    labels at random and suggested; ``bootstrap``: the random labels the suggested run began with."""
    random = {n: fit(pool_features, truth, order[:n]) for n in sizes}
    labelled = list(order[:ROUND])
    while fit(pool_features, truth, np.array(labelled)) is None and len(labelled) < max(sizes):
        labelled += list(order[len(labelled) : len(labelled) + ROUND])  # random sheets until it can be trained
    bootstrap = len(labelled)
    features = probe_input(pool_features[:, 0])
    while len(labelled) < max(sizes):
        probe = fit(pool_features, truth, np.array(labelled))
        rest = np.setdiff1d(order, labelled)
        labelled += list(rest[suggest(probe.logits(features[rest]), features[rest], n=ROUND, seed=seed)])
    suggested = {n: fit(pool_features, truth, np.array(labelled[:n])) for n in sizes}
    return {"random": random, "suggested": suggested, "bootstrap": bootstrap}


def check_auc(probe, features: np.ndarray, truth: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    logits = probe.logits(probe_input(features[:, 0]))
    used = ~np.isnan(truth) & ~np.isnan(logits)
    return float(roc_auc_score(truth[used], logits[used]))


def boundary_normal(codes: np.ndarray, scores: np.ndarray, name: str) -> np.ndarray:
    return train_boundary(codes, scores[:, None], name=name, ratio=BOUNDARY_RATIO).normal


def edit_success(generator, analysis, normal: np.ndarray, attribute: str, before: np.ndarray, codes: np.ndarray):
    """Share of faces (found before and after) whose shipped reading of ``attribute`` rises under +3 along ``normal``,
    and the mean change."""
    after = score_codes(
        generator,
        codes + EDIT_STRENGTH * normal.astype(np.float32),
        {attribute: SCORERS[attribute](analysis)},
        progress=False,
    )[attribute]
    used = ~np.isnan(before) & ~np.isnan(after)
    return float((after[used] > before[used]).mean()), float((after[used] - before[used]).mean()), int(used.sum())


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "—"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--sizes", default="25,50,100,200,400")
    parser.add_argument("--cache", type=Path, default=None, help="Keep the computed features in this .npz.")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    begin = time.perf_counter()
    generator, _ = load_generator(MODEL, device="cpu")
    analysis = FaceAnalysis("cpu")
    cached = args.cache is not None and args.cache.is_file()
    data = load_features(generator, analysis, args.cache)
    with open(CHECKSET / "train_attributes_labels.csv", newline="") as handle:
        pool_rows = list(csv.DictReader(handle))
    check_rows = load_checkset()[1]
    found = np.flatnonzero(~np.isnan(data["pool_features"][:, 0, 0]))
    shipped = shipped_boundaries(MODEL)
    edit_codes = generator.sample(EDIT_FACES, EDIT_SEED)
    edit_before = score_codes(generator, edit_codes, {n: SCORERS[n](analysis) for n in ATTRIBUTES}, progress=False)
    lines = [
        f"Machine: {machine()}.",
        "",
        f"Simulated user: the eye labels of the {len(pool_rows)}-face training pool ({len(found)} with a face "
        f"found); measured on the 320-face check set. {args.starts} random starts; suggested rounds of {ROUND}. "
        f"Boundaries: {BOUNDARY_FACES} sampled faces, {BOUNDARY_RATIO:.0%} per side. Mean ± standard deviation "
        "over the starts; — where train-scorer refuses (fewer than 10 labels of a class) in every start, and "
        "(k/3) where it trained in only k starts.",
        "",
    ]
    table = [
        "| attribute | labels | check-set AUC, random | check-set AUC, suggested | boundary cosine, random | "
        "boundary cosine, suggested |",
        "|---|---|---|---|---|---|",
    ]
    notes, edits = [], []
    for attribute in ATTRIBUTES:
        truth = eye_labels(pool_rows, attribute)
        check_truth = eye_labels(check_rows, attribute)
        codes, scores = data["boundary_codes"], data[f"boundary_{attribute}"]
        shipped_normal = load_boundary(shipped[attribute]).normal
        ceiling = float(boundary_normal(codes, scores, attribute) @ shipped_normal)
        runs = [
            learning_run(data["pool_features"], truth, np.random.default_rng(s).permutation(found), sizes, s)
            for s in range(args.starts)
        ]
        boundary_features = probe_input(data["boundary_features"][:, 0])
        for n in sizes:
            cells = []
            for measure in ("auc", "cosine"):
                for strategy in ("random", "suggested"):
                    probes = [run[strategy][n] for run in runs]
                    trained = [p for p in probes if p is not None]
                    if measure == "auc":
                        values = [check_auc(p, data["check_features"], check_truth) for p in trained]
                    else:
                        values = [
                            float(boundary_normal(codes, p.logits(boundary_features), attribute) @ shipped_normal)
                            for p in trained
                        ]
                    partial = f" ({len(trained)}/{len(probes)})" if 0 < len(trained) < len(probes) else ""
                    cells.append(spread(values) + partial)
            table.append(f"| {attribute} | {n} | " + " | ".join(cells) + " |")
            print(table[-1], flush=True)
        bootstrap = [r["bootstrap"] for r in runs]
        notes.append(
            f"{attribute}: the suggested runs labelled {np.mean(bootstrap):.0f} ± {np.std(bootstrap):.0f} "
            f"random faces (at most {max(bootstrap)}) "
            f"before the first round (10 of each class; up to there the two curves share their labels); a "
            f"boundary from the shipped scorer on the same "
            f"{BOUNDARY_FACES} faces has cosine {ceiling:.3f} with the shipped one (trained on more faces)."
        )
        for strategy in ("random", "suggested"):
            probe = runs[0][strategy].get(EDIT_LABELS)
            if probe is None:
                edits.append(f"| {attribute} | {strategy}, {EDIT_LABELS} labels | — | — | — |")
                continue
            normal = boundary_normal(codes, probe.logits(boundary_features), attribute)
            share, change, used = edit_success(
                generator, analysis, normal, attribute, edit_before[attribute], edit_codes
            )
            edits.append(f"| {attribute} | {strategy}, {EDIT_LABELS} labels | {share:.1%} | {change:+.3f} | {used} |")
        share, change, used = edit_success(
            generator, analysis, shipped_normal, attribute, edit_before[attribute], edit_codes
        )
        edits.append(f"| {attribute} | shipped boundary | {share:.1%} | {change:+.3f} | {used} |")
        print("\n".join(edits[-3:]), flush=True)
    body = "\n".join(
        [
            *lines,
            *table,
            "",
            *notes,
            "",
            f"Edit success (first start): +{EDIT_STRENGTH:g} along the boundary on {EDIT_FACES} sampled "
            f"faces (seed {EDIT_SEED}); the share whose shipped scorer's reading rises, and its mean change "
            "(probability).",
            "",
            "| attribute | boundary | reading rises | mean change | faces |",
            "|---|---|---|---|---|",
            *edits,
            "",
            f"Run time: {time.perf_counter() - begin:.0f} s"
            + (" (the face features read from --cache)." if cached else "."),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("Learned scorers: labels needed (`benchmarks/learned_scorers.py`)", body)


if __name__ == "__main__":
    main()
