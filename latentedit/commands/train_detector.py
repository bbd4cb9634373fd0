"""``latentedit train-detector``: a real-or-fake face classifier trained on your own data, both classes prepared
identically."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.detector_training import MIN_PER_CLASS, Split, TrainingSettings, train
from ..errors import UsageError
from ..files.images import list_images, read_image
from ..files.outputs import check_output, write_files_atomically
from ..models.detector import Detector, InputSpec, build_model, face_crops
from ..models.generators import render
from ..models.mtcnn import MTCNN
from ..specs import GeneratorSpec, OutputSpec

SPLITS = ("image", "subfolder")  # what train-detector keeps whole in one part: an image, or a subfolder's images


@dataclass(frozen=True)
class DetectorTrainingRequest:
    """Real faces from ``real_dir``; fakes from ``fake_dir`` or ``n`` samples of ``fake_model`` (a
    :class:`GeneratorSpec` whose device also trains); crops of ``size`` pixels, ``colour`` rgb or gray, aligned to
    ``template`` (or ``whole_image``: the images are crops already); ``split_by`` image or subfolder (one person per
    subfolder, kept whole in one part)."""

    output: OutputSpec
    real_dir: Path
    fake_dir: Path | None = None
    fake_model: GeneratorSpec | None = None
    n: int = 2000
    size: int = 64
    colour: str = "rgb"
    template: str = "dlib-chip"
    whole_image: bool = False
    split_by: str = "image"
    training: TrainingSettings = field(default_factory=TrainingSettings)
    device: str = "auto"


def train_detector_files(request: DetectorTrainingRequest) -> Detector:
    """Prepare both classes identically, train, write the checkpoint."""
    out, seed = Path(request.output.path), request.training.seed
    if (request.fake_dir is None) == (request.fake_model is None):
        raise UsageError("give exactly one of a fake folder or a fake model")
    check_output(out, overwrite=request.output.overwrite, inputs=[request.real_dir, request.fake_dir], folder=False)
    if request.split_by not in SPLITS:
        raise UsageError(f"split-by must be one of {', '.join(SPLITS)}, got {request.split_by!r}")
    spec = InputSpec.create(request.size, request.colour, request.template)
    build_model(request.training.architecture, spec)  # fail early on a bad architecture
    by_subfolder = request.split_by == "subfolder"
    mtcnn = None if request.whole_image else MTCNN.load(request.device)
    whole_image = request.whole_image
    real, real_groups, real_info = crops_from_folder(
        request.real_dir, spec, label="real", by_subfolder=by_subfolder, detector=mtcnn, whole_image=whole_image
    )
    if request.fake_dir is not None:
        fake, fake_groups, fake_info = crops_from_folder(
            request.fake_dir, spec, label="fake", by_subfolder=by_subfolder, detector=mtcnn, whole_image=whole_image
        )
    else:
        assert request.fake_model is not None  # exactly one of fake_dir and fake_model, checked above
        fake, fake_info = crops_from_generator(
            request.fake_model, spec, n=request.n, seed=seed, detector=mtcnn, whole_image=whole_image
        )
        fake_groups = [str(i) for i in range(len(fake))]  # one per sampled code
    for name, crops, info in (("real", real, real_info), ("fake", fake, fake_info)):
        if len(crops) < MIN_PER_CLASS:
            raise UsageError(
                f"training needs at least {MIN_PER_CLASS} {name} faces; {info['source']} gave {len(crops)} "
                f"({info['images']} images, {info['no_face']} without a face"
                + (f", {info['unreadable']} unreadable)" if info.get("unreadable") else ")")
            )
    split = Split.make(len(real), len(fake), seed, groups=(real_groups, fake_groups)) if by_subfolder else None
    detector, _ = train(real, fake, spec=spec, settings=request.training, split=split, device=request.device)
    assert detector.header is not None and detector.header.training is not None
    detector.header.training["data"] = {
        "real": real_info,
        "fake": fake_info,
        "whole_image": request.whole_image,
        "split_by": request.split_by,
    }
    write_files_atomically({out: detector.save}, request.output.overwrite, inputs=[request.real_dir, request.fake_dir])
    return detector


def grouped_images(folder: Path, by_subfolder: bool, label: str) -> list[tuple[Path, str]]:
    """The images to read from ``folder`` and each one's group: its own name, or with ``by_subfolder`` also the
    images of every immediate subfolder, grouped by subfolder (one person per subfolder, as in LFW)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{label} folder {folder} does not exist")
    paths = [(path, path.name) for path in list_images(folder)]
    if by_subfolder:
        subfolders = [
            (path, sub.name + "/") for sub in sorted(folder.iterdir()) if sub.is_dir() for path in list_images(sub)
        ]
        if label == "real" and not subfolders:
            raise UsageError(
                f"split by subfolder: the real folder {folder} has no subfolders with images "
                "(put each person's photos in a subfolder of their own)"
            )
        paths += subfolders
    if not paths:
        raise UsageError(f"{label} folder {folder} holds no images (.png, .jpg, …)")
    return paths


def crops_from_folder(
    folder: Path,
    spec: InputSpec,
    *,
    detector: MTCNN | None,
    whole_image: bool = False,
    label: str = "real",
    by_subfolder: bool = False,
) -> tuple[np.ndarray, list[str], dict]:
    """The largest face of every image in ``folder`` (see :func:`grouped_images`) as input crops, each crop's
    group, and a description with counts."""
    paths = grouped_images(folder, by_subfolder, label)
    crops: list[np.ndarray] = []
    groups: list[str] = []
    unreadable = 0
    for start in tqdm(range(0, len(paths), 64), desc=f"finding faces in {folder}", unit="batch", leave=False):
        images, owners = [], []
        for path, group in paths[start : start + 64]:
            try:
                images.append(read_image(path))
                owners.append(group)
            except UsageError:
                unreadable += 1
        for faces, group in zip(face_crops(images, spec, detector=detector, whole_image=whole_image)[0], owners):
            if faces:
                crops.append(faces[0])
                groups.append(group)
    description = {
        "source": str(folder),
        "images": len(paths),
        "unreadable": unreadable,
        "no_face": len(paths) - unreadable - len(crops),
        "faces": len(crops),
        "groups": len(set(groups)),
    }
    stacked = np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, spec.channels), np.uint8)
    return stacked, groups, description


def crops_from_generator(
    model: GeneratorSpec, spec: InputSpec, *, n: int, seed: int, detector: MTCNN | None, whole_image: bool = False
) -> tuple[np.ndarray, dict]:
    """Input crops of ``n`` faces sampled from generator ``model`` (those where a face is found)."""
    generator, digest = model.load()
    crops: list[np.ndarray] = []
    for batch in render(generator, generator.sample(n, seed), batch_size=64, progress=True):
        found, _ = face_crops(list(batch), spec, detector=detector, whole_image=whole_image)
        crops += [faces[0] for faces in found if faces]
    description = {
        "source": f"{generator.name} samples (seed {seed})",
        "weights_sha256": digest,
        "images": n,
        "no_face": n - len(crops),
        "faces": len(crops),
    }
    return np.stack(crops) if crops else np.zeros((0, spec.size, spec.size, spec.channels), np.uint8), description
