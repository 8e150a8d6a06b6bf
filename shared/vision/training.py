"""The training scaffold that image classification (``shared.vision.train``) and detection
(``shared.detection.model``) share, so that each task supplies only what differs: its network, the batches of an
epoch, the loss of a batch and, optionally, the score of a validation pass.

    trainer = Trainer(params, ctx)  # threads, device, precision, channels_last; seeds the initial weights
    net = build_network().to(trainer.device)
    net_, history_ = trainer.fit(net, loss_of, batches, epochs=10, updates_per_epoch=len(batches(0)))

``fit`` makes the timm optimizer and per-update scheduler, the EMA of the weights (timm ``ModelEmaV3``) and the
fp16 GradScaler, runs the epochs (a line per epoch in the run log: losses, metric, lr, seconds, ETAs), records the
history (``history.csv``, ``curves.png``) and checkpoints. While a fit is under way ``last.pt`` holds its full
state (weights, EMA, optimizer, scheduler, scaler, RNGs), rewritten every epoch, and a resumed run continues from
it: every epoch re-seeds all random streams from (seed, epoch), so it continues exactly as if it had never
stopped. A finished fit keeps one set of weights and no optimizer state, as its ``keep`` setting says
(``keep_checkpoints``): ``last.pt`` with the weights it predicts with, ``best.pt`` with the best validation
epoch's, or none.
"""
from __future__ import annotations

import pickle
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from shared import distributed
from shared.config import BELOW_ONE, NON_NEGATIVE, POSITIVE, Choice, Text, count
from shared.divergence import LossWatch, finite_weights
from shared.errors import UserError
from shared.io import atomic_write, write_csv
from shared.log import get_log
from shared.models import Progress, clock

# The image and detection recipes' sizes at most: an image side (px), passes over the data, data-loader processes.
MAX_SIDE, MAX_EPOCHS, MAX_WORKER_PROCESSES = 4096, 10_000, 256
OPTIMIZER_RANGES = {  # the optimizer and schedule settings image and detection recipes share
    "opt": Text("a timm optimizer name (timm.optim.list_optimizers())", pattern=r"\S+",
                doc="the optimizer (timm create_optimizer_v2): sgd (Nesterov), momentum, adamw, lamb, ..."),
    "lr": POSITIVE.with_doc("peak learning rate, on the batch's mean loss"),
    "weight_decay": NON_NEGATIVE.with_doc("the optimizer's weight decay"),
    "momentum": BELOW_ONE.with_doc("momentum of the SGD-style optimizers"),
    "sched": Choice("cosine", "step", "tanh", "poly", "constant",  # timm's that step per update with our arguments
                    doc="learning-rate schedule (timm create_scheduler_v2), stepped every update"),
    "warmup_epochs": count(MAX_EPOCHS, low=0).with_doc("epochs of linear learning-rate warm-up, from 1 % of lr"),
}


def optimizer_settings(opt: str, lr: float, weight_decay: float, momentum: float, sched: str,
                       warmup_epochs: int) -> dict:
    """The shared optimizer and schedule settings with one model's defaults, as entries of its settings table."""
    defaults = {"opt": opt, "lr": lr, "weight_decay": weight_decay, "momentum": momentum, "sched": sched,
                "warmup_epochs": warmup_epochs}
    return {key: (defaults[key], OPTIMIZER_RANGES[key]) for key in OPTIMIZER_RANGES}


PROGRESS_SECONDS = 30.0  # inside a long epoch, a line in the run log at most this often (batch, loss, img/s, ETA)

# What a finished fit keeps (the ``keep`` setting): one set of weights, or none. ``best`` needs a validation score.
KEEP = ("last", "best", "none")


def pick_device(setting: str) -> torch.device:
    """``auto`` (CUDA when visible, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise UserError("--set device=cuda but no CUDA device is visible; use --set device=auto.")
    return torch.device(setting)


def amp_dtype(device: torch.device, setting: str) -> torch.dtype | None:
    """The autocast dtype (None: full precision): ``auto`` is bf16 on CUDA where supported, else fp16; off on CPU."""
    if setting == "off" or device.type != "cuda":
        return None
    if setting == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]


def autocast(device: torch.device, dtype: torch.dtype | None):
    """Mixed precision in ``dtype`` on ``device``; a no-op when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def memory_format(device: torch.device, setting: str) -> torch.memory_format:
    """channels_last for ``on``, or ``auto`` on CUDA (faster convolutions there); else contiguous."""
    on = setting == "on" or (setting == "auto" and device.type == "cuda")
    return torch.channels_last if on else torch.contiguous_format


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed Python's, numpy's and torch's random streams from (seed, epoch): what an epoch draws depends on nothing
    else, so a run resumed at any epoch draws the same."""
    s = (seed * 1_000_003 + epoch) % 2**31
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


# ------------------------------------------------------------------------------------------------ checkpoints
def save_checkpoint(path: Path, net, ema, optimizer, scheduler, scaler, state: dict) -> None:
    """The full training state (model, EMA, optimizer, scheduler, scaler, RNGs, ``state``), written atomically:
    what resuming a fit under way needs. Only tensors and plain values (dicts, lists, numbers, text), so that
    ``load_checkpoint`` reads it with ``weights_only=True``: the RNG states become tensors and numbers, ``state``
    plain floats and lists."""
    checkpoint = {
        "model": net.state_dict(), "ema": None if ema is None else ema.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(), "average": state.get("average"),
        **_record(state),
    }
    _save(path, checkpoint)


def save_weights(path: Path, weights: nn.Module, which: str, state: dict) -> None:
    """One set of weights (``which``: ``raw``, ``ema`` for the moving average, or ``averaged`` for the mean of the
    last epochs' weights, ``average_epochs``) with the epoch, best score,
    history and RNG state, and no optimizer, scheduler or scaler state: what a finished fit keeps, and
    ``best.pt``. ``model`` is the network's plain state_dict, which loads into a fresh network of the recipe."""
    _save(path, {"model": weights.state_dict(), "weights": which, **_record(state)})


def _record(state: dict) -> dict:
    return {"epoch": int(state["epoch"]), "best": float(state["best"]),
            "history": [{k: _plain(v) for k, v in row.items()} for row in state["history"]], "rng": _rng_state()}


def _save(path: Path, checkpoint: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def load_checkpoint(path: Path, device: torch.device, net, ema, optimizer, scheduler, scaler) -> dict:
    """Restore what ``save_checkpoint`` (or, for a finished fit, ``save_weights``) wrote; returns its epoch,
    history, best score, the running sum of ``average_epochs`` (None when off) and whether the fit had finished
    (then ``weights`` says which weights it held; they are loaded into the EMA for ``ema``, else the net). Read
    with ``weights_only=True``: a checkpoint holding any other object (which unpickling would let run code) is
    refused, and nothing in it runs."""
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"checkpoint {path} holds objects other than tensors and plain values, which are never "
                        "loaded (they could run code; an older version of this code also wrote such checkpoints): "
                        "delete it to restart this fold from scratch.") from None
    except Exception as exc:  # a checkpoint cut off by a kill mid-write cannot exist (atomic), but a disk can fail
        raise UserError(f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to restart "
                        "this fold from scratch.") from None
    try:
        finished = "optimizer" not in checkpoint  # a finished fit's weights (save_weights)
        which = checkpoint["weights"] if finished else None
        if finished:
            (ema.module if ema is not None and which == "ema" else net).load_state_dict(checkpoint["model"])
        else:
            net.load_state_dict(checkpoint["model"])
            if ema is not None and checkpoint["ema"] is not None:
                ema.load_state_dict(checkpoint["ema"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler.load_state_dict(checkpoint["scheduler"])
            if scaler is not None and checkpoint["scaler"] is not None:
                scaler.load_state_dict(checkpoint["scaler"])
        _set_rng_state(checkpoint["rng"])
        return {"epoch": int(checkpoint["epoch"]), "history": list(checkpoint["history"]),
                "best": float(checkpoint["best"]), "average": checkpoint.get("average"), "finished": finished,
                "weights": which}
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        raise UserError(f"checkpoint {path} does not fit this run ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'wrong content'}); delete it "
                        "to restart this fold from scratch.") from None


def keep_checkpoints(workdir: Path, keep: str) -> None:
    """Once a fit's predictions are made, what its folder keeps: ``last.pt`` (keep=last), ``best.pt`` (keep=best;
    ``last.pt`` where no validation picked a best epoch) or neither (keep=none). Until then ``last.pt`` stays, so
    that a run killed while predicting resumes without training again."""
    if keep == "none" or (keep == "best" and (Path(workdir) / "best.pt").is_file()):
        (Path(workdir) / "last.pt").unlink(missing_ok=True)


def _plain(value):
    """A number or text as a plain Python value (numpy and 0-d tensor scalars become floats / ints)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"a checkpoint's history holds numbers and text only, not {type(value).__name__}")


def _rng_state() -> dict:
    """Every random stream's state as tensors and numbers (numpy's and Python's tuples have no tensor form)."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, words, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": int(version), "words": torch.tensor(words, dtype=torch.int64),
                       "gauss_next": None if gauss_next is None else float(gauss_next)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"].cpu())  # RNG states are CPU byte tensors whatever map_location was
    numpy = rng["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].cpu().numpy().astype(np.uint32), int(numpy["pos"]),
                         int(numpy["has_gauss"]), float(numpy["cached_gaussian"])))
    python = rng["python"]
    random.setstate((int(python["version"]), tuple(int(w) for w in python["words"].tolist()),
                     None if python["gauss_next"] is None else float(python["gauss_next"])))
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in rng["cuda"]])


# --------------------------------------------------------------------------------------------------- the loop
class Epoch:
    """An epoch under way, for a training loop written as a plain for-loop (a competition's ``train_epoch``)::

        for images, targets in epoch:            # the epoch's batches, on the training device
            with epoch.autocast():               # mixed precision where it is on
                value = loss(net(images), targets)
            epoch.step(value, len(images))       # backward; per update: clip, optimizer, schedule, EMA

    ``step`` does what every task shares: gradient accumulation and clipping, the (fp16) GradScaler, the optimizer,
    the scheduler and the EMA stepped per optimizer update."""

    def __init__(self, stepper: Stepper, batches: Iterable, n_batches: int, update: int,
                 prepare: Callable | None = None, label: str = ""):
        self.stepper, self.batches, self.n_batches, self.update = stepper, batches, n_batches, update
        self.prepare = prepare or (lambda batch: batch)
        self.index, self.total, self.seen = 0, 0.0, 0  # total becomes a tensor on the loss's device: no sync per step
        # ``label`` (e.g. "fold 0, epoch 1/15"): a progress line in the run log every PROGRESS_SECONDS; none without
        self.label, self.started = label, time.time()
        self.next_line = self.started + PROGRESS_SECONDS

    def __iter__(self):
        for batch in self.batches:
            yield self.prepare(batch)

    def autocast(self):
        return autocast(self.stepper.device, self.stepper.amp)

    def step(self, loss: torch.Tensor, n: int) -> None:
        """Backward of ``loss`` (the mean over the batch's ``n`` images); an optimizer update every
        ``accum_steps`` batches and at the epoch's last."""
        s = self.stepper
        if s.first_loss is None:  # the untrained model's, the loss watch's yardstick (one sync per fit)
            s.first_loss = float(loss.detach())
        scaled = loss / s.accum_steps
        (s.scaler.scale(scaled) if s.scaler else scaled).backward()
        self.total += loss.detach().float() * n
        self.seen += n
        self.index += 1
        if self.label and time.time() >= self.next_line:
            self._progress_line()
        if self.index % s.accum_steps == 0 or self.index == self.n_batches:
            if s.scaler:
                s.scaler.unscale_(s.optimizer)
            if s.clip_grad > 0:
                nn.utils.clip_grad_norm_(s.net.parameters(), s.clip_grad)
            if s.scaler:
                s.scaler.step(s.optimizer)
                s.scaler.update()
            else:
                s.optimizer.step()
            s.optimizer.zero_grad(set_to_none=True)
            self.update += 1
            s.scheduler.step_update(num_updates=self.update)
            if s.ema is not None:
                s.ema.update(s.net, step=self.update)

    @property
    def mean_loss(self) -> float:
        return float(self.total) / max(self.seen, 1)

    def _progress_line(self) -> None:
        """``fold 0, epoch 1/15: batch 120/300, train loss 2.3012, 45 img/s, epoch ETA 1m10s`` in the run log (the
        loss read from the device only now that a line is due)."""
        now = time.time()
        self.next_line = now + PROGRESS_SECONDS
        if not distributed.is_main():
            return
        elapsed = max(now - self.started, 1e-9)
        left = elapsed / self.index * max(self.n_batches - self.index, 0)
        get_log().info(f"{self.label}: batch {self.index}/{self.n_batches}, train loss {self.mean_loss:.4f}, "
                       f"{self.seen / elapsed:.0f} img/s, epoch ETA {clock(left)}")


@dataclass
class Stepper:
    """The optimizer side of a fit (net, optimizer, per-update scheduler, EMA, GradScaler, accumulation, clipping)
    and its ``epoch``: the loop's hot path, kept apart so that ``scripts/bench_vision.py`` can time it against a bare
    PyTorch loop on in-memory tensors. ``loss_of(batch) -> (loss, images in the batch)`` is the task's part when it
    has no loop of its own (detection); ``device`` and ``amp`` say where ``Epoch.autocast`` casts."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object  # a timm scheduler (``step_update``)
    loss_of: Callable | None = None
    ema: nn.Module | None = None
    scaler: torch.amp.GradScaler | None = None
    accum_steps: int = 1  # the optimizer steps every this many batches
    clip_grad: float = 0.0  # max gradient norm (0 = off)
    device: torch.device = torch.device("cpu")
    amp: torch.dtype | None = None
    first_loss: float | None = None  # the fit's first batch's loss, set by ``Epoch.step``

    def epoch(self, batches: Iterable, n_batches: int, update: int, train: Callable[[Epoch], None] | None = None,
              prepare: Callable | None = None, label: str = "") -> tuple[float, int]:
        """Train on ``batches`` with the loop ``train(epoch)`` (by default: ``loss_of`` of each batch, then its
        step); returns (mean training loss, images seen). ``update`` counts optimizer steps before this epoch;
        ``label`` names the epoch in its progress lines (none without)."""
        run = Epoch(self, batches, n_batches, update, prepare, label)
        if train is not None:
            train(run)
        else:
            for batch in run:
                run.step(*self.loss_of(batch))
        return run.mean_loss, run.seen


class Trainer:
    """One fit's training: made first (it sets the threads, picks the device and precision, and seeds the
    network's initial weights), then ``fit`` trains the network built on ``trainer.device``.

    ``params`` holds the recipe's settings: device, amp, opt, lr, weight_decay, momentum, sched, warmup_epochs,
    clip_grad, ema, ema_decay; optionally channels_last (off), accum_steps (1), keep (last) and decay_epochs,
    decay_rate, min_lr (timm's defaults). ``ctx`` gives seed, n_jobs, workdir (checkpoints, history), resume and
    progress (the fit's place in the run, for the ETAs in the log)."""

    def __init__(self, params: dict, ctx):
        self.params, self.seed = params, ctx.seed
        self.workdir, self.resume = Path(ctx.workdir), getattr(ctx, "resume", False)
        self.progress = getattr(ctx, "progress", None) or Progress()
        torch.set_num_threads(ctx.n_jobs)
        self.device = pick_device(params["device"])
        self.amp = amp_dtype(self.device, params["amp"])
        self.memory_format = memory_format(self.device, params.get("channels_last", "off"))
        torch.manual_seed(ctx.seed)

    def autocast(self):
        return autocast(self.device, self.amp)

    def fit(self, net: nn.Module, loss_of: Callable | None, batches: Callable[[int], Iterable], *, epochs: int,
            updates_per_epoch: int, lr: float | None = None,
            score: Callable[[nn.Module], float | dict[str, float]] | None = None, metric: str = "accuracy",
            train_epoch: Callable[[Epoch], None] | None = None,
            prepare: Callable | None = None) -> tuple[nn.Module, list[dict]]:
        """Train ``net`` for ``epochs`` (continuing from ``last.pt`` when resuming); returns the weights to predict
        with (the EMA's when on), in eval mode, and the per-epoch history.

        The loop of an epoch is ``train_epoch(epoch)`` (an ``Epoch``: its batches, ``autocast``, ``step``), or by
        default ``loss_of(batch) -> (loss, images)`` then its step; ``prepare(batch)`` moves a batch to the device.
        ``batches(epoch)``: that epoch's batches, with a length (a DataLoader); ``updates_per_epoch``: optimizer
        updates the schedule counts per epoch; ``lr``: the peak learning rate (default ``params["lr"]``);
        ``score(net)``: the validation ``metric`` of some weights (higher is better), or a dict of named values
        holding it (e.g. ``{"accuracy": 0.9, "loss": 0.3}``), each recorded as ``valid_<name>`` for the raw and
        ``valid_<name>_ema`` for the EMA weights; with ``keep=best`` the best epoch's weights are saved as
        ``best.pt``."""
        stepper = self._stepper(net, loss_of, epochs, updates_per_epoch, lr)
        state, finished = self._start(stepper, epochs)
        freeze = self.params.get("freeze_epochs", 0)
        head = classifier_parameters(net) if freeze > 0 else set()
        average = self.params.get("average_epochs", 0)
        if average >= epochs > 1 and state["epoch"] < 0 and distributed.is_main():
            get_log().warning(f"average_epochs={average} averages all {epochs} epochs, the first ones (warm-up, the "
                              f"highest learning rates) too; fewer, e.g. --set average_epochs={max(1, epochs // 3)}, "
                              "average the settled ones")
        # A resumed fit's earlier epochs count as they took, not as the moments its restart took
        earlier = [float(row.get("seconds", 0.0)) for row in state["history"]]
        self.progress.earlier_seconds = sum(earlier)
        fit_started, epoch_seconds = time.time(), list(earlier)
        watch = LossWatch(self.progress.name, self.params)  # checked before an epoch is saved
        for epoch in range(state["epoch"] + 1, epochs):
            started = time.time()
            seed_epoch(self.seed, epoch)
            net.train()
            if freeze > 0:  # a function of the epoch alone, so that a resumed fit freezes as the first did
                freeze_backbone(net, head, epoch < freeze)
                self._say_freezing(epoch, freeze, epochs, len(head))
            loader = batches(epoch)
            # iter(): tqdm.auto would otherwise open a second iterator, advancing the seeded shuffle.
            progress = tqdm(iter(loader), total=len(loader), leave=False, disable=None,
                            desc=f"epoch {epoch + 1}/{epochs}")
            label = f"{self._named()}epoch {epoch + 1}/{epochs}"
            train_loss, seen = stepper.epoch(progress, len(loader), epoch * updates_per_epoch, train_epoch, prepare,
                                             label)
            watch.first(stepper.first_loss)
            watch.epoch(train_loss, epoch + 1, finite_weights(stepper.net))
            stepper.scheduler.step(epoch + 1)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": peak_lr(stepper.optimizer),
                   "train_img_s": seen / max(time.time() - started, 1e-9)}
            state = self._end_epoch(stepper, row, state, score, metric, started, watch, epochs)
            if distributed.is_main():
                epoch_seconds.append(time.time() - started)
                fit_left = sum(epoch_seconds) / len(epoch_seconds) * (epochs - epoch - 1)
                run_left = self.progress.run_left(fit_left, self.progress.earlier_seconds + time.time() - fit_started
                                                  + fit_left)
                get_log().info(epoch_line(row, epochs, metric, self.progress.name, fit_left, run_left))
        if freeze > 0:
            freeze_backbone(net, head, False)  # what is returned trains as any net would
        return self._finish(stepper, state, finished, score, metric)

    def _named(self) -> str:
        """The fit's name as the start of a log line (``fold 0, ``), or nothing for an unnamed fit."""
        return self.progress.name + ", " if self.progress.name else ""

    def _say_freezing(self, epoch: int, freeze: int, epochs: int, n_head: int) -> None:
        """The log's line where freezing starts (a fresh fit) and where the backbone starts to train."""
        if not distributed.is_main() or epoch not in (0, freeze):
            return
        name = self._named()
        first = "the first epoch" if freeze == 1 else f"the first {freeze} epochs"
        if epoch == 0:
            until = f"all {epochs} epochs (the backbone never trains)" if freeze >= epochs else first
            get_log().info(f"{name}freeze_epochs={freeze}: only the classifier ({n_head} tensor{'s' * (n_head > 1)}) "
                           f"trains in {until}; the backbone's BatchNorm statistics are kept")
        else:
            get_log().info(f"{name}epoch {epoch + 1}/{epochs}: the backbone trains from now on (frozen in {first}, "
                           f"freeze_epochs={freeze})")

    def _stepper(self, net: nn.Module, loss_of: Callable | None, epochs: int, updates_per_epoch: int,
                 lr: float | None) -> Stepper:
        """The timm optimizer and per-update scheduler, the EMA of the weights and the fp16 GradScaler."""
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2
        from timm.utils import ModelEmaV3

        p = self.params
        lr = p["lr"] if lr is None else lr
        optimizer = create_optimizer_v2(net, opt=p["opt"], lr=lr, weight_decay=p["weight_decay"],
                                        momentum=p["momentum"], **self._layer_decay(net))
        decay = {k: p[k] for k in ("decay_epochs", "decay_rate", "min_lr") if k in p}
        scheduler, _ = create_scheduler_v2(optimizer, sched=p["sched"], num_epochs=epochs,
                                           warmup_epochs=p["warmup_epochs"], warmup_lr=lr * 0.01,
                                           step_on_epochs=False, updates_per_epoch=updates_per_epoch, **decay)
        # EMA warm-up (timm): the decay grows with the step count, so short runs do not average in the random init.
        ema = ModelEmaV3(net, decay=p["ema_decay"], use_warmup=True) if p["ema"] else None
        scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        return Stepper(net=net, optimizer=optimizer, scheduler=scheduler, loss_of=loss_of, ema=ema, scaler=scaler,
                       accum_steps=p.get("accum_steps", 1), clip_grad=p["clip_grad"], device=self.device, amp=self.amp)

    def _layer_decay(self, net: nn.Module) -> dict:
        """``create_optimizer_v2``'s arguments for ``layer_decay``: timm's layer groups where the net has a
        ``group_matcher`` (timm's models), else ``layer_groups`` by module order (airbench, a competition's own net).
        Said in the log with the range of scales."""
        decay = self.params.get("layer_decay", 0.0)
        if decay <= 0:
            return {}
        if hasattr(net, "group_matcher"):
            from timm.optim._param_groups import group_parameters

            depth = max(group_parameters(net, net.group_matcher(coarse=False), reverse=True).values()) + 1
            how, args = "timm's group_matcher", {"layer_decay": decay}
        else:
            depth = max(layer_numbers(net).values()) + 1
            how = "module order: each conv or linear layer begins one"
            args = {"param_group_fn": lambda model: layer_groups(model, decay, self.params["weight_decay"])}
        if distributed.is_main():
            get_log().info(f"{self._named()}layer_decay={decay:g}: {depth} "
                           f"layers ({how}), learning rates from {decay ** (depth - 1):.3g} x lr (the first) to "
                           "lr (the classifier)")
        return args

    def _start(self, stepper: Stepper, epochs: int) -> tuple[dict, bool]:
        """(state, finished): a fresh fit's, or the one ``last.pt`` holds when resuming."""
        state, finished, last = {"epoch": -1, "history": [], "best": -1.0}, False, self.workdir / "last.pt"
        self.finished_weights = None
        if self.resume and last.is_file():
            state = load_checkpoint(last, self.device, *_parts(stepper))
            finished, self.finished_weights = state.pop("finished"), state.pop("weights")
            if finished and state["epoch"] + 1 < epochs:
                raise UserError(f"checkpoint {last} holds the weights of a fit finished after {state['epoch'] + 1} "
                                f"epochs, not the state to train {epochs} from; delete it to restart this fold.")
        return state, finished

    def _end_epoch(self, stepper: Stepper, row: dict, state: dict, score, metric: str, started: float,
                   watch: LossWatch, epochs: int) -> dict:
        """Score the raw and EMA weights (a validation loss that is no number is a diverged fit), record the epoch,
        add its weights to the running sum of ``average_epochs`` when it is one of the last, checkpoint (every rank
        holds the same weights; one writes); returns the new state."""
        ema = stepper.ema
        if score is not None:
            row.update(_validation(score(stepper.net), metric, ""))
            if ema is not None:
                row.update(_validation(score(ema.module), metric, "_ema"))
            for name, what in (("valid_loss", "validation loss"), ("valid_loss_ema", "EMA's validation loss")):
                watch.epoch(row.get(name, 0.0), row["epoch"], what=what)
        row["seconds"] = time.time() - started
        history = state["history"] + [row]
        raw, averaged = row.get(f"valid_{metric}", -1.0), row.get(f"valid_{metric}_ema", -1.0)
        improved = score is not None and max(raw, averaged) >= state["best"]
        last_ones = self.params.get("average_epochs", 0)
        add = last_ones > 0 and row["epoch"] > epochs - last_ones
        state = {"epoch": row["epoch"] - 1, "history": history, "best": max(state["best"], raw, averaged),
                 "average": add_weights(state.get("average"), stepper.net) if add else state.get("average")}
        if distributed.is_main():
            save_checkpoint(self.workdir / "last.pt", *_parts(stepper), state)
            if self.params.get("keep", "last") == "best" and improved:  # the better weights, no training state
                which = "ema" if ema is not None and averaged >= raw else "raw"
                save_weights(self.workdir / "best.pt", ema.module if which == "ema" else stepper.net, which, state)
        return state

    def _finish(self, stepper: Stepper, state: dict, finished: bool, score, metric: str) -> tuple[nn.Module, list[dict]]:
        """The weights to predict with, in eval mode (the EMA's when on; the averaged ones with ``average_epochs``;
        a finished fit's, those its checkpoint held); the fit's lean checkpoint, history.csv and curves.png."""
        weights, which = (stepper.ema.module, "ema") if stepper.ema is not None else (stepper.net, "raw")
        if finished:
            which = self.finished_weights
            weights = stepper.ema.module if which == "ema" and stepper.ema is not None else stepper.net
        elif state.get("average"):
            weights, which = self._averaged(stepper, state, score, metric), "averaged"
        main, history = distributed.is_main(), state["history"]
        if main and not finished:  # the fit is done: its optimizer, scheduler and scaler state go
            save_weights(self.workdir / "last.pt", weights, which, state)
        if history and main:
            from shared.plots import learning_curves

            write_csv(self.workdir / "history.csv", pd.DataFrame(history))
            learning_curves(self.workdir / "curves.png", pd.DataFrame(history))
        return weights.eval(), history

    def _averaged(self, stepper: Stepper, state: dict, score, metric: str) -> nn.Module:
        """The mean of the weights the running sum holds, scored on the held-out images beside the last epoch's (a
        line in the log; with keep=best, ``best.pt`` when they beat every epoch)."""
        import copy

        averaged = copy.deepcopy(stepper.net)
        averaged.load_state_dict(mean_weights(state["average"], stepper.net.state_dict()))
        n, name = state["average"]["count"], self._named()
        if score is None:
            line = f"averaged the last {n} epochs' weights (no held-out images to score them)"
        else:
            value = _validation(score(averaged), metric, "")[f"valid_{metric}"]
            last = state["history"][-1]
            ema = f", EMA's {last[f'valid_{metric}_ema']:.4f}" if f"valid_{metric}_ema" in last else ""
            line = (f"averaged the last {n} epochs' weights: {metric} {value:.4f} (last epoch's "
                    f"{last.get(f'valid_{metric}', float('nan')):.4f}{ema})")
            if self.params.get("keep", "last") == "best" and value >= state["best"] and distributed.is_main():
                save_weights(self.workdir / "best.pt", averaged, "averaged", {**state, "best": value})
        if distributed.is_main():
            get_log().info(name + line + ("; the averaged weights predict, not the EMA's" if stepper.ema else ""))
        return averaged


# ------------------------------------------------------------------------------------- the training options
def peak_lr(optimizer: torch.optim.Optimizer) -> float:
    """The largest learning rate of the optimizer's groups: the classifier's under ``layer_decay``, else all's."""
    return max(group["lr"] for group in optimizer.param_groups)


def layer_numbers(net: nn.Module) -> dict[str, int]:
    """Parameter name -> its layer by module order, for nets without timm's ``group_matcher``: each module with a
    weight of two or more dimensions (a conv, a linear layer) begins a layer; the others' (BatchNorm's, biases)
    join the layer before."""
    layer, numbers = 0, {}
    for prefix, module in net.named_modules():
        own = list(module.named_parameters(recurse=False))
        if own and numbers and any(param.ndim > 1 for _, param in own):
            layer += 1
        numbers.update({f"{prefix}.{key}" if prefix else key: layer for key, _ in own})
    return numbers


def layer_groups(net: nn.Module, decay: float, weight_decay: float) -> list[dict]:
    """The optimizer's parameter groups for layer-wise learning-rate decay by module order (``layer_numbers``):
    the last layer at lr, each one below at ``decay`` times the one above (timm's schedulers apply ``lr_scale``);
    no weight decay on one-dimensional parameters, as timm's groups."""
    numbers = layer_numbers(net)
    top, groups = max(numbers.values()), {}
    for name, param in net.named_parameters():
        if param.requires_grad:
            layer, flat = numbers[name], param.ndim <= 1
            group = groups.setdefault((layer, flat), {"params": [], "lr_scale": decay ** (top - layer),
                                                      "weight_decay": 0.0 if flat else weight_decay})
            group["params"].append(param)
    return list(groups.values())


def classifier_parameters(net: nn.Module) -> set[int]:
    """The ids of the classifier's parameters (timm's ``get_classifier()``, else a ``head`` module, as airbench's):
    what trains while ``freeze_epochs`` holds the backbone."""
    head = net.get_classifier() if hasattr(net, "get_classifier") else getattr(net, "head", None)
    parts = head if isinstance(head, (tuple, list)) else (head,)  # a distilled ViT's: (head, head_dist)
    ids = {id(param) for part in parts if isinstance(part, nn.Module) for param in part.parameters()}
    if not ids:
        raise UserError(f"--set freeze_epochs: the network ({type(net).__name__}) has no classifier with weights "
                        "(timm's get_classifier() or a .head module), so nothing would train while its backbone is "
                        "frozen; --set freeze_epochs=0.")
    return ids


def freeze_backbone(net: nn.Module, head: set[int], frozen: bool) -> None:
    """Freeze (``frozen``) or release every parameter but the classifier's (``head``: their ids); frozen, the
    backbone's BatchNorm layers are in eval mode, so that their running statistics stay as they were."""
    for param in net.parameters():
        if id(param) not in head:
            param.requires_grad_(not frozen)
    if frozen:
        batchnorm_eval(net, head)


def batchnorm_eval(net: nn.Module, skip: set[int] = frozenset()) -> None:
    """``net``'s BatchNorm layers (but those holding a parameter whose id is in ``skip``) in eval mode: they
    normalise with their running statistics and do not update them; their scale and shift still train."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and \
                not any(id(p) in skip for p in module.parameters(recurse=False)):
            module.eval()


def add_weights(total: dict | None, net: nn.Module) -> dict:
    """``average_epochs``' running sum with ``net``'s weights added: {"count": epochs added, "sum": name -> the
    sum of each floating tensor (weights, BatchNorm statistics)}; plain tensors, so that ``last.pt`` holds it."""
    state = {k: v.detach() for k, v in net.state_dict().items() if v.is_floating_point()}
    if total is None:
        return {"count": 1, "sum": {k: v.clone() for k, v in state.items()}}
    return {"count": total["count"] + 1, "sum": {k: total["sum"][k] + v for k, v in state.items()}}


def mean_weights(total: dict, last: dict) -> dict:
    """The state_dict of the mean weights: each floating tensor's sum over the count, the others (BatchNorm's
    batch counters) from ``last``."""
    return {k: (total["sum"][k] / total["count"]).to(v.dtype) if k in total["sum"] else v for k, v in last.items()}


def _parts(stepper: Stepper) -> tuple:
    """What a checkpoint holds the state of: net, EMA, optimizer, scheduler, scaler."""
    return stepper.net, stepper.ema, stepper.optimizer, stepper.scheduler, stepper.scaler


def _validation(value: float | dict[str, float], metric: str, suffix: str) -> dict[str, float]:
    """A ``score`` callback's answer as history columns: ``valid_<name><suffix>`` for each value it names."""
    values = value if isinstance(value, dict) else {metric: value}
    return {f"valid_{name}{suffix}": float(v) for name, v in values.items()}


def epoch_line(row: dict, epochs: int, metric: str, name: str, fit_left: float, run_left: float) -> str:
    """An epoch's line in the run log: e.g. ``fold 0, epoch 3/10: train loss 1.2034, valid loss 1.1020, accuracy
    0.6120 (EMA 0.6250), lr 0.0812, 41.3 s; fold ETA 4m49s, run ETA 31m10s``."""
    parts = [f"train loss {row['train_loss']:.4f}"]
    if "valid_loss" in row:
        parts.append(f"valid loss {row['valid_loss']:.4f}")
    if f"valid_{metric}" in row:
        ema = f" (EMA {row[f'valid_{metric}_ema']:.4f})" if f"valid_{metric}_ema" in row else ""
        parts.append(f"{metric} {row[f'valid_{metric}']:.4f}{ema}")
    parts += [f"lr {row['lr']:.3g}", f"{row['seconds']:.1f} s"]
    return (f"{name + ', ' if name else ''}epoch {row['epoch']}/{epochs}: {', '.join(parts)}; "
            f"fold ETA {clock(fit_left)}, run ETA {clock(run_left)}")
