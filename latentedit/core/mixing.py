"""Mixing codes, the method's core: interpolation between two codes and arithmetic on averaged groups (no file I/O)."""

import re
from collections.abc import Sequence

import numpy as np

from ..errors import UsageError

_TERM = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?([A-Za-z_][\w.-]*)\s*")


def interpolate(a: np.ndarray, b: np.ndarray, weights: Sequence[float], spherical: bool) -> np.ndarray:
    """Codes between one code ``a`` (weight 0) and one code ``b`` (weight 1), shape (len(weights), *a.shape).

    Spherical interpolation (slerp, for Gaussian codes: keeps the norm typical of the distribution; White 2016)
    or linear. Weights outside [0, 1] extrapolate.
    """
    a64, b64 = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    t = np.asarray(weights, np.float64)[:, None]
    cosine = float(a64 @ b64) / max(float(np.linalg.norm(a64) * np.linalg.norm(b64)), 1e-12)
    angle = np.arccos(np.clip(cosine, -1, 1))
    if spherical and angle > 1e-4:
        out = (np.sin((1 - t) * angle) * a64 + np.sin(t * angle) * b64) / np.sin(angle)
    else:
        out = (1 - t) * a64 + t * b64
    return out.reshape(len(t), *np.shape(a)).astype(np.float32)


def parse_expression(expression: str) -> list[tuple[float, str]]:
    """``"smiling_woman - neutral_woman + neutral_man"`` or ``"0.5*a + 0.5 b"`` to [(coefficient, group name)]."""
    terms: list[tuple[float, str]] = []
    position = 0
    text = expression.strip()
    while position < len(text):
        match = _TERM.match(text, position)
        if not match or match.end() == position or (terms and not match.group(1)):
            raise UsageError(
                f"cannot read the expression {expression!r} at {text[position:]!r}: "
                'use NAME, +NAME, -NAME or COEFFICIENT*NAME terms, e.g. "a - b + c"'
            )
        sign = -1.0 if match.group(1) == "-" else 1.0
        terms.append((sign * float(match.group(2) or 1.0), match.group(3)))
        position = match.end()
    if not terms:
        raise UsageError('the expression is empty: give e.g. "smiling_woman - neutral_woman + neutral_man"')
    return terms


def combine(terms: Sequence[tuple[float, str]], means: dict[str, np.ndarray]) -> np.ndarray:
    """The sum of each term's coefficient times its group's mean code, float32 (1, *code_shape)."""
    total = np.sum([c * means[name] for c, name in terms], axis=0)
    return np.asarray(total, np.float32)[None]
