"""Measure the attribute scorers on the labelled check set (tests/data/checkset_*, see CHECKSET.md).

    python scripts/evaluate_scorers.py --out /tmp/le-eval [--table README-table.md] [--device auto] [--overwrite]

Renders the 320 check-set codes, scores every attribute that has a scorer, and prints a Markdown table: ROC AUC for
smile, eyeglasses and gender (faces labelled unclear and faces without a detected face left out), Spearman rank
correlation of the pose score with the yaw label (left -1, frontal 0, right +1), the yaw sign accuracy on the faces
labelled left or right, Spearman correlation of the predicted age with the age bucket, and the face detection rate. OUT gets table.md, scores.csv (labels and scores per face) and
{attr}_extremes.png: the 16 highest- and 16 lowest-scored faces of each attribute, to look at.
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from latentedit.models.generators import load_generator, render
from latentedit.files.outputs import save_png, staged_output
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.scoring import ATTRIBUTES, SCORERS, Scores, load_scorers, score_codes
from latentedit.pictures import annotated_grid, preview_tiles

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
MODEL = "dcgan-digiface64"
AUC_TARGET, SIGN_TARGET = 0.90, 0.90
# attribute -> (label column, positive label, negative label) for the AUC rows
BINARY = {"smile": ("smile", "yes", "no"), "eyeglasses": ("eyeglasses", "yes", "no"), "gender": ("gender", "male", "female")}
YAW = {"left": -1, "frontal": 0, "right": 1}
AGE = {"child": 0, "young": 1, "middle": 2, "old": 3}
EXTREMES = 16


def load_checkset() -> tuple[np.ndarray, list[dict[str, str]]]:
    codes = np.load(DATA / "checkset_codes.npy")
    with open(DATA / "checkset_labels.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert len(labels) == len(codes), "checkset codes and labels differ in length"
    return codes, labels


def binary_row(attr: str, scores: np.ndarray, labels: list[dict[str, str]]) -> list[str]:
    column, positive, negative = BINARY[attr]
    truth = np.array([r[column] for r in labels])
    used = np.isin(truth, [positive, negative]) & ~np.isnan(scores)
    lost = int((np.isin(truth, [positive, negative]) & np.isnan(scores)).sum())
    auc = roc_auc_score(truth[used] == positive, scores[used])
    counts = f"{(truth[used] == positive).sum()} {positive} / {(truth[used] == negative).sum()} {negative}"
    note = f"{(truth == 'unclear').sum()} unclear" + (f", {lost} without face" if lost else "") + " left out"
    return [attr, f"ROC AUC ({positive} vs {negative})", f"{auc:.3f}", f"≥ {AUC_TARGET:.2f}", _met(auc >= AUC_TARGET), f"{counts} ({note})"]


def pose_rows(scores: np.ndarray, labels: list[dict[str, str]]) -> list[list[str]]:
    yaw = np.array([YAW.get(r["yaw"], np.nan) for r in labels])
    used = ~np.isnan(yaw) & ~np.isnan(scores)
    rho = spearmanr(yaw[used], scores[used]).statistic
    turned = used & (yaw != 0)
    accuracy = float((np.sign(scores[turned]) == yaw[turned]).mean())
    left, right = int((yaw[turned] < 0).sum()), int((yaw[turned] > 0).sum())
    lost = int(((yaw != 0) & ~np.isnan(yaw) & np.isnan(scores)).sum())
    return [
        ["pose", "Spearman ρ, yaw score vs label (left −1, frontal 0, right +1)", f"{rho:.3f}", "–", "–", f"{used.sum()} faces"],
        ["pose", "yaw sign right on turned faces", f"{accuracy:.1%}", f"≥ {SIGN_TARGET:.0%}", _met(accuracy >= SIGN_TARGET), f"{left} left / {right} right" + (f" ({lost} without face left out)" if lost else "")],
    ]


def age_row(scores: np.ndarray, labels: list[dict[str, str]]) -> list[str]:
    """Rank correlation of the predicted age with the age bucket, and the median prediction per bucket."""
    bucket = np.array([AGE.get(r["age"], np.nan) for r in labels])
    used = ~np.isnan(bucket) & ~np.isnan(scores)
    rho = spearmanr(bucket[used], scores[used]).statistic
    medians = ", ".join(
        f"{name} {np.median(scores[used & (bucket == code)]):.0f} y (n={int((used & (bucket == code)).sum())})"
        for name, code in AGE.items()
        if (used & (bucket == code)).any()
    )
    return ["age", "Spearman ρ, predicted age vs bucket (child < young < middle < old)", f"{rho:.3f}", "–", "–", f"median prediction: {medians}"]


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def accuracy_table(scores: Scores, labels: list[dict[str, str]]) -> str:
    rows = []
    for attr in ATTRIBUTES:
        if attr not in scores.names:
            rows.append([attr, "–", "no scorer in this version", "", "", ""])
        elif attr in BINARY:
            rows.append(binary_row(attr, scores[attr], labels))
        elif attr == "pose":
            rows.extend(pose_rows(scores[attr], labels))
        else:
            rows.append(age_row(scores[attr], labels))
    n = len(scores)
    rows.append(["(detection)", "faces found by MTCNN", f"{n - scores.missing}/{n} = {(n - scores.missing) / n:.1%}", "", "", ""])
    head = ["attribute", "measure", "value", "target", "met", "faces"]
    lines = ["| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *rows]]
    return "\n".join(lines) + "\n"


def extremes_sheet(attr: str, values: np.ndarray, faces: np.ndarray, labels: list[dict[str, str]]) -> np.ndarray:
    """The EXTREMES highest- and lowest-scored faces (index, score and label under each) in four rows of eight."""
    order = [i for i in np.argsort(-values, kind="stable") if not np.isnan(values[i])]
    picked = order[:EXTREMES] + order[::-1][:EXTREMES]
    column = BINARY[attr][0] if attr in BINARY else {"pose": "yaw"}.get(attr, attr)
    captions = [f"{i}: {values[i]:.3g} ({labels[i][column][:1]})" for i in picked]
    tiles = preview_tiles(faces[picked], 96).reshape(4, EXTREMES // 2, 96, 96, 3)
    half = EXTREMES // 2
    return annotated_grid(
        tiles,
        title=f"{attr}: {EXTREMES} highest (top) and lowest (bottom) scores on the check set",
        row_labels=["high", "", "low", ""],
        captions=[captions[r * half : (r + 1) * half] for r in range(4)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for table.md, scores.csv and the sheets")
    parser.add_argument("--table", type=Path, help="also write the Markdown table here")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    codes, labels = load_checkset()
    generator, _ = load_generator(MODEL, device=args.device)
    attrs = [a for a in ATTRIBUTES if a in SCORERS]
    scores = score_codes(generator, codes, load_scorers(attrs, FaceAnalysis(generator.device)))
    faces = np.concatenate(list(render(generator, codes, progress=False)))
    table = accuracy_table(scores, labels)
    with staged_output(args.out, args.overwrite) as staging:
        (staging / "table.md").write_text(table)
        with open(staging / "scores.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([*labels[0], "face_found", *attrs])
            for i, row in enumerate(labels):
                writer.writerow([*row.values(), int(scores.found[i]), *(f"{scores[a][i]:.6g}" for a in attrs)])
        for attr in attrs:
            save_png(extremes_sheet(attr, scores[attr], faces, labels), staging / f"{attr}_extremes.png")
    if args.table:
        args.table.write_text(table)
    print(table, end="")
    print(f"sheets: {', '.join(str(args.out / f'{a}_extremes.png') for a in attrs)}")


if __name__ == "__main__":
    main()
