"""The image-classification model behind the shared runner: ``VisionModel(params, ctx)`` with
``fit(X, y)`` and ``predict(X) -> class probabilities``, ``X`` holding an ``image_path`` column.

One training loop: timm optimizer and scheduler factories (SGD/AdamW/..., cosine or step with warmup,
stepped per update), mixed precision (bf16/fp16) and channels_last on CUDA, EMA of the weights (timm
``ModelEmaV3``) scored beside the raw weights, Mixup/CutMix and label smoothing (timm), gradient
accumulation and clipping, per-epoch metrics and a learning-curve PNG, and full-state checkpoints
(``last.pt`` every epoch, ``best.pt`` on the best monitored accuracy). Every epoch re-seeds all random
streams from (seed, epoch) and each image's augmentation from (seed, epoch, index), so a run resumed from
``last.pt`` continues exactly as if it had never stopped.
"""
from __future__ import annotations

import math
import pickle
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from shared import distributed
from shared.config import BELOW_ONE, COUNT, FLAG, NON_NEGATIVE, POSITIVE, WHOLE, Choice, Either, Range, Text
from shared.errors import UserError
from shared.io import atomic_write, write_csv
from shared.runs import get_log
from shared.vision import nets, tta
from shared.vision.augment import PRESETS, pipelines
from shared.vision.data import ImageDataset, loader, should_cache
from shared.vision.images import BAD_IMAGE_POLICIES, load_rgb

PATH_COL = "image_path"

VISION_PARAMS = {
    "model": "resnet18",  # any timm name, or airbench | airbench_small
    "pretrained": False,  # download hub weights (online)
    "weights": "",  # a local weights file (offline); a missing file is an error
    "cifar_stem": False,  # 3x3 stride-1 stem, no max-pool (32-px inputs)
    "drop_rate": 0.0,
    "img_size": 32,  # the side images are resized to; 0: the images' own size
    "augment": "natural",  # shared.vision.augment.PRESETS
    "epochs": 10,
    "batch_size": 128,
    # Small data: when an epoch would hold fewer optimizer steps than this, the batch halves (down to 16) and the
    # learning rate follows by the square-root rule, lr * sqrt(new / old). 0 = off; the stated batch is kept.
    "min_steps_per_epoch": 0,
    "min_updates": 0,  # small data: epochs grow until training holds this many optimizer updates (0 = off)
    "accum_steps": 1,  # gradient accumulation: optimizer steps every this many batches
    "opt": "sgd",  # timm create_optimizer_v2 names: sgd (nesterov), momentum, adamw, lamb, ...
    "lr": 0.1,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "sched": "cosine",  # cosine | step | ... (timm create_scheduler_v2)
    "warmup_epochs": 0,
    "decay_epochs": 4,  # step schedule: decay every this many epochs ...
    "decay_rate": 0.9,  # ... by this factor
    "min_lr": 0.0,
    "label_smoothing": 0.0,
    "mixup": 0.0,  # Mixup alpha (0 = off)
    "cutmix": 0.0,  # CutMix alpha (0 = off)
    "clip_grad": 0.0,  # max gradient norm (0 = off)
    "ema": False,
    "ema_decay": 0.999,
    "tta": "none",  # test-time views, comma-separated (shared.vision.tta): none | flip | dihedral | hflip,vflip,...
    "tta_merge": "probabilities",  # merge the views by mean of probabilities, or of logits
    "amp": "auto",  # auto (bf16 on CUDA where supported, else fp16; off on CPU) | bf16 | fp16 | off
    "channels_last": "auto",  # auto (on CUDA) | on | off
    "device": "auto",  # auto | cpu | cuda
    "workers": -1,  # data-loader processes; -1: none for in-memory images, else up to 4
    "cache_images": "auto",  # keep decoded images in memory: auto | on | off
    "bad_images": "error",  # error | skip (warn and use a blank image)
}
OPTIMIZER_RANGES = {  # the optimizer and schedule settings image and detection recipes share
    "opt": Text("a timm optimizer name (timm.optim.list_optimizers())", pattern=r"\S+"),
    "lr": POSITIVE,
    "weight_decay": NON_NEGATIVE,
    "momentum": BELOW_ONE,
    "sched": Choice("cosine", "step", "tanh", "poly", "constant"),  # timm's that step per update with our arguments
    "warmup_epochs": WHOLE,
}
VISION_RANGES = {  # what each setting accepts (shared.config.resolve checks it before any work)
    "model": Text("a timm model name, airbench or airbench_small", pattern=r"\S+"),
    "pretrained": Choice("auto", "true", "false"),
    "weights": Text("the path of a weights file, or empty"),
    "cifar_stem": FLAG,
    "drop_rate": BELOW_ONE,
    "img_size": Either(Choice(0), Range(low=16, integer=True)),  # 0: own size; airbench halves it 3 times, ResNets 5
    "augment": Choice(*PRESETS),
    "epochs": COUNT,
    "batch_size": COUNT,
    "min_steps_per_epoch": WHOLE,
    "min_updates": WHOLE,
    "accum_steps": COUNT,
    **OPTIMIZER_RANGES,
    "decay_epochs": COUNT,
    "decay_rate": POSITIVE,  # step: the factor; poly: the power
    "min_lr": NON_NEGATIVE,
    "label_smoothing": BELOW_ONE,
    "mixup": NON_NEGATIVE,
    "cutmix": NON_NEGATIVE,
    "clip_grad": NON_NEGATIVE,
    "ema": FLAG,
    "ema_decay": BELOW_ONE,
    "tta": Text("comma-separated test-time views, e.g. none, flip, dihedral or hflip,vflip,rot90 "
                "(shared.vision.tta)", check=tta.views),
    "tta_merge": Choice(*tta.MERGES),
    "amp": Choice("auto", "bf16", "fp16", "off"),
    "channels_last": Choice("auto", "on", "off"),
    "device": Text("auto, cpu, cuda or cuda:N", pattern=r"auto|cpu|cuda(:\d+)?"),
    "workers": Range(low=-1, integer=True),
    "cache_images": Choice("auto", "on", "off"),
    "bad_images": Choice(*BAD_IMAGE_POLICIES),
}


def _device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise UserError("--set device=cuda but no CUDA device is visible; use --set device=auto.")
    return torch.device(setting)


def _amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    if setting == "off" or device.type != "cuda":
        return None
    if setting == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[setting]


def fit_schedule(n_train: int, p: dict) -> tuple[int, float, int]:
    """The (global batch, learning rate, epochs) to train ``n_train`` images with. As stated, unless the data are
    too few for the stated batch and schedule:

    - when an epoch would hold fewer than ``min_steps_per_epoch`` steps, the batch halves until it does (16 at
      the least) and the learning rate scales by sqrt(new / old);
    - when all epochs together would hold fewer than ``min_updates`` optimizer updates, epochs grow until they do.

    A recipe tuned for 50,000 images at batch 512 for 10 epochs then still trains a 1,000-image sample properly."""
    batch, lr, epochs = p["batch_size"], p["lr"], p["epochs"]
    notes = []
    if p["min_steps_per_epoch"] > 0 and batch > 16 and n_train // batch < p["min_steps_per_epoch"]:
        new = batch
        while new > 16 and n_train // new < p["min_steps_per_epoch"]:
            new //= 2
        new = max(new, 16)
        lr *= math.sqrt(new / batch)
        notes.append(f"batch {batch} -> {new} and lr {p['lr']:.4g} -> {lr:.4g} "
                     f"(at least {p['min_steps_per_epoch']} steps per epoch)")
        batch = new
    updates = math.ceil(max(1, n_train // batch) / p["accum_steps"])
    if p["min_updates"] > 0 and epochs * updates < p["min_updates"]:
        new = math.ceil(p["min_updates"] / updates)
        notes.append(f"epochs {epochs} -> {new} (at least {p['min_updates']} updates)")
        epochs = new
    if notes and distributed.is_main():
        get_log().info("%d training images: %s; --set min_steps_per_epoch=0 min_updates=0 keeps the stated "
                       "schedule", n_train, "; ".join(notes))
    return batch, lr, epochs


def _seed_epoch(seed: int, epoch: int) -> None:
    s = (seed * 1_000_003 + epoch) % 2**31
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def save_checkpoint(path: Path, net, ema, optimizer, scheduler, scaler, state: dict) -> None:
    """The full training state (model, EMA, optimizer, scheduler, scaler, RNGs, ``state``), written atomically.
    Only tensors and plain values (dicts, lists, numbers, text), so that ``load_checkpoint`` reads it with
    ``weights_only=True``: the RNG states become tensors and numbers, ``state`` plain floats and lists."""
    checkpoint = {
        "model": net.state_dict(), "ema": None if ema is None else ema.state_dict(),
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "epoch": int(state["epoch"]), "best": float(state["best"]),
        "history": [{k: _plain(v) for k, v in row.items()} for row in state["history"]],
        "rng": _rng_state(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def load_checkpoint(path: Path, device: torch.device, net, ema, optimizer, scheduler, scaler) -> dict:
    """Restore what ``save_checkpoint`` wrote; returns its epoch, history and best score. Read with
    ``weights_only=True``: a checkpoint holding any other object (which unpickling would let run code) is
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
        net.load_state_dict(checkpoint["model"])
        if ema is not None and checkpoint["ema"] is not None:
            ema.load_state_dict(checkpoint["ema"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if scaler is not None and checkpoint["scaler"] is not None:
            scaler.load_state_dict(checkpoint["scaler"])
        _set_rng_state(checkpoint["rng"])
        return {"epoch": int(checkpoint["epoch"]), "history": list(checkpoint["history"]),
                "best": float(checkpoint["best"])}
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        raise UserError(f"checkpoint {path} does not fit this run ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'wrong content'}); delete it "
                        "to restart this fold from scratch.") from None


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


class Stepper:
    """One epoch of updates over any iterable of (images, labels) batches: the loop's hot path, kept apart
    so that ``scripts/bench_vision.py`` can time it against a bare PyTorch loop on in-memory tensors."""

    def __init__(self, model, net, optimizer, scheduler, ema, mixup, criterion, scaler, amp, accum_steps: int,
                 clip_grad: float, device: torch.device, memory_format: torch.memory_format, loss_of=None):
        self.model, self.net, self.optimizer, self.scheduler, self.ema = model, net, optimizer, scheduler, ema
        self.mixup, self.criterion, self.scaler, self.amp = mixup, criterion, scaler, amp
        self.accum_steps, self.clip_grad, self.device, self.memory_format = accum_steps, clip_grad, device, memory_format
        # Other tasks (detection) bring their own ``loss_of(batch) -> (loss, images)``, device and autocast included.
        self.loss_of = loss_of

    def epoch(self, batches, n_batches: int, update: int) -> tuple[float, int]:
        """Train on ``batches``; returns (mean training loss, images seen). ``update`` counts optimizer
        steps before this epoch (the scheduler and EMA are stepped per update)."""
        total, seen = torch.zeros((), device=self.device), 0  # summed on the device: no sync per step
        for step, batch in enumerate(batches):
            if self.loss_of is not None:
                loss, n = self.loss_of(batch)
            else:
                xb, yb = batch
                xb = xb.to(self.device, non_blocking=True, memory_format=self.memory_format)
                yb = yb.to(self.device, non_blocking=True)
                if self.mixup is not None:
                    xb, yb = self.mixup(xb, yb)
                with torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None):
                    loss = self.criterion(self.model(xb), yb)
                n = len(xb)
            scaled = loss / self.accum_steps
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            total += loss.detach().float() * n
            seen += n
            if (step + 1) % self.accum_steps == 0 or step + 1 == n_batches:
                if self.scaler:
                    self.scaler.unscale_(self.optimizer)
                if self.clip_grad > 0:
                    nn.utils.clip_grad_norm_(self.net.parameters(), self.clip_grad)
                if self.scaler:
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                else:
                    self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                update += 1
                self.scheduler.step_update(num_updates=update)
                if self.ema is not None:
                    self.ema.update(self.net, step=update)
        return float(total) / max(seen, 1), seen


class VisionModel:
    """A timm (or airbench) classifier trained by the loop above; see ``VISION_PARAMS``."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = {**VISION_PARAMS, **params}, ctx
        if self.params["bad_images"] not in BAD_IMAGE_POLICIES:
            raise UserError(f"--set bad_images={self.params['bad_images']!r}: choose error or skip.")
        tta.views(self.params["tta"])  # an unknown view or merge is an error now, not after training
        if self.params["tta_merge"] not in tta.MERGES:
            raise UserError(f"--set tta_merge={self.params['tta_merge']!r}: choose one of {list(tta.MERGES)}.")

    # ----------------------------------------------------------------------------------------- training
    def fit(self, X: pd.DataFrame, y: np.ndarray, valid: tuple[pd.DataFrame, np.ndarray] | None = None):
        p, ctx = self.params, self.ctx
        from timm.data import Mixup
        from timm.loss import SoftTargetCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2
        from timm.utils import ModelEmaV3

        torch.set_num_threads(ctx.n_jobs)
        self.device_ = _device(p["device"])
        amp = _amp_dtype(p["amp"], self.device_)
        torch.manual_seed(ctx.seed)
        n_classes = ctx.n_classes
        net = nets.create(p["model"], n_classes, p["pretrained"], p["weights"], p["cifar_stem"], p["drop_rate"])
        net = net.to(self.device_, memory_format=self._memory_format())
        world = distributed.world_size()
        model = net  # what trains: net itself, or its DistributedDataParallel wrapper under torchrun
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(net, device_ids=[self.device_.index] if self.device_.type == "cuda" else None)
        paths = X[PATH_COL].tolist()
        # img_size 0: the images' own side (the first training image's longer side): 224 on the real leaves
        self.img_size_ = p["img_size"] or (max(load_rgb(paths[0], p["bad_images"]).shape[:2]) if paths else 32)
        train_tf, self.eval_tf_ = pipelines(p["augment"], self.img_size_)
        dataset = ImageDataset(paths, y, train_tf, p["bad_images"], self._cache(paths), ctx.seed)
        mixing = p["mixup"] > 0 or p["cutmix"] > 0
        # batch_size is the global batch: under torchrun each of the `world` ranks takes an equal share.
        self.batch_size_, self.lr_, epochs = fit_schedule(len(dataset), p)
        batch = max(1, self.batch_size_ // world)
        batch += batch % 2 if mixing else 0  # timm's Mixup needs even batches
        drop_last = len(dataset) // world > batch
        sampler = None
        if world > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(dataset, world, distributed.rank(), shuffle=True, seed=ctx.seed,
                                         drop_last=True)
        per_rank = len(dataset) // world if sampler is not None else len(dataset)
        batches = per_rank // batch if drop_last else math.ceil(per_rank / batch)
        updates_per_epoch = math.ceil(batches / p["accum_steps"])
        optimizer = create_optimizer_v2(net, opt=p["opt"], lr=self.lr_, weight_decay=p["weight_decay"],
                                        momentum=p["momentum"])
        scheduler, _ = create_scheduler_v2(optimizer, sched=p["sched"], num_epochs=epochs,
                                           warmup_epochs=p["warmup_epochs"], decay_epochs=p["decay_epochs"],
                                           decay_rate=p["decay_rate"], min_lr=p["min_lr"],
                                           warmup_lr=self.lr_ * 0.01, step_on_epochs=False,
                                           updates_per_epoch=updates_per_epoch)
        # EMA warm-up (timm): the decay grows with the step count, so short runs do not average in the random init.
        ema = ModelEmaV3(net, decay=p["ema_decay"], use_warmup=True) if p["ema"] else None
        mixup = Mixup(mixup_alpha=p["mixup"], cutmix_alpha=p["cutmix"], label_smoothing=p["label_smoothing"],
                      num_classes=n_classes) if mixing else None
        criterion = SoftTargetCrossEntropy() if mixing else nn.CrossEntropyLoss(label_smoothing=p["label_smoothing"])
        scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None

        monitor = None  # the held-out rows, decoded once (kept in memory when small), scored every epoch
        if valid is not None:
            valid_paths = valid[0][PATH_COL].tolist()
            monitor = (ImageDataset(valid_paths, None, self.eval_tf_, p["bad_images"], self._cache(valid_paths)),
                       valid[1])
        stepper = Stepper(model, net, optimizer, scheduler, ema, mixup, criterion, scaler, amp, p["accum_steps"],
                          p["clip_grad"], self.device_, self._memory_format())
        workdir = Path(ctx.workdir)
        state = {"epoch": -1, "history": [], "best": -1.0}
        if getattr(ctx, "resume", False) and (workdir / "last.pt").is_file():
            state = self._load(workdir / "last.pt", net, ema, optimizer, scheduler, scaler)
        history = state["history"]
        for epoch in range(state["epoch"] + 1, epochs):
            started = time.time()
            _seed_epoch(ctx.seed, epoch)
            dataset.epoch = epoch
            net.train()
            if sampler is not None:
                sampler.set_epoch(epoch)
            batches_iter = loader(dataset, batch, True, self._workers(dataset), ctx.seed, epoch, drop_last, sampler)
            # iter(): tqdm.auto would otherwise open a second iterator, advancing the seeded shuffle.
            progress = tqdm(iter(batches_iter), total=batches, leave=False, disable=None,
                            desc=f"epoch {epoch + 1}/{epochs}")
            train_loss, _ = stepper.epoch(progress, batches, epoch * updates_per_epoch)
            scheduler.step(epoch + 1)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
            if monitor is not None:
                row["valid_accuracy"] = self._accuracy(net, monitor)
                if ema is not None:
                    row["valid_accuracy_ema"] = self._accuracy(ema.module, monitor)
            row["seconds"] = time.time() - started
            history.append(row)
            monitored = max(row.get("valid_accuracy", -1.0), row.get("valid_accuracy_ema", -1.0))
            state = {"epoch": epoch, "history": history, "best": max(state["best"], monitored)}
            if distributed.is_main():  # every rank holds the same weights; one writes them
                self._save(workdir / "last.pt", net, ema, optimizer, scheduler, scaler, state)
                if monitor is not None and monitored >= state["best"]:
                    self._save(workdir / "best.pt", net, ema, optimizer, scheduler, scaler, state)
        self.history_ = history
        self.net_ = (ema.module if ema is not None else net).eval()
        if history and distributed.is_main():
            from shared.plots import learning_curves

            write_csv(workdir / "history.csv", pd.DataFrame(history))
            learning_curves(workdir / "curves.png", pd.DataFrame(history))
        return self

    # ---------------------------------------------------------------------------------------- inference
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (with the ``tta`` views merged), streamed batch by batch: memory holds one batch
        of images at a time. Under torchrun each rank predicts every world-th image and the shares are gathered."""
        return self.predict_variants(X)[""]

    def predict_variants(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{"": with TTA, "no_tta": the identity view alone}`` from one pass (when ``tta`` adds views), so the
        runner scores both and the gain of TTA is measured."""
        dataset = ImageDataset(X[PATH_COL].tolist(), None, self.eval_tf_, self.params["bad_images"], False)
        merged, plain = self._probabilities(self.net_, dataset, self.params["tta"])
        return {"": merged} if len(tta.views(self.params["tta"])) == 1 else {"": merged, "no_tta": plain}

    def _probabilities(self, net: nn.Module, dataset: ImageDataset, views: str = "none"
                       ) -> tuple[np.ndarray, np.ndarray]:
        world = distributed.world_size()
        if world > 1:
            mine = list(range(distributed.rank(), len(dataset), world))
            shares = distributed.gather(self._probabilities_local(net, torch.utils.data.Subset(dataset, mine), views))
            out = [np.zeros((len(dataset), self.ctx.n_classes)) for _ in range(2)]
            for r, share in enumerate(shares):
                for i in range(2):
                    out[i][r::world] = share[i]
            return out[0], out[1]
        return self._probabilities_local(net, dataset, views)

    def _probabilities_local(self, net: nn.Module, dataset, views: str) -> tuple[np.ndarray, np.ndarray]:
        net.eval()
        amp = _amp_dtype(self.params["amp"], self.device_)
        tta_views = tta.views(views)
        merged, plain = [], []
        batches = loader(dataset, self.params["batch_size"] * 2, False, self._workers(dataset), 0)
        with torch.inference_mode(), torch.autocast(self.device_.type, dtype=amp, enabled=amp is not None):
            for xb in tqdm(iter(batches), total=len(batches), desc="predict", leave=False, disable=None):
                xb = xb.to(self.device_, non_blocking=True, memory_format=self._memory_format())
                m, p = tta.predict_views(net, xb, tta_views, self.params["tta_merge"])
                merged.append(m.cpu().numpy())
                plain.append(p.cpu().numpy())
        if not merged:
            return np.zeros((0, self.ctx.n_classes)), np.zeros((0, self.ctx.n_classes))
        return np.concatenate(merged), np.concatenate(plain)

    def _accuracy(self, net: nn.Module, valid: tuple[ImageDataset, np.ndarray]) -> float:
        dataset, y = valid
        accuracy = float((self._probabilities(net, dataset)[1].argmax(1) == np.asarray(y)).mean())
        net.train()
        return accuracy

    # ------------------------------------------------------------------------------------------ helpers
    def _memory_format(self) -> torch.memory_format:
        on = self.params["channels_last"] == "on" or (self.params["channels_last"] == "auto"
                                                      and self.device_.type == "cuda")
        return torch.channels_last if on else torch.contiguous_format

    def _cache(self, paths: list[str]) -> bool:
        sample = load_rgb(paths[0], self.params["bad_images"]).nbytes if paths else 0
        return should_cache(paths, self.params["cache_images"], sample)

    def _workers(self, dataset) -> int:
        if self.params["workers"] >= 0:
            return self.params["workers"]
        cached = getattr(getattr(dataset, "dataset", dataset), "images", None) is not None
        return 0 if cached else min(4, self.ctx.n_jobs)

    def _save(self, path: Path, net, ema, optimizer, scheduler, scaler, state: dict) -> None:
        save_checkpoint(path, net, ema, optimizer, scheduler, scaler, state)

    def _load(self, path: Path, net, ema, optimizer, scheduler, scaler) -> dict:
        return load_checkpoint(path, self.device_, net, ema, optimizer, scheduler, scaler)


def image_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image recipes read only the image paths (``CompetitionSpec.load`` adds them)."""
    return train[[PATH_COL]], test[[PATH_COL]]
