"""Accuracy of the attribute scorers against labels given by eye: the measures of the README's accuracy table.

Pure functions from scores (float, NaN where no face was found) and label rows (``{column: label}`` dicts, as
``latentedit.devtools.load_checkset`` reads them from ``tests/data/checkset_labels.csv``) to table rows;
``scripts/evaluate_scorers.py`` prints them and ``tests/test_answers.py`` holds them to their targets.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

AUC_TARGET, SIGN_TARGET = 0.90, 0.90
# attribute -> (label column, positive label, negative label) for the AUC rows
BINARY = {
    "smile": ("smile", "yes", "no"),
    "eyeglasses": ("eyeglasses", "yes", "no"),
    "gender": ("gender", "male", "female"),
}
YAW = {"left": -1, "frontal": 0, "right": 1}
AGE = {"child": 0, "young": 1, "middle": 2, "old": 3}
LABEL_COLUMNS = {**{attr: column for attr, (column, _, _) in BINARY.items()}, "pose": "yaw", "age": "age"}

Labels = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Row:
    """One line of the accuracy table: a measure of one attribute, its value, the target it should meet (if any)
    and a note on the faces it was measured on."""

    attribute: str
    measure: str
    value: float
    note: str
    target: float | None = None
    percent: bool = False

    @property
    def met(self) -> bool | None:
        return None if self.target is None else bool(self.value >= self.target)

    def cells(self) -> list[str]:
        shown = (lambda v: f"{v:.1%}") if self.percent else (lambda v: f"{v:.3f}")
        target = "–" if self.target is None else f"≥ {self.target:.0%}" if self.percent else f"≥ {self.target:.2f}"
        met = {None: "–", True: "yes", False: "**no**"}[self.met]
        return [self.attribute, self.measure, shown(self.value), target, met, self.note]


def _column(labels: Labels, name: str, codes: Mapping[str, int]) -> np.ndarray:
    """The labels of column ``name`` as numbers (``codes``), NaN for labels without a code (unclear)."""
    return np.array([codes.get(row[name], np.nan) for row in labels], np.float64)


def _binary_row(attr: str, scores: np.ndarray, labels: Labels) -> Row:
    """ROC AUC of ``scores`` for the positive against the negative label; unclear faces and faces without a score
    are left out."""
    column, positive, negative = BINARY[attr]
    truth = _column(labels, column, {positive: 1, negative: 0})
    used = ~np.isnan(truth) & ~np.isnan(scores)
    lost = int((~np.isnan(truth) & np.isnan(scores)).sum())
    auc = float(roc_auc_score(truth[used] == 1, scores[used]))
    unclear = sum(row[column] == "unclear" for row in labels)
    note = f"{unclear} unclear" + (f", {lost} without face" if lost else "") + " left out"
    counts = f"{int((truth[used] == 1).sum())} {positive} / {int((truth[used] == 0).sum())} {negative}"
    return Row(attr, f"ROC AUC ({positive} vs {negative})", auc, f"{counts} ({note})", AUC_TARGET)


def _pose_rows(scores: np.ndarray, labels: Labels) -> list[Row]:
    """Spearman correlation of the yaw score with the yaw label (left -1, frontal 0, right +1), and how often its
    sign is right on the faces labelled left or right."""
    yaw = _column(labels, "yaw", YAW)
    used = ~np.isnan(yaw) & ~np.isnan(scores)
    rho = float(spearmanr(yaw[used], scores[used]).statistic)
    turned = used & (yaw != 0)
    accuracy = float((np.sign(scores[turned]) == yaw[turned]).mean())
    lost = int((~np.isnan(yaw) & (yaw != 0) & np.isnan(scores)).sum())
    sides = f"{int((yaw[turned] < 0).sum())} left / {int((yaw[turned] > 0).sum())} right"
    return [
        Row("pose", "Spearman ρ, yaw score vs label (left −1, frontal 0, right +1)", rho, f"{int(used.sum())} faces"),
        Row(
            "pose",
            "yaw sign right on turned faces",
            accuracy,
            sides + (f" ({lost} without face left out)" if lost else ""),
            SIGN_TARGET,
            percent=True,
        ),
    ]


def _age_row(scores: np.ndarray, labels: Labels) -> Row:
    """Spearman correlation of the predicted age with the age bucket, and the median prediction per bucket."""
    bucket = _column(labels, "age", AGE)
    used = ~np.isnan(bucket) & ~np.isnan(scores)
    rho = float(spearmanr(bucket[used], scores[used]).statistic)
    medians = ", ".join(
        f"{name} {np.median(scores[used & (bucket == code)]):.0f} y (n={int((used & (bucket == code)).sum())})"
        for name, code in AGE.items()
        if (used & (bucket == code)).any()
    )
    return Row(
        "age",
        "Spearman ρ, predicted age vs bucket (child < young < middle < old)",
        rho,
        f"median prediction: {medians}",
    )


def accuracy_rows(scores: Mapping[str, np.ndarray], labels: Labels) -> list[Row]:
    """Every measure for every attribute in ``scores`` (float (N,) arrays, NaN without a face), row i of each
    array scored on the face labelled in ``labels[i]``, and the face detection rate."""
    rows: list[Row] = []
    for attr, values in scores.items():
        values = np.asarray(values, np.float64)
        if len(values) != len(labels):
            raise ValueError(f"scores[{attr!r}] has {len(values)} rows but labels has {len(labels)}")
        if attr in BINARY:
            rows.append(_binary_row(attr, values, labels))
        elif attr == "pose":
            rows.extend(_pose_rows(values, labels))
        elif attr == "age":
            rows.append(_age_row(values, labels))
        else:
            known = ", ".join(LABEL_COLUMNS)
            raise ValueError(f"scores names {attr!r}, which has no labels; its keys must be among {known}")
    if scores:
        found = ~np.isnan(np.asarray(next(iter(scores.values())), np.float64))
        rows.append(
            Row(
                "(detection)",
                "faces found by MTCNN",
                float(found.mean()),
                f"{int(found.sum())}/{len(found)}",
                percent=True,
            )
        )
    return rows


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as the README's Markdown table."""
    head = ["attribute", "measure", "value", "target", "met", "faces"]
    lines = ["| " + " | ".join(cells) + " |" for cells in [head, ["---"] * len(head), *(row.cells() for row in rows)]]
    return "\n".join(lines) + "\n"
