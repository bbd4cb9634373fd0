"""Typed, versioned records: every JSON file latentedit writes, as a dataclass with ``to_json`` and ``from_json``.

Each record names its ``format`` and ``format_version``. ``from_json`` checks every field against the dataclass
annotations and raises one line naming the file and the field; files written before records were versioned
(without ``format_version``) read as version 1. Keys a record does not know are kept in ``extra`` and written
back, so that a record of a newer version passes through unchanged. Optional fields marked with :func:`omitted`
are left out of the JSON when they are None.

The records, in the order a user meets them: :class:`SampleManifest`, :class:`ScoreManifest`,
:class:`PartRecord` (a shard), :class:`BoundaryInfo` (a boundary's sidecar), :class:`DirectionsRecord`,
:class:`EditRecord`, :class:`InversionRecord`, :class:`MixRecord`, :class:`ArithRecord`; for training your own
generator, :class:`FaceDatasetRecord` (``prepare-faces``), :class:`TrainRunRecord` and
:class:`TrainedGeneratorHeader` (``train-gan``).
"""

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, get_args, get_origin, get_type_hints

from .errors import UsageError
from .specs import InversionSettings

T = TypeVar("T", bound="Fields")
MAX_DEPTH = 32  # JSON nested deeper than this is refused before Python's recursion limit is near


def utc_now() -> str:
    """The time of a run, as records stamp it (UTC, to the second)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def omitted() -> Any:
    """A field that defaults to None and is left out of the JSON while it is None."""
    return field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True, kw_only=True)
class Fields:
    """A typed JSON object: a dataclass whose annotations say what each key holds (see the module docstring)."""

    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False, metadata={"extra": True})

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.metadata.get("extra") or (value is None and item.metadata.get("omit_none")):
                continue
            out[item.name] = _plain(value)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls: type[T], data: Any, where: str = "record") -> T:
        """The record in ``data`` (parsed JSON), or a :class:`UsageError` naming ``where`` and the bad field."""
        return _read(cls, data, where, 0)


@dataclass(frozen=True, kw_only=True)
class Record(Fields):
    """A top-level record: :class:`Fields` plus its ``format`` name and ``format_version``."""

    FORMAT: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "format": self.FORMAT, "format_version": self.VERSION}

    @classmethod
    def from_json(cls: type[T], data: Any, where: str = "record") -> T:
        if isinstance(data, dict):
            version = data.get("format_version", 1)
            if data.get("format", cls.FORMAT) != cls.FORMAT:  # type: ignore[attr-defined]
                raise UsageError(f"{where} is a {data.get('format')!r} record, not a {cls.FORMAT!r} one")  # type: ignore[attr-defined]
            if not isinstance(version, int) or isinstance(version, bool) or version > cls.VERSION:  # type: ignore[attr-defined]
                raise UsageError(f"{where} is format version {version!r}; this latentedit reads up to {cls.VERSION}")  # type: ignore[attr-defined]
            data = {k: v for k, v in data.items() if k not in ("format", "format_version")}
        return _read(cls, data, where, 0)


def _plain(value: Any) -> Any:
    if isinstance(value, Fields):
        return value.to_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _read(cls: type[T], data: Any, where: str, depth: int) -> T:
    if not isinstance(data, dict):
        raise UsageError(f"{where} must be a JSON object, got {_kind(data)}")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    known = set()
    for item in dataclasses.fields(cls):
        if item.metadata.get("extra"):
            continue
        known.add(item.name)
        if item.name not in data:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise UsageError(f"{where} has no {item.name!r}")
            continue
        values[item.name] = _check(data[item.name], hints[item.name], f"{where}: {item.name}", depth + 1)
    extra = {k: v for k, v in data.items() if k not in known}
    _depth(extra, where, depth)
    return cls(**values, extra=extra)


def _check(value: Any, hint: Any, where: str, depth: int) -> Any:
    """``value`` checked (and for floats, converted) against the annotation ``hint``."""
    if depth > MAX_DEPTH:
        raise UsageError(f"{where} is nested too deeply")
    origin = get_origin(hint)
    if hint is Any:
        _depth(value, where, depth)
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        others = [o for o in options if o is not type(None)]
        if len(others) == 1:  # an optional field: the option's own message is the most precise
            return _check(value, others[0], where, depth)
        for option in others:
            try:
                return _check(value, option, where, depth)
            except UsageError:
                continue
        raise UsageError(f"{where} must be {_describe(hint)}, got {_kind(value)}")
    if isinstance(hint, type) and issubclass(hint, Fields):
        return _read(hint, value, where, depth)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(f"{where} must be a finite number, got {_kind(value)}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{where} must be a whole number, got {_kind(value)}")
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise UsageError(f"{where} must be {_describe(hint)}, got {_kind(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise UsageError(f"{where} must be a list, got {_kind(value)}")
        (item,) = get_args(hint)
        return [_check(v, item, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a JSON object, got {_kind(value)}")
        _, item = get_args(hint)
        return {k: _check(v, item, f"{where}.{k}", depth + 1) for k, v in value.items()}
    raise TypeError(f"records cannot hold {hint!r}")  # a programming error, not a user's


def _depth(value: Any, where: str, depth: int) -> None:
    """Refuse free-form values nested more than :data:`MAX_DEPTH` levels."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise UsageError(f"{where} is nested too deeply")
        if isinstance(item, dict):
            stack += [(v, level + 1) for v in item.values()]
        elif isinstance(item, list):
            stack += [(v, level + 1) for v in item]


def _describe(hint: Any) -> str:
    if get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in get_args(hint))
    names = {str: "text", bool: "true or false", int: "a whole number", float: "a number", type(None): "null"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }
    kind = names.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if isinstance(value, (int, float, str)) and len(repr(value)) <= 40 else kind


# ------------------------------------------------------------------------------------------------ the records


@dataclass(frozen=True, kw_only=True)
class RunHead(Record):
    """The head of every output record of a command that runs a generator."""

    tool: str = "latentedit"
    version: str = ""
    date: str = ""
    model: str
    weights_sha256: str | None = None
    weights_file: str | None = omitted()
    truncation_psi: float | None = omitted()
    truncation_layers: int | None = omitted()
    noise: str | None = omitted()

    def head(self) -> dict[str, Any]:
        """The head's own fields, to start another record with."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RunHead) if not f.metadata.get("extra")}

    @property
    def style(self) -> dict[str, Any]:
        return {"truncation_psi": self.truncation_psi, "truncation_layers": self.truncation_layers, "noise": self.noise}


@dataclass(frozen=True, kw_only=True)
class SampleFiles(Fields):
    codes: str
    images: str | None = None
    grid: str = "grid.png"


@dataclass(frozen=True, kw_only=True)
class SampleManifest(RunHead):
    """``manifest.json`` of a ``sample`` folder."""

    FORMAT = "latentedit-sample"
    resolution: int
    spaces: dict[str, list[int]]
    n: int
    seed: int | None = omitted()
    codes_file: str | None = omitted()
    codes_sha256: str | None = omitted()
    files: SampleFiles

    @property
    def space(self) -> str:
        return self.files.codes.removesuffix(".npy")


@dataclass(frozen=True, kw_only=True)
class ScoreFile(Fields):
    file: str
    unit: str
    scorer: "FileRef | None" = omitted()  # a learned scorer's file (train-scorer), by path and sha256


@dataclass(frozen=True, kw_only=True)
class ScoreManifest(Record):
    """``manifest.json`` of a ``score`` folder: what was scored (images, or codes rendered by a model)."""

    FORMAT = "latentedit-scores"
    tool: str = "latentedit"
    date: str = ""
    images: str | None = omitted()
    codes: str | None = omitted()
    model: str | None = omitted()
    weights_sha256: str | None = omitted()
    space: str | None = omitted()
    truncation_psi: float | None = omitted()
    truncation_layers: int | None = omitted()
    noise: str | None = omitted()
    faces: int | None = omitted()
    steps: int | None = omitted()
    n: int
    faces_not_found: int
    skipped_files: list[str] = field(default_factory=list)
    attributes: dict[str, ScoreFile]
    precision: str | None = omitted()  # "bfloat16" when the chip networks ran so (None: float32)


@dataclass(frozen=True, kw_only=True)
class PartRecord(Record):
    """``part.json`` of one part of a sharded ``sample`` or ``score`` job: the job (what its unsharded run would
    be), the job's sha256 (of its canonical JSON), and which rows of the job this part holds."""

    FORMAT = "latentedit-part"
    job: dict[str, Any]
    job_sha256: str
    index: int
    count: int
    start: int
    stop: int


@dataclass(frozen=True, kw_only=True)
class MeasuredEffect(Fields):
    """What moving faces along a direction did to one attribute's score (``latentedit directions``)."""

    change_per_unit: float | None  # mean score change per unit step
    same_sign: float | None  # share of the faces whose score moved the way of the mean change
    faces: int  # faces scored at both ends of the move
    effect_size: float | None  # |mean change over the move| / the attribute's spread over the unedited faces
    moved: bool


@dataclass(frozen=True, kw_only=True)
class Naming(Fields):
    """How ``latentedit directions`` named its directions: ``faces`` codes of ``seed`` moved by ±``distance``
    in latent ``space`` and re-scored."""

    faces: int
    seed: int
    distance: float
    space: str
    moved_when: str | None = omitted()  # the thresholds, in words
    sign: str | None = omitted()  # how each direction was oriented, in words


@dataclass(frozen=True, kw_only=True)
class BoundaryInfo(Record):
    """A boundary's ``.json`` sidecar: what it separates, where it was trained and how well (all optional but the
    name, so that InterFaceGAN's bare ``.npy`` files get one too)."""

    FORMAT = "latentedit-boundary"
    name: str
    dim: int | None = omitted()
    offset: float = 0.0
    attribute: str | None = omitted()
    scorer: str | None = omitted()  # the scorer that measures this direction, where it is not ``attribute``'s own
    space: str | None = omitted()
    model: str | None = omitted()
    weights_sha256: str | None = omitted()
    weights_file: str | None = omitted()  # trained end to end with a generator file given as --weights
    codes_file: str | None = omitted()
    scores_file: str | None = omitted()
    scores: str | None = omitted()  # how the scores were made, in words
    scorer_file: "FileRef | None" = omitted()  # a learned scorer (train-scorer) that measures ``attribute``, if any
    sample_seed: int | None = omitted()
    n: int | None = omitted()
    n_valid: int | None = omitted()
    ratio: float | None = omitted()
    chosen_per_side: int | None = omitted()
    split: float | None = omitted()
    seed: int | None = omitted()
    solver: str | None = omitted()
    fit_seconds: float | None = omitted()
    train_accuracy: float | None = omitted()
    validation_accuracy: float | None = omitted()
    remaining_accuracy: float | None = omitted()
    conditions: list[str] | None = omitted()
    primal: str | None = omitted()
    # directions found without labels (latentedit directions): how, and what they measurably do
    method: str | None = omitted()  # sefa or ganspace
    rank: int | None = omitted()  # 0 = the strongest
    eigenvalue: float | None = omitted()  # SeFa
    explained_variance_ratio: float | None = omitted()  # GANSpace
    layers: list[int] | None = omitted()  # the W+ layers the direction was found for and is meant to move
    meaning: str | None = omitted()  # one line: what the direction does, in measured units
    moved: list[str] | None = omitted()  # the attributes it counts as moving
    effects: dict[str, MeasuredEffect] | None = omitted()
    cosines: dict[str, float] | None = omitted()  # with each shipped boundary of the same space
    flipped: bool | None = omitted()  # turned against the method's own sign (see Naming.sign)
    naming: Naming | None = omitted()
    found: dict[str, Any] | None = omitted()  # the method's own record: samples, seed, what was decomposed...
    date: str | None = omitted()
    version: str | None = omitted()


@dataclass(frozen=True, kw_only=True)
class FileRef(Fields):
    path: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class EditedPhoto(Fields):
    photo: str
    sha256: str
    face_index: int
    faces_found: int
    psnr_db: float
    ssim: float


@dataclass(frozen=True, kw_only=True)
class InversionRun(InversionSettings, Fields):
    """The inversion settings of a record (see :class:`~latentedit.specs.InversionSettings`), with the latent space
    searched where the record has several."""

    space: str | None = omitted()

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        return {"space": data.pop("space"), **data} if "space" in data else data  # the space first, as it was

    def settings(self) -> InversionSettings:
        return InversionSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(InversionSettings)})


@dataclass(frozen=True, kw_only=True)
class TargetFace(Fields):
    """One face of a target in units: the distance moved along the direction, the scorer's reading before the edit,
    the reading to reach, the reading of the edited face (null where no face was found) and how the search ended."""

    distance: float
    before: float | None = None
    goal: float | None = None
    reading: float | None = None
    status: str


@dataclass(frozen=True, kw_only=True)
class EditTarget(Fields):
    """A target in an attribute's units (``edit --attrs age=+10y``): the reading to reach (``relative``: the reading
    before the edit plus ``value``), the scorer that measured it, and each face's result."""

    value: float
    relative: bool
    unit: str
    scorer: str
    tolerance: float
    evaluations: int
    faces: list[TargetFace]

    @property
    def distances(self) -> list[float]:
        return [face.distance for face in self.faces]


@dataclass(frozen=True, kw_only=True)
class AutoConditions(Fields):
    """What ``edit --condition auto`` measured and chose: a probe edit of ``step`` along the unit edit direction on
    ``probe_faces`` faces sampled from ``probe_seed``, each attribute's mean change per unit step, the conditions
    chosen (strongest first) and one line per attribute saying why."""

    probe_seed: int
    probe_faces: int
    step: float
    side_effects: dict[str, float | None]
    chosen: list[str]
    reasons: list[str]


@dataclass(frozen=True, kw_only=True)
class EditRecord(RunHead):
    """``edit.json``: everything needed to redo an edit (``edit --replay``), and what ``--report`` measured."""

    FORMAT = "latentedit-edit"
    space: str = "z"
    seed: int | None = omitted()
    n: int | None = omitted()
    codes_file: str | None = omitted()
    codes_sha256: str | None = omitted()
    index: list[int] | None = omitted()
    photos: list[EditedPhoto] | None = omitted()
    inversion: InversionRun | None = omitted()
    aligned: bool | None = omitted()  # the photos were aligned face crops already (no detection)
    paste: str | None = omitted()
    tune_steps: int | None = omitted()
    attrs: str
    attributes: list[str]
    strengths: list[float]
    boundaries: dict[str, FileRef]
    conditions: list[str] = field(default_factory=list)
    combine: str = "sum"
    steps: list[float]
    layers: list[int] | None = omitted()  # W+ edits: only these layers moved
    edit: str = ""
    max_distance: float | None = omitted()
    targets: dict[str, EditTarget] | None = omitted()  # per-face distances of targets in units (replayed as they are)
    auto_conditions: AutoConditions | None = omitted()
    report: dict[str, Any] | None = omitted()
    scorers: dict[str, FileRef] | None = omitted()  # learned scorers the report used, by attribute name
    studio: dict[str, Any] | None = omitted()  # an export of latentedit studio: the page's state (replay ignores it)


@dataclass(frozen=True, kw_only=True)
class DirectionEntry(Fields):
    """One direction in ``directions.json``: its files and, in short, what it does."""

    name: str
    file: str
    eigenvalue: float | None = omitted()
    explained_variance_ratio: float | None = omitted()
    meaning: str
    moved: list[str]
    flipped: bool


@dataclass(frozen=True, kw_only=True)
class DirectionsRecord(RunHead):
    """``directions.json`` of a ``directions`` folder: how the directions were found and named, one entry each
    (every direction's own sidecar holds the full measurement)."""

    FORMAT = "latentedit-directions"
    method: str
    space: str  # where the directions live: z, or w for the StyleGAN family
    layers: list[int] | None = None
    k: int
    naming: Naming
    found: dict[str, Any] = field(default_factory=dict)
    directions: list[DirectionEntry]
    scorers: dict[str, FileRef] | None = omitted()  # learned scorers the naming used, by attribute name


@dataclass(frozen=True, kw_only=True)
class InvertedPhoto(Fields):
    photo: str
    folder: str
    face_index: int
    faces_found: int
    face_box: list[float]
    psnr_db: float
    ssim: float
    identity: float | None = omitted()  # cosine of the identity embeddings of the aligned photo and the reconstruction


@dataclass(frozen=True, kw_only=True)
class InversionRecord(RunHead):
    """``inversion.json`` of an ``invert`` folder."""

    FORMAT = "latentedit-inversion"
    inversion: InversionRun
    photos: list[InvertedPhoto]
    aligned: bool | None = omitted()  # the photos were aligned face crops already (no detection)
    mean_psnr_db: float
    mean_ssim: float
    mean_identity: float | None = omitted()

    def to_json(self) -> dict[str, Any]:  # the settings sit at the top level, where they were before records
        out: dict[str, Any] = {}
        for key, value in super().to_json().items():
            out.update(value if key == "inversion" else {key: value})
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "record") -> "InversionRecord":
        if isinstance(data, dict) and "inversion" not in data:
            names = {f.name for f in dataclasses.fields(InversionRun)}
            data = {
                **{k: v for k, v in data.items() if k not in names},
                "inversion": {k: v for k, v in data.items() if k in names},
            }
        return super().from_json(data, where)


@dataclass(frozen=True, kw_only=True)
class MixSource(Fields):
    """Where codes of ``mix`` or ``arith`` came from: a seed, rows of a code file, or a photo."""

    seed: int | None = omitted()
    codes_file: str | None = omitted()
    codes_sha256: str | None = omitted()
    index: list[int] | None = omitted()
    photo: str | None = omitted()
    face_index: int | None = omitted()
    psnr_db: float | None = omitted()
    ssim: float | None = omitted()


@dataclass(frozen=True, kw_only=True)
class SourcesRun(RunHead):
    """What ``mix`` and ``arith`` records share: the latent space and where each code came from (photos inverted
    with ``inversion``)."""

    space: str
    sources: dict[str, MixSource]
    inversion: InversionRun | None = omitted()


@dataclass(frozen=True, kw_only=True)
class MixRecord(SourcesRun):
    """``mix.json``: a blend or an interpolation of two codes (``weights``: the share of B in each frame)."""

    FORMAT = "latentedit-mix"
    a: str
    b: str
    path: str
    weights: list[float]


@dataclass(frozen=True, kw_only=True)
class ArithRecord(SourcesRun):
    """``arith.json``: the expression, its terms and each group's sources."""

    FORMAT = "latentedit-arith"
    expression: str
    terms: list[list[Any]]
    rescaled_to_typical_norm: bool
    groups: dict[str, list[str]]
    faces_per_group: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class DetectorInput(Fields):
    """What a real-or-fake detector sees (see models.detector.InputSpec)."""

    size: int
    colour: str
    template_name: str
    template: list[list[float]]
    work_factor: int | None = omitted()


@dataclass(frozen=True, kw_only=True)
class DetectorHeader(Record):
    """The JSON header inside a detector checkpoint: architecture, input, threshold, training and held-out metrics."""

    FORMAT = "latentedit-detector"
    architecture: str
    parameters: int | None = omitted()
    input: DetectorInput
    threshold: float = 0.5
    training: dict[str, Any] | None = omitted()
    held_out: dict[str, Any] | None = omitted()
    created: str | None = omitted()
    latentedit_version: str | None = omitted()


@dataclass(frozen=True, kw_only=True)
class LabelCounts(Fields):
    """How many labelled faces a learned scorer saw: of each class, unclear (left out), and without a face found."""

    positive: int
    negative: int
    unclear: int = 0
    no_face: int = 0


@dataclass(frozen=True, kw_only=True)
class ScorerHeader(Record):
    """The JSON header inside a learned scorer file (``train-scorer``): the attribute, the feature extractor its
    linear probe reads (name and weights sha256, checked on loading), the labels and the cross-validated ROC AUC."""

    FORMAT = "latentedit-scorer"
    attribute: str
    feature_extractor: str
    feature_extractor_sha256: str
    feature_dim: int
    labels: LabelCounts
    labels_files: list[str] = field(default_factory=list)
    regularisation_c: float
    cv_folds: int
    cv_auc: float
    cv_auc_std: float
    date: str = ""
    version: str = ""


@dataclass(frozen=True, kw_only=True)
class LabelSheetRecord(RunHead):
    """``sheet.json`` of a ``label sheet`` or ``label suggest`` folder: where its faces came from (a seed, or a pool
    of faces and the scorer that chose among them) and its files."""

    FORMAT = "latentedit-label-sheet"
    n: int
    seed: int | None = omitted()
    pool: int | None = omitted()
    pool_seed: int | None = omitted()
    scorer: FileRef | None = omitted()
    codes: str = "codes.npy"
    labels: str = "labels.csv"
    sheets: list[str]


@dataclass(frozen=True, kw_only=True)
class DatasetFace(Fields):
    """One face of a ``prepare-faces`` dataset: its file, the photo and face number it came from, the detector's box
    and confidence, how much the crop enlarged the photo, and its 256-bit perceptual hash (hex)."""

    file: str
    source: str
    face: int
    confidence: float
    box: list[float]
    upscale: float
    phash: str


@dataclass(frozen=True, kw_only=True)
class DroppedFace(Fields):
    """A photo or face ``prepare-faces`` left out, and why (``face``: its number in the photo, None for the photo)."""

    source: str
    face: int | None = None
    reason: str
    detail: str | None = omitted()


@dataclass(frozen=True, kw_only=True)
class FaceDatasetRecord(Record):
    """``manifest.json`` of a ``prepare-faces`` dataset: crop size, framing (its five points in crop units), the
    faces kept, those dropped with the reason, the counts and the settings."""

    FORMAT = "latentedit-faces"
    tool: str = "latentedit"
    version: str = ""
    date: str = ""
    size: int
    framing: str
    template: list[list[float]]
    images: list[DatasetFace]
    dropped: list[DroppedFace]
    counts: dict[str, int]
    settings: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TrainRunRecord(Record):
    """``run.json`` of a ``train-gan`` run folder: the configuration that determines the weights (compared before
    ``--resume``), the dataset, and how far the run got."""

    FORMAT = "latentedit-gan-run"
    tool: str = "latentedit"
    version: str = ""
    date: str = ""
    config: dict[str, Any]
    dataset: str
    images_seen: int
    steps: int
    processes: int


@dataclass(frozen=True, kw_only=True)
class TrainedGeneratorHeader(Record):
    """The header of a generator file written by ``train-gan`` (a ``torch.save`` dict: these fields plus
    ``state_dict``; see :mod:`latentedit.models.gan`): architecture, model name, resolution, what builds the
    architecture, the training faces' framing (five points in crop units, None when unknown) and the run."""

    FORMAT = "latentedit-generator"
    arch: str
    name: str
    resolution: int
    latent_dim: int
    config: dict[str, Any]
    template: list[list[float]] | None = None
    training: dict[str, Any] = field(default_factory=dict)
