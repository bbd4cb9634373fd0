"""The bad-input corpus: every kind of damaged, hostile or mismatched input, built on the fly, against every command.

Each case must end with the documented exit code and one line on stderr (no traceback), leave no output and no
temporary folder behind, change no file outside the output, and never run code from a file.
"""

import hashlib
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.devtools import random_state, write_nvidia_pickle
from latentedit.models.gan import build_networks, generator_file
from latentedit.models.generators import render
from latentedit.models.generators.stylegan2 import StyleGAN2Generator
from latentedit.models.scorers.attribute_probe import FEATURE_DIM
from latentedit.models.scorers.learned import FEATURES, HEADER_KEY
from latentedit.records import LabelCounts, ScorerHeader

from hostile import SMALL_STYLEGAN2, SystemCall


def npy_with_header(path: Path, shape: tuple[int, ...], dtype: str = "<f4", body: bytes = b"") -> None:
    """A version 1.0 .npy file whose header claims ``shape``, followed by ``body``."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body)


def deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, dcgan):
    """Bad (and a few good) inputs in one folder, with a canary that a code-running file would create."""
    root = tmp_path_factory.mktemp("corpus")
    canary = root.parent / f"{root.name}-canary"
    files = {"canary": canary}

    def put(name: str, write) -> Path:
        files[name] = root / name
        write(files[name])
        return files[name]

    codes = dcgan.sample(40, seed=3)
    put("good.npy", lambda p: np.save(p, codes))
    put("scores.npy", lambda p: np.save(p, (codes @ np.ones(100))[:, None].astype(np.float32)))
    put("short_scores.npy", lambda p: np.save(p, np.zeros((39, 1), np.float32)))
    put("inf_scores.npy", lambda p: np.save(p, np.where(np.arange(40)[:, None] == 5, np.inf, 0.0).astype(np.float32)))
    put("inf_rows.npy", lambda p: np.save(p, np.where(np.arange(40)[:, None] == 20, np.inf, codes)))
    put("empty.npy", lambda p: p.write_bytes(b""))
    put("text.npy", lambda p: p.write_text("1 2 3"))
    put("archive.npz", lambda p: np.savez(p, z=codes))
    put("huge.npy", lambda p: npy_with_header(p, (10**12, 100)))
    put("truncated.npy", lambda p: npy_with_header(p, (40, 100), body=b"\x00" * 400))
    put("objects.npy", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True))
    put("nan.npy", lambda p: np.save(p, np.full((3, 100), np.nan, np.float32)))
    put("ints.npy", lambda p: np.save(p, np.ones((3, 100), np.int32)))
    put("wide.npy", lambda p: np.save(p, np.ones((3, 7), np.float32)))
    put("folder.npy", lambda p: p.mkdir())
    put("loop.npy", lambda p: p.symlink_to(p.name))
    put("broken_link.npy", lambda p: p.symlink_to("nowhere.npy"))
    # boundaries and sidecars
    normal = np.ones((1, 100), np.float32) / 10
    for name, sidecar in [
        ("broken_json", "{not json"),
        ("list_json", "[1, 2]"),
        ("text_offset", '{"offset": "abc"}'),
        ("deep_json", json.dumps(deep(200))),
        ("name_list", '{"name": ["smile"]}'),
    ]:
        put(f"{name}.npy", lambda p: np.save(p, normal))
        put(f"{name}.json", lambda p, text=sidecar: p.write_text(text))
    put("zero.npy", lambda p: np.save(p, np.zeros((1, 100), np.float32)))
    put("bare.npy", lambda p: np.save(p, normal))  # no sidecar: no scorer
    put("hair.npy", lambda p: np.save(p, normal))
    put("hair.json", lambda p: p.write_text('{"scorer": "hair"}'))
    put("nan_boundary.npy", lambda p: np.save(p, np.full((1, 100), np.nan, np.float32)))
    # weights
    state = dcgan.state_dict()
    put("empty.pt", lambda p: p.write_bytes(b""))
    put("text.pt", lambda p: p.write_text("weights"))
    put("runs_code.pt", lambda p: torch.save({"netG_state_dict": SystemCall(f"touch {canary}")}, p))
    put(
        "nan.pt",
        lambda p: torch.save(
            {
                "netG_state_dict": {
                    k: v.clone().fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()
                }
            },
            p,
        ),
    )
    put("wrong_keys.pt", lambda p: torch.save({"netG_state_dict": {"weight": torch.zeros(3)}}, p))
    put("a_list.pt", lambda p: torch.save({"netG_state_dict": [torch.zeros(3)]}, p))
    put("strings.pt", lambda p: torch.save({"netG_state_dict": {"main.0.weight": "zeros"}}, p))
    # StyleGAN2 pickles
    small = StyleGAN2Generator.from_config("small", SMALL_STYLEGAN2)
    small.load_state_dict(random_state(small.state_dict(), 0))
    put("runs_code.pkl", lambda p: p.write_bytes(pickle.dumps({"G_ema": SystemCall(f"touch {canary}")})))
    put("small.pkl", lambda p: write_nvidia_pickle(p, small, SMALL_STYLEGAN2))  # a good one: 6 W+ layers of 16
    put("small_direction.npy", lambda p: np.save(p, np.ones((1, 16), np.float32) / 4))
    for name, change in [
        ("no_z_dim", lambda k: k.pop("z_dim")),
        ("text_resolution", lambda k: k.update(img_resolution="16")),
        ("huge_resolution", lambda k: k.update(img_resolution=2**20)),
        ("odd_resolution", lambda k: k.update(img_resolution=24)),
    ]:
        kwargs = json.loads(json.dumps(SMALL_STYLEGAN2))
        change(kwargs)
        put(f"{name}.pkl", lambda p, kw=kwargs: write_nvidia_pickle(p, small, kw))
    put("not_tensors.pt", lambda p: torch.save({**small.state_dict(), "mapping.w_avg": [0.0] * 16}, p))
    # generator files written by train-gan
    trained = generator_file(build_networks("pggan", 16, width=16, seed=0)[0], template=None, training={})
    put("trained.pt", lambda p: torch.save(trained, p))
    put(
        "nan_trained.pt",
        lambda p: torch.save(
            {**trained, "state_dict": {k: v.clone().fill_(float("nan")) for k, v in trained["state_dict"].items()}}, p
        ),
    )
    put("future_trained.pt", lambda p: torch.save({**trained, "format_version": 99}, p))
    put("huge_trained.pt", lambda p: torch.save({**trained, "config": {"channels": [16, 16, 16, 2**20]}}, p))
    put("text_trained.pt", lambda p: torch.save({**trained, "resolution": "16"}, p))
    # detectors
    from latentedit.models.detector import SHIPPED_DETECTOR

    detector = torch.load(SHIPPED_DETECTOR, weights_only=True)
    header = json.loads(detector["latentedit-detector"])
    put(
        "nan_detector.pt",
        lambda p: torch.save(
            {
                **detector,
                "state_dict": {
                    k: v.clone().fill_(float("nan")) if v.is_floating_point() else v
                    for k, v in detector["state_dict"].items()
                },
            },
            p,
        ),
    )
    put(
        "size_text_detector.pt",
        lambda p: torch.save(
            {**detector, "latentedit-detector": json.dumps({**header, "input": {**header["input"], "size": "48"}})}, p
        ),
    )
    put("header_list_detector.pt", lambda p: torch.save({**detector, "latentedit-detector": "[1]"}, p))
    put("runs_code_detector.pt", lambda p: torch.save({**detector, "state_dict": SystemCall(f"touch {canary}")}, p))
    # images
    face = np.concatenate(list(render(dcgan, codes[:1])))[0]
    put("face.png", lambda p: Image.fromarray(face).save(p))
    put("empty.png", lambda p: p.write_bytes(b""))
    put("text.png", lambda p: p.write_text("not an image"))
    put("dir.png", lambda p: p.mkdir())
    put("loop.png", lambda p: p.symlink_to(p.name))
    put("big_face.png", lambda p: Image.fromarray(face).resize((96, 96)).save(p))
    # edit records
    record = {
        "tool": "latentedit",
        "model": "dcgan-digiface64",
        "weights_sha256": None,
        "space": "z",
        "seed": 0,
        "n": 1,
        "attrs": "smile=+1",
        "attributes": ["smile"],
        "strengths": [1.0],
        "boundaries": {},
        "steps": [0.0, 1.0],
    }
    for name, changed in [
        ("lists", {**record, "attrs": ["smile"]}),
        ("no_steps", {**record, "steps": []}),
        ("no_attrs", {k: v for k, v in record.items() if k != "attrs"}),
        ("deep", {**record, "report": deep(200)}),
        ("seed_text", {**record, "seed": "0"}),
        ("huge_n", {**record, "n": 10**13}),
        ("layers_text", {**record, "layers": "0-3"}),
    ]:
        put(f"{name}.json", lambda p, data=changed: p.write_text(json.dumps(data)))
    face = {"distance": 1.5, "before": 0.2, "goal": 0.9, "reading": 0.88, "status": "reached"}
    target = {
        "value": 0.9,
        "relative": False,
        "unit": "probability",
        "scorer": "smile",
        "tolerance": 0.02,
        "evaluations": 4,
        "faces": [face],
    }
    targeted = {**record, "attrs": "smile=0.9", "strengths": [0.0], "targets": {"smile": target}}
    for name, changed in [
        ("target_faces", {**targeted, "targets": {"smile": {**target, "faces": [face, face]}}}),
        ("target_other", {**targeted, "targets": {"age": target}}),
        ("target_text", {**targeted, "targets": {"smile": {**target, "faces": [{**face, "distance": "far"}]}}}),
    ]:
        put(f"{name}.json", lambda p, data=changed: p.write_text(json.dumps(data)))
    put("broken.json", lambda p: p.write_text('{"tool": '))

    # learned scorers (train-scorer, label, --scorer): labels CSVs naming rows of good.npy, and scorer files
    def labels(name: str, rows: list[str]) -> None:
        put(name, lambda p: p.write_text("item,label\n" + "".join(f"{row}\n" for row in rows)))

    balanced = [f"good.npy:{i},{i % 2}" for i in range(24)]
    labels("labels_ok.csv", balanced)
    labels("labels_missing_image.csv", ["nowhere.png,1", *balanced])
    labels("labels_row_out_of_range.csv", [*balanced, "good.npy:99,1"])
    labels("labels_one_class.csv", [f"good.npy:{i},1" for i in range(12)])
    labels("labels_few.csv", [f"good.npy:{i},{i % 2}" for i in range(8)])
    labels("labels_bad_value.csv", ["good.npy:0,yes"])
    labels("labels_images.csv", ["face.png,1", *balanced])
    put("labels_no_header.csv", lambda p: p.write_text("good.npy:0,1\n"))
    header = ScorerHeader(
        attribute="beard",
        feature_extractor=FEATURES,
        feature_extractor_sha256="0" * 64,
        feature_dim=FEATURE_DIM,
        labels=LabelCounts(positive=10, negative=10),
        regularisation_c=1.0,
        cv_folds=5,
        cv_auc=0.9,
        cv_auc_std=0.01,
    )
    put(
        "other_features.scorer",
        lambda p: torch.save(
            {HEADER_KEY: json.dumps(header.to_json()), "weight": torch.zeros(FEATURE_DIM), "bias": torch.zeros(1)}, p
        ),
    )
    put("beard.npy", lambda p: np.save(p, normal))
    changed_scorer = {"path": str(files["labels_ok.csv"]), "sha256": "0" * 64}  # not that file's sha256
    put(
        "beard.json",
        lambda p: p.write_text(json.dumps({"name": "beard", "attribute": "beard", "scorer_file": changed_scorer})),
    )
    put("very_deep.json", lambda p: p.write_text("[" * 100000 + "]" * 100000))
    return files


def digest(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` and a fingerprint of its content (links by their target)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path)] = "dir"
    return out


CASES = [
    # sample
    ("sample-huge-n", ["sample", "-n", 10**13, "-o", "{out}"], 2, "would need"),
    ("sample-negative-seed", ["sample", "--seed", -1, "-o", "{out}"], 2, "-1 is not in the range"),
    ("sample-empty-codes", ["sample", "--codes", "{empty.npy}", "-o", "{out}"], 2, "not a NumPy .npy file"),
    ("sample-text-codes", ["sample", "--codes", "{text.npy}", "-o", "{out}"], 2, "not a NumPy .npy file"),
    ("sample-npz", ["sample", "--codes", "{archive.npz}", "-o", "{out}"], 2, "an .npz archive"),
    ("sample-huge-header", ["sample", "--codes", "{huge.npy}", "-o", "{out}"], 2, "more than this machine has free"),
    ("sample-truncated", ["sample", "--codes", "{truncated.npy}", "-o", "{out}"], 2, "is truncated"),
    ("sample-objects", ["sample", "--codes", "{objects.npy}", "-o", "{out}"], 2, "holds Python objects"),
    ("sample-nan-codes", ["sample", "--codes", "{nan.npy}", "-o", "{out}"], 2, "NaN or infinite"),
    ("sample-int-codes", ["sample", "--codes", "{ints.npy}", "-o", "{out}"], 2, "floating point"),
    ("sample-wrong-dim", ["sample", "--codes", "{wide.npy}", "-o", "{out}"], 2, "must have shape (N, 100)"),
    ("sample-codes-folder", ["sample", "--codes", "{folder.npy}", "-o", "{out}"], 2, "is a folder"),
    ("sample-codes-loop", ["sample", "--codes", "{loop.npy}", "-o", "{out}"], 2, "leads nowhere"),
    ("sample-codes-broken-link", ["sample", "--codes", "{broken_link.npy}", "-o", "{out}"], 2, "leads nowhere"),
    ("sample-n-with-codes", ["sample", "-n", 5, "--codes", "{good.npy}", "-o", "{out}"], 2, "--num does nothing"),
    ("sample-empty-out", ["sample", "-n", 2, "-o", ""], 2, "give an output folder"),
    ("sample-unknown-model", ["sample", "-m", "nope", "-o", "{out}"], 2, "unknown model"),
    ("sample-empty-weights", ["sample", "--weights", "{empty.pt}", "-o", "{out}"], 3, "is empty"),
    ("sample-text-weights", ["sample", "--weights", "{text.pt}", "-o", "{out}"], 3, "not a PyTorch checkpoint"),
    ("sample-code-weights", ["sample", "--weights", "{runs_code.pt}", "-o", "{out}"], 3, "could run code"),
    ("sample-nan-weights", ["sample", "--weights", "{nan.pt}", "-o", "{out}"], 3, "NaN or infinite"),
    ("sample-wrong-weights", ["sample", "--weights", "{wrong_keys.pt}", "-o", "{out}"], 3, "do not fit"),
    ("sample-list-weights", ["sample", "--weights", "{a_list.pt}", "-o", "{out}"], 3, "not a state dict"),
    ("sample-string-weights", ["sample", "--weights", "{strings.pt}", "-o", "{out}"], 3, "not a named tensor"),
    ("sample-weights-folder", ["sample", "--weights", "{folder.npy}", "-o", "{out}"], 3, "is a folder"),
    # StyleGAN2 pickles and state dicts
    (
        "stylegan2-code-pickle",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{runs_code.pkl}", "-o", "{out}"],
        3,
        "refused",
    ),
    (
        "stylegan2-no-z-dim",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{no_z_dim.pkl}", "-o", "{out}"],
        3,
        "configuration is damaged",
    ),
    (
        "stylegan2-text-resolution",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{text_resolution.pkl}", "-o", "{out}"],
        3,
        "img_resolution must be a whole number",
    ),
    (
        "stylegan2-huge-resolution",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{huge_resolution.pkl}", "-o", "{out}"],
        3,
        "img_resolution must be a whole number",
    ),
    (
        "stylegan2-odd-resolution",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{odd_resolution.pkl}", "-o", "{out}"],
        3,
        "not a power of two",
    ),
    (
        "stylegan2-not-tensors",
        ["sample", "-m", "stylegan2-ffhq", "--weights", "{not_tensors.pt}", "-o", "{out}"],
        3,
        "not a named tensor",
    ),
    # score
    ("sample-shard-k-ge-n", ["sample", "-n", 4, "--shard", "3/3", "-o", "{out}"], 2, "must be in 0..2 for 3 parts"),
    ("sample-shard-text", ["sample", "-n", 4, "--shard", "half", "-o", "{out}"], 2, "must read K/N"),
    ("sample-shard-empty-parts", ["sample", "-n", 2, "--shard", "0/3", "-o", "{out}"], 2, "would leave parts empty"),
    ("score-shard-images", ["score", "{sample}", "--shard", "0/2", "-o", "{out}"], 2, "--shard splits codes"),
    ("merge-no-parts", ["merge", "{root}", "-o", "{out}"], 2, "holds no parts"),
    ("merge-missing-folder", ["merge", "{root}/nowhere", "-o", "{out}"], 2, "is not a part folder"),
    ("score-overwrite-input", ["score", "{sample}", "-o", "{sample}", "--overwrite"], 2, "is the input"),
    ("score-into-input", ["score", "{sample}", "-o", "{sample}/scores"], 2, "is inside the input"),
    (
        "score-model-with-images",
        ["score", "{face.png}", "-m", "dcgan-digiface64", "-o", "{out}"],
        2,
        "does nothing when scoring images",
    ),
    ("score-image-folder-name", ["score", "{dir.png}", "-o", "{out}"], 2, "no images"),
    ("score-image-loop", ["score", "{loop.png}", "-o", "{out}"], 2, "leads nowhere"),
    ("score-empty-image", ["score", "{empty.png}", "-o", "{out}"], 2, "is empty"),
    ("score-tampered-images", ["score", "{tampered_images}", "-o", "{out}"], 2, "files.images must be"),
    ("score-tampered-n", ["score", "{tampered_n}", "-o", "{out}"], 2, "more than the folder holds"),
    ("score-tampered-resolution", ["score", "{tampered_resolution}", "-o", "{out}"], 2, "is not a generator's"),
    ("score-broken-manifest", ["score", "{broken_manifest}", "-o", "{out}"], 2, "not valid JSON"),
    # train-boundary
    (
        "boundary-inf-codes",
        ["train-boundary", "--codes", "{inf_rows.npy}", "--scores", "{scores.npy}", "--ratio", 5, "-o", "{out}"],
        2,
        "NaN or infinite",
    ),
    (
        "boundary-inf-scores",
        ["train-boundary", "--codes", "{good.npy}", "--scores", "{inf_scores.npy}", "--ratio", 5, "-o", "{out}"],
        2,
        "infinite values",
    ),
    (
        "boundary-short-scores",
        ["train-boundary", "--codes", "{good.npy}", "--scores", "{short_scores.npy}", "-o", "{out}"],
        2,
        "differ in length",
    ),
    (
        "boundary-ratio-inf",
        ["train-boundary", "--codes", "{good.npy}", "--scores", "{scores.npy}", "--ratio", "inf", "-o", "{out}"],
        2,
        "ratio must be",
    ),
    (
        "boundary-name-escape",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "--name",
            "../x",
            "-o",
            "{out}",
        ],
        2,
        "cannot name a file",
    ),
    (
        "boundary-codes-in-out",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "-o",
            "{root}",
            "--overwrite",
        ],
        2,
        "contains the input",
    ),
    (
        "boundary-broken-sidecar",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "--condition",
            "{broken_json.npy}",
            "-o",
            "{out}",
        ],
        2,
        "not valid JSON",
    ),
    (
        "boundary-list-sidecar",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "--condition",
            "{list_json.npy}",
            "-o",
            "{out}",
        ],
        2,
        "must be a JSON object",
    ),
    (
        "boundary-text-offset",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "--condition",
            "{text_offset.npy}",
            "-o",
            "{out}",
        ],
        2,
        "offset must be a finite number",
    ),
    (
        "boundary-zero-condition",
        [
            "train-boundary",
            "--codes",
            "{good.npy}",
            "--scores",
            "{scores.npy}",
            "--ratio",
            5,
            "--condition",
            "{zero.npy}",
            "-o",
            "{out}",
        ],
        2,
        "zero or non-finite norm",
    ),
    # rank
    ("rank-not-a-picture", ["rank", "--codes", "{good.npy}", "--boundary", "smile", "-o", "{out}"], 2, "is a picture"),
    (
        "rank-deep-sidecar",
        ["rank", "--codes", "{good.npy}", "--boundary", "{deep_json.npy}", "-o", "{out}.png"],
        2,
        "nested too deeply",
    ),
    (
        "rank-name-list",
        ["rank", "--codes", "{good.npy}", "--boundary", "{name_list.npy}", "-o", "{out}.png"],
        2,
        "name must be text",
    ),
    (
        "rank-nan-boundary",
        ["rank", "--codes", "{good.npy}", "--boundary", "{nan_boundary.npy}", "-o", "{out}.png"],
        2,
        "zero or non-finite norm",
    ),
    # edit
    ("edit-replay-lists", ["edit", "--replay", "{lists.json}", "-o", "{out}"], 2, "attrs must be text"),
    ("edit-replay-no-steps", ["edit", "--replay", "{no_steps.json}", "-o", "{out}"], 2, "no steps"),
    ("edit-replay-no-attrs", ["edit", "--replay", "{no_attrs.json}", "-o", "{out}"], 2, "has no 'attrs'"),
    ("edit-replay-deep", ["edit", "--replay", "{deep.json}", "-o", "{out}"], 2, "nested too deeply"),
    ("edit-replay-very-deep", ["edit", "--replay", "{very_deep.json}", "-o", "{out}"], 2, "nested too deeply"),
    (
        "edit-replay-seed-text",
        ["edit", "--replay", "{seed_text.json}", "-o", "{out}"],
        2,
        "seed must be a whole number",
    ),
    ("edit-replay-huge-n", ["edit", "--replay", "{huge_n.json}", "-o", "{out}"], 2, "would need"),
    ("edit-replay-broken", ["edit", "--replay", "{broken.json}", "-o", "{out}"], 2, "not valid JSON"),
    (
        "edit-replay-with-attrs",
        ["edit", "--replay", "{lists.json}", "--attrs", "smile", "-o", "{out}"],
        2,
        "--attrs does nothing with --replay",
    ),
    (
        "edit-index-without-codes",
        ["edit", "--attrs", "smile", "--index", "1", "-o", "{out}"],
        2,
        "--index does nothing without --codes",
    ),
    ("edit-empty-range", ["edit", "--attrs", "smile", "--range", "", "-o", "{out}"], 2, "LOW:HIGH"),
    (
        "edit-photo-options-without-photos",
        ["edit", "--attrs", "smile", "--tune", 5, "-o", "{out}"],
        2,
        "--tune does nothing without photos",
    ),
    (
        "edit-overwrite-codes-folder",
        ["edit", "--attrs", "smile", "--codes", "{good.npy}", "-o", "{root}", "--overwrite"],
        2,
        "contains the input",
    ),
    (
        "edit-layers-not-wp",
        ["edit", "--attrs", "smile", "--layers", "0-3", "-o", "{out}"],
        2,
        "layers move chosen layers of W+ codes: edit in space wp (this edit is in space z)",
    ),
    (
        "edit-layers-out-of-range",
        [
            "edit",
            "--attrs",
            "d",
            "--boundary",
            "d={small_direction.npy}",
            "-m",
            "stylegan2-ffhq",
            "--weights",
            "{small.pkl}",
            "--space",
            "wp",
            "--layers",
            "4-6",
            "-o",
            "{out}",
        ],
        2,
        "layers 4-6 out of range: the model has 6 layers, 0-5",
    ),
    (
        "edit-layers-backwards",
        [
            "edit",
            "--attrs",
            "d",
            "--boundary",
            "d={small_direction.npy}",
            "-m",
            "stylegan2-ffhq",
            "--weights",
            "{small.pkl}",
            "--space",
            "wp",
            "--layers",
            "3-1",
            "-o",
            "{out}",
        ],
        2,
        "range 3-1 runs backwards",
    ),
    ("edit-replay-layers-text", ["edit", "--replay", "{layers_text.json}", "-o", "{out}"], 2, "layers must be a list"),
    # directions
    (
        "directions-k-too-large",
        ["directions", "-k", 101, "-o", "{out}"],
        2,
        "k=101 must be between 1 and the latent dimension 100 of dcgan-digiface64",
    ),
    ("directions-k-zero", ["directions", "-k", 0, "-o", "{out}"], 2, "k=0 must be between 1"),
    (
        "directions-k-too-large-w",
        ["directions", "-m", "stylegan2-ffhq", "--weights", "{small.pkl}", "-k", 17, "-o", "{out}"],
        2,
        "k=17 must be between 1 and the latent dimension 16",
    ),
    (
        "directions-unknown-method",
        ["directions", "--method", "ica", "-o", "{out}"],
        2,
        "'ica' is not one of 'sefa', 'ganspace'",
    ),
    (
        "directions-layers-without-layers",
        ["directions", "--layers", "0-3", "-o", "{out}"],
        2,
        "model dcgan-digiface64 has no per-layer (W+) codes",
    ),
    (
        "directions-layers-out-of-range",
        ["directions", "-m", "stylegan2-ffhq", "--weights", "{small.pkl}", "--layers", "0-6", "-o", "{out}"],
        2,
        "layers 0-6 out of range: the model has 6 layers, 0-5",
    ),
    (
        "directions-layers-unreadable",
        ["directions", "-m", "stylegan2-ffhq", "--weights", "{small.pkl}", "--layers", "2-x", "-o", "{out}"],
        2,
        "layers must look like 0-3, 0,2,5-7 or all",
    ),
    (
        "directions-missing-weights",
        ["directions", "--weights", "{root}/missing.pth", "-o", "{out}"],
        3,
        "missing.pth does not exist",
    ),
    (
        "directions-weights-not-installed",
        ["directions", "-m", "stylegan-ffhq", "-o", "{out}"],
        3,
        "weights for stylegan-ffhq are not in",
    ),
    (
        "directions-code-weights",
        ["directions", "-m", "stylegan2-ffhq", "--weights", "{runs_code.pkl}", "-o", "{out}"],
        3,
        "refused",
    ),
    (
        "directions-few-samples",
        ["directions", "--method", "ganspace", "--samples", 5, "-o", "{out}"],
        2,
        "samples=5 must exceed k=10",
    ),
    ("directions-one-face", ["directions", "-n", 1, "-o", "{out}"], 2, "naming needs at least 2 faces, got n=1"),
    (
        "directions-out-holds-weights",
        ["directions", "-m", "stylegan2-ffhq", "--weights", "{small.pkl}", "-o", "{root}", "--overwrite"],
        2,
        "contains the input",
    ),
    # edit: targets in units
    (
        "edit-unit-does-not-fit",
        ["edit", "--attrs", "smile=+10y", "-o", "{out}"],
        2,
        "smile is measured in probability, not years: write smile=0.9, 90% or +0.2p",
    ),
    ("edit-unknown-unit", ["edit", "--attrs", "age=+10parsecs", "-o", "{out}"], 2, "unknown unit 'parsecs'"),
    ("edit-probability-above-1", ["edit", "--attrs", "eyeglasses=120%", "-o", "{out}"], 2, "must lie between 0 and 1"),
    (
        "edit-target-without-scorer",
        ["edit", "--attrs", "age=+10y", "--boundary", "age={bare.npy}", "-o", "{out}"],
        2,
        "names no scorer with a unit",
    ),
    (
        "edit-target-unknown-scorer",
        ["edit", "--attrs", "age=+10y", "--boundary", "age={hair.npy}", "-o", "{out}"],
        2,
        "names the scorer 'hair'",
    ),
    (
        "edit-max-distance-without-target",
        ["edit", "--attrs", "smile=+1", "--max-distance", 3, "-o", "{out}"],
        2,
        "max_distance does nothing without a target in units",
    ),
    (
        "edit-max-distance-zero",
        ["edit", "--attrs", "smile=0.9", "--max-distance", 0, "-o", "{out}"],
        2,
        "max_distance must be a positive number",
    ),
    (
        "edit-max-distance-nan",
        ["edit", "--attrs", "smile=0.9", "--max-distance", "nan", "-o", "{out}"],
        2,
        "max_distance must be a positive number",
    ),
    (
        "edit-target-average",
        ["edit", "--attrs", "smile=0.9,age=+3", "--combine", "average", "-o", "{out}"],
        2,
        "combine must be sum",
    ),
    (
        "edit-replay-target-faces",
        ["edit", "--replay", "{target_faces.json}", "-o", "{out}"],
        2,
        "the recorded target 'smile' has 2 faces, the edit 1",
    ),
    (
        "edit-replay-target-other",
        ["edit", "--replay", "{target_other.json}", "-o", "{out}"],
        2,
        "the recorded targets (age) are not the targets of the edit's attrs (smile)",
    ),
    (
        "edit-replay-target-text",
        ["edit", "--replay", "{target_text.json}", "-o", "{out}"],
        2,
        "targets.smile: faces[0]: distance must be a finite number",
    ),
    # generator files written by train-gan
    ("sample-trained-nan", ["sample", "--weights", "{nan_trained.pt}", "-o", "{out}"], 3, "NaN or infinite"),
    ("sample-trained-future", ["sample", "--weights", "{future_trained.pt}", "-o", "{out}"], 3, "format version 99"),
    ("sample-trained-huge", ["sample", "--weights", "{huge_trained.pt}", "-o", "{out}"], 3, "not a network"),
    (
        "sample-trained-types",
        ["sample", "--weights", "{text_trained.pt}", "-o", "{out}"],
        3,
        "resolution must be a whole number",
    ),
    (
        "sample-trained-other-model",
        ["sample", "-m", "stylegan-ffhq", "--weights", "{trained.pt}", "-o", "{out}"],
        2,
        "trained by latentedit",
    ),
    # prepare-faces and train-gan
    ("prepare-faces-missing", ["prepare-faces", "{root}/missing.png", "-o", "{out}"], 2, "does not exist"),
    (
        "prepare-faces-unreadable",
        ["prepare-faces", "{text.png}", "-o", "{out}"],
        4,
        "no usable face in 1 photo(s) (unreadable 1)",
    ),
    ("prepare-faces-out-in-photos", ["prepare-faces", "{root}", "-o", "{root}/set"], 2, "is inside the input"),
    (
        "prepare-faces-hash-distance",
        ["prepare-faces", "{face.png}", "--max-hash-distance", 200, "-o", "{out}"],
        2,
        "max_hash_distance",
    ),
    (
        "train-gan-too-few",
        ["train-gan", "--data", "{sample}", "-o", "{out}"],
        2,
        "holds 4 faces; train-gan needs at least 64",
    ),
    ("train-gan-unreadable", ["train-gan", "--data", "{root}", "-o", "{out}"], 2, "is empty"),
    ("train-gan-size", ["train-gan", "--data", "{sample}", "--size", 128, "-o", "{out}"], 2, "size 128 does not match"),
    ("train-gan-width", ["train-gan", "--data", "{sample}", "--width", 64, "-o", "{out}"], 2, "width applies to pggan"),
    ("train-gan-kimg", ["train-gan", "--data", "{sample}", "--kimg", -1, "-o", "{out}"], 2, "kimg must be positive"),
    (
        "train-gan-nothing-to-resume",
        ["train-gan", "--data", "{sample}", "--resume", "-o", "{out}"],
        2,
        "nothing to resume",
    ),
    ("train-gan-out-in-data", ["train-gan", "--data", "{sample}", "-o", "{sample}/run"], 2, "is inside the input"),
    (
        "train-gan-tampered-manifest",
        ["train-gan", "--data", "{tampered_images}", "-o", "{out}"],
        2,
        "files.images must be a numbered PNG",
    ),
    ("train-gan-broken-manifest", ["train-gan", "--data", "{broken_manifest}", "-o", "{out}"], 2, "not valid JSON"),
    # photos
    ("invert-folder", ["invert", "{dir.png}", "-o", "{out}"], 2, "is a folder"),
    ("invert-empty", ["invert", "{empty.png}", "-o", "{out}"], 2, "is empty"),
    ("invert-text", ["invert", "{text.png}", "-o", "{out}"], 2, "cannot read image"),
    ("invert-negative-face-index", ["invert", "{face.png}", "--face-index", -1, "-o", "{out}"], 2, "not in the range"),
    ("invert-aligned-wrong-size", ["invert", "{big_face.png}", "--aligned", "-o", "{out}"], 2, "must be 64x64 pixels"),
    ("mix-negative-seed", ["mix", "seed:-1", "seed:2", "-o", "{out}"], 2, "seed must be 0 or more"),
    ("mix-row-out-of-range", ["mix", "{good.npy}:99", "seed:2", "-o", "{out}"], 2, "out of range"),
    ("mix-nan-weight", ["mix", "seed:1", "seed:2", "--weight", "nan", "-o", "{out}"], 2, "weight must be a finite"),
    ("arith-nan-codes", ["arith", "a", "--group", "a={nan.npy}", "-o", "{out}"], 2, "NaN or infinite"),
    # detect and train-detector
    ("detect-nan-detector", ["detect", "{face.png}", "--detector", "{nan_detector.pt}"], 3, "NaN or infinite"),
    (
        "detect-header-types",
        ["detect", "{face.png}", "--detector", "{size_text_detector.pt}"],
        3,
        "size must be a whole number",
    ),
    (
        "detect-header-list",
        ["detect", "{face.png}", "--detector", "{header_list_detector.pt}"],
        3,
        "must be a JSON object",
    ),
    ("detect-code-detector", ["detect", "{face.png}", "--detector", "{runs_code_detector.pt}"], 3, "could run code"),
    ("detect-empty-detector", ["detect", "{face.png}", "--detector", "{empty.pt}"], 3, "is empty"),
    ("detect-threshold", ["detect", "{face.png}", "--threshold", 1.5], 2, "threshold must be between 0 and 1"),
    (
        "train-detector-existing-out",
        ["train-detector", "--real", "{root}", "--fake-model", "dcgan-digiface64", "-o", "{good.npy}"],
        2,
        "already holds results",
    ),
    # learned scorers
    (
        "train-scorer-missing-image",
        ["train-scorer", "--labels", "{labels_missing_image.csv}", "-o", "{out}"],
        2,
        "line 2: image file",
    ),
    (
        "train-scorer-row-out-of-range",
        ["train-scorer", "--labels", "{labels_row_out_of_range.csv}", "-o", "{out}"],
        2,
        "line 26: row 99 is out of range",
    ),
    (
        "train-scorer-one-class",
        ["train-scorer", "--labels", "{labels_one_class.csv}", "-o", "{out}"],
        2,
        "got 12 labelled 1 and 0 labelled 0: label 10 more labelled 0",
    ),
    (
        "train-scorer-few-labels",
        ["train-scorer", "--labels", "{labels_few.csv}", "-o", "{out}"],
        2,
        "need at least 10 labels of each class (1 and 0), got 4 labelled 1 and 4 labelled 0: label 6 more labelled 1 "
        "and 6 more labelled 0",
    ),
    (
        "train-scorer-bad-label",
        ["train-scorer", "--labels", "{labels_bad_value.csv}", "-o", "{out}"],
        2,
        "label must be 1, 0, ? or empty",
    ),
    (
        "train-scorer-no-header",
        ["train-scorer", "--labels", "{labels_no_header.csv}", "-o", "{out}"],
        2,
        "must start with the header 'item,label'",
    ),
    (
        "train-scorer-shipped-name",
        ["train-scorer", "--labels", "{labels_ok.csv}", "--attr", "smile", "-o", "{out}"],
        2,
        "'smile' is a shipped attribute's name: give your own attribute another name, e.g. my_smile",
    ),
    (
        "score-scorer-shipped-name",
        ["score", "--codes", "{good.npy}", "--scorer", "age={other_features.scorer}", "-o", "{out}"],
        2,
        "'age' is a shipped attribute's name",
    ),
    (
        "score-scorer-not-ours",
        ["score", "--codes", "{good.npy}", "--scorer", "beard={nan_detector.pt}", "-o", "{out}"],
        3,
        "is not a latentedit scorer file",
    ),
    (
        "score-scorer-other-features",
        ["score", "--codes", "{good.npy}", "--scorer", "beard={other_features.scorer}", "-o", "{out}"],
        3,
        "reads other face features",
    ),
    (
        "score-scorer-not-a-pair",
        ["score", "--codes", "{good.npy}", "--scorer", "{other_features.scorer}", "-o", "{out}"],
        2,
        "--scorer must be NAME=FILE",
    ),
    (
        "directions-scorer-shipped-name",
        ["directions", "--scorer", "smile={other_features.scorer}", "-o", "{out}"],
        2,
        "'smile' is a shipped attribute's name",
    ),
    ("suggest-scorer-not-ours", ["label", "suggest", "--scorer", "{empty.pt}", "-o", "{out}"], 3, "is empty"),
    (
        "train-boundary-labelled-images",
        ["train-boundary", "--labels", "{labels_images.csv}", "--attr", "beard", "-o", "{out}"],
        2,
        "an image has no latent code",
    ),
    (
        "edit-scorer-without-report",
        ["edit", "--attrs", "smile=+1", "--scorer", "beard={other_features.scorer}", "-o", "{out}"],
        2,
        "ask for the report too",
    ),
    (
        "edit-learned-scorer-changed",
        ["edit", "--attrs", "beard=0.9", "--boundary", "beard={beard.npy}", "-o", "{out}"],
        2,
        "was trained with the scorer",
    ),
    (
        "train-detector-out-in-real",
        ["train-detector", "--real", "{root}", "--fake-model", "dcgan-digiface64", "-o", "{root}/mine.pt"],
        2,
        "is inside the input",
    ),
]


@pytest.fixture(scope="module")
def sample_folders(corpus, run_cli, tmp_path_factory):
    """A sample folder, and copies of it with a damaged manifest."""
    base = tmp_path_factory.mktemp("samples")
    code, _, stderr = run_cli("sample", "-n", 4, "--seed", 1, "-o", base / "sample", "--device", "cpu")
    assert code == 0, stderr
    folders = {"sample": base / "sample"}
    manifest = json.loads((base / "sample" / "manifest.json").read_text())
    damaged = {
        "tampered_images": {"files": {**manifest["files"], "images": "%s%s"}},
        "tampered_n": {"n": 10**12},
        "tampered_resolution": {"resolution": -5},
    }
    for name, change in damaged.items():
        folder = base / name
        folder.mkdir()
        for path in (base / "sample").iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        (folder / "manifest.json").write_text(json.dumps({**manifest, **change}))
        folders[name] = folder
    broken = base / "broken_manifest"
    broken.mkdir()
    Image.open(corpus["face.png"]).save(broken / "000000.png")
    (broken / "manifest.json").write_text("{")
    folders["broken_manifest"] = broken
    return folders


@pytest.mark.slow
@pytest.mark.parametrize("case, args, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, args, code, message, corpus, sample_folders, run_cli, tmp_path):
    root = corpus["good.npy"].parent
    out = tmp_path / "out"
    names = {
        **{k: str(v) for k, v in corpus.items()},
        **{k: str(v) for k, v in sample_folders.items()},
        "out": str(out),
        "root": str(root),
    }
    argv = [re.sub(r"\{([^{}]+)\}", lambda m: names[m.group(1)], a) if isinstance(a, str) else a for a in args]
    watched = [root, *sample_folders.values()]
    before = {str(folder): digest(folder) for folder in watched}
    got, stdout, stderr = run_cli(*argv, "--device", "cpu")
    lines = stderr.strip().splitlines()
    assert got == code and len(lines) == 1 and message in lines[0], (case, got, stderr)
    assert "Traceback" not in stderr and lines[0].startswith("latentedit")
    assert not out.exists() and not Path(f"{out}.png").exists(), "a failed run left an output"
    assert [p.name for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name] == []
    assert {str(folder): digest(folder) for folder in watched} == before, "an input changed"
    assert not corpus["canary"].exists(), "a file ran code"
