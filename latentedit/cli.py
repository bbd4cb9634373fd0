"""The ``latentedit`` command line: parses arguments and calls the library."""

import sys
from pathlib import Path

import click

from . import __version__
from .errors import LatentEditError, UsageError
from .generators import DEFAULT_MODEL, MODELS

DEVICE_HELP = "auto (CUDA when available), cpu, cuda or cuda:N"


def _positive(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be positive, got {value}")
    return value


model_option = click.option(
    "--model", "-m", default=DEFAULT_MODEL, show_default=True, help=f"Generator: {', '.join(MODELS)}."
)
device_option = click.option("--device", default="auto", show_default=True, help=f"Device: {DEVICE_HELP}.")
weights_option = click.option(
    "--weights", type=click.Path(path_type=Path), default=None, help="Use this weights file instead of the registry's."
)
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an output folder that already holds results.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="latentedit")
def cli() -> None:
    """Edit faces in a GAN's latent space (InterFaceGAN): sample, score, train boundaries, edit, detect."""


@cli.command()
@click.option("-n", "--num", "n", type=int, default=64, show_default=True, callback=_positive, help="Number of faces.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for the codes.")
@model_option
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output folder (must be new or empty)."
)
@click.option("--batch-size", "-b", type=int, default=64, show_default=True, callback=_positive)
@click.option("--no-images", is_flag=True, help="Write only the codes, the grid preview and the manifest.")
@click.option(
    "--codes", type=click.Path(path_type=Path), default=None, help="Render these codes (.npy, (N, dim)) instead of sampling."
)
@device_option
@weights_option
@overwrite_option
def sample(n, seed, model, out, batch_size, no_images, codes, device, weights, overwrite) -> None:
    """Generate faces and save their latent codes.

    Writes OUT/z.npy (float32, N x dim, InterFaceGAN layout), OUT/000000.png ..., OUT/grid.png (the first 64
    faces) and OUT/manifest.json. The same seed gives the same faces whatever the batch size.
    """
    from .sampling import sample_faces

    result = sample_faces(out, n, seed, model, batch_size, not no_images, device, codes, overwrite, weights)
    click.echo(f"wrote {result.n} faces to {result.out}; preview: {result.out / 'grid.png'}")


@cli.command("models")
def models_cmd() -> None:
    """List the known generators and whether their weights are available here."""
    rows = [("name", "resolution", "spaces", "dim", "weights")]
    for info in MODELS.values():
        rows.append((info.name, f"{info.resolution}x{info.resolution}", ",".join(info.spaces), str(info.latent_dim), info.weights_status()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns library errors into one line on stderr."""
    try:
        cli.main(args=argv, prog_name="latentedit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("latentedit: interrupted", err=True)
        sys.exit(130)
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
    except KeyboardInterrupt:
        click.echo("latentedit: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
