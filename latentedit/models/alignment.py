"""Aligning faces: canonical five-point templates (framings), similarity alignment of a face onto one, the inverse
warp back into the photo, and the soft mask of the inner face used to blend an edit back."""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# Canonical five-point templates in crop units ([0, 1] x [0, 1], x to the right, y down), in landmark order:
# eye on the image's left, eye on the image's right, nose tip, mouth corner left, mouth corner right.
TEMPLATES: dict[str, np.ndarray] = {
    # The ArcFace / InsightFace 112x112 template: a tight crop of the inner face.
    "face": np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
    )
    / 112.0,
    # dlib's get_face_chip_details framing with padding 0.2 (the chips of dlib's age and gender models): the eye
    # centres (mean of points 36-41 and 42-47), nose tip (30) and mouth corners (48, 54) of the 68-point mean face
    # in dlib/image_transforms/interpolation.h, mapped through (p + 0.2) / 1.4.
    "dlib-chip": (
        np.array([[0.22549, 0.21599], [0.75476, 0.21599], [0.49013, 0.51562], [0.25415, 0.78023], [0.72610, 0.78023]])
        + 0.2
    )
    / 1.4,
    # Mean MTCNN landmarks of dcgan-digiface64 samples in their 64x64 frame (1954 faces found in 2000 samples,
    # seed 2; `python benchmarks/detection.py`): the generator's own framing, to align real photos to it.
    "dcgan-digiface64": np.array(
        [[0.3605, 0.4729], [0.6622, 0.4681], [0.5096, 0.6643], [0.3833, 0.8293], [0.6377, 0.8248]]
    ),
}


def _ffhq_template(points: np.ndarray) -> np.ndarray:
    """``points`` (a frontal five-point face) placed in the square that FFHQ's alignment (Karras et al. 2019)
    cuts around them: side 2 max(2 eye distance, 1.8 eye-to-mouth distance), centred 0.1 eye-to-mouth below
    the eyes' midpoint, upright for a level face. CelebA-HQ's framing is close to it."""
    eyes, mouth = points[:2].mean(0), points[3:].mean(0)
    half = max(2.0 * np.linalg.norm(points[1] - points[0]), 1.8 * np.linalg.norm(mouth - eyes))
    centre = eyes + 0.1 * (mouth - eyes)
    return (points - centre + half) / (2 * half)


# The ArcFace points where FFHQ's alignment would put them: the framing of the FFHQ / CelebA-HQ models' samples.
TEMPLATES["ffhq"] = _ffhq_template(TEMPLATES["face"])


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, translation) mapping ``source`` points to
    ``target``."""
    return similarity_transforms(np.asarray(source, np.float64)[None], target)[0]


def similarity_transforms(sources: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N, 2, 3): :func:`similarity_transform` of each (K, 2) point set in ``sources`` (N, K, 2) onto ``target``."""
    source, target = np.asarray(sources, np.float64), np.asarray(target, np.float64)
    mu_s, mu_t = source.mean(1), target.mean(0)
    s, t = source - mu_s[:, None], target - mu_t
    # Umeyama (1991): closed form through the SVD of the cross-covariance.
    u, sigma, vt = np.linalg.svd(t.T @ s / s.shape[1])
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1.0
    rotation = u @ (np.eye(2) * np.stack([np.ones_like(d), d], 1)[:, None, :]) @ vt
    scale = (sigma[:, 0] + sigma[:, 1] * d) / np.maximum(s.var(1).sum(1), 1e-12)
    linear = scale[:, None, None] * rotation
    return np.concatenate([linear, (mu_t - (linear @ mu_s[:, :, None])[:, :, 0])[:, :, None]], 2)


def template_points(template: str | np.ndarray) -> np.ndarray:
    """The (5, 2) template named ``template`` (see :data:`TEMPLATES`) or the given array."""
    if isinstance(template, str):
        if template not in TEMPLATES:
            raise ValueError(f"unknown alignment template {template!r}; choose one of: {', '.join(TEMPLATES)}")
        return TEMPLATES[template]
    return np.asarray(template, np.float64).reshape(5, 2)


def align(
    image: np.ndarray, landmarks: np.ndarray, size: int, template: str | np.ndarray = "face"
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``image`` so that the five landmarks land on ``template`` (crop units) in a ``size`` x ``size`` crop.

    Returns the uint8 (size, size, 3) crop and the 2x3 matrix mapping image pixel coordinates to crop pixel
    coordinates. Bilinear sampling; when the crop shrinks the face by more than 2x the image is first reduced
    by box filtering, so that small crops of big photos do not alias. Outside the image the crop is black.
    """
    matrix = similarity_transform(landmarks, template_points(template) * size)
    return warp(Image.fromarray(np.ascontiguousarray(image)), matrix, size), matrix


def warp(image: Image.Image, matrix: np.ndarray, size: int) -> np.ndarray:
    """The uint8 (size, size, 3) crop of ``image`` that the 2x3 image-to-crop ``matrix`` describes (see
    :func:`align`)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    reduce = int(1 / scale) if scale < 0.5 else 1
    if reduce > 1:
        image = image.reduce(reduce)
    # Sampling runs from crop to image: invert the map, then account for the reduced image's coarser pixels.
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2] / reduce
    return np.asarray(
        image.transform(
            (size, size), Image.Transform.AFFINE, tuple(inverse.ravel()), resample=Image.Resampling.BILINEAR
        )
    )


def coverage(
    image_shape: tuple[int, ...], landmarks: np.ndarray, size: int, template: str | np.ndarray = "face"
) -> np.ndarray:
    """Boolean (size, size): the pixels of the crop :func:`align` makes that lie wholly inside the photo (False where
    the crop reaches past the photo's edge and is filled with black, or mixes with it)."""
    inside = np.full(image_shape[:2], 255, np.uint8)
    return align(inside, landmarks, size, template)[0] == 255


def unalign(
    values: np.ndarray, matrix: np.ndarray, image_shape: tuple[int, ...]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Bring float (S, S, C) values of a crop made by :func:`align` back to the image: the inverse warp.

    Returns the image region the crop covers (row and column slices, clipped to the image), the values
    resampled bicubically at each pixel of that region (h, w, C; zero outside the crop) and the pixels'
    positions in crop units (h, w, 2; [0, 1] inside the crop). Only the region is computed, so huge images
    cost no more than small ones.
    """
    size = values.shape[0]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    reach = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.clip(np.floor(reach.min(0)).astype(int), 0, [image_shape[1], image_shape[0]])
    x1, y1 = np.clip(np.ceil(reach.max(0)).astype(int), 0, [image_shape[1], image_shape[0]])
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5  # pixel centres
    crop_xy = np.stack([xs, ys], -1) @ matrix[:, :2].T + matrix[:, 2]
    grid = torch.from_numpy(crop_xy / size * 2 - 1).float()[None]
    source = torch.from_numpy(np.ascontiguousarray(values, np.float32)).permute(2, 0, 1)[None]
    sampled = (
        F.grid_sample(source, grid, mode="bicubic", padding_mode="zeros", align_corners=False)
        if grid.numel()
        else source[:, :, :0, :0]
    )
    return (slice(y0, y1), slice(x0, x1)), sampled[0].permute(1, 2, 0).numpy(), crop_xy / size


def face_mask(points: np.ndarray, template: str | np.ndarray, feather: float = 0.3, border: float = 0.06) -> np.ndarray:
    """Soft blending weights in [0, 1] at crop-unit ``points`` (..., 2): the inner face of ``template``.

    1 inside an ellipse from the brows to the chin and from cheek to cheek (semi-axes: 1.1 eye distances across,
    half the eye-to-mouth distance plus 0.7 eye distances along), falling smoothly to 0 over the outer
    ``feather`` fraction of its radius, and to 0 within ``border`` of the crop's edges, where the crop ends.
    """
    template = template_points(template)
    eyes, mouth = template[:2].mean(0), template[3:].mean(0)
    eye_distance = np.linalg.norm(template[1] - template[0])
    down = (mouth - eyes) / np.linalg.norm(mouth - eyes)
    across = np.array([-down[1], down[0]])
    offset = np.asarray(points, np.float64) - (eyes + mouth) / 2
    radius = np.hypot(
        offset @ across / (1.1 * eye_distance), offset @ down / (np.linalg.norm(mouth - eyes) / 2 + 0.7 * eye_distance)
    )

    def smooth(t: np.ndarray) -> np.ndarray:
        t = np.clip(t, 0, 1)
        return t * t * (3 - 2 * t)

    edge = np.minimum(np.asarray(points)[..., 0], np.asarray(points)[..., 1])
    edge = np.minimum(edge, 1 - np.maximum(np.asarray(points)[..., 0], np.asarray(points)[..., 1]))
    return smooth((1 - radius) / feather) * smooth(edge / border)
