"""The training scaffold (``shared.vision.training``) on its own: device and precision choice, per-epoch seeding, the
Stepper's gradient accumulation, and a toy fit that is killed, resumed and ends with the same weights."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import UserError
from shared.runner import ModelContext
from shared.vision.training import Stepper, Trainer, amp_dtype, memory_format, pick_device, seed_epoch

PARAMS = {"device": "cpu", "amp": "auto", "opt": "sgd", "lr": 0.1, "weight_decay": 1e-4, "momentum": 0.9,
          "sched": "cosine", "warmup_epochs": 1, "clip_grad": 1.0, "ema": True, "ema_decay": 0.9, "accum_steps": 2,
          "keep": "best"}  # best.pt too: the toy fit checks which epoch it holds
X = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] + X[:, 1] > 0).long()


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()  # a Trainer sets torch's thread count for its fit
    yield
    torch.set_num_threads(threads)


def test_device_and_precision_choices():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device is visible"):
            pick_device("cuda")
    cpu = torch.device("cpu")
    assert all(amp_dtype(cpu, s) is None for s in ("auto", "bf16", "fp16", "off"))  # CPU trains in full precision
    assert amp_dtype(torch.device("cuda"), "off") is None and amp_dtype(torch.device("cuda"), "fp16") == torch.float16
    assert memory_format(cpu, "auto") == torch.contiguous_format and memory_format(cpu, "on") == torch.channels_last


def test_seed_epoch_fixes_every_random_stream():
    def draws():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_epoch(3, 1)
    first = draws()
    seed_epoch(3, 2)
    other = draws()
    seed_epoch(3, 1)
    assert draws() == first and all(a != b for a, b in zip(first, other))


def test_accumulated_steps_equal_one_step_on_the_whole_batch():
    def trained(batches, accum_steps):
        torch.manual_seed(0)
        net = nn.Linear(4, 2)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        scheduler = type("NoSchedule", (), {"step_update": lambda self, num_updates: None})()
        stepper = Stepper(net=net, optimizer=optimizer, scheduler=scheduler, accum_steps=accum_steps,
                          loss_of=lambda b: (F.cross_entropy(net(b[0]), b[1]), len(b[0])))
        loss, seen = stepper.epoch(batches, len(batches), 0)
        return net.weight.detach(), loss, seen

    halves = [(X[:32], Y[:32]), (X[32:], Y[32:])]
    w_accum, loss_accum, seen = trained(halves, 2)
    w_whole, loss_whole, _ = trained([(X, Y)], 1)
    torch.testing.assert_close(w_accum, w_whole)
    assert seen == 64 and loss_accum == pytest.approx(loss_whole, rel=1e-6)


class Killed(Exception):
    pass


def _fit(workdir: Path, resume: bool = False, kill_at: int | None = None):
    trainer = Trainer(PARAMS, ModelContext("multiclass", "accuracy", 2, 7, None, workdir, 1, resume))
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))  # dropout draws per step

    def batches(epoch):
        if epoch == kill_at:
            raise Killed
        # shuffled (and dropped out) by torch's global stream, which the epoch's seeding and the checkpoint fix
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=16, shuffle=True)

    def accuracy(weights: nn.Module) -> float:
        with torch.no_grad():
            return float((weights.eval()(X).argmax(1) == Y).float().mean())

    return trainer.fit(net, lambda b: (F.cross_entropy(net(b[0]), b[1]), len(b[0])), batches, epochs=4,
                       updates_per_epoch=2, score=accuracy)


def test_toy_fit_killed_and_resumed_ends_with_the_same_weights(tmp_path):
    full, history = _fit(tmp_path / "full")
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert {"train_loss", "lr", "train_img_s", "valid_accuracy", "valid_accuracy_ema", "seconds"} <= set(history[0])
    assert (tmp_path / "full" / "history.csv").is_file() and (tmp_path / "full" / "curves.png").is_file()
    best = torch.load(tmp_path / "full" / "best.pt", weights_only=True)
    monitored = [max(r["valid_accuracy"], r["valid_accuracy_ema"]) for r in history]
    assert best["best"] == max(monitored) and best["epoch"] == max(i for i, m in enumerate(monitored) if m == max(monitored))

    with pytest.raises(Killed):
        _fit(tmp_path / "cut", kill_at=2)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1  # epochs 1 and 2 were saved
    resumed, resumed_history = _fit(tmp_path / "cut", resume=True)
    assert [r["train_loss"] for r in resumed_history] == [r["train_loss"] for r in history]
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):  # the EMA weights
        assert torch.equal(a, b)
    a, b = (torch.load(tmp_path / d / "last.pt", weights_only=True) for d in ("full", "cut"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
