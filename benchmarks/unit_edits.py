"""Edits in the attributes' own units: how close ``edit --attrs age=+10y`` and ``smile=0.9`` come to their targets.

    python benchmarks/unit_edits.py [-n 100] [--seed 123] [--no-write]

Runs the edit command itself (``edit_faces``) for each target on n faces of dcgan-digiface64, then renders the
written codes again and scores them with a fresh scorer (not the readings the search recorded) before and after the
edit. Reports, per target: how the search ended (status counts), the distances it chose, the reading change (age:
median, spread) or the reading reached (smile: the share within 0.05 of 0.9 among the faces where the target was
within reach), the identity kept (cosine of the identity embeddings before and after), and the time per face.
"""

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from latentedit.commands.edit import EditRequest, edit_faces
from latentedit.devtools import machine, write_section
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator
from latentedit.models.identity import DIFFERENT_GENERATED_MEDIAN, SAME_PERSON_THRESHOLD, similarity
from latentedit.models.scoring import load_scorers, score_codes
from latentedit.specs import GeneratorSpec, OutputSpec

UNREACHABLE = ("out of range", "lost face", "no face")  # the target was not within reach of the search


def run(attrs: str, args: argparse.Namespace, work: Path) -> tuple[dict, float]:
    """The edit through the command, then the written codes scored again before and after."""
    start = time.perf_counter()
    result = edit_faces(
        EditRequest(
            OutputSpec(work / attrs.replace("=", "_")),
            attrs,
            GeneratorSpec(args.model, device="cpu"),
            n=args.n,
            seed=args.seed,
            steps=2,
        )
    )
    seconds = time.perf_counter() - start
    ((name, target),) = result.record.targets.items()
    generator, _ = load_generator(args.model, device="cpu")
    scorers = load_scorers([target.scorer], FaceAnalysis("cpu"))
    source = np.load(result.out / "source_codes.npy")
    before, after = (score_codes(generator, codes, scorers, identity=True) for codes in (source, result.codes[:, -1]))
    faces = target.faces
    return {
        "name": name,
        "target": target,
        "status": np.array([f.status for f in faces]),
        "distance": np.array([f.distance for f in faces]),
        "recorded": np.array([np.nan if f.reading is None else f.reading for f in faces]),
        "before": before[target.scorer],
        "after": after[target.scorer],
        "identity": similarity(before.identity, after.identity).astype(np.float64),
    }, seconds


def describe(result: dict, seconds: float, n: int) -> list[str]:
    status, distance, identity = result["status"], result["distance"], result["identity"]
    moved = status != "no face"
    counts = ", ".join(f"{k} {v}" for k, v in Counter(status.tolist()).most_common())
    kept = identity[np.isfinite(identity)]
    agree = np.abs(result["after"] - result["recorded"])[np.isfinite(result["recorded"])]
    return [
        f"- search: {counts}; distance |d| median {np.median(np.abs(distance[moved])):.2f}, "
        f"range {distance[moved].min():+.2f} to {distance[moved].max():+.2f}; "
        f"{seconds:.0f} s for {n} faces ({seconds / n:.2f} s per face, scoring included).",
        f"- the readings measured again here on the written codes agree with the recorded ones to "
        f"{agree.max():.1e} at most.",
        f"- identity kept (cosine to the face before): median {np.median(kept):.3f}, lowest {kept.min():.3f}; "
        f"{(kept >= SAME_PERSON_THRESHOLD).mean():.0%} at or above {SAME_PERSON_THRESHOLD} (two different generated "
        f"faces: median {DIFFERENT_GENERATED_MEDIAN}).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lines = [
        f"`python benchmarks/unit_edits.py` — `edit --attrs age=+10y` and `--attrs smile=0.9` on {args.n} "
        f"faces of {args.model} (seed {args.seed}), default --max-distance 6; the written codes rendered and "
        "scored again.",
        f"Machine: {machine()}.",
        "",
    ]
    with tempfile.TemporaryDirectory() as work:
        age, seconds = run("age=+10y", args, Path(work))
        change = (age["after"] - age["before"])[np.isfinite(age["after"] - age["before"])]
        q10, q25, q75, q90 = np.percentile(change, [10, 25, 75, 90])
        lines += [
            f"**age=+10y**: reading change over the {len(change)} faces read before and after: median "
            f"**{np.median(change):+.1f} years** (mean {change.mean():+.1f}); quartiles {q25:+.1f} to {q75:+.1f}, "
            f"10th to 90th percentile {q10:+.1f} to {q90:+.1f}; within 1 year of +10 for "
            f"{(np.abs(change - 10) <= 1).mean():.0%}, within 2 years for {(np.abs(change - 10) <= 2).mean():.0%}.",
            "",
            *describe(age, seconds, args.n),
            "",
        ]
        smile, seconds = run("smile=0.9", args, Path(work))
        reachable = ~np.isin(smile["status"], UNREACHABLE) & np.isfinite(smile["after"])
        close = np.abs(smile["after"] - 0.9) <= 0.05
        lines += [
            f"**smile=0.9**: within 0.05 of 0.9 for **{close[reachable].mean():.1%}** of the {reachable.sum()} faces "
            f"where the target was within reach ({close.sum()} of all {args.n}); reading reached there: median "
            f"{np.median(smile['after'][reachable]):.3f}, lowest {smile['after'][reachable].min():.3f}.",
            "",
            *describe(smile, seconds, args.n),
        ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Edits in units (`benchmarks/unit_edits.py`)", body)


if __name__ == "__main__":
    main()
