"""``latentedit score``: the attribute scores of an image, a folder of images, a ``sample`` or ``edit`` folder, or
codes rendered on the fly; written as InterFaceGAN's ``{attr}_scores.npy``, a CSV and a manifest."""

import csv
import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.shards import Shard
from ..errors import UsageError
from ..files.codes import array_shape, load_codes
from ..files.images import list_images, read_image
from ..files.outputs import read_json, staged_output, write_json
from ..files.paths import require_file
from ..files.weights import sha256_file
from ..models import scoring
from ..models.cache import ModelCache
from ..models.generators import model_template, run_record
from ..models.scoring import BATCH_SIZE, parse_attributes
from ..records import EditRecord, FileRef, SampleManifest, ScoreFile, ScoreManifest, utc_now
from ..specs import GeneratorSpec, OutputSpec, StyleOptions
from .parts import job_head, plan_part, write_part_record


@dataclass(frozen=True)
class ScoreRequest:
    """Score ``source`` (an image file or a folder) or the codes in ``codes_file`` (in latent ``space``, rendered by
    ``generator``); ``attrs`` None = all five and every learned scorer. ``scorers`` maps names to learned scorer
    files (train-scorer). Unreadable images are skipped, or with ``strict`` refused."""

    output: OutputSpec
    source: Path | None = None
    codes_file: Path | None = None
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str = "z"
    attrs: str | Sequence[str] | None = None
    scorers: Mapping[str, Path] = field(default_factory=dict)
    strict: bool = False
    batch_size: int = BATCH_SIZE
    progress: bool | None = None
    shard: Shard | None = None  # score only this part of the codes (see commands/parts.py)
    precision: str = "float32"  # "bfloat16": the chip networks under bfloat16 autocast (FaceAnalysis)


@dataclass
class ScoreRun:
    out: Path
    n: int
    missing: int
    skipped: list[str]
    reused: bool = False  # a complete part of the same job was already there


@dataclass(frozen=True)
class _Made:
    """How a ``sample`` or ``edit`` folder was made: its codes are rendered again the same way."""

    codes: Path
    space: str
    model: str
    weights_sha256: str | None
    generator: GeneratorSpec


def score(request: ScoreRequest, *, models: ModelCache | None = None) -> ScoreRun:
    """Write OUT/{attr}_scores.npy (float32 (N, 1), NaN where no face), OUT/scores.csv and OUT/manifest.json.

    (N, steps, ...) codes, as ``edit`` writes them, give one row per face and step, face by face. A ``sample
    --no-images`` or an ``edit`` folder is scored by rendering its codes as they were made: same model, weights
    file, space and style.

    With ``shard`` (codes only), only that part's rows, into OUT/part-0000K-of-0000N; rows are handed out in whole
    batches, so that its scores are bit-identical to the same rows of the unsharded run with the same batch size.
    ``models`` keeps the generator and scorers loaded for the next part (a Ray worker); None loads them here.
    """
    models = models or ModelCache()
    if (request.source is None) == (request.codes_file is None):
        raise UsageError("give either a folder of images or a codes file (with its model), not both")
    names = parse_attributes(request.attrs, request.scorers)
    paths: list[Path] | None = None
    made: _Made | None = None
    strict, codes_file, space, spec = request.strict, request.codes_file, request.space, request.generator
    if request.source is not None:
        source = Path(request.source)
        if source.is_file():
            paths, strict = [source], True  # one image: an unreadable file is an error, not a skip
        elif source.is_dir():
            paths, made = _folder_images(source, request.generator)
        else:
            require_file(source, "image")  # says what it is instead: missing, a broken link...
        if paths is None and made is not None:  # codes without images: render them as `sample` or `edit` did
            codes_file, space, spec = made.codes, made.space, made.generator
        elif not paths:
            raise UsageError(f"no images (.png, .jpg, ...) in {source}")
        else:
            unused = [
                name
                for name, value in (
                    ("a model", spec.model),
                    ("a weights file", spec.weights),
                    ("StyleGAN options", spec.style.given()),
                    ("a latent space", space != "z"),
                )
                if value
            ]
            if unused:
                raise UsageError(
                    f"{' and '.join(unused)} {'does' if len(unused) == 1 else 'do'} nothing when scoring "
                    f"images: the faces are read from the pictures in {source}"
                )
    if request.shard is not None and paths is not None:
        raise UsageError("--shard splits codes: give --codes, or a sample or edit folder without images")
    inputs = [request.source, codes_file, *request.scorers.values()]
    out, rows, part = Path(request.output.path), range(0), None
    if paths is None:
        assert codes_file is not None  # given, or the folder's own codes
        codes = load_codes(codes_file)
        generator, digest = models.generator(spec)
        if made and made.weights_sha256 and generator.name == made.model and digest != made.weights_sha256:
            raise UsageError(
                f"{request.source} was rendered with weights {made.weights_sha256[:12]}, these are "
                f"{digest[:12]}: pass the same weights file"
            )
        shape = generator.code_shape(space)
        steps = codes.shape[1] if codes.ndim == len(shape) + 2 and codes.shape[2:] == shape else None
        flat = codes.reshape(-1, *shape) if steps else codes
        origin: dict = {
            "codes": str(codes_file),
            "model": generator.name,
            "weights_sha256": digest,
            "space": space,
            **generator.settings(),
            **({"faces": len(codes), "steps": steps} if steps else {}),
        }
        rows = range(len(flat))
        if request.shard is not None:
            job = {
                "command": "score",
                "rows": len(flat),
                "attributes": names,
                "batch_size": request.batch_size,
                "precision": request.precision,
                "scorer_files": {name: sha256_file(Path(path)) for name, path in request.scorers.items()},
                "codes_sha256": sha256_file(Path(codes_file)),
                **job_head(run_record(generator.name, digest, generator)),
                **origin,
            }
            job.pop("codes")
            part = plan_part(request.output, request.shard, job, total=len(flat), granularity=request.batch_size)
            if part.done:
                done = ScoreManifest.from_json(read_json(part.folder / "manifest.json", "manifest"))
                return ScoreRun(part.folder, done.n, done.faces_not_found, [], reused=True)
            out, rows = part.folder, part.rows
    with staged_output(out, request.output.overwrite, inputs=inputs) as staging:
        scorers = models.scorers(names, device=spec.device, precision=request.precision, learned=request.scorers)
        skipped: list[str] = []
        labels: list[str] = []
        if paths:
            images = _readable(paths, strict, skipped, labels)
            # a sample folder's PNGs are scored exactly as its codes would be
            scores = scoring.score_images(
                images,
                scorers,
                batch_size=request.batch_size,
                progress=request.progress,
                total=len(paths),
                framing=model_template(made.model) if made else None,
            )
            origin = {"images": str(request.source)}
            if len(scores) == 0:
                raise UsageError(f"none of the {len(skipped)} image files in {request.source} could be read")
        else:
            scores = scoring.score_codes(
                generator,
                flat[rows.start : rows.stop],
                scorers,
                space=space,
                batch_size=request.batch_size,
                progress=request.progress,
            )
            labels = [f"{i // steps}:{i % steps}" if steps else str(i) for i in rows]
        for name in names:
            np.save(staging / f"{name}_scores.npy", scores.values[name].astype(np.float32)[:, None])
        with open(staging / "scores.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["index", "source", "face_found", "face_confidence", *names])
            first = rows.start
            for i, label in enumerate(labels):
                row = [scores.values[n][i] for n in names]
                writer.writerow([first + i, label, int(scores.found[i]), _cell(scores.confidence[i]), *map(_cell, row)])
        manifest = ScoreManifest(
            date=utc_now(),
            **origin,
            n=len(scores),
            faces_not_found=scores.missing,
            skipped_files=skipped,
            attributes={
                n: ScoreFile(file=f"{n}_scores.npy", unit=scorers[n].unit, scorer=_learned(request.scorers, n))
                for n in names
            },
            precision=None if request.precision == "float32" else request.precision,
        )
        write_json(manifest, staging / "manifest.json")
        if part is not None:
            write_part_record(part, staging)
    return ScoreRun(out, len(scores), scores.missing, skipped)


def _learned(files: Mapping[str, Path], name: str) -> FileRef | None:
    return FileRef(path=str(files[name]), sha256=sha256_file(Path(files[name]))) if name in files else None


def _readable(paths: Sequence[Path], strict: bool, skipped: list[str], names: list[str]) -> Iterator[np.ndarray]:
    """Images read from ``paths``; unreadable ones are recorded in ``skipped`` (or raise when ``strict``)."""
    for path in paths:
        try:
            image = read_image(path)
        except UsageError:
            if strict:
                raise
            skipped.append(path.name)
            continue
        names.append(path.name)
        yield image


def _folder_images(folder: Path, given: GeneratorSpec) -> tuple[list[Path] | None, _Made | None]:
    """The images to score in ``folder`` and how the folder was made.

    A ``sample`` folder: its own images in index order (None when it has only codes); an ``edit`` folder: None
    (its codes.npy, N x steps, is rendered again); any other folder: every image file in it, and no record. For the
    first two the record names the model, weights, resolution, codes file, latent space and style options; what
    ``given`` sets (model, weights file, device) takes precedence.
    """
    head: EditRecord | SampleManifest
    for name in ("manifest.json", "edit.json"):
        if not (folder / name).is_file():
            continue
        data = read_json(folder / name, "record")
        if not isinstance(data, dict) or data.get("tool") != "latentedit" or "model" not in data:
            continue
        if name == "manifest.json" and not isinstance(data.get("files"), dict):
            continue  # another command's manifest (score's own, say), not a sample folder
        if name == "edit.json":
            if "photos" in data:
                raise UsageError(
                    f"{folder} holds edits of photos, drawn by generators tuned to each photo: score the "
                    f"images in {folder / 'photos'} instead"
                )
            edit = EditRecord.from_json(data, str(folder / name))
            head, codes, space, images, n = edit, "codes.npy", edit.space, None, 0
        else:
            manifest = SampleManifest.from_json(data, str(folder / name))
            head, codes, space = manifest, manifest.files.codes, manifest.space
            images, n = manifest.files.images, manifest.n
            check_sample_manifest(folder / name, manifest)
        spec = dataclasses.replace(
            given,
            model=given.model or head.model,
            weights=given.weights or (Path(head.weights_file) if head.weights_file else None),
            style=StyleOptions(**head.style),
        )
        made = _Made(folder / codes, space, head.model, head.weights_sha256, spec)
        return ([folder / (images % i) for i in range(n)] if images else None), made
    return list_images(folder), None


def check_sample_manifest(path: Path, manifest: SampleManifest) -> None:
    """Refuse a sample manifest whose files, count or resolution do not fit the folder (a damaged or edited one)."""
    files = manifest.files
    if not re.fullmatch(r"[\w.-]+\.npy", files.codes) or files.codes.startswith("."):
        raise UsageError(f"{path}: files.codes must name a .npy file in the folder, not {files.codes!r}")
    if files.images is not None and not re.fullmatch(r"[\w-]*%0?\d?d[\w-]*\.png", files.images):
        raise UsageError(f"{path}: files.images must be a numbered PNG name like '%06d.png', not {files.images!r}")
    if not 8 <= manifest.resolution <= 8192:
        raise UsageError(f"{path}: resolution {manifest.resolution} is not a generator's")
    if files.images is not None and manifest.n > sum(1 for _ in path.parent.iterdir()):
        raise UsageError(f"{path} says {manifest.n} faces, more than the folder holds files")
    rows = array_shape(path.parent / files.codes)[0] if (path.parent / files.codes).is_file() else None
    if rows is not None and rows != manifest.n:
        raise UsageError(f"{path} says {manifest.n} faces but {files.codes} holds {rows} codes")


def _cell(value: float) -> str:
    return "" if np.isnan(value) else f"{value:.6g}"
