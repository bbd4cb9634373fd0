"""Build (or check) the SeFa parity fixtures tests/data/parity/sefa_*.npz with genforce/sefa's own factorize_weight.

    python scripts/build_sefa_fixtures.py --sefa PATH --interfacegan PATH --stylegan2-ada PATH [--check]

PATH are your own checkouts of genforce/sefa, genforce/interfacegan and NVlabs/stylegan2-ada-pytorch; nothing of
them is written into this repository, only the numbers. For each parity case (tests/data/parity/CASE.json) the
reference network is built and filled with the case's seeded weights exactly as scripts/build_parity_fixtures.py
does (InterFaceGAN's PGGAN / StyleGAN port, stylegan2-ada's Generator). genforce/sefa's ``factorize_weight``
only runs on genforce's own generator classes, so a genforce generator of the same architecture is built from
the sefa checkout and the weights that ``factorize_weight`` reads (PGGAN's first convolution, the style affine
layers) are copied into it. Which parameter goes where is not written here: it is composed from the references'
own names for the official TensorFlow variables, genforce's ``pth_to_tf_var_mapping``, InterFaceGAN's
``pth_to_tf_var_mapping`` and the conversion table in stylegan2-ada's ``legacy.py``. All three apply these
weights with ``F.linear`` / ``F.conv2d`` in the same layout, so they are copied as they are (shapes checked).

Then ``factorize_weight(generator, layer_idx)`` is called, unchanged, for each layer spec. Its eigenvalues and
eigenvectors come from ``np.linalg.eig`` in float32, in the order that returns; the fixture keeps every eigenvalue
and the top ``TOP`` eigenvectors, both sorted by eigenvalue (largest first), and says whether ``eig`` had
returned them sorted. ``--check`` recomputes and compares instead of writing. Exit status 1 on a difference
above the tolerance. (genforce's StyleGAN2 class cannot build the resnet architecture's layers — it replaces
the first convolution of each block with the skip layer — so the resnet case is left out.)
"""

import argparse
import re
import sys
import types
from pathlib import Path

import numpy as np
import torch
from build_parity_fixtures import CASES, DATA, seeded  # beside this script

# parity case -> layer specs given to factorize_weight (None: PGGAN, which has no layers)
SPECS = {
    "pggan32": [None],
    "pggan32_fused": [None],
    "stylegan64": ["all", "0-3", "4-7"],
    "stylegan2_64_skip": ["all", "0-3", "8-9"],
    "stylegan2_32_orig": ["all", "2-5"],
}
TOP = 10
TOLERANCE = 1e-4


def key(spec: str | None) -> str:
    return "first" if spec is None else spec


def reference_network(config: dict, interfacegan: Path, ada: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The seeded reference network's state dict and its parameter names -> TensorFlow variable names."""
    if config["family"] == "stylegan2":
        sys.path.insert(0, str(ada.resolve()))
        from training.networks import Generator

        network = seeded(Generator(**config["init_kwargs"]), config["seed"])
        return network.state_dict(), legacy_tf_names(ada / "legacy.py", network.state_dict())
    sys.path.insert(0, str(interfacegan.resolve()))
    if config["family"] == "pggan":
        from models.pggan_generator_model import PGGANGeneratorModel

        network = seeded(
            PGGANGeneratorModel(resolution=config["resolution"], fused_scale=config["fused_scale"]), config["seed"]
        )
    else:
        from models.stylegan_generator_model import StyleGANGeneratorModel

        network = seeded(
            StyleGANGeneratorModel(
                resolution=config["resolution"],
                truncation_psi=config["truncation_psi"],
                truncation_layers=config["truncation_layers"],
            ),
            config["seed"],
        )
    names = dict(network.pth_to_tf_var_mapping)
    sys.path.remove(str(interfacegan.resolve()))
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]  # genforce/sefa's package is also called "models"
    return network.state_dict(), names


def legacy_tf_names(legacy: Path, state: dict[str, torch.Tensor]) -> dict[str, str]:
    """stylegan2-ada's affine (style) weights -> TensorFlow variable names, read from legacy.py's conversion table
    (``r'synthesis\\.b(\\d+)\\.conv0\\.affine\\.weight', lambda r: tf_params[f'synthesis/{r}x{r}/...']``)."""
    rows = re.findall(r"r'([^']+)',\s*lambda\s*(\w*)\s*:\s*tf_params\[f'([^']+)'\]", legacy.read_text())
    rows = [row for row in rows if "affine" in row[0]]
    names = {}
    for name in state:
        for pattern, argument, template in rows:
            match = re.fullmatch(pattern, name)
            if match:
                tf_name = template.format(**({argument: match.group(1)} if argument else {}))
                names[name] = tf_name.removeprefix("synthesis/").removeprefix("mapping/")
                break
    return names


def genforce_generator(config: dict):
    """genforce/sefa's generator with the case's architecture (weights still random)."""
    from models import build_generator

    if config["family"] == "stylegan2":
        kwargs, synthesis = config["init_kwargs"], config["init_kwargs"]["synthesis_kwargs"]
        architecture = {"orig": "origin"}.get(synthesis["architecture"], synthesis["architecture"])
        return build_generator(
            "stylegan2",
            kwargs["img_resolution"],
            z_space_dim=kwargs["z_dim"],
            w_space_dim=kwargs["w_dim"],
            mapping_layers=kwargs["mapping_kwargs"]["num_layers"],
            mapping_fmaps=kwargs["w_dim"],
            architecture=architecture,
            fmaps_base=synthesis["channel_base"],
            fmaps_max=synthesis["channel_max"],
        )
    if config["family"] == "stylegan":
        return build_generator("stylegan", config["resolution"])
    return build_generator("pggan", config["resolution"], fused_scale=config["fused_scale"])


def fill(generator, state: dict[str, torch.Tensor], tf_names: dict[str, str]) -> list[str]:
    """Copy into ``generator`` every weight that factorize_weight reads, matched by TensorFlow name."""
    source = {tf: name for name, tf in tf_names.items()}
    own = {name: tf.removeprefix("synthesis/") for name, tf in generator.pth_to_tf_var_mapping.items()}
    wanted = [n for n in own if n.endswith("style.weight") or n == "layer0.weight"]
    update = {}
    for name in wanted:
        value = state[source[own[name]]]
        target = generator.state_dict()[name]
        assert value.shape == target.shape, (name, value.shape, target.shape)
        update[name] = value
    generator.load_state_dict(update, strict=False)
    return wanted


def run(args: argparse.Namespace) -> float:
    networks = {name: reference_network(CASES[name], args.interfacegan, args.stylegan2_ada) for name in SPECS}
    sys.modules.setdefault("cv2", types.ModuleType("cv2"))  # utils.py imports OpenCV for its HTML pages only
    sys.path.insert(0, str(args.sefa.resolve()))
    from utils import factorize_weight

    worst = 0.0
    for name, specs in SPECS.items():
        generator = genforce_generator(CASES[name])
        copied = fill(generator, *networks[name])
        arrays = {}
        for spec in specs:
            layers, vectors, values = factorize_weight(generator, "all" if spec is None else spec)
            values, vectors = np.real(values), np.real(vectors)
            order = np.argsort(-values, kind="stable")
            arrays[f"{key(spec)}_values"] = values[order].astype(np.float32)
            arrays[f"{key(spec)}_vectors"] = vectors[order[:TOP]].astype(np.float32)
            arrays[f"{key(spec)}_layers"] = np.asarray(layers, np.int64)
            arrays[f"{key(spec)}_eig_order_was_sorted"] = np.asarray(bool((order == np.arange(len(order))).all()))
            print(
                f"{name} {key(spec)}: layers {layers}, top eigenvalues {np.round(values[order][:4], 3).tolist()}, "
                f"eig returned them sorted: {bool(arrays[f'{key(spec)}_eig_order_was_sorted'])}"
            )
        print(f"{name}: copied {len(copied)} weights ({', '.join(copied[:3])}, ...)")
        path = args.out / f"sefa_{name}.npz"
        if args.check:
            with np.load(path) as stored:
                for array, value in arrays.items():
                    if value.dtype.kind == "f":
                        diff = float(np.abs(np.abs(value) - np.abs(stored[array])).max())  # vectors: up to sign
                        worst = max(worst, diff)
                        print(f"  {array}: max difference {diff:.2e}")
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, **arrays)
    return worst


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sefa", type=Path, required=True, help="checkout of genforce/sefa")
    parser.add_argument("--interfacegan", type=Path, required=True, help="checkout of genforce/interfacegan")
    parser.add_argument("--stylegan2-ada", type=Path, required=True, help="checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--out", type=Path, default=DATA, help=f"fixture folder (default {DATA})")
    parser.add_argument("--check", action="store_true", help="compare with the existing fixtures; write nothing")
    args = parser.parse_args()
    torch.set_num_threads(2)
    worst = run(args)
    if args.check:
        print(f"largest difference {worst:.2e} (tolerance {TOLERANCE:g})")
        sys.exit(int(worst > TOLERANCE))


if __name__ == "__main__":
    main()
