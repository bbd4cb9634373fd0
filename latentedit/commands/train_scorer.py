"""``latentedit train-scorer``: a scorer for your own attribute from faces you labelled (a labels CSV of images or
codes): a linear probe on the face features every probe reads, fitted with cross-validation on each face and its
mirror image."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..core.probe import ProbeFit, fit_probe, require_classes
from ..errors import UsageError
from ..files.images import read_image
from ..files.labels import Label, code_rows, read_labels
from ..files.outputs import check_output, write_files_atomically
from ..models.analysis import FaceAnalysis
from ..models.dlib import AGE_WEIGHTS
from ..models.generators import Generator
from ..models.scorers.attribute_probe import FEATURE_DIM
from ..models.scorers.learned import FEATURES, ScorerFile, probe_input
from ..models.scoring import check_learned_name, codes_features, face_features
from ..records import LabelCounts, ScorerHeader, utc_now
from ..specs import GeneratorSpec, OutputSpec


@dataclass(frozen=True)
class ScorerRequest:
    """Train a scorer for ``attr`` (default: the output file's name) on the rows of ``labels_files``; codes items
    are rendered by ``generator``. ``seed`` shuffles the cross-validation folds."""

    output: OutputSpec
    labels_files: Sequence[Path]
    attr: str | None = None
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    seed: int = 0
    batch_size: int = 64
    progress: bool | None = None


def train_scorer(request: ScorerRequest) -> ScorerFile:
    """Write the scorer file (see :mod:`latentedit.models.scorers.learned`) and return what it holds."""
    out = Path(request.output.path)
    attr = check_learned_name(request.attr or out.stem)
    if not request.labels_files:
        raise UsageError("give at least one labels file")
    check_output(out, overwrite=request.output.overwrite, inputs=request.labels_files, folder=False)
    labels = [label for path in request.labels_files for label in read_labels(Path(path))]
    require_classes(np.array([label.label for label in labels]))  # before any face is rendered or read
    features = labelled_features(
        labels,
        request.generator.load,
        FaceAnalysis(request.generator.device),
        batch_size=request.batch_size,
        progress=request.progress,
    )
    fit, counts = fit_labels(labels, features, seed=request.seed)
    header = ScorerHeader(
        attribute=attr,
        feature_extractor=FEATURES,
        feature_extractor_sha256=AGE_WEIGHTS.sha256,
        feature_dim=FEATURE_DIM,
        labels_files=[str(p) for p in request.labels_files],
        labels=counts,
        regularisation_c=fit.c,
        cv_folds=fit.folds,
        cv_auc=round(fit.cv_auc, 4),
        cv_auc_std=round(fit.cv_auc_std, 4),
        date=utc_now(),
        version=__version__,
    )
    scorer = ScorerFile(header, torch.from_numpy(fit.weight), fit.bias)
    write_files_atomically(
        {out: lambda path: torch.save(scorer.checkpoint(), path)}, request.output.overwrite, inputs=request.labels_files
    )
    return scorer


def fit_labels(labels: Sequence[Label], features: np.ndarray, *, seed: int = 0) -> tuple[ProbeFit, LabelCounts]:
    """The probe fitted to the faces of ``labels`` labelled 1 or 0 where a face was found (``features``: as
    :func:`labelled_features` gives them, the mirror images trained on too), and how many labels of each kind."""
    y = np.array([label.label for label in labels])
    known, found = ~np.isnan(y), ~np.isnan(features[:, 0, 0])
    used = features[known & found]
    fit = fit_probe(probe_input(used[:, 0]), y[known & found], augmented=probe_input(used[:, 1]), seed=seed)
    return fit, LabelCounts(
        positive=fit.positive, negative=fit.negative, unclear=int((~known).sum()), no_face=int((known & ~found).sum())
    )


def labelled_features(
    labels: Sequence[Label],
    load: Callable[[], tuple[Generator, str]],
    analysis: FaceAnalysis,
    *,
    batch_size: int = 64,
    progress: bool | None = None,
) -> np.ndarray:
    """Float32 (N, 2, FEATURE_DIM) face features of the labelled items, in order (each face and its mirror image),
    NaN where no face was found: images are read, codes rendered by the generator that ``load`` gives (called only
    when there are codes)."""
    codes = code_rows(list(labels))
    features = np.full((len(labels), 2, FEATURE_DIM), np.nan, np.float32)
    images = [i for i, label in enumerate(labels) if not label.is_code]
    rows = [i for i, label in enumerate(labels) if label.is_code]
    if rows:
        model, _ = load()
        codes = {path: model.validate_codes(array, "z") for path, array in codes.items()}
        stacked = np.stack([codes[labels[i].path][labels[i].row] for i in rows])
        features[rows] = codes_features(model, stacked, analysis, mirror=True, batch_size=batch_size, progress=progress)
    if images:
        features[images] = face_features(
            (_image(labels[i]) for i in images),
            analysis,
            mirror=True,
            batch_size=batch_size,
            progress=progress,
            total=len(images),
        )
    return features


def _image(label: Label) -> np.ndarray:
    try:
        return read_image(label.path)
    except UsageError as exc:
        raise UsageError(f"{label.where}: {exc}") from None
