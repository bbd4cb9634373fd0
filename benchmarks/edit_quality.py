"""How well edits along the shipped boundaries do what they are asked, measured by re-scoring the faces.

    python benchmarks/edit_quality.py [--model dcgan-digiface64] [-n 200] [--strength 3] [--pictures docs/images]

For each shipped attribute: +strength along its boundary on n random faces; the fraction of faces whose score
moved up, the score change per unit step and the side effects on the other attributes (mean absolute change,
and mean signed change: its systematic part). Then conditional edits on the same faces (age given gender, age given
smile and eyeglasses, gender given pose, eyeglasses given age: the conditioned attributes' changes are the figures
to compare with the unconditional rows), and the two-attribute edit smile=+2,eyeglasses=+3. Every row also says how
much of each face's identity the edit kept (cosine of the identity embeddings before and after). Then, on the first
--curve-faces faces, the curve the literature draws: per attribute, the mean target-score change against the mean
identity kept at growing strengths, plain and conditioned on all the other attributes. Writes a Markdown section into
docs/benchmarks.md and, with --pictures, the curves (edit_identity_curves.png), one edit grid per attribute and the
conditional age edit.
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from latentedit.commands.edit import EditRequest, edit_faces, plan_effect, resolve_boundaries
from latentedit.core.editing import apply_edit, plan_edit
from latentedit.devtools import machine, write_section
from latentedit.files.boundaries import shipped_boundaries
from latentedit.files.outputs import save_png
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator
from latentedit.models.identity import SAME_PERSON_THRESHOLD, similarity
from latentedit.models.scoring import ATTRIBUTES, SCORERS, load_scorers, score_codes
from latentedit.pictures import column_means, curve_panels
from latentedit.specs import GeneratorSpec, OutputSpec

CURVE_STRENGTHS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)


def measure(generator, codes, scorers, before, names, strengths, conditions=(), model="") -> dict:
    boundaries = resolve_boundaries(names, model, {})
    plan = plan_edit(
        boundaries, strengths, conditions=resolve_boundaries(list(conditions), model, {}), steps=np.array([0.0, 1.0])
    )
    return plan_effect(generator, codes, plan, scorers, before=before, identity=True)


def curve(generator, codes, scorer, before, identity, attr, conditions, model) -> tuple[np.ndarray, np.ndarray]:
    """Mean identity kept and mean change of ``attr``'s score at each of :data:`CURVE_STRENGTHS` (faces found both
    before and after count), from the scores ``before`` and identity embeddings ``identity`` of ``codes``."""
    plan = plan_edit(
        resolve_boundaries([attr], model, {}),
        [1.0],
        conditions=resolve_boundaries(conditions, model, {}),
        steps=np.array(CURVE_STRENGTHS),
    )
    edited = apply_edit(codes, plan)
    after = score_codes(generator, edited.reshape(-1, edited.shape[-1]), {attr: scorer}, identity=True)
    change = after[attr].reshape(edited.shape[:2]) - before[:, None]
    kept = similarity(identity[:, None], after.identity.reshape(*edited.shape[:2], -1)).astype(np.float64)
    both = np.isfinite(change) & np.isfinite(kept)
    return column_means(np.where(both, kept, np.nan)), column_means(np.where(both, change, np.nan))


def curves(generator, codes, scorers, before, attrs, args) -> list[str]:
    """The score change against identity kept per attribute, plain and conditioned on the other attributes: a table
    (and with ``args.pictures`` the picture)."""
    n = len(codes)
    panels, units = {}, {}
    lines = [
        "",
        f"Score change against identity kept ({n} faces, strengths {', '.join(map(str, CURVE_STRENGTHS))}; "
        "each cell: mean score change / mean identity kept; conditional: the other attributes' normals projected "
        "out):",
        "",
        "| edit | " + " | ".join(f"{s:+g}" for s in CURVE_STRENGTHS) + " |",
        "| --- |" + " ---: |" * len(CURVE_STRENGTHS),
    ]
    for attr in attrs:
        others = [a for a in attrs if a != attr]
        panels[attr] = {}
        for label, conditions in (("plain", []), ("conditional", others)):
            kept, change = curve(
                generator, codes, scorers[attr], before[attr][:n], before.identity[:n], attr, conditions, args.model
            )
            panels[attr][f"{label} edit"] = (kept, change)
            cells = " | ".join(f"{c:+.3g} / {k:.3f}" for c, k in zip(change, kept))
            lines.append(f"| {attr}{' given ' + ', '.join(others) if conditions else ''} | {cells} |")
            print(lines[-1], flush=True)
        units[attr] = "mean change, " + SCORERS[attr].unit.split(" (")[0].split(",")[0]
    if args.pictures:
        title = (
            f"{args.model}, {n} faces: mean target-score change against mean identity kept, at strengths "
            f"{', '.join(f'{s:g}' for s in CURVE_STRENGTHS)} (labels on the plain curve)"
        )
        save_png(
            curve_panels(
                panels,
                x_label="identity kept (cosine to the face before)",
                y_labels=units,
                title=title,
                point_labels=[f"{s:g}" for s in CURVE_STRENGTHS],
            ),
            args.pictures / "edit_identity_curves.png",
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan-digiface64")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--strength", type=float, default=3.0)
    parser.add_argument(
        "--curve-faces", type=int, default=48, help="faces for the curves of score change against identity"
    )
    parser.add_argument("--pictures", type=Path, help="folder for one edit grid per attribute")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    generator, _ = load_generator(args.model, device=args.device)
    codes = generator.sample(args.n, args.seed)
    attrs = [a for a in ATTRIBUTES if a in shipped_boundaries(args.model) and a in SCORERS]
    scorers = load_scorers(attrs, FaceAnalysis(generator.device))
    before = score_codes(generator, codes, scorers, identity=True)
    lines = [
        f"`python benchmarks/edit_quality.py` — {args.n} faces of {args.model} (seed {args.seed}), "
        f"each edited by {args.strength:+g} along shipped boundaries and re-scored.",
        f"Machine: {machine()}.",
        "",
        f"Identity kept: the cosine of each face's identity embedding after the edit to the one before; median "
        f"over the faces, and the share at or above {SAME_PERSON_THRESHOLD} (the same person on real photos).",
        "",
        "| edit | target | faces scored | moved as asked | score change (per unit step) | identity kept "
        "(≥ threshold) | side effects: mean absolute change (mean change) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]

    def row(label: str, result: dict) -> None:
        signed = result["side_effects_signed"]
        sides = ", ".join(f"{k} {v:.3f} ({signed[k]:+.3f})" for k, v in result["side_effects"].items())
        kept = result["identity"]
        for name, t in result["targets"].items():
            lines.append(
                f"| {label} | {name} | {t['faces_scored']} | {t['moved_as_asked']:.1%} | "
                f"{t['mean_change']:+.3f} ({t['change_per_unit_step']:+.3f}) | {kept['median']:.3f} "
                f"({kept['same_person_share']:.0%}) | {sides} |"
            )
            print(lines[-1], flush=True)

    s = f"{args.strength:+g}"
    results = {}
    for attr in attrs:
        results[attr] = measure(generator, codes, scorers, before, [attr], [args.strength], model=args.model)
        row(f"{attr}={s}", results[attr])
    # Conditional editing against the same edit without conditions, on the same faces.
    conditionals = [
        ("age", ["gender"]),
        ("age", ["smile", "eyeglasses"]),
        ("gender", ["pose"]),
        ("eyeglasses", ["age"]),
    ]
    notes = []
    for attr, conditions in conditionals:
        if attr not in attrs or not set(conditions) <= set(attrs):
            continue
        conditional = measure(generator, codes, scorers, before, [attr], [args.strength], conditions, args.model)
        row(f"{attr}={s} given {', '.join(conditions)}", conditional)
        for name in conditions:
            notes.append(
                f"- {attr}={s} given {', '.join(conditions)}: {name} changes by "
                f"{conditional['side_effects_signed'][name]:+.3f} on average (mean absolute "
                f"{conditional['side_effects'][name]:.3f}) against "
                f"{results[attr]['side_effects_signed'][name]:+.3f} "
                f"({results[attr]['side_effects'][name]:.3f}) without the condition."
            )
    if {"smile", "eyeglasses"} <= set(attrs):
        row(
            "smile=+2,eyeglasses=+3",
            measure(generator, codes, scorers, before, ["smile", "eyeglasses"], [2.0, 3.0], model=args.model),
        )
    lines += [
        "",
        "Conditional editing (the conditioned attributes' changes, with and without the condition):",
        "",
        *notes,
    ]
    lines += curves(generator, codes[: args.curve_faces], scorers, before, attrs, args)
    body = "\n".join(lines)
    print(body)
    if args.pictures:
        pictures = {f"edit_{attr}": (attr, []) for attr in attrs}
        if {"age", "smile", "eyeglasses"} <= set(attrs):
            pictures["edit_age_given_smile_eyeglasses"] = ("age", ["smile", "eyeglasses"])
        with tempfile.TemporaryDirectory() as work:
            for name, (attr, conditions) in pictures.items():
                result = edit_faces(
                    EditRequest(
                        OutputSpec(Path(work) / name),
                        attr,
                        GeneratorSpec(args.model, device=args.device),
                        n=4,
                        seed=7,
                        steps=7,
                        conditions=conditions,
                    )
                )
                shutil.copyfile(result.out / "grid.png", args.pictures / f"{name}.png")
    if not args.no_write:
        write_section("Edit quality (`benchmarks/edit_quality.py`)", body)


if __name__ == "__main__":
    main()
