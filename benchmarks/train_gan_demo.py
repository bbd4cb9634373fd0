"""The train-gan demonstration: a DCGAN trained from scratch on the CPU, measured at every checkpoint, then the
five InterFaceGAN boundaries trained on it with the existing pipeline.

No real-photo face dataset can be had offline on the machine this was written on, so the training faces are samples
of the embedded generator (dcgan-digiface64, itself trained on DigiFace-1M renders): the run shows the tool working
end to end, not how well it learns real faces. Writes into --work (resumable: rerunning continues the run), copies
the pictures to docs/images/ and writes the section "train-gan demonstration" of docs/benchmarks.md.

    nice -n 10 python benchmarks/train_gan_demo.py --work /tmp/demo
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from latentedit.commands.train_gan import METRICS_SEED_OFFSET, Evaluator, load_dataset
from latentedit.devtools import machine, write_section
from latentedit.files.outputs import save_png
from latentedit.models.analysis import FaceAnalysis
from latentedit.models.generators import load_generator
from latentedit.pictures import annotated_grid, preview_tiles

IMAGES = Path(__file__).resolve().parent.parent / "docs" / "images"
ATTRIBUTES = ("pose", "smile", "age", "gender", "eyeglasses")


def latentedit(*args: object, check: bool = True) -> str | None:
    """Run the command line; returns None on success, else (with ``check`` false) its error line."""
    command = [sys.executable, "-m", "latentedit", *map(str, args)]
    print("$ latentedit", " ".join(map(str, args)), flush=True)
    done = subprocess.run(command, check=check, stderr=None if check else subprocess.PIPE, text=True)
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def checkpoint_picture(run: Path, metrics: list[dict], per_row: int = 8) -> np.ndarray:
    """The first ``per_row`` faces of the fixed-code grid at four checkpoints, one row each."""
    chosen = [metrics[round(i)] for i in np.linspace(0, len(metrics) - 1, min(4, len(metrics)))]
    rows, labels = [], []
    for entry in chosen:
        grid = np.asarray(Image.open(run / "grids" / f"grid_{entry['images']:09d}.png"))
        tile = (grid.shape[1] - 2) // 8 - 2  # image_grid: 8 columns, 2-pixel gaps
        rows.append([grid[2 : 2 + tile, 2 + c * (tile + 2) : 2 + c * (tile + 2) + tile] for c in range(per_row)])
        labels.append(f"{entry['kimg']:g} kimg")
    return annotated_grid(np.asarray(rows), "train-gan dcgan: the same codes at four checkpoints", labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=10000, help="training faces sampled from the embedded generator")
    parser.add_argument("--kimg", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--checkpoint-every", type=float, default=2.5)
    parser.add_argument("--eval-samples", type=int, default=1000, help="samples measured at each checkpoint")
    parser.add_argument("--boundary-n", type=int, default=2000, help="codes sampled and scored per boundary")
    parser.add_argument("--ratio", type=float, default=0.1, help="train-boundary --ratio")
    args = parser.parse_args()
    work, run = args.work, args.work / "run"
    if not (work / "faces").is_dir():
        latentedit("sample", "-n", args.faces, "--seed", 100, "-o", work / "faces", "--device", "cpu")
    started, timing = time.time(), work / "training_seconds.json"  # wall time of every invocation that trained
    done = json.loads((run / "run.json").read_text())["images_seen"] if (run / "generator.pt").is_file() else 0
    if done < args.kimg * 1000:
        resume = ["--resume"] if (run / "checkpoint.pt").is_file() else []
        latentedit(
            "train-gan",
            "--data",
            work / "faces",
            "--arch",
            "dcgan",
            "-o",
            run,
            "--kimg",
            args.kimg,
            "--batch",
            args.batch,
            "--checkpoint-every",
            args.checkpoint_every,
            "--eval-samples",
            args.eval_samples,
            "--device",
            "cpu",
            *resume,
        )
        spent = json.loads(timing.read_text()) if timing.is_file() else []
        timing.write_text(json.dumps([*spent, round(time.time() - started, 1)]))
    train_seconds = sum(json.loads(timing.read_text())) if timing.is_file() else float("nan")
    metrics = [
        dict(zip(["images", "kimg", "kid", "kid_std", "faces_found"], map(float, line.split(","))))
        for line in (run / "metrics.csv").read_text().splitlines()[1:]
    ]
    for entry in metrics:
        entry["images"] = int(entry["images"])

    # the floor: the generator that drew the training faces, measured the same way
    dataset = load_dataset(work / "faces", progress=False)
    evaluator = Evaluator(
        dataset.images, samples=args.eval_samples, seed=0 + METRICS_SEED_OFFSET, analysis=FaceAnalysis("cpu")
    )
    embedded, _ = load_generator(device="cpu")
    floor = evaluator(embedded)

    accuracies: dict[str, dict[str, dict]] = {}
    for label, weights in (("trained", ["--weights", run / "generator.pt"]), ("embedded", [])):
        folder = work / f"boundaries_{label}"
        for attr in ATTRIBUTES:
            error = None
            if not (folder / f"{attr}.json").is_file():
                error = latentedit(
                    "train-boundary",
                    "--attr",
                    attr,
                    "-n",
                    args.boundary_n,
                    "--ratio",
                    args.ratio,
                    "--seed",
                    1,
                    "-o",
                    folder,
                    "--device",
                    "cpu",
                    "--overwrite",
                    *weights,
                    check=False,
                )
            meta = {"error": error} if error else json.loads((folder / f"{attr}.json").read_text())
            accuracies.setdefault(attr, {})[label] = meta
    if not (work / "edit_smile").is_dir() and (work / "boundaries_trained" / "smile.npy").is_file():
        latentedit(
            "edit",
            "--attrs",
            "smile",
            "--boundary",
            f"smile={work / 'boundaries_trained' / 'smile.npy'}",
            "--weights",
            run / "generator.pt",
            "-n",
            4,
            "--seed",
            7,
            "-o",
            work / "edit_smile",
            "--device",
            "cpu",
        )

    IMAGES.mkdir(parents=True, exist_ok=True)
    save_png(checkpoint_picture(run, metrics), IMAGES / "train_gan_checkpoints.png")
    for name in ("losses.png", "metrics.png"):
        Image.open(run / name).save(IMAGES / f"train_gan_{name}")
    if (work / "edit_smile").is_dir():
        Image.open(work / "edit_smile" / "grid.png").save(IMAGES / "train_gan_edit_smile.png")
    faces = np.stack([np.asarray(Image.open(work / "faces" / f"{i:06d}.png")) for i in range(16)])
    save_png(
        annotated_grid(preview_tiles(faces)[None, :8], "training faces (samples of dcgan-digiface64)"),
        IMAGES / "train_gan_training_faces.png",
    )

    state = json.loads((run / "run.json").read_text())
    rows = "\n".join(
        f"| {m['kimg']:g} | {m['kid']:.4f} ± {m['kid_std']:.4f} | {m['faces_found']:.1%} |" for m in metrics
    )

    def cells(meta: dict) -> str:
        if "error" in meta:
            return f"{meta['error']} | – | –"
        return f"{meta['n_valid']} | {meta['validation_accuracy']:.3f} | {meta['remaining_accuracy']:.3f}"

    boundary_rows = "\n".join(
        f"| {attr} | {cells(v['trained'])} | {cells(v['embedded'])} |" for attr, v in accuracies.items()
    )
    samples, subset = args.eval_samples, max(2, min(1000, args.eval_samples // 2))
    body = f"""
`python benchmarks/train_gan_demo.py --work DIR --faces {args.faces} --kimg {args.kimg:g} --batch {args.batch}
--checkpoint-every {args.checkpoint_every:g} --eval-samples {samples} --boundary-n {args.boundary_n}`:
`latentedit train-gan --arch dcgan` on {args.faces} samples of the embedded generator (seed 100; no real-photo face
dataset is available offline here), then `latentedit train-boundary --attr A -n {args.boundary_n} --ratio
{args.ratio:g} --seed 1` with `--weights RUN/generator.pt` and, for comparison, on the embedded generator.
Machine: {machine()}. Training: {state["steps"]} steps, {state["images_seen"]} images, {train_seconds / 60:.0f}
minutes of wall time, checkpoints and their metrics included (1-minute load average {os.getloadavg()[0]:.1f}
when this section was written: the cores were shared with other work).

Kernel distance (KID: unbiased MMD² with the cubic polynomial kernel, 100 subsets of {subset}) between {samples}
samples of the averaged generator and {samples} training faces, in the 256 pooled features of the age network
(dlib-models' age-v1, the input of its age classifier); not FID, and not comparable with published KID values.
Faces found: MTCNN on the same {samples} samples. The last row is the floor: the embedded generator, which drew the
training faces, measured the same way.

| kimg | kernel distance ± std over subsets | samples with a face |
| ---: | ---: | ---: |
{rows}
| floor: the embedded generator | {floor["kid"]:.4f} ± {floor["kid_std"]:.4f} | {floor["faces_found"]:.1%} |

Boundaries: the linear SVM's accuracy on the held-out part (30 %) of the top and bottom {args.ratio:.0%} of the
scored codes ("validation") and on the codes between them, labelled by the midpoint of the extreme scores as
InterFaceGAN does ("remaining"); valid = codes whose face was found and scored. Trained = on the generator
trained above, embedded = on dcgan-digiface64.

| attribute | trained: valid | validation | remaining | embedded: valid | validation | remaining |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{boundary_rows}
"""
    write_section("train-gan demonstration (`benchmarks/train_gan_demo.py`)", body)
    print(body)


if __name__ == "__main__":
    main()
