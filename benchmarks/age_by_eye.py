"""Age edits judged by eye, against the age scorer's verdict on the same pairs.

    python benchmarks/age_by_eye.py --sheets /tmp/sheets    # write the labelling sheets (pairs in random order)
    python benchmarks/age_by_eye.py [--picture docs/images/age_scorer_noise.png]
                                                            # read the labels, report, write docs/benchmarks.md

The age scorer is the noisiest of the five, so "moved as asked" for age (benchmarks/edit_quality.py) measures the
scorer as much as the edit. Here the first n faces of edit_quality.py (same model and seed) are shown beside their
+strength age edit, left and right in a seeded random order, and a person marks which face of each pair looks older
(A, B, or = when they cannot tell) without being told which one is the edit. The labels live in
benchmarks/data/age_edit_by_eye.csv (index, older; its first line names the sha256 of the age boundary whose
edits were labelled, and the script refuses other boundaries); the report gives the fraction of pairs where the
edit was picked as older, and how often the scorer agrees with the eye.
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from latentedit.commands.edit import resolve_boundaries
from latentedit.core.editing import apply_edit, plan_edit
from latentedit.devtools import machine, write_section
from latentedit.files.boundaries import shipped_boundaries
from latentedit.files.outputs import save_png
from latentedit.files.weights import sha256_file
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator, render
from latentedit.models.scoring import load_scorers, score_codes
from latentedit.pictures import annotated_grid, preview_tiles

LABELS = Path(__file__).resolve().parent / "data" / "age_edit_by_eye.csv"
ORDER_SEED = 2  # which face of each pair is A; changed whenever the pairs are labelled afresh
PER_SHEET, PER_ROW = 20, 4


def pairs(model: str, n: int, seed: int, strength: float, device: str):
    """The generator, the original and edited codes, and where each original is shown (0 = A, 1 = B)."""
    generator, _ = load_generator(model, device=device)
    codes = generator.sample(n, seed)
    plan = plan_edit(resolve_boundaries(["age"], model, {}), [strength], steps=np.array([1.0]))
    edited = apply_edit(codes, plan)[:, 0]
    return generator, codes, edited, np.random.default_rng(ORDER_SEED).integers(0, 2, n)


def write_sheets(original: np.ndarray, edited: np.ndarray, original_side: np.ndarray, folder: Path) -> None:
    """Sheets of PER_SHEET pairs, each pair as two tiles captioned "i A" and "i B"."""
    folder.mkdir(parents=True, exist_ok=True)
    original, edited = preview_tiles(original), preview_tiles(edited)
    for start in range(0, len(original), PER_SHEET):
        index = range(start, min(start + PER_SHEET, len(original)))
        tiles, captions = [], []
        for i in index:
            a, b = (original[i], edited[i]) if original_side[i] == 0 else (edited[i], original[i])
            tiles += [a, b]
            captions += [f"{i} A", f"{i} B"]
        cols = 2 * PER_ROW
        rows = -(-len(tiles) // cols)
        blank = np.full_like(tiles[0], 255)
        tiles += [blank] * (rows * cols - len(tiles))
        captions += [""] * (rows * cols - len(captions))
        grid = np.stack(tiles).reshape(rows, cols, *tiles[0].shape)
        label = [captions[r * cols : (r + 1) * cols] for r in range(rows)]
        save_png(
            annotated_grid(grid, "which face of each pair looks older?", captions=label),
            folder / f"sheet_{start // PER_SHEET:02d}.png",
        )


def score_drops(
    generator,
    codes: np.ndarray,
    edited: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    strength: float,
    count: int = 12,
) -> np.ndarray:
    """A picture of the ``count`` faces whose age score rose least (or fell) under the edit: before and after, with
    the scores."""
    worst = np.argsort(np.nan_to_num(after - before, nan=np.inf))[:count]
    images = [preview_tiles(np.concatenate(list(render(generator, c[worst], progress=False)))) for c in (codes, edited)]
    tiles = np.stack(images, 1).reshape(-1, PER_ROW * 2, *images[0].shape[1:])
    years = np.stack([before[worst], after[worst]], 1).reshape(len(tiles), -1)
    return annotated_grid(
        tiles,
        f"age {strength:+g}: the {count} faces whose age score rose least (before, after)",
        captions=[[f"{y:.0f}y" for y in row] for row in years],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=123, help="the seed of benchmarks/edit_quality.py")
    parser.add_argument("--strength", type=float, default=3.0)
    parser.add_argument("--sheets", type=Path, help="write labelling sheets to this folder instead of reporting")
    parser.add_argument("--picture", type=Path, help="also draw the 12 faces whose age score rose least here")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    generator, codes, edited, original_side = pairs(args.model, args.n, args.seed, args.strength, args.device)
    if args.sheets:
        images = [np.concatenate(list(render(generator, c, progress=False))) for c in (codes, edited)]
        write_sheets(*images, original_side, args.sheets)
        return
    boundary = sha256_file(shipped_boundaries(args.model)["age"])
    with LABELS.open() as f:
        labelled = f.readline().split()[-1]  # "# age boundary sha256 <hex>": the edits that were labelled
        older = {int(row["index"]): row["older"] for row in csv.DictReader(f)}
    if labelled != boundary:
        sys.exit(
            f"{LABELS} labels edits along another age boundary ({labelled[:12]}, shipped {boundary[:12]}): "
            "write new sheets, change ORDER_SEED and label them again"
        )
    if sorted(older) != list(range(args.n)) or not set(older.values()) <= {"A", "B", "="}:
        sys.exit(f"{LABELS} must label pairs 0..{args.n - 1} with A, B or =")
    eye = np.array([np.nan if older[i] == "=" else float(older[i] == "BA"[original_side[i]]) for i in range(args.n)])
    scorers = load_scorers(["age"], FaceAnalysis(generator.device))
    before, after = (score_codes(generator, c, scorers)["age"] for c in (codes, edited))
    machine_up = after > before
    clear = ~np.isnan(eye)
    found = ~np.isnan(before) & ~np.isnan(after)
    both = clear & found
    agree = np.mean(machine_up[both] == (eye[both] == 1))
    body = "\n".join(
        [
            f"`python benchmarks/age_by_eye.py` — the first {args.n} faces of `benchmarks/edit_quality.py` "
            f"({args.model}, "
            f"seed {args.seed}) beside their age={args.strength:+g} edit, in random order; labels by eye in "
            f"`benchmarks/data/age_edit_by_eye.csv` (made without knowing which face was the edit).",
            f"Machine: {machine()}.",
            "",
            "| judge | pairs judged | edit looks older |",
            "| --- | ---: | ---: |",
            f"| eye | {clear.sum()} of {args.n} ({args.n - clear.sum()} could not tell) | {np.nanmean(eye):.1%} "
            f"({int(np.nansum(eye))} older, {int(clear.sum() - np.nansum(eye))} younger) |",
            f"| age scorer, same pairs | {both.sum()} (judged by eye, face found in both) "
            f"| {machine_up[both].mean():.1%} |",
            f"| age scorer, all pairs | {found.sum()} (face found in both) | {machine_up[found].mean():.1%} |",
            "",
            f"The scorer agrees with the eye on {agree:.1%} of the pairs both judged.",
        ]
    )
    print(body)
    if args.picture:
        save_png(score_drops(generator, codes, edited, before, after, args.strength), args.picture)
    if not args.no_write:
        write_section("Age edits by eye (`benchmarks/age_by_eye.py`)", body)


if __name__ == "__main__":
    main()
