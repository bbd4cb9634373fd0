"""``latentedit prepare-faces``: a training set of aligned faces from photos, with a manifest of what was kept and
dropped and why.

Every face MTCNN finds is aligned by a similarity transform of its five landmarks onto the framing a generator
family expects (FFHQ's for the high-resolution models, or the embedded dcgan-digiface64's). A face is dropped when
the detector is unsure of it, when the crop would enlarge the photo too much (too small), when the crop reaches
past the photo's edge (it would be filled with black), or when it repeats a face already kept: a pixel-identical
crop, a near-identical one by perceptual hash, or the same file twice.
"""

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..core.face_filters import DuplicateIndex, crop_upscale, outside_fraction, perceptual_hash
from ..errors import NoFaceError, UsageError
from ..files.images import IMAGE_SUFFIXES, read_image
from ..files.outputs import PngWriter, staged_output, write_json
from ..files.weights import sha256_file
from ..models.alignment import align, similarity_transform, template_points
from ..models.mtcnn import MTCNN
from ..records import DatasetFace, DroppedFace, FaceDatasetRecord, utc_now
from ..specs import OutputSpec

SIZES = (64, 128, 256)
FRAMINGS = ("ffhq", "dcgan-digiface64")  # models.alignment.TEMPLATES names: the registry entries' framings
MANIFEST = "manifest.json"
FEW_PHOTOS = 16  # no progress bar for so few
REASONS = (
    "unreadable",
    "duplicate file",
    "no face",
    "low confidence",
    "too small",
    "cut by the image edge",
    "exact duplicate",
    "near duplicate",
)


@dataclass(frozen=True)
class PrepareFacesRequest:
    """What to prepare: ``photos`` (files, or folders walked for image files), the crop ``size`` and ``framing``,
    and the thresholds of the checks: the detector's ``min_confidence``, the largest enlargement of the photo
    (``max_upscale``), the largest fraction of the crop outside the photo (``max_outside``) and the Hamming
    distance of perceptual hashes under which a face is a near duplicate (``max_hash_distance``)."""

    output: OutputSpec
    photos: tuple[Path, ...]
    size: int = 64
    framing: str = "ffhq"
    min_confidence: float = 0.95
    max_upscale: float = 2.0
    max_outside: float = 0.0
    max_hash_distance: int = 48
    device: str = "auto"

    def check(self) -> None:
        if self.size not in SIZES:
            raise UsageError(f"size must be one of {', '.join(map(str, SIZES))}, got {self.size}")
        if self.framing not in FRAMINGS:
            raise UsageError(f"framing must be one of {', '.join(FRAMINGS)}, got {self.framing!r}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise UsageError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if not self.max_upscale > 0:
            raise UsageError(f"max_upscale must be positive, got {self.max_upscale}")
        if not 0.0 <= self.max_outside < 1.0:
            raise UsageError(f"max_outside must be in [0, 1), got {self.max_outside}")


def photo_files(photos: tuple[Path, ...]) -> list[Path]:
    """The files named, and the image files (by suffix) anywhere under the folders named, in a stable order."""
    files: list[Path] = []
    for photo in map(Path, photos):
        if photo.is_dir():
            files.extend(sorted(p for p in photo.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif photo.is_file():
            files.append(photo)
        else:
            raise UsageError(f"{photo} does not exist")
    return files


class _Selection:
    """The faces kept so far and what was dropped, with the checks that decide."""

    def __init__(self, request: PrepareFacesRequest) -> None:
        self.request = request
        self.template = template_points(request.framing)
        try:
            self.duplicates = DuplicateIndex(request.max_hash_distance)
        except ValueError as exc:
            raise UsageError(str(exc).replace("max_distance", "max_hash_distance")) from None
        self.kept: list[DatasetFace] = []
        self.dropped: list[DroppedFace] = []
        self.files: dict[str, str] = {}  # sha256 of the photo -> its path
        self.crops: dict[str, str] = {}  # sha256 of the crop's pixels -> its file
        self.faces_found = 0

    def drop(self, source: str, reason: str, face: int | None = None, detail: str | None = None) -> None:
        self.dropped.append(DroppedFace(source=source, face=face, reason=reason, detail=detail))

    def photo(self, path: Path, detector: MTCNN) -> list[np.ndarray]:
        """The crops of the faces of ``path`` that pass every check (each recorded in :attr:`kept`)."""
        source, request = str(path), self.request
        digest = sha256_file(path)
        if digest in self.files:
            self.drop(source, "duplicate file", detail=f"same bytes as {self.files[digest]}")
            return []
        self.files[digest] = source
        try:
            image = read_image(path)
        except UsageError as exc:
            self.drop(source, "unreadable", detail=str(exc))
            return []
        faces = detector.detect([image])[0]
        self.faces_found += len(faces)
        if not faces:
            self.drop(source, "no face")
        crops = []
        for k, face in enumerate(faces):
            if face.score < request.min_confidence:
                self.drop(source, "low confidence", k, f"{face.score:.3f}")
                continue
            matrix = similarity_transform(face.landmarks, self.template * request.size)
            if (upscale := crop_upscale(matrix)) > request.max_upscale:
                self.drop(source, "too small", k, f"the crop would enlarge it {upscale:.2f}x")
                continue
            if (outside := outside_fraction(matrix, image.shape, request.size)) > request.max_outside:
                self.drop(source, "cut by the image edge", k, f"{outside:.1%} of the crop outside the photo")
                continue
            crop = align(image, face.landmarks, request.size, self.template)[0]
            crop_digest = hashlib.sha256(crop.tobytes()).hexdigest()
            if crop_digest in self.crops:
                self.drop(source, "exact duplicate", k, f"same pixels as {self.crops[crop_digest]}")
                continue
            code = perceptual_hash(crop)
            if (near := self.duplicates.nearest(code)) is not None:
                self.drop(source, "near duplicate", k, f"of {self.kept[near[0]].file} ({near[1]} bits of 256 differ)")
                continue
            name = f"{len(self.kept):06d}.png"
            self.duplicates.add(code)
            self.crops[crop_digest] = name
            self.kept.append(
                DatasetFace(
                    file=name,
                    source=source,
                    face=k,
                    confidence=round(face.score, 4),
                    box=[round(float(v), 1) for v in face.box],
                    upscale=round(upscale, 3),
                    phash=code.astype(">u8").tobytes().hex(),
                )
            )
            crops.append(crop)
        return crops

    def counts(self, photos: int) -> dict[str, int]:
        reasons = Counter(entry.reason for entry in self.dropped)
        return {
            "photos": photos,
            "faces_found": self.faces_found,
            "kept": len(self.kept),
            **{f"dropped: {reason}": reasons[reason] for reason in REASONS if reasons[reason]},
        }


def dropped_summary(counts: dict[str, int]) -> str:
    """``reason count, ...`` of the dropped entries of ``counts``."""
    dropped = {key.removeprefix("dropped: "): value for key, value in counts.items() if key.startswith("dropped")}
    return ", ".join(f"{reason} {value}" for reason, value in dropped.items())


def prepare_faces(request: PrepareFacesRequest, *, progress: bool | None = None) -> FaceDatasetRecord:
    """Detect, align, check and write every usable face of ``request.photos`` to the output folder (PNG files
    000000.png... and manifest.json, a :class:`FaceDatasetRecord`); the folder appears only when complete. The
    progress bar shows when ``progress`` is true, or by default for more than :data:`FEW_PHOTOS` photos."""
    request.check()
    selection = _Selection(request)
    files = photo_files(request.photos)
    if not files:
        raise UsageError(f"no image files (.png, .jpg, ...) in {', '.join(map(str, request.photos))}")
    with staged_output(request.output.path, request.output.overwrite, inputs=request.photos) as staging:
        detector = MTCNN.load(request.device)
        show = progress if progress is not None else len(files) > FEW_PHOTOS
        with PngWriter() as writer, tqdm(files, unit="photo", desc="prepare-faces", disable=not show) as bar:
            for path in bar:
                first = len(selection.kept)
                for k, crop in enumerate(selection.photo(path, detector)):
                    writer.submit(crop, staging / selection.kept[first + k].file)
                bar.set_postfix(kept=len(selection.kept), dropped=len(selection.dropped), refresh=False)
        counts = selection.counts(len(files))
        if not selection.kept:
            raise NoFaceError(f"no usable face in {len(files)} photo(s) ({dropped_summary(counts)})")
        settings = {
            "size": request.size,
            "framing": request.framing,
            "min_confidence": request.min_confidence,
            "max_upscale": request.max_upscale,
            "max_outside": request.max_outside,
            "max_hash_distance": request.max_hash_distance,
        }
        record = FaceDatasetRecord(
            version=__version__,
            date=utc_now(),
            size=request.size,
            framing=request.framing,
            template=selection.template.round(6).tolist(),
            images=selection.kept,
            dropped=selection.dropped,
            counts=counts,
            settings=settings,
        )
        write_json(record, staging / MANIFEST)
    return record
