"""Plant known bugs one at a time in a scratch copy of the repository and check that the tests catch each one.

    python scripts/plant_bugs.py [--only NAME ...] [--suite listed|fast|full] [--docs docs/testing.md] [--keep]

Each bug is a textual substitution (old -> new) in one file, whose old text must occur there exactly once. The
repository (tracked files and untracked files that git does not ignore) is copied to a temporary folder; for each
bug the file is changed, the bug's tests are run in the copy (``listed``, the default: the tests named in its
entry of BUGS; ``fast``: every test not marked slow; ``full``: all tests) with the copy first on the import path,
and the file is restored. First the tests run once without a bug, which must pass. Prints a Markdown table (bug, file,
caught or not, the failing tests, seconds); ``--docs FILE`` also replaces the table between the markers
``<!-- plant_bugs:begin -->`` and ``<!-- plant_bugs:end -->`` in FILE. Exits 1 when a bug was not caught.

Modules move: when a bug's file no longer exists, or no longer holds the old text, the text is searched for in every
.py file under latentedit/, and the one file that holds it exactly once is used (the table shows where).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- plant_bugs:begin -->", "<!-- plant_bugs:end -->"


def answers(*names: str) -> tuple[str, ...]:
    """Node ids of tests in tests/test_answers.py."""
    return tuple(f"tests/test_answers.py::{name}" for name in names)


CHECKSET = answers("test_scorers_meet_their_targets_on_the_check_set")
COLOUR = answers("test_scores_need_rgb")
SHIPPED = answers("test_shipped_boundary_moves_its_attribute")


@dataclass(frozen=True)
class Bug:
    name: str
    file: str  # where the old text is (relative to the repository); searched for under latentedit/ if it moved
    old: str
    new: str
    tests: tuple[str, ...]  # the tests that should catch it: files or node ids (file::test)


BUGS = [
    Bug(
        "every scorer fed BGR instead of RGB",
        "latentedit/models/scoring.py",
        "analysis.detect(images, framing)",
        "analysis.detect([image[..., ::-1] for image in images], framing)",
        (*COLOUR, *CHECKSET),
    ),
    Bug(
        "age and gender networks fed BGR chips",
        "latentedit/models/scorers/agegender.py",
        ".permute(0, 3, 1, 2).float()",
        ".permute(0, 3, 1, 2).flip(1).float()",
        COLOUR,
    ),
    Bug(
        "smile, eyeglasses and gender probes fed BGR chips",
        "latentedit/models/scorers/attribute_probe.py",
        ".permute(0, 3, 1, 2).float()",
        ".permute(0, 3, 1, 2).flip(1).float()",
        (*COLOUR, "tests/test_attribute_scorers.py"),
    ),
    Bug(
        "age classes read in reverse",
        "latentedit/models/dlib.py",
        "np.array([0.25, *range(1, 81)], np.float32)",
        "np.array([0.25, *range(1, 81)][::-1], np.float32)",
        (*CHECKSET, *COLOUR, *SHIPPED),
    ),
    Bug(
        "shipped age, gender and eyeglasses boundaries negated",
        "latentedit/files/boundaries.py",
        "return Boundary(unit(array",
        'return Boundary((-1 if path.stem in ("age", "gender", "eyeglasses") else 1) * unit(array',
        SHIPPED,
    ),
    Bug(
        "SVM negatives taken from the middle of the ranking",
        "latentedit/core/boundary.py",
        "order[len(order) - per_side :]",
        "order[(len(order) - per_side) // 2 : (len(order) + per_side) // 2]",
        (
            *answers("test_choose_samples_takes_the_extremes_and_labels_the_rest_by_the_midpoint"),
            "tests/test_boundaries.py",
        ),
    ),
    Bug(
        "detect answers P(fake) = 0.5 for every face",
        "latentedit/models/detector.py",
        "torch.sigmoid(self.model(",
        "torch.sigmoid(0 * self.model(",
        (*answers("test_detect_ranks_generated_faces_above_real_ones"), "tests/test_detection.py"),
    ),
    Bug(
        "edit --report counts 'moved as asked' as 'went up'",
        "latentedit/core/editing.py",
        "_mean(np.sign(change) == asked)",
        "_mean(np.sign(change) == 1)",
        (
            *answers(
                "test_report_counts_moves_in_the_asked_sign",
                "test_report_of_an_average_edit_follows_the_sign_of_the_last_step",
            ),
            "tests/test_editing.py",
        ),
    ),
    Bug(
        "pose scorer's sign flipped",
        "latentedit/models/scorers/pose.py",
        "return np.degrees(np.arctan2(",
        "return -np.degrees(np.arctan2(",
        ("tests/test_scoring.py::test_yaw_from_landmarks", *CHECKSET, *COLOUR),
    ),
    Bug(
        "score writes its rows in reverse order",
        "latentedit/commands/score.py",
        "scores.values[name].astype(np.float32)[:, None]",
        "scores.values[name].astype(np.float32)[::-1, None]",
        (
            "tests/test_scoring.py::test_score_codes_layout",
            "tests/test_scoring.py::test_score_folders",
            "tests/test_scoring.py::test_score_an_edit_sweep",
        ),
    ),
    Bug(
        "mix's interpolation weight reversed",
        "latentedit/core/mixing.py",
        "t = np.asarray(weights, np.float64)[:, None]",
        "t = 1 - np.asarray(weights, np.float64)[:, None]",
        (
            "tests/test_inversion.py::test_interpolation_paths_and_expressions",
            "tests/test_inversion.py::test_mix_and_interpolate_cli",
        ),
    ),
    Bug(
        "inversion returns its starting code",
        "latentedit/core/inversion.py",
        "for step in range(settings.iterations):",
        "for step in range(0):",
        (
            "tests/test_inversion.py::test_inversion_of_a_generated_face_converges",
            "tests/test_inversion.py::test_invert_cli_writes_codes_pictures_and_metrics",
        ),
    ),
    Bug(
        "condition projection uses only the first condition",
        "latentedit/core/boundary.py",
        "for c in conditions], axis=1)",
        "for c in conditions[:1]], axis=1)",
        ("tests/test_boundaries.py", "tests/test_editing.py::test_direction_arithmetic"),
    ),
    Bug(
        "learned probe's bias folded back with the wrong sign",
        "latentedit/core/probe.py",
        "model.intercept_[0] - weight @ mean",
        "model.intercept_[0] + weight @ mean",
        ("tests/test_learned_scorers.py::test_fit_probe_learns_and_reports_cross_validation",),
    ),
    Bug(
        "label suggest picks the faces its scorer is surest about",
        "latentedit/core/probe.py",
        'np.argsort(np.abs(logits[usable]), kind="stable")',
        'np.argsort(-np.abs(logits[usable]), kind="stable")',
        ("tests/test_learned_scorers.py::test_suggest_prefers_uncertain_faces",),
    ),
    Bug(
        "rendered faces searched over the whole pyramid, the framing ignored",
        "latentedit/models/mtcnn.py",
        "proposals = self._propose(batch) if priors is None else self._prior_proposals(batch, priors)",
        "proposals = self._propose(batch)",
        ("tests/test_faces.py::test_known_framing_skips_the_pyramid_and_falls_back_to_it",),
    ),
    Bug(
        "the framing's box placed from the mouth instead of the eyes",
        "latentedit/models/mtcnn.py",
        "eyes[1] + 0.3 * distance",
        "mouth[1] + 0.3 * distance",
        ("tests/test_faces.py::test_known_framing_skips_the_pyramid_and_falls_back_to_it", *COLOUR),
    ),
    Bug(
        "freed memory returned to the system at once",
        "latentedit/device.py",
        "_KEEP = -1, -3, 2**31 - 1",
        "_KEEP = -1, -3, 128 * 1024",
        ("tests/test_fast_scoring.py::test_freed_batches_are_reused_not_faulted_in_again",),
    ),
    Bug(
        "train-boundary --ray reads its parts' scores one row off",
        "latentedit/commands/train_boundary.py",
        'return np.load(work / "scores" / f"{attr}_scores.npy")',
        'return np.roll(np.load(work / "scores" / f"{attr}_scores.npy"), 1)',
        ("tests/test_ray.py::test_train_boundary_on_ray_equals_one_process",),
    ),
    Bug(
        "a Ray actor killed mid-part is not started again",
        "latentedit/commands/ray_parts.py",
        "max_restarts=settings.retries, max_task_retries=settings.retries",
        "max_restarts=0, max_task_retries=0",
        ("tests/test_ray.py::test_a_worker_killed_mid_part_loses_nothing",),
    ),
    Bug(
        "Ray workers get the driver's relative paths",
        "latentedit/commands/ray_parts.py",
        "job = absolute_paths(request.job)",
        "job = request.job",
        ("tests/test_ray.py::test_a_cluster_started_elsewhere_gets_the_job_with_relative_paths",),
    ),
    Bug(
        "an actor's kept scorers ignore the precision asked for",
        "latentedit/models/cache.py",
        "key = (tuple(names), device, precision,",
        "key = (tuple(names), device,",
        ("tests/test_shards.py::test_parts_scored_with_one_model_cache_equal_fresh_loads",),
    ),
]


def copy_repository(target: Path) -> None:
    """The files git would commit (tracked, and untracked but not ignored), copied to ``target``."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def locate(bug: Bug, copy: Path) -> Path:
    """The file of the copy that holds ``bug.old`` exactly once: the named file, or else the one file under
    latentedit/ that does."""
    named = copy / bug.file
    if named.is_file() and named.read_text().count(bug.old) == 1:
        return named
    holders = [p for p in sorted((copy / "latentedit").rglob("*.py")) if bug.old in p.read_text()]
    if len(holders) != 1 or holders[0].read_text().count(bug.old) != 1:
        where = ", ".join(f"{p.relative_to(copy)} ({p.read_text().count(bug.old)}x)" for p in holders) or "nowhere"
        sys.exit(f"bug {bug.name!r}: {bug.old!r} must occur exactly once; found in {where}. Update BUGS.")
    return holders[0]


def copy_environment(copy: Path) -> dict[str, str]:
    """The environment with the copy first on the import path, checked: ``latentedit`` must come from the copy."""
    path = os.pathsep.join([str(copy), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": path}
    found = subprocess.run(
        [sys.executable, "-c", "import latentedit; print(latentedit.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"latentedit is imported from {found}, not from the copy {copy}")
    return env


def run_tests(copy: Path, env: dict[str, str], tests: list[str], timeout: float) -> tuple[int, list[str], float, str]:
    """Run pytest on ``tests`` in the copy; returns the exit code, the failing test ids, the seconds and the output."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", *tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = -1, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}"
    failing = sorted({m.group(2) for m in re.finditer(r"^(FAILED|ERROR) (\S+)", output, re.MULTILINE)})
    return code, failing, time.perf_counter() - start, output


def selection(bugs: list[Bug], suite: str) -> list[str]:
    """pytest arguments: the bugs' test files (``listed``), the tests not marked slow (``fast``) or all (``full``)."""
    return {"fast": ["-m", "not slow"], "full": []}.get(suite) or sorted({t for bug in bugs for t in bug.tests})


def markdown(rows: list[tuple[Bug, str, bool, list[str], float]], suite: str, baseline: float | None) -> str:
    lines = [
        "| bug | planted in | old → new | caught | failing tests | seconds |",
        "| --- | --- | --- | --- | --- | ---: |",
    ]
    for bug, where, caught, failing, seconds in rows:
        tests = "<br>".join(f"`{t}`" for t in failing) or "–"
        change = f"`{bug.old}` → `{bug.new}`".replace("|", "\\|")
        verdict = "yes" if caught else "**no**"
        lines.append(f"| {bug.name} | `{where}` | {change} | {verdict} | {tests} | {seconds:.0f} |")
    total = sum(row[4] for row in rows) + (baseline or 0)
    lines.append("")
    which = "those listed with it in BUGS" if suite == "listed" else f"the {suite} suite"
    lines.append(
        f"Tests run per bug: {which}; "
        + (f"baseline without a bug {baseline:.0f} s; " if baseline is not None else "")
        + f"{len(rows)} bugs, {sum(r[2] for r in rows)} caught, {total:.0f} s in all."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", metavar="TEXT", help="plant only the bugs whose name contains one of these"
    )
    parser.add_argument("--suite", choices=["listed", "fast", "full"], default="listed", help="which tests run per bug")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run without a bug")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per test run")
    parser.add_argument("--docs", type=Path, help="replace the table between the plant_bugs markers in this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (its path is printed)")
    args = parser.parse_args()

    bugs = [b for b in BUGS if not args.only or any(o.lower() in b.name.lower() for o in args.only)]
    if not bugs:
        sys.exit(f"no bug matches {args.only}; names: {', '.join(b.name for b in BUGS)}")
    copy = Path(tempfile.mkdtemp(prefix="plant_bugs_"))
    try:
        copy_repository(copy)
        places = {bug: locate(bug, copy) for bug in bugs}  # every substitution checked before any test runs
        env = copy_environment(copy)
        baseline = None
        if not args.no_baseline:
            code, failing, baseline, output = run_tests(copy, env, selection(bugs, args.suite), args.timeout)
            print(f"baseline (no bug): exit {code}, {baseline:.0f} s", flush=True)
            if code != 0:
                names = ", ".join(failing) or "see below"
                sys.exit(f"the tests fail without a planted bug ({names}):\n{output[-3000:]}")
        rows = []
        for bug in bugs:
            path = places[bug]
            original = path.read_text()
            path.write_text(original.replace(bug.old, bug.new))
            try:
                code, failing, seconds, output = run_tests(copy, env, selection([bug], args.suite), args.timeout)
            finally:
                path.write_text(original)
            caught = code not in (0, 5)  # 5: no tests collected
            print(f"{'caught' if caught else 'MISSED'}: {bug.name} ({seconds:.0f} s) {' '.join(failing)}", flush=True)
            if code == -1 or (caught and not failing):
                print(output[-2000:])
            rows.append((bug, str(path.relative_to(copy)), caught, failing, seconds))
        table = markdown(rows, args.suite, baseline)
        print(table)
        if args.docs:
            text = args.docs.read_text()
            if text.count(BEGIN) != 1 or text.count(END) != 1:
                sys.exit(f"{args.docs} must hold the markers {BEGIN} and {END} once each")
            head, rest = text.split(BEGIN)
            args.docs.write_text(f"{head}{BEGIN}\n{table}{END}{rest.split(END, 1)[1]}")
        if not all(row[2] for row in rows):
            sys.exit(1)
    finally:
        if args.keep:
            print(f"scratch copy kept: {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    main()
