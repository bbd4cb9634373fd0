"""``latentedit arith``: latent arithmetic on averaged groups of faces, e.g. smiling woman - neutral woman + neutral
man."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.mixing import combine, parse_expression
from ..errors import UsageError
from ..files.outputs import save_png, staged_output, write_json
from ..models.generators import to_typical_norm
from ..pictures import annotated_grid
from ..records import ArithRecord
from ..specs import GeneratorSpec, OutputSpec, PhotoOptions
from .mix import render_tiles, sources_head
from .sources import resolve_sources, source_paths


@dataclass(frozen=True)
class ArithRequest:
    """Average each of ``groups`` (name -> sources: photos, ``codes.npy:3,5,8`` or ``seed:N``) and combine the
    averages as ``expression`` says."""

    output: OutputSpec
    expression: str
    groups: Mapping[str, Sequence[str]]
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    space: str = "z"
    options: PhotoOptions = field(default_factory=PhotoOptions)


def arith(request: ArithRequest) -> ArithRecord:
    """Write ``arith.png`` (each group's average face and the result), ``code.npy`` (the result), ``group_codes.npy``
    (the averages, in expression order) and ``arith.json``. In Z the result, and the averages as shown, are rescaled
    to the typical norm (see :func:`~latentedit.models.generators.to_typical_norm`: averages of codes are shorter
    than sampled codes and render washed out); ``group_codes.npy`` holds the plain averages."""
    expression, groups, space = request.expression, request.groups, request.space
    terms = parse_expression(expression)
    missing = [name for _, name in terms if name not in groups]
    if missing:
        raise UsageError(f"the expression names {missing[0]!r} but no group {missing[0]}=... defines it")
    unused = [name for name in groups if name not in {n for _, n in terms}]
    if unused:
        raise UsageError(f"group {unused[0]!r} is not in the expression {expression!r}")
    generator, digest = request.generator.load()
    generator.check_space(space)
    specs = [spec for name in groups for spec in groups[name]]
    with staged_output(request.output.path, request.output.overwrite, inputs=source_paths(specs)) as staging:
        resolved = iter(resolve_sources(specs, generator, space=space, options=request.options))
        members = {name: [next(resolved) for _ in groups[name]] for name in groups}
        means = {name: np.concatenate([s.codes for s in sources]).mean(0) for name, sources in members.items()}
        result = combine(terms, means)
        averages = np.stack([means[name] for _, name in terms]).astype(np.float32)
        shown = np.concatenate([averages, result])
        if space == "z":
            result, shown = (to_typical_norm(codes).astype(np.float32) for codes in (result, shown))
        tiles = render_tiles(generator, shown, space)
        labels = [f"{c:+g} {name}" for c, name in terms] + ["= result"]
        save_png(annotated_grid(tiles[None], expression, None, labels), staging / "arith.png")
        np.save(staging / "code.npy", result)
        np.save(staging / "group_codes.npy", averages)
        every = [s for sources in members.values() for s in sources]
        record = ArithRecord(
            **sources_head(generator, digest, request.generator, space, request.options, every),
            expression=expression,
            terms=[[c, name] for c, name in terms],
            rescaled_to_typical_norm=space == "z",
            groups={name: [s.spec for s in sources] for name, sources in members.items()},
            faces_per_group={name: sum(len(s.codes) for s in sources) for name, sources in members.items()},
        )
        write_json(record, staging / "arith.json")
    return record
