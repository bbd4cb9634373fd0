"""Run under torchrun (or alone): one train-gan step on DATA with a global batch of 8; process 0 saves the gradients
of both networks to OUT. Used by test_train_gan.py to compare two processes with one."""

import sys
from pathlib import Path

import torch

from latentedit.commands.train_gan import Trainer, TrainGanRequest, _Distributed, load_dataset

data, out, arch = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
extra = {"width": 16, "phase_kimg": 0.004} if arch == "pggan" else {}
request = TrainGanRequest(data, out.parent / "unused", arch=arch, batch=8, eval_samples=0, device="cpu", **extra)
place = _Distributed("cpu")
trainer = Trainer(request, load_dataset(data, progress=False), place)
trainer.train_step()
if place.rank == 0:
    grads = {
        f"{name}.{key}": p.grad.clone()
        for name, net in (("g", trainer.generator), ("d", trainer.discriminator))
        for key, p in net.named_parameters()
        if p.grad is not None
    }
    torch.save(grads, out)
place.close()
