"""Run a fixed set of latentedit commands and fingerprint every file they write, to show that a change of code
leaves the outputs byte-identical (timestamps and timings aside).

    python scripts/same_outputs.py run OUT            # runs the commands into OUT/, writes OUT/digests.json
    python scripts/same_outputs.py compare A B        # compares two OUT folders' digests.json; exit 1 on a difference

Run it once before a change (on a checkout of the old code) and once after, then compare. JSON files are compared
with the keys that hold the time of the run (``date``, ``fit_seconds``) and the records' ``format`` and
``format_version`` (added when the records became versioned) removed; every other file byte for byte.
The commands cover sample, score, train-boundary (with a condition), rank, edit (with conditions, with --report,
and of a photo), edit --replay, invert, mix, arith and detect, on the embedded generator and scikit-image's
astronaut portrait (install the test extra for scikit-image).
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

VOLATILE = {"date", "fit_seconds", "format", "format_version"}


def commands(photo: str) -> list[list[str]]:
    """The fixed commands, each run from inside OUT."""
    photo_opts = ["--iterations", "20", "--starts", "1"]
    return [
        ["sample", "-n", "24", "--seed", "3", "-o", "sample"],
        ["sample", "-n", "300", "--seed", "0", "--no-images", "-o", "codes"],
        ["score", "sample", "-o", "scores_images"],
        ["score", "--codes", "codes/z.npy", "-o", "scores"],
        [
            "train-boundary",
            "--codes",
            "codes/z.npy",
            "--scores",
            "scores/smile_scores.npy",
            "--ratio",
            "40",
            "--condition",
            "age,eyeglasses",
            "-o",
            "boundary",
        ],
        ["rank", "--codes", "codes/z.npy", "--boundary", "boundary/smile.npy", "--per-group", "4", "-o", "rank.png"],
        [
            "edit",
            "--attrs",
            "age=+3",
            "--condition",
            "smile,eyeglasses",
            "-n",
            "3",
            "--seed",
            "5",
            "--report",
            "-o",
            "edit_cond",
        ],
        [
            "edit",
            "--attrs",
            "smile",
            "--boundary",
            "smile=boundary/smile.npy",
            "--codes",
            "codes/z.npy",
            "--index",
            "0,7",
            "--range",
            "-2:2",
            "--steps",
            "3",
            "-o",
            "edit_codes",
        ],
        ["edit", "--replay", "edit_cond/edit.json", "-o", "edit_replay"],
        ["edit", photo, "--attrs", "smile=+2", "--tune", "5", *photo_opts, "-o", "edit_photo"],
        ["invert", photo, *photo_opts, "-o", "invert"],
        ["mix", "seed:1", "seed:2", "--steps", "4", "-o", "mix"],
        ["mix", "invert/codes.npy:0", "seed:4", "--weight", "0.3", "-o", "mix_photo"],
        [
            "arith",
            "a - b + c",
            "--group",
            "a=codes/z.npy:1,2",
            "--group",
            "b=codes/z.npy:3",
            "--group",
            "c=seed:9",
            "-o",
            "arith",
        ],
        ["detect", "--json", photo, "sample/000000.png", "sample/000001.png"],
    ]


def fingerprint(path: Path) -> str:
    """sha256 of a file; for JSON, of its content with the volatile keys removed."""
    data = path.read_bytes()
    if path.suffix == ".json":
        data = json.dumps(_strip(json.loads(data)), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def run(out: Path) -> None:
    from skimage import data  # noqa: F401  (the test extra; only its file is used)

    photo_src = Path(sys.modules["skimage.data"].__file__).parent / "astronaut.png"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy(photo_src, out / "astronaut.png")
    printed = {}
    for args in commands("astronaut.png"):
        device = ["--device", "cpu"] if args[0] != "detect" else []
        result = subprocess.run(
            [sys.executable, "-m", "latentedit", *args, *device], cwd=out, capture_output=True, text=True
        )
        if result.returncode != 0:
            sys.exit(f"latentedit {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
        printed[" ".join(args)] = hashlib.sha256(result.stdout.encode()).hexdigest()
    digests = {str(p.relative_to(out)): fingerprint(p) for p in sorted(out.rglob("*")) if p.is_file()}
    (out / "digests.json").write_text(json.dumps({"files": digests, "stdout": printed}, indent=1) + "\n")
    print(f"{len(digests)} files from {len(printed)} commands fingerprinted in {out / 'digests.json'}")


def compare(a: Path, b: Path) -> None:
    left, right = (json.loads((p / "digests.json").read_text()) for p in (a, b))
    differ = []
    for kind in ("files", "stdout"):
        for key in sorted(set(left[kind]) | set(right[kind])):
            if left[kind].get(key) != right[kind].get(key):
                differ.append(f"{kind}: {key}")
    print(f"{len(left['files'])} files, {len(left['stdout'])} commands compared")
    if differ:
        sys.exit("different:\n  " + "\n  ".join(differ))
    print("all identical")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run").add_argument("out", type=Path)
    cmp = sub.add_parser("compare")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    args = parser.parse_args()
    run(args.out) if args.action == "run" else compare(args.a, args.b)


if __name__ == "__main__":
    main()
