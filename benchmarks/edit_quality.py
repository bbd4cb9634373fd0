"""How well edits along the shipped boundaries do what they are asked, measured by re-scoring the faces.

    python benchmarks/edit_quality.py [--model dcgan-digiface64] [-n 200] [--strength 3] [--pictures docs/images]

For each shipped attribute: +strength along its boundary on n random faces; the fraction of faces whose score
moved up, the score change per unit step and the side effects on the other attributes (mean absolute change,
and mean signed change: its systematic part). Then conditional edits on the same faces (age given gender, age given
smile and eyeglasses, gender given pose, eyeglasses given age: the conditioned attributes' changes are the figures
to compare with the unconditional rows), and the two-attribute edit smile=+2,eyeglasses=+3. Writes a Markdown
section into docs/benchmarks.md and, with --pictures, one edit grid per attribute and the conditional age edit.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from latentedit.devtools import machine, write_section

from latentedit.commands.edit import EditRequest, edit_faces, plan_effect, resolve_boundaries
from latentedit.core.editing import plan_edit
from latentedit.files.boundaries import shipped_boundaries
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator
from latentedit.models.scoring import ATTRIBUTES, SCORERS, load_scorers, score_codes
from latentedit.specs import GeneratorSpec, OutputSpec


def measure(generator, codes, scorers, before, names, strengths, conditions=(), model="") -> dict:
    boundaries = resolve_boundaries(names, model, {})
    plan = plan_edit(boundaries, strengths, conditions=resolve_boundaries(list(conditions), model, {}),
                     steps=np.array([0.0, 1.0]))
    return plan_effect(generator, codes, plan, scorers, before=before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--strength", type=float, default=3.0)
    parser.add_argument("--pictures", type=Path, help="folder for one edit grid per attribute")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    generator, _ = load_generator(args.model, device=args.device)
    codes = generator.sample(args.n, args.seed)
    attrs = [a for a in ATTRIBUTES if a in shipped_boundaries(args.model) and a in SCORERS]
    scorers = load_scorers(attrs, FaceAnalysis(generator.device))
    before = score_codes(generator, codes, scorers)
    lines = [f"`python benchmarks/edit_quality.py` — {args.n} faces of {args.model} (seed {args.seed}), "
             f"each edited by {args.strength:+g} along shipped boundaries and re-scored.", f"Machine: {machine()}.", "",
             "| edit | target | faces scored | moved as asked | score change (per unit step) | "
             "side effects: mean absolute change (mean change) |",
             "| --- | --- | ---: | ---: | ---: | --- |"]

    def row(label: str, result: dict) -> None:
        sides = ", ".join(f"{k} {v:.3f} ({result['side_effects_signed'][k]:+.3f})" for k, v in result["side_effects"].items())
        for name, t in result["targets"].items():
            lines.append(f"| {label} | {name} | {t['faces_scored']} | {t['moved_as_asked']:.1%} | "
                         f"{t['mean_change']:+.3f} ({t['change_per_unit_step']:+.3f}) | {sides} |")
            print(lines[-1], flush=True)

    s = f"{args.strength:+g}"
    results = {}
    for attr in attrs:
        results[attr] = measure(generator, codes, scorers, before, [attr], [args.strength], model=args.model)
        row(f"{attr}={s}", results[attr])
    # Conditional editing against the same edit without conditions, on the same faces.
    conditionals = [("age", ["gender"]), ("age", ["smile", "eyeglasses"]), ("gender", ["pose"]), ("eyeglasses", ["age"])]
    notes = []
    for attr, conditions in conditionals:
        if attr not in attrs or not set(conditions) <= set(attrs):
            continue
        conditional = measure(generator, codes, scorers, before, [attr], [args.strength], conditions, args.model)
        row(f"{attr}={s} given {', '.join(conditions)}", conditional)
        for name in conditions:
            notes.append(f"- {attr}={s} given {', '.join(conditions)}: {name} changes by "
                         f"{conditional['side_effects_signed'][name]:+.3f} on average (mean absolute "
                         f"{conditional['side_effects'][name]:.3f}) against {results[attr]['side_effects_signed'][name]:+.3f} "
                         f"({results[attr]['side_effects'][name]:.3f}) without the condition.")
    if {"smile", "eyeglasses"} <= set(attrs):
        row("smile=+2,eyeglasses=+3", measure(generator, codes, scorers, before, ["smile", "eyeglasses"], [2.0, 3.0],
                                              model=args.model))
    lines += ["", "Conditional editing (the conditioned attributes' changes, with and without the condition):", "", *notes]
    body = "\n".join(lines)
    print(body)
    if args.pictures:
        pictures = {f"edit_{attr}": (attr, []) for attr in attrs}
        if {"age", "smile", "eyeglasses"} <= set(attrs):
            pictures["edit_age_given_smile_eyeglasses"] = ("age", ["smile", "eyeglasses"])
        with tempfile.TemporaryDirectory() as work:
            for name, (attr, conditions) in pictures.items():
                result = edit_faces(EditRequest(OutputSpec(Path(work) / name), attr, GeneratorSpec(args.model, device=args.device),
                                                n=4, seed=7, steps=7, conditions=conditions))
                shutil.copyfile(result.out / "grid.png", args.pictures / f"{name}.png")
    if not args.no_write:
        write_section("Edit quality (`benchmarks/edit_quality.py`)", body)


if __name__ == "__main__":
    main()
