"""Measure the attribute scorers on the labelled check set (tests/data/checkset_*, see CHECKSET.md).

    python scripts/evaluate_scorers.py --out /tmp/le-eval [--table README-table.md] [--device auto] [--overwrite]

Renders the 320 check-set codes, scores every attribute that has a scorer, and prints a Markdown table: ROC AUC for
smile, eyeglasses and gender (faces labelled unclear and faces without a detected face left out), Spearman rank
correlation of the pose score with the yaw label (left -1, frontal 0, right +1), the yaw sign accuracy on the faces
labelled left or right, Spearman correlation of the predicted age with the age bucket, and the face detection rate
(latentedit.core.evaluation, which the tests hold to the same targets). OUT gets table.md, scores.csv (labels and
scores per face) and {attr}_extremes.png: the 16 highest- and 16 lowest-scored faces of each attribute, to look at.
"""

import argparse
import csv
from pathlib import Path

import numpy as np

from latentedit.core.evaluation import LABEL_COLUMNS, accuracy_rows, markdown_table
from latentedit.devtools import load_checkset
from latentedit.files.outputs import save_png, staged_output
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator, render
from latentedit.models.scoring import ATTRIBUTES, SCORERS, load_scorers, score_codes
from latentedit.pictures import annotated_grid, preview_tiles

MODEL = "dcgan-digiface64"
EXTREMES = 16


def extremes_sheet(attr: str, values: np.ndarray, faces: np.ndarray, labels: list[dict[str, str]]) -> np.ndarray:
    """The EXTREMES highest- and lowest-scored faces (index, score and label under each) in four rows of eight."""
    order = [i for i in np.argsort(-values, kind="stable") if not np.isnan(values[i])]
    picked = order[:EXTREMES] + order[::-1][:EXTREMES]
    column = LABEL_COLUMNS[attr]
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
    table = markdown_table(accuracy_rows({attr: scores[attr] for attr in attrs}, labels))
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
