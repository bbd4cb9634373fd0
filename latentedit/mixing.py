"""Mixing faces in latent space: blends and interpolations of two codes, and arithmetic on labelled groups.

Codes come from "sources": a photo (inverted on the spot), rows of a ``.npy`` code file (``codes.npy``,
``codes.npy:3`` or ``codes.npy:3,5,8``) or a sample of the generator (``seed:N``).
"""

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import UsageError
from .generators import DEFAULT_MODEL, Generator, downstream_codes, load_generator, render, run_record, to_typical_norm
from .inversion import InversionSettings, invert_photos
from .outputs import annotated_grid, load_codes, preview_tiles, save_gif, save_png, staged_output, write_json
from .weights import sha256_file

_SEED = re.compile(r"^seed:(-?\d+)$")
_ROWS = re.compile(r"^(.+\.npy)(?::([-\d,\s]+))?$", re.I)
_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z_][\w.-]*)\s*")


@dataclass
class Source:
    """Codes from one source (k, *code_shape) and where they came from."""

    spec: str
    codes: np.ndarray
    record: dict


def resolve_sources(
    specs: Sequence[str],
    generator: Generator,
    space: str = "z",
    settings: InversionSettings | None = None,
    face_index: int = 0,
) -> list[Source]:
    """The codes of each source spec, in ``space``; all photos among them are inverted together."""
    sources: list[Source | None] = []
    photos: list[tuple[int, Path]] = []
    for i, spec in enumerate(specs):
        seed, rows = _SEED.match(spec.strip()), _ROWS.match(spec.strip())
        if seed:
            z = generator.sample(1, int(seed.group(1)))
            sources.append(Source(spec, downstream_codes(generator, z)[space], {"seed": int(seed.group(1))}))
        elif rows:
            path = Path(rows.group(1))
            codes = generator.validate_codes(load_codes(path), space)
            record = {"codes_file": str(path), "codes_sha256": sha256_file(path)}
            if rows.group(2):
                try:
                    index = [int(v) for v in rows.group(2).split(",") if v.strip()]
                except ValueError:
                    raise UsageError(f"cannot read the rows in {spec!r}: use FILE.npy:3 or FILE.npy:3,5,8") from None
                bad = [j for j in index if not -len(codes) <= j < len(codes)]
                if bad:
                    raise UsageError(f"row {bad[0]} is out of range: {path} holds {len(codes)} codes")
                codes, record["index"] = codes[index], index
            sources.append(Source(spec, codes, record))
        else:
            photos.append((i, Path(spec)))
            sources.append(None)
    if photos:
        faces, result = invert_photos([path for _, path in photos], generator, space, settings, face_index)
        for (i, path), face, code, p, s in zip(photos, faces, result.codes, result.psnr, result.ssim):
            sources[i] = Source(specs[i], code[None], {
                "photo": str(path), "face_index": face_index, "psnr_db": round(float(p), 3), "ssim": round(float(s), 4),
            })
    return sources


def single(source: Source) -> np.ndarray:
    """The one code of ``source`` (1, *code_shape), or an error asking for a row."""
    if len(source.codes) != 1:
        raise UsageError(f"{source.spec} holds {len(source.codes)} codes; pick one, e.g. {source.spec}:0")
    return source.codes


def interpolate(a: np.ndarray, b: np.ndarray, weights: Sequence[float], spherical: bool) -> np.ndarray:
    """Codes between one code ``a`` (weight 0) and one code ``b`` (weight 1), shape (len(weights), *a.shape).

    Spherical interpolation (slerp, for Gaussian codes: keeps the norm typical of the distribution; White 2016)
    or linear. Weights outside [0, 1] extrapolate.
    """
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    t = np.asarray(weights, np.float64)[:, None]
    cosine = a64 @ b64 / max(np.linalg.norm(a64) * np.linalg.norm(b64), 1e-12)
    angle = np.arccos(np.clip(cosine, -1, 1))
    if spherical and angle > 1e-4:
        out = (np.sin((1 - t) * angle) * a64 + np.sin(t * angle) * b64) / np.sin(angle)
    else:
        out = (1 - t) * a64 + t * b64
    return out.reshape(len(t), *np.shape(a)).astype(np.float32)


def parse_expression(expression: str) -> list[tuple[float, str]]:
    """``"smiling_woman - neutral_woman + neutral_man"`` or ``"0.5*a + 0.5 b"`` to [(coefficient, group name)]."""
    terms, position = [], 0
    text = expression.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if not match or match.end() == position or (terms and not match.group(1)):
            raise UsageError(f"cannot read the expression {expression!r} at {text[position:]!r}: "
                             "use NAME, +NAME, -NAME or COEFFICIENT*NAME terms, e.g. \"a - b + c\"")
        sign = -1.0 if match.group(1) == "-" else 1.0
        terms.append((sign * float(match.group(2) or 1.0), match.group(3)))
        position = match.end()
    if not terms:
        raise UsageError("the expression is empty: give e.g. \"smiling_woman - neutral_woman + neutral_man\"")
    return terms


def _render(generator: Generator, codes: np.ndarray, space: str) -> np.ndarray:
    return preview_tiles(np.concatenate(list(render(generator, codes, space))))


def _record(model: str, digest: str, weights: Path | None, generator: Generator, space: str, settings, sources) -> dict:
    return {
        **run_record(model, digest, generator, weights), "space": space,
        "sources": {s.spec: s.record for s in sources},
        **({"inversion": asdict(settings or InversionSettings())} if any("photo" in s.record for s in sources) else {}),
    }


def mix_to_folder(
    out: Path,
    a: str,
    b: str,
    weight: float | None = None,
    steps: int | None = None,
    path: str = "auto",
    model: str = DEFAULT_MODEL,
    space: str = "z",
    settings: InversionSettings | None = None,
    face_index: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    weights: Path | None = None,
) -> dict:
    """What ``latentedit mix`` does: one blend of A and B at ``weight`` (0 = A, 1 = B; default 0.5), written as
    ``mix.png`` (A, the blend, B) and ``code.npy``; or with ``steps`` the interpolation from A to B, written as
    ``grid.png``, ``interpolation.gif`` and ``codes.npy``. Both with ``mix.json``.

    ``path``: ``spherical`` (slerp), ``linear``, or ``auto`` = spherical for Z codes, linear for W and W+.
    """
    if weight is not None and steps is not None:
        raise UsageError("give either --weight (one blend) or --steps (an interpolation), not both")
    if steps is not None and steps < 2:
        raise UsageError(f"--steps must be at least 2, got {steps}")
    if path not in ("auto", "spherical", "linear"):
        raise UsageError(f"--path must be auto, spherical or linear, got {path!r}")
    generator, digest = load_generator(model, device, weights)
    generator.check_space(space)
    spherical = path == "spherical" or (path == "auto" and space == "z")
    with staged_output(out, overwrite) as staging:
        sources = resolve_sources([a, b], generator, space, settings, face_index)
        code_a, code_b = single(sources[0]), single(sources[1])
        blend = [0.5 if weight is None else weight] if steps is None else list(np.linspace(0, 1, steps))
        codes = generator.normalize_z(interpolate(code_a[0], code_b[0], blend, spherical), space)
        record = {**_record(model, digest, weights, generator, space, settings, sources), "a": a, "b": b,
                  "path": "spherical" if spherical else "linear", "weights": [round(float(w), 6) for w in blend]}
        if steps is None:
            tiles = _render(generator, np.concatenate([code_a, codes, code_b]), space)
            labels = ["A", f"{1 - blend[0]:.2g} A + {blend[0]:.2g} B", "B"]
            save_png(annotated_grid(tiles[None], None, None, labels), staging / "mix.png")
            np.save(staging / "code.npy", codes)
        else:
            tiles = _render(generator, codes, space)
            save_png(annotated_grid(tiles[None], f"A -> B ({record['path']})", None, [f"{w:.2g}" for w in blend]),
                     staging / "grid.png")
            save_gif(list(tiles), staging / "interpolation.gif")
            np.save(staging / "codes.npy", codes)
        write_json(record, staging / "mix.json")
    return record


def arith_to_folder(
    out: Path,
    expression: str,
    groups: dict[str, list[str]],
    model: str = DEFAULT_MODEL,
    space: str = "z",
    settings: InversionSettings | None = None,
    face_index: int = 0,
    device: str = "auto",
    overwrite: bool = False,
    weights: Path | None = None,
) -> dict:
    """What ``latentedit arith`` does: average each group's codes, combine the averages as ``expression`` says
    (e.g. ``"smiling_woman - neutral_woman + neutral_man"``), and write ``arith.png`` (each group's average face
    and the result), ``code.npy`` (the result), ``group_codes.npy`` (the averages, in expression order) and
    ``arith.json``. In Z the result, and the averages as shown, are rescaled to the typical norm (see
    :func:`~latentedit.generators.base.to_typical_norm`: averages of codes are shorter than sampled codes and
    render washed out); ``group_codes.npy`` holds the plain averages."""
    terms = parse_expression(expression)
    missing = [name for _, name in terms if name not in groups]
    if missing:
        raise UsageError(f"the expression names {missing[0]!r} but no --group {missing[0]}=... defines it")
    unused = [name for name in groups if name not in {n for _, n in terms}]
    if unused:
        raise UsageError(f"group {unused[0]!r} is not in the expression {expression!r}")
    generator, digest = load_generator(model, device, weights)
    generator.check_space(space)
    with staged_output(out, overwrite) as staging:
        specs = [spec for name in groups for spec in groups[name]]
        resolved = iter(resolve_sources(specs, generator, space, settings, face_index))
        members = {name: [next(resolved) for _ in groups[name]] for name in groups}
        means = {name: np.concatenate([s.codes for s in sources]).mean(0) for name, sources in members.items()}
        result = sum(c * means[name] for c, name in terms)[None].astype(np.float32)
        averages = np.stack([means[name] for _, name in terms]).astype(np.float32)
        shown = np.concatenate([averages, result])
        if space == "z":
            result, shown = (to_typical_norm(codes).astype(np.float32) for codes in (result, shown))
        tiles = _render(generator, shown, space)
        counts = {name: sum(len(s.codes) for s in sources) for name, sources in members.items()}
        labels = [f"{c:+g} {name}" for c, name in terms] + ["= result"]
        save_png(annotated_grid(tiles[None], expression, None, labels), staging / "arith.png")
        np.save(staging / "code.npy", result)
        np.save(staging / "group_codes.npy", averages)
        record = {**_record(model, digest, weights, generator, space, settings, [s for v in members.values() for s in v]),
                  "expression": expression, "terms": [[c, name] for c, name in terms], "rescaled_to_typical_norm": space == "z",
                  "groups": {name: [s.spec for s in sources] for name, sources in members.items()}, "faces_per_group": counts}
        write_json(record, staging / "arith.json")
    return record
