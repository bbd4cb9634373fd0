"""``latentedit detect``: real or fake, with a probability, for each face in each image."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..files.images import read_image
from ..models.analysis import FaceAnalysis
from ..models.detector import Detector, face_crops


@dataclass
class FaceResult:
    """One line of ``detect``: a face (index, box, P(fake)) in a file, or a file without a face (face is None)."""

    file: str
    face: int | None
    p_fake: float | None = None
    label: str = "no face"
    box: list[float] | None = None


def detect_files(
    paths: Sequence[Path],
    detector: Detector,
    *,
    threshold: float | None = None,
    whole_image: bool = False,
    analysis: FaceAnalysis | None = None,
) -> list[FaceResult]:
    """Classify every face in every image (or each whole image) as real or fake; ``threshold``: the P(fake) from
    which a face is called fake (default: the detector's)."""
    threshold = detector.threshold if threshold is None else threshold
    if not 0.0 < threshold < 1.0:
        raise UsageError(f"the threshold must be between 0 and 1, got {threshold}")
    images = [read_image(path) for path in paths]  # all readable before any work
    mtcnn = None if whole_image else (analysis or FaceAnalysis(detector.device)).mtcnn
    crops, boxes = face_crops(images, detector.spec, detector=mtcnn, whole_image=whole_image, batch_size=32)
    flat = [c for cs in crops for c in cs]
    probabilities = iter(detector.probabilities(np.stack(flat)) if flat else [])
    results = []
    for path, cs, bs in zip(paths, crops, boxes):
        if not cs:
            results.append(FaceResult(str(path), None))
        for i, box in enumerate(bs):
            p = float(next(probabilities))
            results.append(FaceResult(str(path), i, round(p, 4), "fake" if p >= threshold else "real", box))
    return results


def format_results(results: Sequence[FaceResult], as_json: bool) -> str:
    """``detect``'s output: one line per face (or per file without a face), or a JSON list."""
    if as_json:
        return json.dumps([vars(r) for r in results], indent=2)
    lines = []
    for r in results:
        if r.face is None:
            lines.append(f"{r.file}\t-\tno face")
        else:
            lines.append(f"{r.file}\tface {r.face}\t{r.label}\tp_fake={r.p_fake:.3f}")
    return "\n".join(lines)
