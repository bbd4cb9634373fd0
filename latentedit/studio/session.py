"""A studio session, without HTTP: the face being edited, sliders -> edit plan -> render -> scores, the undo stack,
exports that ``latentedit edit --replay`` reproduces bit for bit, and labelling sheets.

Every file the session reads or writes lies in one of the folders of its work folder (:data:`FOLDERS`), named by
:func:`Studio.path`, which accepts plain file names only; the browser never names a path of its own.
"""

import dataclasses
import hashlib
import io
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..commands.edit import edit_record, prepare_photos, select_codes
from ..core.boundary import Boundary
from ..core.editing import EditPlan, apply_edit, format_layers, parse_layers, plan_edit
from ..errors import LatentEditError, UsageError
from ..files.boundaries import load_boundary, shipped_boundaries
from ..files.codes import array_shape
from ..files.images import read_image
from ..files.outputs import safe_name, save_png, staged_output, write_files_atomically, write_json
from ..files.weights import sha256_file
from ..models.analysis import FaceAnalysis
from ..models.generators import Generator, downstream_codes, generator_template, render, run_record, to_uint8
from ..models.photo import PhotoFace
from ..models.scoring import load_scorers, score_images
from ..specs import GeneratorSpec, PhotoOptions
from .labels import LabelBook

FOLDERS = ("uploads", "codes", "exports", "labels")
STRENGTH_LIMIT = 10.0  # |strength| accepted from the page (its sliders go to 5)
EXPORT_STEPS = np.array([0.0, 1.0])  # an exported edit.json has two columns: the face and the full edit
MAX_PHOTO_PIXELS = 50_000_000
UNDO_DEPTH = 200
RENDER_CACHE = 32
PHOTO_CACHE = 8


# ------------------------------------------------------------------------------------------------ sliders


@dataclass
class Slider:
    """One boundary the page shows as a slider: its name (an ``edit --attrs`` name), where it came from, and a
    line on what it measurably does, from its sidecar."""

    name: str
    boundary: Boundary
    origin: str
    meaning: str

    def to_json(self) -> dict:
        return {"name": self.name, "origin": self.origin, "meaning": self.meaning}


def sidecar_meaning(meta: dict) -> str:
    """One line from a boundary sidecar (as JSON: its typed fields and any others, such as a direction's method and
    rank): its stated meaning, method, attribute and measured accuracy, when given."""
    parts = [meta[key] for key in ("meaning", "summary", "description") if isinstance(meta.get(key), str)][:1]
    if isinstance(meta.get("method"), str):
        parts.append(f"{meta['method']} direction" + (f" #{meta['rank']}" if isinstance(meta.get("rank"), int) else ""))
    if isinstance(meta.get("attribute"), str):
        parts.append(f"attribute {meta['attribute']}")
    accuracy = meta.get("validation_accuracy")
    if isinstance(accuracy, (int, float)):
        codes = f" on {meta['n']} codes" if isinstance(meta.get("n"), int) else ""
        parts.append(f"validation accuracy {accuracy:.3f}{codes}")
    return "; ".join(parts)


def load_sliders(
    model: str, dim: int, folders: Sequence[Path] = (), space: str = "z"
) -> tuple[dict[str, Slider], list[str]]:
    """The shipped boundaries of ``model``, then every boundary in ``folders`` (``NAME.npy`` with a ``NAME.json``
    sidecar, or a bare (1, dim) ``.npy``), keyed by slider name; returns them and the files left out, with why.

    A name already taken gets its folder's name as a prefix. Boundaries of another dimension than ``dim``, or whose
    sidecar names another latent space than the edited ``space`` (a w boundary edits wp codes), are left out, as
    are files that are not boundaries (codes, scores)."""
    sliders: dict[str, Slider] = {}
    skipped: list[str] = []
    candidates = [(path, "shipped") for path in shipped_boundaries(model).values()]
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise UsageError(f"boundary folder {folder} does not exist or is not a folder")
        candidates += [(path, str(folder.resolve())) for path in sorted(folder.glob("*.npy"))]
    for path, origin in candidates:
        try:
            boundary = load_boundary(path.resolve())
        except UsageError as exc:
            skipped.append(f"{path}: {exc}")
            continue
        if boundary.dim != dim:
            skipped.append(f"{path}: dimension {boundary.dim}, the model's codes have {dim}")
            continue
        trained_in = boundary.info.space
        if trained_in and trained_in != ("w" if space == "wp" else space):
            skipped.append(f"{path}: trained on {trained_in} codes, the studio edits space {space}")
            continue
        name = re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem)
        if name in sliders:
            name = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(origin).name)}/{name}"
        while name in sliders:
            name += "_"
        sliders[name] = Slider(name, boundary.renamed(name), origin, sidecar_meaning(boundary.info.to_json()))
    return sliders, skipped


# ------------------------------------------------------------------------------------------------- states


@dataclass(frozen=True)
class Source:
    """Where the face comes from: a seed (``sample(1, seed)``), a row of a codes file in the work folder's
    ``codes`` or ``labels`` folder, or an uploaded photo (a file name in ``uploads``)."""

    kind: str  # seed | codes | photo
    seed: int = 0
    folder: str = ""  # codes: "codes" or "labels"
    file: str = ""  # codes: the .npy file's name; photo: the uploaded file's name
    row: int = 0

    def key(self) -> str:
        """A short text naming the source, as the page writes it (see studio.js ``sourceKey``)."""
        if self.kind == "seed":
            return f"seed:{self.seed}"
        return f"{self.folder}/{self.file}:{self.row}" if self.kind == "codes" else f"photo:{self.file}"

    def to_json(self) -> dict:
        if self.kind == "seed":
            return {"kind": "seed", "seed": self.seed}
        if self.kind == "codes":
            return {"kind": "codes", "folder": self.folder, "file": self.file, "row": self.row}
        return {"kind": "photo", "file": self.file}

    @classmethod
    def from_json(cls, data: object) -> "Source":
        if not isinstance(data, dict):
            raise UsageError("source must be an object with a kind: seed, codes or photo")
        kind = data.get("kind")
        if kind == "seed":
            return cls("seed", seed=_whole(data.get("seed"), "source seed", 0, 2**32 - 1))
        if kind == "codes":
            folder = data.get("folder", "codes")
            if folder not in ("codes", "labels"):
                raise UsageError(f"codes files are read from the work folder's codes or labels folder, not {folder!r}")
            row = _whole(data.get("row"), "source row", 0)
            return cls("codes", folder=folder, file=_file_name(data.get("file")), row=row)
        if kind == "photo":
            return cls("photo", file=_file_name(data.get("file")))
        raise UsageError(f"source kind must be seed, codes or photo, got {kind!r}")


@dataclass(frozen=True)
class EditState:
    """What the page shows: a source and the strength of every slider that is not at zero (in slider order), with
    the sliders kept fixed (conditions, in slider order) and, for W+ codes, the layers that move (None: all)."""

    source: Source
    strengths: tuple[tuple[str, float], ...] = ()
    fixed: tuple[str, ...] = ()
    layers: tuple[int, ...] | None = None

    def key(self) -> str:
        """The state as text, as the server sends it with the image (``X-State``, the image's ``data-state``)."""
        text = " ".join([self.source.key(), *(f"{name}={_signed(value)}" for name, value in self.strengths)])
        text += f" | fixed {','.join(self.fixed)}" if self.fixed else ""
        return text + (f" | layers {format_layers(self.layers)}" if self.layers is not None else "")

    def to_json(self) -> dict:
        layers = {} if self.layers is None else {"layers": format_layers(self.layers)}
        return {"source": self.source.to_json(), "strengths": dict(self.strengths), "fixed": list(self.fixed), **layers}

    @classmethod
    def from_json(cls, data: object, sliders: dict[str, Slider], *, num_layers: int | None = None) -> "EditState":
        """A state sent by the page, checked against ``sliders``; zero strengths are dropped, the rest ordered.
        Its ``layers`` (``"0-3"``, ``"0,2,5-7"`` or ``"all"``) choose among ``num_layers`` W+ layers (None: the
        codes have no layers); all of them are kept as None, so that a state has one form."""
        if not isinstance(data, dict):
            raise UsageError("the edit state must be an object with source, strengths and fixed")
        strengths, fixed = data.get("strengths", {}), data.get("fixed", [])
        if not isinstance(strengths, dict) or not isinstance(fixed, list):
            raise UsageError("strengths must map slider names to numbers and fixed must list slider names")
        unknown = [name for name in [*strengths, *fixed] if name not in sliders]
        if unknown:
            raise UsageError(f"unknown slider {unknown[0]!r}; the sliders are: {', '.join(sliders)}")
        for name, value in strengths.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or abs(value) > STRENGTH_LIMIT
            ):
                raise UsageError(
                    f"strength of {name} must be a number from -{STRENGTH_LIMIT:g} to {STRENGTH_LIMIT:g}, got {value!r}"
                )
        both = [name for name in fixed if strengths.get(name)]
        if both:
            raise UsageError(f"{both[0]} is kept fixed, so it cannot be edited too: set its slider to 0 or let it move")
        return cls(
            Source.from_json(data.get("source")),
            tuple((name, float(strengths[name])) for name in sliders if strengths.get(name)),
            tuple(name for name in sliders if name in fixed),
            _layers(data.get("layers"), num_layers),
        )


def _layers(value: object, num_layers: int | None) -> tuple[int, ...] | None:
    """The W+ layers a state moves (None: all of them) from the page's text, as ``edit --layers`` reads it."""
    if value is None:
        return None
    if num_layers is None:
        raise UsageError("layers move chosen layers of W+ codes; this model's codes have no layers")
    if not isinstance(value, str):
        raise UsageError(f"layers must be text such as 0-3, 0,2,5-7 or all, got {value!r}")
    layers = parse_layers(value, num_layers=num_layers)
    return None if layers == tuple(range(num_layers)) else layers


def _signed(value: float) -> str:
    """A strength as the page prints it: ``+2.5``, ``-1``, ``+0.25``."""
    return f"{value:+.10g}"


def _whole(value: object, what: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise UsageError(f"{what} must be a whole number {limit}, got {value!r}")
    return value


def _safe_stem(name: str, default: str) -> str:
    """A file name's stem made of letters, digits, _ and - (others become _), starting with a letter or digit."""
    return re.sub(r"[^A-Za-z0-9_\-]", "_", Path(name).stem).strip("_-")[:40] or default


def _file_name(value: object) -> str:
    """``value`` if it is a plain file name (see :func:`~latentedit.files.outputs.safe_name`), never a path."""
    try:
        if isinstance(value, str):
            return safe_name(value, "file name")
    except UsageError:
        pass
    raise UsageError(f"not a file name of the studio's work folder: {value!r}")


# -------------------------------------------------------------------------------------------------- faces


@dataclass
class Face:
    """A source made ready: its code (1, dim), the generator that renders it (tuned to a photo, or the model's),
    its unedited rendering, the source fields of an ``edit.json`` record (see
    :func:`~latentedit.commands.edit.edit_record`), and for photos the aligned photo."""

    code: np.ndarray
    renderer: Generator
    before: np.ndarray  # uint8 (R, R, 3)
    source: dict
    photo: PhotoFace | None = None
    quality: dict = field(default_factory=dict)  # photos: PSNR and SSIM of the inversion

    def view(self, rendering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The picture of a rendering of this face (a photo: with the face changed from ``before``, as ``edit
        PHOTO`` does) and what the page shows of it (a photo: the face's surroundings)."""
        if self.photo is None:
            return rendering, rendering
        pasted = self.photo.paste(self.before, rendering)
        rows, cols = self.photo.surroundings()
        return pasted, pasted[rows, cols]


@dataclass
class Rendered:
    """One state rendered for the page: the edited code (1, dim) and what the page shows."""

    state: EditState
    code: np.ndarray
    view: np.ndarray
    photo: bool


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads (this thread's setting), then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class StudioRequest:
    """A studio: its work folder (``uploads``, ``codes``, ``exports``, ``labels``), the generator, folders of
    boundaries to add as sliders besides the shipped ones, and how uploaded photos are inverted (``options``) and
    the generator tuned to them (``tune`` steps), as ``edit PHOTO`` does."""

    workdir: Path
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    boundary_folders: Sequence[Path] = ()
    options: PhotoOptions = field(default_factory=PhotoOptions)
    tune: int = 100


# ------------------------------------------------------------------------------------------------- studio


class Studio:
    """The state of one ``latentedit studio``: model, sliders, prepared faces, undo stack, exports and labels.

    ``suggest`` is the hook of a suggestion method (``latentedit label suggest``): given an attribute's labels CSV
    and a count, it returns the codes to label next and a name for their sheet.

    Not thread-safe: the HTTP app calls every method that uses torch from a single worker thread (see
    :mod:`latentedit.studio.app`), except :meth:`scores`, which uses only the scorers (with their own face
    analysis) and runs on another; :meth:`progress` may be read from any thread.
    """

    def __init__(
        self,
        request: StudioRequest,
        *,
        suggest: Callable[[Path, int], tuple[np.ndarray, str]] | None = None,
    ) -> None:
        if request.tune < 0:
            raise UsageError(f"tune must be 0 or more, got {request.tune}")
        request.options.settings.check()
        self.request, self.options, self.tune = request, request.options, request.tune
        self.generator, self.digest = request.generator.load()
        self.model = self.generator.name
        # StyleGAN models are edited in W+ (`edit --space wp`), where a state may move chosen layers only; models
        # without W (DCGAN, PGGAN) in Z
        self.space = "wp" if "wp" in self.generator.spaces else "z"
        self.num_layers = self.generator.code_shape("wp")[0] if self.space == "wp" else None
        dim = self.generator.code_shape(self.space)[-1]
        self.sliders, self.skipped = load_sliders(self.model, dim, request.boundary_folders, self.space)
        if not self.sliders:
            raise UsageError(f"no boundary for model {self.model}: give a folder of boundaries")
        self.workdir = Path(request.workdir).resolve()
        try:
            for name in FOLDERS:
                (self.workdir / name).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot use work folder {self.workdir}: {exc.strerror}") from None
        self.labels = LabelBook(self.workdir / "labels")
        self.suggest = suggest
        # one face analysis per worker thread (see studio.app): photos on the render thread, scores on their own
        self.analysis = FaceAnalysis(self.generator.device)
        self.scorers = load_scorers(None, FaceAnalysis(self.generator.device))
        # photos are prepared with the thread count `edit PHOTO` would use: tuning gives other bits with another
        # count, and the export must replay bit for bit
        self.photo_threads = torch.get_num_threads()
        self._progress: dict | None = None
        self._faces: OrderedDict[Source, Face] = OrderedDict()
        self._renders: OrderedDict[EditState, Rendered] = OrderedDict()
        self.current = EditState(Source("seed", seed=0))
        self._undo: list[EditState] = []

    def state(self, data: object) -> EditState:
        """The page's state ``data`` checked against this studio's sliders and W+ layers."""
        return EditState.from_json(data, self.sliders, num_layers=self.num_layers)

    # -- files

    def path(self, folder: str, name: str, export: str | None = None) -> Path:
        """The file ``name`` of the work folder's ``folder`` (for ``exports``: of export folder ``export``); only
        plain file names are accepted, so no name leads out of the work folder."""
        if folder not in FOLDERS:
            raise UsageError(f"no folder {folder!r} in the studio's work folder")
        base = self.workdir / folder
        if export is not None:
            if folder != "exports" or not export.isdigit():
                raise UsageError(f"no export {export!r} in the studio's work folder")
            base = base / export
        path = base / _file_name(name)
        if path.resolve().parent != base.resolve() or not base.resolve().is_relative_to(self.workdir):
            raise UsageError(f"{folder}/{name} leads outside the studio's work folder")
        return path

    def codes_files(self) -> list[dict]:
        """The codes files the page can take a face from: name, folder and row count."""
        listed = []
        for folder in ("codes", "labels"):
            for path in sorted((self.workdir / folder).glob("*.npy")):
                try:
                    shape = array_shape(path)
                except UsageError:
                    continue
                if shape:
                    listed.append({"folder": folder, "file": path.name, "rows": shape[0]})
        return listed

    def add_codes(self, name: str, data: bytes) -> dict:
        """Keep an uploaded ``.npy`` codes file in ``codes/`` (after checking that it holds codes of this model);
        an existing file of that name with other contents is kept and the new one gets a numbered name."""
        stem = _safe_stem(name, "codes")
        try:
            codes = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise UsageError(f"{name} is not a NumPy .npy file ({type(exc).__name__})") from None
        codes = self.generator.validate_codes(codes, self._codes_space(codes.shape))

        def write(path: Path) -> None:
            path.write_bytes(data)

        for number in range(1000):
            path = self.path("codes", f"{stem}{f'-{number}' if number else ''}.npy")
            if path.is_file() and path.read_bytes() == data:
                break
            if not path.exists():
                write_files_atomically({path: write})
                break
        else:
            raise UsageError(f"too many codes files named {stem}")
        return {"folder": "codes", "file": path.name, "rows": len(codes)}

    def add_photo(self, name: str, data: bytes) -> str:
        """Keep an uploaded photo in ``uploads/`` under a name made of its own and its digest, after checking that
        it reads as an image (as every photo input is checked); returns the file name."""
        suffix = re.sub(r"[^a-z0-9]", "", Path(name).suffix.lower())[:8]
        stem = _safe_stem(name, "photo")
        target = self.path("uploads", f"{stem}-{hashlib.sha256(data).hexdigest()[:12]}{f'.{suffix}' if suffix else ''}")

        def write_checked(path: Path) -> None:
            path.write_bytes(data)
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except Exception:  # noqa: BLE001 (Pillow raises many types for files that are not images)
                raise UsageError(f"cannot read image {name}: not an image file") from None
            if width * height > MAX_PHOTO_PIXELS:
                raise UsageError(
                    f"{name} has {width} x {height} pixels; the studio takes photos of at most "
                    f"{MAX_PHOTO_PIXELS // 1_000_000} million pixels"
                )
            try:
                read_image(path)
            except UsageError as exc:
                raise UsageError(str(exc).replace(str(path), name)) from None

        if not target.is_file():
            write_files_atomically({target: write_checked})
        return target.name

    # -- faces

    def face(self, source: Source) -> Face:
        """The prepared face of ``source`` (photos must have gone through :meth:`prepare_photo`)."""
        if source in self._faces:
            self._faces.move_to_end(source)
            return self._faces[source]
        if source.kind == "photo":
            raise UsageError(f"photo {source.file} is not prepared: upload it again")
        codes_file = self.path(source.folder, source.file) if source.kind == "codes" else None
        if codes_file is not None and not codes_file.is_file():
            raise UsageError(f"no codes file {source.folder}/{source.file} in the studio's work folder")
        if codes_file is None:
            code, record = select_codes(self.generator, space=self.space, n=1, seed=source.seed)
        else:
            space = self._codes_space(array_shape(codes_file))
            code, record = select_codes(self.generator, space=space, codes_file=codes_file, index=[source.row])
            if space != self.space:  # Z codes edited in W+: the export carries the W+ code (see export)
                code, record = downstream_codes(self.generator, code)[self.space], {}
        return self._keep(source, Face(code, self.generator, self._render(self.generator, code), record))

    def _codes_space(self, shape: tuple[int, ...] | None) -> str:
        """The space of codes of ``shape`` (a codes file's): Z where they are Z codes (such as the labelling
        sheets'), else the studio's."""
        return "z" if shape is not None and shape[1:] == self.generator.code_shape("z") else self.space

    def prepare_photo(self, name: str) -> Face:
        """Detect, align and invert the face of uploaded photo ``name`` and tune a generator to it, exactly as
        ``latentedit edit PHOTO`` does (:func:`~latentedit.commands.edit.prepare_photos`) with the studio's
        inversion options and tuning steps; :meth:`progress` tells how far it is meanwhile."""
        path = self.path("uploads", name)
        if not path.is_file():
            raise UsageError(f"no uploaded photo {name}")
        try:
            with torch_threads(self.photo_threads):
                prepared = prepare_photos(
                    [path],
                    self.generator,
                    space=self.space,
                    options=self.options,
                    paste="change",
                    tune=self.tune,
                    analysis=self.analysis,
                    on_progress=self._report_progress,
                )
                before = self._render(prepared.renderers[0], prepared.codes[:1])
        finally:
            self._progress = None
        photo, entry = prepared.faces[0], prepared.source["photos"][0]
        quality = {"psnr_db": entry.psnr_db, "ssim": entry.ssim, "faces_found": entry.faces_found}
        face = Face(prepared.codes[:1], prepared.renderers[0], before, prepared.source, photo, quality)
        return self._keep(Source("photo", file=name), face, PHOTO_CACHE)

    def _report_progress(self, stage: str, done: int, total: int) -> None:
        self._progress = {"stage": stage, "done": done, "total": total}

    def progress(self) -> dict | None:
        """How far the photo being prepared is: its stage (inverting, tuning), steps done and their total; None
        while no photo is being prepared."""
        return self._progress

    def _keep(self, source: Source, face: Face, limit: int = RENDER_CACHE) -> Face:
        self._faces[source] = face
        same_kind = [s for s in self._faces if (s.kind == "photo") == (source.kind == "photo")]
        for old in same_kind[: max(0, len(same_kind) - limit)]:
            del self._faces[old]
        return face

    def _render(self, renderer: Generator, codes: np.ndarray) -> np.ndarray:
        """The first code rendered as ``edit`` renders it (a batch padded to ``batch_multiple``)."""
        return next(render(renderer, codes, space=self.space, progress=False))[0]

    @torch.inference_mode()
    def _render_alone(self, renderer: Generator, code: np.ndarray) -> np.ndarray:
        """One code rendered alone, for the page: less than half the work of the padded batch, and on the CPUs
        measured the same pixels (the tests compare them; exports use :meth:`_render`)."""
        return to_uint8(renderer.synthesize(torch.from_numpy(code).to(renderer.device), self.space))[0]

    # -- editing

    def plan(self, state: EditState) -> EditPlan | None:
        """The edit plan of ``state`` (as ``edit --attrs`` with its strengths, ``--condition`` its fixed sliders and
        ``--layers`` its layers would make it), or None when no slider is moved."""
        if not state.strengths:
            return None
        boundaries = [self.sliders[name].boundary for name, _ in state.strengths]
        conditions = [self.sliders[name].boundary for name in state.fixed]
        return plan_edit(
            boundaries,
            [value for _, value in state.strengths],
            conditions=conditions,
            steps=EXPORT_STEPS,
            layers=state.layers,
        )

    def render(self, state: EditState) -> Rendered:
        """Render ``state`` for the page: the edited code and the view (a photo: its face edited, in its
        surroundings)."""
        if state in self._renders:
            self._renders.move_to_end(state)
            return self._renders[state]
        face = self.face(state.source)
        plan = self.plan(state)
        code = face.code if plan is None else apply_edit(face.code, plan)[:, -1]
        view = face.view(self._render_alone(face.renderer, code) if plan is not None else face.before)[1]
        rendered = Rendered(state, code, view, face.photo is not None)
        self._renders[state] = rendered
        while len(self._renders) > RENDER_CACHE:
            self._renders.popitem(last=False)
        return rendered

    def before(self, source: Source) -> np.ndarray:
        """What the page shows of the unedited face."""
        face = self.face(source)
        return face.view(face.before)[1]

    def scores(self, rendered: Rendered) -> dict:
        """The five attribute scores of what the page shows (None where no face is found)."""
        found = score_images(
            [rendered.view],
            self.scorers,
            progress=False,
            framing=None if rendered.photo else generator_template(self.generator),
        )
        return {name: (None if np.isnan(found[name][0]) else round(float(found[name][0]), 4)) for name in found.names}

    # -- undo

    def commit(self, state: EditState) -> None:
        """Make ``state`` the current one; the previous state goes on the undo stack."""
        if state != self.current:
            self._undo = [*self._undo[-UNDO_DEPTH + 1 :], self.current]
            self.current = state

    def undo(self) -> EditState:
        """Go back to the state before the last commit, and return it."""
        if not self._undo:
            raise UsageError("nothing to undo")
        self.current = self._undo.pop()
        return self.current

    # -- export

    def export(self, state: EditState) -> Path:
        """Write ``exports/NNNN/``: ``face.png`` (the face shown; a photo: the whole photo), ``code.npy`` (the
        edited code, (1, *code_shape)) and ``edit.json`` (built as ``edit`` builds it), which ``latentedit edit
        --replay`` turns into the same code and pixels; a row of Z codes edited in W+ also gets ``source.npy``, its
        W+ code, which ``edit.json`` names as its codes file."""
        rendered = self.render(state)
        face = self.face(state.source)
        plan = self.plan(state)
        picture = face.view(self._render(face.renderer, rendered.code) if plan is not None else face.before)[0]
        if plan is None:  # nothing moved: record a zero strength, which leaves the code as it is
            name = next((n for n in self.sliders if n not in state.fixed), next(iter(self.sliders)))
            plan = plan_edit([self.sliders[name].boundary], [0.0], steps=EXPORT_STEPS, layers=state.layers)
        # signed, so that `edit` reads a distance: an unsigned number up to 1 is a probability target (smile=0.9)
        attrs = ",".join(f"{name}={strength:+}" for name, strength in zip(plan.attributes, plan.strengths))
        used = [self.sliders[name].boundary for name in [*plan.attributes, *plan.conditions]]
        head = run_record(self.model, self.digest, self.generator, self.request.generator.weights)
        record = edit_record(head, space=self.space, source=face.source, attrs=attrs, plan=plan, boundaries=used)
        record = dataclasses.replace(record, studio={"state": state.to_json()})
        exports = self.workdir / "exports"
        number = 1 + max([int(p.name) for p in exports.iterdir() if p.name.isdigit()], default=0)
        out = exports / f"{number:04d}"
        inputs = [b.path for b in used] + [
            Path(p) for p in (record.codes_file, *(e.photo for e in record.photos or [])) if p
        ]
        with staged_output(out, inputs=inputs) as staging:
            if not face.source:
                np.save(staging / "source.npy", face.code)
                record = dataclasses.replace(
                    record, codes_file=str(out / "source.npy"), codes_sha256=sha256_file(staging / "source.npy")
                )
            save_png(picture, staging / "face.png")
            np.save(staging / "code.npy", rendered.code)
            write_json(record, staging / "edit.json")
        return out

    # -- labelling

    def label_sheet(self, seed: int, n: int) -> list[str]:
        """A new sheet of ``n`` faces of seed ``seed``: their Z codes (in every studio, W+ too) go to
        ``labels/seed{seed}-n{n}.npy``; returns the items (``FILE.npy:ROW``) that a labels CSV names."""
        _whole(seed, "seed", 0, 2**32 - 1)
        _whole(n, "the number of faces", 1, 200)
        return self.labels.add_codes(self.generator.sample(n, seed), f"seed{seed}-n{n}")

    def suggest_sheet(self, attribute: str, n: int) -> list[str]:
        """A sheet of the faces that the suggest hook (``latentedit label suggest``) picks for ``attribute``'s
        labels, kept in ``labels/`` like any sheet."""
        if self.suggest is None:
            raise LatentEditError(
                "no suggestion method is installed in this version: label random sheets "
                "(the suggest round comes with `latentedit label suggest`)"
            )
        codes, name = self.suggest(self.labels.csv_path(attribute), n)
        return self.labels.add_codes(self.generator.validate_codes(codes), name)

    def sheet_faces(self, items: Sequence[str]) -> list[np.ndarray]:
        """The rendered faces of labels items (``FILE.npy:ROW`` of the labels folder)."""
        codes = np.stack([self.labels.code(item) for item in items]) if items else np.zeros((0, 1))
        if not len(codes):
            return []
        codes = self.generator.validate_codes(codes)
        return list(np.concatenate(list(render(self.generator, codes, progress=False))))
