"""Boundary training speed and accuracy: latentedit's solver against InterFaceGAN's SVC(kernel="linear") and against
scikit-learn's LinearSVC (liblinear), the solver a user would pick today, given latentedit's objective (L2-regularised
squared hinge, C = 0.01).

    python benchmarks/boundary.py [--sizes 2000,10000,20000] [--noise 0.5,2.0] [--real DIR ...] [--splits 5]

All three solvers fit the same chosen samples (InterFaceGAN's protocol: top/bottom 2 %, 70/30 split) in one run.
Synthetic data: codes ~ N(0, I) in 512 dimensions, score = <code, u> + noise * N(0, 1); "chosen" counts both
sides. ``--real DIR`` adds a row per attribute from DIR/z.npy and DIR/{attr}_scores.npy.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.svm import SVC, LinearSVC

from latentedit.core.boundary import accuracy, choose_samples, fit_linear_svm
from latentedit.devtools import machine, write_section


def compare(codes: np.ndarray, scores: np.ndarray, ratio: float, splits: int = 1) -> dict:
    """The three solvers on the same chosen samples, for ``splits`` random train/validation splits (seeds 0, 1, ...):
    median fit times and mean validation accuracies."""
    runs = []
    for seed in range(splits):
        chosen = choose_samples(codes, scores, ratio=ratio, split=0.7, seed=seed)
        times = []
        for _ in range(3):  # ours is cheap to repeat: the median of 3 fits
            start = time.perf_counter()
            normal, offset = fit_linear_svm(chosen.train_x, chosen.train_y)
            times.append(time.perf_counter() - start)
        ours = float(np.median(times))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            svc = SVC(kernel="linear").fit(chosen.train_x, chosen.train_y)
            theirs = time.perf_counter() - start
            start = time.perf_counter()
            liblinear = LinearSVC(C=0.01, dual="auto").fit(chosen.train_x, chosen.train_y)
            linear = time.perf_counter() - start
        runs.append(
            (
                ours,
                theirs,
                linear,
                accuracy(normal, offset, chosen.val_x, chosen.val_y),
                float(svc.score(chosen.val_x, chosen.val_y)),
                float(liblinear.score(chosen.val_x, chosen.val_y)),
            )
        )
    ours, theirs, linear, ours_acc, svc_acc, linear_acc = zip(*runs)
    return {
        "chosen": 2 * chosen.per_side,
        "splits": splits,
        "ours_s": float(np.median(ours)),
        "svc_s": float(np.median(theirs)),
        "linear_s": float(np.median(linear)),
        "ours_acc": float(np.mean(ours_acc)),
        "svc_acc": float(np.mean(svc_acc)),
        "linear_acc": float(np.mean(linear_acc)),
    }


def row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['chosen']} | {r['splits']} | {r['svc_s']:.2f} | {r['linear_s']:.2f} | {r['ours_s']:.2f} "
        f"| {r['svc_s'] / r['ours_s']:.1f}× | {r['linear_s'] / r['ours_s']:.1f}× "
        f"| {r['svc_acc']:.4f} | {r['linear_acc']:.4f} | {r['ours_acc']:.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,20000")
    parser.add_argument("--noise", default="0.5,2.0", help="score noise levels (0.5: nearly separable)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--real", type=Path, nargs="*", default=[], help="folders with z.npy and *_scores.npy")
    parser.add_argument("--splits", type=int, default=5, help="random splits per real attribute (accuracy: mean)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    lines = [
        "| data | chosen samples | splits | SVC(kernel='linear') s | LinearSVC s | latentedit s | vs SVC "
        "| vs LinearSVC "
        "| SVC val. acc. | LinearSVC val. acc. | latentedit val. acc. |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rng = np.random.default_rng(0)
    for noise in (float(v) for v in args.noise.split(",")):
        for chosen in (int(v) for v in args.sizes.split(",")):
            n = chosen * 25  # top and bottom 2 %
            direction = rng.standard_normal(args.dim)
            direction /= np.linalg.norm(direction)
            codes = rng.standard_normal((n, args.dim)).astype(np.float32)
            scores = codes @ direction + noise * rng.standard_normal(n)
            lines.append(row(f"synthetic, {args.dim}-d, noise {noise}", compare(codes, scores, 0.02)))
            print(lines[-1], flush=True)
    for folder in args.real:
        codes = np.load(folder / "z.npy")
        for scores_file in sorted(folder.glob("*_scores.npy")):
            attr = scores_file.stem.removesuffix("_scores")
            lines.append(row(f"{folder.name}: {attr}", compare(codes, np.load(scores_file), 0.02, args.splits)))
            print(lines[-1], flush=True)
    body = "\n".join(
        [
            "`python benchmarks/boundary.py` — the three solvers on the same chosen samples, in one run (times: median"
            " over the splits, latentedit's also over 3 fits per split; validation accuracy: mean over the splits;"
            " synthetic rows: one split).",
            f"Machine: {machine()}.",
            "",
            *lines,
        ]
    )
    if not args.no_write:
        write_section("Boundary training (`benchmarks/boundary.py`)", body)


if __name__ == "__main__":
    main()
