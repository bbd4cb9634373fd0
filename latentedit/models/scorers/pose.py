"""Head yaw from the five MTCNN landmarks."""

import numpy as np

from . import Scorer

# Depth of the nose tip in front of the plane of the eyes and mouth corners, in interocular distances, for an
# average adult face (anthropometric tables give ~25 mm against ~63 mm between the pupils).
NOSE_DEPTH = 0.4


def yaw_degrees(landmarks: np.ndarray) -> np.ndarray:
    """Signed yaw in approximate degrees for (N, 5, 2) landmarks; negative when the nose points to the image's left.

    In the face's own horizontal axis (through the eyes and mouth corners, so roll does not matter), the nose tip
    of a face turned by ``yaw`` sits ``NOSE_DEPTH * D0 * sin(yaw)`` from the centre of the eyes and mouth corners,
    while the eyes are ``D0 * cos(yaw)`` apart; hence ``yaw = atan2(offset / NOSE_DEPTH, eye distance)``.
    """
    points = np.asarray(landmarks, np.float64)
    left, right = (points[:, 0] + points[:, 3]) / 2, (points[:, 1] + points[:, 4]) / 2
    axis = right - left
    axis /= np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-9)
    centre = points[:, [0, 1, 3, 4]].mean(1)
    offset = np.einsum("nd,nd->n", points[:, 2] - centre, axis)
    eye_distance = np.abs(np.einsum("nd,nd->n", points[:, 1] - points[:, 0], axis))
    return np.degrees(np.arctan2(offset / NOSE_DEPTH, eye_distance))


class PoseScorer(Scorer):
    name = "pose"
    unit = "degrees of yaw (approximate), negative = turned to the image's left"
    description = "head yaw from the MTCNN landmarks (nose offset against eye distance)"

    def _score(self, batch, found):
        return yaw_degrees(batch.landmarks()[found])
