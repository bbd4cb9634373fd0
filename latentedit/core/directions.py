"""Directions nobody labelled: SeFa's closed form, GANSpace's PCA, and naming a direction by what it measurably does.

SeFa (Shen & Zhou, CVPR 2021) takes the weight ``A`` of the first layer that reads the latent code, normalises
each output unit's weight vector to unit length, and returns the eigenvectors of ``A Aᵀ``: the latent
directions that change that layer's output most. GANSpace (Härkönen et al., NeurIPS 2020) runs PCA on sampled
W codes, or, for generators without W, on an early feature map, and maps the components back to Z by linear
regression. Both give unit vectors that edit like any boundary normal.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import UsageError
from ..models.generators import Generator, downstream_codes
from ..models.generators.dcgan import DCGANGenerator
from ..models.generators.pggan import PGGANGenerator
from ..models.generators.style import StyleGenerator
from ..models.generators.stylegan import StyleGANGenerator
from ..models.generators.stylegan2 import StyleGAN2Generator
from .editing import parse_layers

METHODS = ("sefa", "ganspace")
# When a direction counts as moving an attribute (see measure_effects).
MIN_SAME_SIGN, MIN_SIZE = 0.75, 0.25


@dataclass(frozen=True)
class Directions:
    """Unit directions found in a generator's latent ``space``, strongest first.

    ``values`` are SeFa's eigenvalues or GANSpace's explained-variance ratios. ``layers`` are the W+ layers the
    directions were found for and are meant to move (None: a Z-only generator, nothing layer-wise).
    """

    method: str
    vectors: np.ndarray  # (k, dim) float32, unit rows
    values: np.ndarray  # (k,) float64, descending
    space: str
    layers: tuple[int, ...] | None
    record: dict[str, Any] = field(default_factory=dict)  # how they were found: samples, seed, feature map...


def _check_layers(generator: Generator, layers: str | None) -> tuple[int, ...] | None:
    """The chosen W+ layers of a StyleGAN-family generator (all when ``layers`` is None), None for Z-only ones."""
    if not isinstance(generator, StyleGenerator):
        if layers is not None:
            raise UsageError(
                f"layers: model {generator.name} has no per-layer (W+) codes; layers apply to the StyleGAN family only"
            )
        return None
    return parse_layers(layers or "all", num_layers=generator.num_ws)


def _check_k(k: int, dim: int, name: str) -> None:
    if not 1 <= k <= dim:
        raise UsageError(f"k={k} must be between 1 and the latent dimension {dim} of {name}")


def style_weights(generator: StyleGenerator) -> list[torch.Tensor]:
    """For each W+ index, the weight (outputs, w_dim) of the affine layer that turns that code into a style, as
    genforce/sefa picks them: every synthesis layer's (StyleGAN); every convolution's, and for the last index the
    last ToRGB's (StyleGAN2; the other ToRGB layers share their index with the next convolution)."""
    if isinstance(generator, StyleGANGenerator):
        layers = [getattr(generator.synthesis, f"layer{i}") for i in range(generator.num_ws)]
        return [layer.epilogue.style_mod.dense.linear.weight for layer in layers]
    if not isinstance(generator, StyleGAN2Generator):
        raise TypeError(f"generator: no style layers known for {type(generator).__name__}")
    weights = []
    for res in generator.synthesis.resolutions:
        block = getattr(generator.synthesis, f"b{res}")
        convs = [block.conv1] if block.cin == 0 else [block.conv0, block.conv1]
        weights += [conv.affine.weight for conv in convs]
    last = getattr(generator.synthesis, f"b{generator.synthesis.resolutions[-1]}")
    return weights + [last.torgb.affine.weight]


def latent_weight(generator: Generator, *, layers: tuple[int, ...] | None = None) -> np.ndarray:
    """The first latent-facing weight as a (dim, outputs) matrix ``A``: layer output = ``Aᵀ code`` (+ bias).

    - DCGAN: ``ConvTranspose2d(nz, C, 4, stride 1, padding 0)`` on the 1x1 code. A transposed convolution
      scatters each input value times the whole kernel, so output ``[c, y, x] = Σᵢ zᵢ W[i, c, y, x]``: the map
      from z is the weight itself, reshaped to (nz, C·4·4), no flip (unlike a convolution). The BatchNorm after
      it (eval mode) scales and shifts each channel, which SeFa's per-output normalisation absorbs: the
      directions are those of the effective first layer.
    - PGGAN: the first 4x4 convolution, padding 3, on the pixel-normalised 1x1 code; a convolution correlates, so
      output ``[o, y, x] = Σᵢ zᵢ W[o, i, 3-y, 3-x]``: the kernel flipped and put input-first (genforce/sefa).
      Pixel normalisation only rescales the code, which changes no direction.
    - StyleGAN, StyleGAN2: the style affine layers (see :func:`style_weights`) of the chosen W+ ``layers``,
      side by side. Equalised-learning-rate scales are scalars per layer, absorbed by the normalisation too.
    """
    if isinstance(generator, DCGANGenerator):
        weight = generator.main[0].get_parameter("weight").reshape(generator.latent_dim, -1)
    elif isinstance(generator, PGGANGenerator):
        weight = generator.layer0.conv.weight.flip(2, 3).permute(1, 0, 2, 3).reshape(generator.latent_dim, -1)
    elif isinstance(generator, StyleGenerator):
        chosen = range(generator.num_ws) if layers is None else layers
        all_weights = style_weights(generator)
        weight = torch.cat([all_weights[i].T for i in chosen], dim=1)
    else:
        raise TypeError(f"generator: SeFa does not know the first layer of {type(generator).__name__}")
    return weight.detach().double().cpu().numpy()


def factorize(weight: np.ndarray, *, k: int) -> tuple[np.ndarray, np.ndarray]:
    """SeFa's closed form on a (dim, outputs) weight: the top ``k`` eigenvectors of ``A Aᵀ`` after normalising each
    output's column to unit length. Returns (k, dim) float32 unit rows and their eigenvalues (float64), largest
    first. Each vector's sign is fixed so that its largest-magnitude component is positive."""
    weight = np.asarray(weight, np.float64)
    if weight.ndim != 2:
        raise UsageError(f"weight must be a (dim, outputs) matrix, got shape {weight.shape}")
    _check_k(k, weight.shape[0], "the weight")
    norms = np.linalg.norm(weight, axis=0)
    weight = weight[:, norms > 0] / norms[norms > 0]
    values, vectors = np.linalg.eigh(weight @ weight.T)
    order = np.argsort(values)[::-1][:k]
    values, vectors = values[order], vectors[:, order].T
    return _signed(vectors), values


def _signed(vectors: np.ndarray) -> np.ndarray:
    """Unit float32 rows, each flipped so that its largest-magnitude component is positive."""
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    signs = np.sign(vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)])
    return (vectors * signs[:, None]).astype(np.float32)


def sefa(generator: Generator, *, k: int = 10, layers: str | None = None) -> Directions:
    """SeFa directions of ``generator``: in Z for DCGAN and PGGAN, in W for the StyleGAN family, where ``layers``
    (a spec like ``"0-3"``; None = all) chooses the style layers factorised (and meant to be edited)."""
    chosen = _check_layers(generator, layers)
    space = "w" if isinstance(generator, StyleGenerator) else "z"
    dim = generator.code_shape(space)[-1]
    _check_k(k, dim, generator.name)
    vectors, values = factorize(latent_weight(generator, layers=chosen), k=k)
    return Directions("sefa", vectors, values, space, chosen, {"normalisation": "unit weight column per output"})


def early_features(generator: Generator, codes: torch.Tensor) -> torch.Tensor:
    """The feature map GANSpace decomposes for Z-only generators: the first block's output after its
    nonlinearity (DCGAN: transposed conv, BatchNorm, ReLU; PGGAN: pixel norm, conv, bias, leaky ReLU), flattened."""
    x = codes.reshape(len(codes), generator.latent_dim, 1, 1)
    if isinstance(generator, DCGANGenerator):
        return generator.main[:3](x).flatten(1)
    if isinstance(generator, PGGANGenerator):
        return generator.layer0(x).flatten(1)
    raise TypeError(f"generator: no early feature map known for {type(generator).__name__}")


@torch.inference_mode()
def _features(generator: Generator, codes: np.ndarray, batch_size: int) -> np.ndarray:
    parts = []
    for start in range(0, len(codes), batch_size):
        batch = torch.from_numpy(codes[start : start + batch_size]).to(generator.device)
        parts.append(early_features(generator, batch).float().cpu().numpy())
    return np.concatenate(parts)


def ganspace(
    generator: Generator,
    *,
    k: int = 10,
    samples: int = 10000,
    seed: int = 0,
    layers: str | None = None,
    batch_size: int = 256,
) -> Directions:
    """GANSpace directions from ``samples`` codes drawn with ``seed``.

    StyleGAN family: PCA of the W codes (the mapping outputs); ``layers`` only records which W+ layers the
    directions are meant to move. Z-only generators: PCA of :func:`early_features`, then, as harskish/ganspace's
    ``linreg_lstsq``, fresh codes (seed + 1) are projected onto the components (coordinates divided by each
    component's standard deviation) and the least-squares map from those coordinates back to Z gives one Z
    direction per component (normalised). ``values`` are the explained-variance ratios of the PCA.
    """
    chosen = _check_layers(generator, layers)
    space = "w" if isinstance(generator, StyleGenerator) else "z"
    _check_k(k, generator.code_shape(space)[-1], generator.name)
    if samples <= k:
        raise UsageError(f"samples={samples} must exceed k={k}")
    from sklearn.decomposition import PCA  # imported here: only GANSpace needs scikit-learn's PCA

    z = generator.sample(samples, seed)
    record: dict[str, Any] = {"samples": samples, "seed": seed}
    if space == "w":
        data = downstream_codes(generator, z, batch_size=batch_size)["w"]
        record["decomposed"] = "W codes (mapping outputs, before truncation)"
    else:
        data = _features(generator, z, batch_size)
        record["decomposed"] = "early feature map, " + (
            "main.0-2 (ConvTranspose2d, BatchNorm, ReLU)"
            if isinstance(generator, DCGANGenerator)
            else "layer0 (first 4x4 conv block)"
        )
    pca = PCA(n_components=k, svd_solver="full" if data.shape[1] <= 1024 else "randomized", random_state=seed)
    pca.fit(data.astype(np.float64))
    record["std"] = np.sqrt(pca.explained_variance_).round(6).tolist()
    if space == "w":
        vectors = pca.components_
    else:
        fresh = generator.sample(samples, seed + 1)
        coords = pca.transform(_features(generator, fresh, batch_size)) / np.sqrt(pca.explained_variance_)
        vectors = np.linalg.lstsq(coords, fresh.astype(np.float64), rcond=None)[0]  # (k, dim)
        record["regression"] = f"least squares from component coordinates to Z, {samples} fresh codes (seed {seed + 1})"
    return Directions(
        "ganspace", _signed(vectors), pca.explained_variance_ratio_.astype(np.float64), space, chosen, record
    )


def find_directions(
    generator: Generator,
    *,
    method: str,
    k: int = 10,
    layers: str | None = None,
    samples: int = 10000,
    seed: int = 0,
) -> Directions:
    """``sefa`` or ``ganspace`` (see there)."""
    if method == "sefa":
        return sefa(generator, k=k, layers=layers)
    if method == "ganspace":
        return ganspace(generator, k=k, samples=samples, seed=seed, layers=layers)
    raise UsageError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


@dataclass(frozen=True)
class Effect:
    """What moving faces along a direction did to one attribute's score."""

    per_unit: float | None  # mean score change per unit step along the direction
    same_sign: float | None  # fraction of faces whose score moved the way of the mean change
    faces: int  # faces scored at both ends
    size: float | None  # |mean change over the whole move| / spread of the attribute over unedited faces
    moved: bool


def measure_effects(
    before: Mapping[str, np.ndarray],
    minus: Mapping[str, np.ndarray],
    plus: Mapping[str, np.ndarray],
    *,
    distance: float = 2.0,
    min_same_sign: float = MIN_SAME_SIGN,
    min_size: float = MIN_SIZE,
) -> dict[str, Effect]:
    """Per attribute, from the scores of unedited faces (``before``) and of the same faces moved by ``-distance``
    (``minus``) and ``+distance`` (``plus``); NaN marks a face not found.

    An attribute counts as moved when at least ``min_same_sign`` of the faces moved the same way and the mean
    change over the move is at least ``min_size`` times the attribute's standard deviation over the unedited faces.
    """
    if distance <= 0:
        raise UsageError(f"distance must be positive, got {distance}")
    effects = {}
    for name in before:
        change = np.asarray(plus[name], np.float64) - np.asarray(minus[name], np.float64)
        change = change[np.isfinite(change)]
        unedited = np.asarray(before[name], np.float64)
        spread = float(np.std(unedited[np.isfinite(unedited)])) if np.isfinite(unedited).sum() > 1 else 0.0
        if not len(change):
            effects[name] = Effect(None, None, 0, None, False)
            continue
        mean = float(change.mean())
        same = float(np.mean(np.sign(change) == np.sign(mean))) if mean else 0.0
        size = abs(mean) / spread if spread > 0 else None
        moved = bool(same >= min_same_sign and size is not None and size >= min_size)
        effects[name] = Effect(mean / (2 * distance), same, len(change), size, moved)
    return effects


def cosines(vector: np.ndarray, boundaries: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Cosine of ``vector`` with each boundary normal of the same dimension."""
    vector = np.asarray(vector, np.float64).reshape(-1)
    vector = vector / np.linalg.norm(vector)
    out = {}
    for name, normal in boundaries.items():
        normal = np.asarray(normal, np.float64).reshape(-1)
        if normal.shape == vector.shape:
            out[name] = float(vector @ normal / np.linalg.norm(normal))
    return out


def orientation(effects: Mapping[str, Effect]) -> int:
    """+1 or -1: the sign that makes the strongest moved attribute (largest ``size``) increase; +1 if none moved."""
    moved = [e for e in effects.values() if e.moved]
    if not moved:
        return 1
    strongest = max(moved, key=lambda e: e.size or 0.0)  # a moved attribute has a size and a change
    return 1 if (strongest.per_unit or 0.0) > 0 else -1


def flipped(effects: Mapping[str, Effect], cos: Mapping[str, float]) -> tuple[dict[str, Effect], dict[str, float]]:
    """The effects and cosines of the opposite direction."""
    turned = {
        name: Effect(None if e.per_unit is None else -e.per_unit, e.same_sign, e.faces, e.size, e.moved)
        for name, e in effects.items()
    }
    return turned, {name: -value for name, value in cos.items()}


def name_line(name: str, effects: Mapping[str, Effect], cos: Mapping[str, float], units: Mapping[str, str]) -> str:
    """One line saying what a direction does, e.g. ``sefa_02: pose +11.8 deg/unit (97 % same sign), cos +0.81 with
    pose``; moved attributes strongest first, or ``moves none of …`` with the strongest change for reference."""

    def describe(attr: str) -> str:
        effect = effects[attr]
        share = 100 * (effect.same_sign or 0.0)
        return f"{attr} {effect.per_unit:+.3g}{units.get(attr, '')}/unit ({share:.0f} % same sign)"

    measured = [a for a, e in effects.items() if e.per_unit is not None]
    by_size = sorted(measured, key=lambda a: -(effects[a].size or 0.0))
    moved = [a for a in by_size if effects[a].moved]
    if moved:
        text = ", ".join(describe(a) for a in moved)
    elif by_size:
        text = f"moves none of {', '.join(effects)} (strongest: {describe(by_size[0])})"
    else:
        text = "no face was scored at both ends"
    if cos:
        best = max(cos, key=lambda b: abs(cos[b]))
        text += f"; cos {cos[best]:+.2f} with {best}"
    return f"{name}: {text}"
