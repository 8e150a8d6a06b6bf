"""The image-classification model behind the shared runner: ``VisionModel(params, ctx)`` with
``fit(X, y)`` and ``predict(X) -> class probabilities``, ``X`` holding an ``image_path`` column.

Trained by the shared scaffold (``shared.vision.training``: timm optimizer and per-update scheduler, mixed precision
and channels_last on CUDA, EMA of the weights scored beside the raw weights, gradient accumulation and clipping,
per-epoch history, log lines and learning curves, checkpoints with exact resume of a fold under way and one lean
set of weights kept per finished fold); this module adds the timm (or
airbench) network, the seeded image batches (each image's augmentation seeded by (seed, epoch, index)),
Mixup/CutMix and label smoothing (timm), the small-data schedule, DDP under torchrun, and TTA at prediction.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from shared import distributed
from shared.config import (
    BELOW_ONE,
    FLAG,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    Choice,
    Either,
    Range,
    Text,
    count,
    settings,
)
from shared.errors import UserError
from shared.io import write_json
from shared.log import get_log
from shared.vision import losses, nets, pip_weights, resident, tta
from shared.vision.augment import AUTO_AUGMENTS, MAX_MAGNITUDE, PRESETS, pipelines
from shared.vision.data import (
    MAX_WORKERS,
    ImageDataset,
    affordable_workers,
    loader,
    persistent_loader,
    should_cache,
)
from shared.vision.images import BAD_IMAGE_POLICIES, load_rgb
from shared.vision.training import (
    KEEP,
    MAX_EPOCHS,
    MAX_SIDE,
    MAX_WORKER_PROCESSES,
    Epoch,
    Trainer,
    amp_dtype,
    autocast,
    batchnorm_eval,
    keep_checkpoints,
    memory_format,
    optimizer_settings,
)

PATH_COL = "image_path"
BN_MIN_BATCH = 16  # below this many images per process, BatchNorm's batch statistics are too noisy to learn from

VISION_PARAMS, VISION_RANGES = settings({  # name: (default, what it accepts and what it is)
    "model": ("resnet18", Text("a timm model name, airbench or airbench_small", pattern=r"\S+",
                               doc="the network: any timm model name, or airbench / airbench_small (small CIFAR nets)")),
    "pretrained": (False, Choice("auto", "true", "false", doc="start from the hub's weights: true (an error when they cannot "
                                 "be had), auto (when they can, else from scratch, said once) or false")),
    "weights": ("", Text("the path of a weights file, pip:NAME (an installed package's: "
                         f"{', '.join(pip_weights.PREFIX + k for k in pip_weights.SOURCES)}), or empty",
                         check=pip_weights.check, doc="weights to start from (offline): a local file, or pip:NAME, weights a pip "
                         "package ships (docs/vision.md); a missing file or package is an error")),
    "freeze_bn": ("auto", Choice("auto", "on", "off", doc="keep BatchNorm's running statistics at the pretrained ones "
                                 "while training (its scale and shift still learn); auto: on when the net starts "
                                 f"pretrained and a batch holds fewer than {BN_MIN_BATCH} images per process")),
    "cifar_stem": (False, FLAG.with_doc("a 3x3 stride-1 stem without max-pool, for 32-px inputs")),
    "drop_rate": (0.0, BELOW_ONE.with_doc("dropout before the classifier (timm drop_rate)")),
    "drop_path": (0.0, BELOW_ONE.with_doc("stochastic depth: the rate at which residual blocks are skipped in training "
                                          "(timm drop_path_rate; 0 = off)")),
    "normalize": ("auto", Choice("auto", "preset", doc="input normalisation: auto is the pretrained weights' own "
                                 "mean/std when the net starts from them (0.5/0.5 for EfficientNet-Lite), else the "
                                 "augmentation preset's; preset always uses the preset's")),
    "img_size": (32, Either(Choice(0), count(MAX_SIDE, low=16),  # airbench halves it 3 times, ResNets 5
                            doc="the side (px) images are resized to; 0: the images' own size")),
    "augment": ("natural", Choice(*PRESETS, doc="the training augmentation preset (the competition's pipeline.py AUGMENTATIONS)")),
    "epochs": (10, count(MAX_EPOCHS).with_doc("passes over the training images")),
    "batch_size": (128, count(65536).with_doc("images per batch (over all processes under torchrun)")),
    "min_steps_per_epoch": (0, count(1_000_000, low=0).with_doc("small data: below this many steps per epoch the batch halves (to 16) "
                                              "and lr follows by the square-root rule; 0 = off")),
    "min_updates": (0, count(100_000_000, low=0).with_doc("small data: epochs grow until training holds this many optimizer updates; "
                                      "0 = off")),
    "accum_steps": (1, count(1024).with_doc("gradient accumulation: an optimizer step every this many batches")),
    **optimizer_settings(opt="sgd", lr=0.1, weight_decay=5e-4, momentum=0.9, sched="cosine",
                         warmup_epochs=0),
    "decay_epochs": (4, count(MAX_EPOCHS).with_doc("step schedule: decay the learning rate every this many epochs")),
    "decay_rate": (0.9, POSITIVE.with_doc("step schedule: the decay factor; poly: the power")),
    "min_lr": (0.0, NON_NEGATIVE.with_doc("the learning rate the schedule ends at")),
    "label_smoothing": (0.0, BELOW_ONE.with_doc("label smoothing of the cross-entropy")),
    "mixup": (0.0, NON_NEGATIVE.with_doc("Mixup alpha; 0 = off")),
    "cutmix": (0.0, NON_NEGATIVE.with_doc("CutMix alpha; 0 = off")),
    "loss": ("ce", Choice(*losses.LOSSES, doc="the training loss: ce (cross-entropy), focal, bce (one sigmoid per class "
                          "against the rest, summed over classes) or poly (Poly-1); each takes label_smoothing and Mixup/CutMix")),
    "focal_gamma": (2.0, Range(low=0, high=10).with_doc("loss=focal: the focusing power gamma (0 is the cross-entropy)")),
    "poly_epsilon": (1.0, Range(low=-1, high=10).with_doc("loss=poly: epsilon, the weight of 1 - p_target (0 is the "
                                                           "cross-entropy)")),
    "layer_decay": (0.0, FRACTION.with_doc("layer-wise learning-rate decay: each layer below the head trains at this "
                                           "times the lr of the one above (timm); 0 = off")),
    "freeze_epochs": (0, count(MAX_EPOCHS, low=0).with_doc("the backbone (all but the classifier) does not train, its "
                                                            "BatchNorm statistics kept, for the first this many epochs; 0 = off")),
    "average_epochs": (0, count(MAX_EPOCHS, low=0).with_doc("predict with the mean of the weights at the end of each of "
                                                             "the last this many epochs (checkpoint averaging, SWA-style); 0 = off")),
    "clip_grad": (0.0, NON_NEGATIVE.with_doc("max gradient norm; 0 = off")),
    "ema": (False, FLAG.with_doc("predict with an exponential moving average of the weights (validated beside the raw)")),
    "ema_decay": (0.999, BELOW_ONE.with_doc("the EMA's decay per update")),
    "tta": ("none", Text("comma-separated test-time views, e.g. none, flip, dihedral or hflip,vflip,rot90 "
                         f"(shared.vision.tta; scale<f> for f from {tta.SCALES[0]} to {tta.SCALES[1]}, at most "
                         f"{tta.MAX_VIEWS} views)", check=tta.views, doc="test-time augmentation: the views predicted and merged")),
    "tta_merge": ("probabilities", Choice(*tta.MERGES, doc="merge the test-time views by the mean of their probabilities, or logits")),
    "amp": ("auto", Choice("auto", "bf16", "fp16", "off",
                           doc="mixed precision: auto is bf16 on CUDA where supported, else fp16; off on CPU")),
    "channels_last": ("auto", Choice("auto", "on", "off", doc="channels_last memory format; auto: on CUDA")),
    "device": ("auto", Text("auto, cpu, cuda or cuda:N", pattern=r"auto|cpu|cuda(:\d+)?",
                            doc="where to train; auto: CUDA when visible, else CPU")),
    "workers": (-1, Range(low=-1, high=MAX_WORKER_PROCESSES, integer=True,
                          doc="data-loader processes; -1: none for in-memory images, else one per core up to 8")),
    "cache_images": ("auto", Choice("auto", "on", "off",
                                    doc="keep the decoded images in memory; auto: when they fit")),
    "data_path": ("auto", Choice("auto", "resident", "loader",
                                 doc="resident: the images as one tensor on the device, augmented there per batch (a preset "
                                     "of resize, translation and flip only, as flip_translate, flip, none); loader: decoded "
                                     "and augmented per image by DataLoader workers (any preset); auto: resident where the "
                                     "preset's transforms allow and the images fit; the log says which and why")),
    "cutout": (0, count(MAX_SIDE, low=0).with_doc("side (px) of a square set to the mean in each training image, centred on a "
                                                  "random pixel (both data paths); 0 = off")),
    "erase": (0.0, FRACTION.with_doc("random erasing (timm's, fill 0 = the mean): the probability that a training image gets "
                                     "a rectangle of 2-33 % of its area blanked (both data paths); 0 = off")),
    "auto_augment": ("none", Choice(*AUTO_AUGMENTS, doc="RandAugment (2 ops) or TrivialAugment (torchvision) on each training "
                                    "image after the preset's transforms; the loader path")),
    "auto_augment_magnitude": (9, count(MAX_MAGNITUDE, low=0).with_doc(
        f"RandAugment's magnitude, 0-{MAX_MAGNITUDE} (timm's rand-m9); TrivialAugment draws its own")),
    "compile": (False, FLAG.with_doc("torch.compile the network for training (compiling takes a minute first)")),
    "bad_images": ("error", Choice(*BAD_IMAGE_POLICIES, doc="an unreadable image: error, or skip (warn, use a blank image)")),
    # A kept set of weights has no optimizer state: ResNet-50-D about 95 MB per fold (fp32). A fold under way holds
    # last.pt with its full training state, for --resume.
    "keep": ("last", Choice(*KEEP, doc="what a finished fold keeps: last (the weights it predicted with), best (the best "
                            "validation epoch's) or none")),
})


def fit_schedule(n_train: int, p: dict) -> tuple[int, float, int]:
    """The (global batch, learning rate, epochs) to train ``n_train`` images with. As stated, unless the data are
    too few for the stated batch and schedule:

    - when an epoch would hold fewer than ``min_steps_per_epoch`` steps, the batch halves until it does (16 at
      the least) and the learning rate scales by sqrt(new / old);
    - when all epochs together would hold fewer than ``min_updates`` optimizer updates, epochs grow until they do.

    A recipe tuned for 50,000 images at batch 512 for 10 epochs then still trains a 1,000-image sample properly."""
    batch, lr, epochs = p["batch_size"], p["lr"], p["epochs"]
    notes = []
    wanted = p["min_steps_per_epoch"]
    if wanted > 0 and batch > 16 and n_train // batch < wanted:
        new = batch
        while new > 16 and n_train // new < wanted:
            new //= 2
        new = max(new, 16)
        lr *= math.sqrt(new / batch)
        steps = max(1, n_train // new)
        why = (f"min_steps_per_epoch={wanted}" if steps >= wanted else
               f"fewer than min_steps_per_epoch={wanted}: 16 is the smallest batch it halves to")
        notes.append(f"batch {batch} -> {new} and lr {p['lr']:.4g} -> {lr:.4g}: {steps} steps per epoch ({why})")
        batch = new
    updates = math.ceil(max(1, n_train // batch) / p["accum_steps"])
    if p["min_updates"] > 0 and epochs * updates < p["min_updates"]:
        new = math.ceil(p["min_updates"] / updates)
        notes.append(f"epochs {epochs} -> {new}: {new * updates} updates (min_updates={p['min_updates']})")
        epochs = new
    if notes and distributed.is_main():
        get_log().info("%d training images: %s; --set min_steps_per_epoch=0 --set min_updates=0 keeps the "
                       "stated schedule", n_train, "; ".join(notes))
    return batch, lr, epochs


def default_net(p: dict, n_classes: int) -> nn.Module:
    """The library's network: any timm model by name (``model``), or airbench (``shared.vision.nets``)."""
    return nets.create(p["model"], n_classes, p["pretrained"], p["weights"], p["cifar_stem"], p["drop_rate"],
                       p["drop_path"])


def default_loss(p: dict, n_classes: int) -> nn.Module:
    """The ``loss`` setting's: cross-entropy with ``label_smoothing`` (under Mixup/CutMix the soft-target form: the
    mixed targets arrive as probabilities, already smoothed by timm's ``Mixup``), or focal (``focal_gamma``), BCE
    one-vs-rest or Poly-1 (``poly_epsilon``) from ``shared.vision.losses``, which take either kind of target."""
    from timm.loss import SoftTargetCrossEntropy

    name = p.get("loss", "ce")
    if name != "ce":
        return losses.make_loss(name, p["label_smoothing"], p.get("focal_gamma", 2.0), p.get("poly_epsilon", 1.0))
    if p["mixup"] > 0 or p["cutmix"] > 0:
        return SoftTargetCrossEntropy()
    return nn.CrossEntropyLoss(label_smoothing=p["label_smoothing"])


def train_epoch(epoch: Epoch, net: nn.Module, loss: nn.Module, mixup=None) -> None:
    """The library's epoch of image classification (a competition's pipeline.py writes its own)."""
    for images, targets in epoch:
        images, targets = mixup(images, targets) if mixup is not None else (images, targets)
        with epoch.autocast():
            value = loss(net(images), targets)
        epoch.step(value, len(images))


@dataclass(frozen=True)
class VisionParts:
    """The parts of an image pipeline that a competition writes as code in its ``pipeline.py``; the library's
    defaults where it does not. ``net(p, n_classes)`` and ``loss(p, n_classes)`` are called once per fold with the
    recipe's resolved settings; ``train_epoch(epoch, net, loss, mixup)`` is the loop over an epoch's batches
    (``shared.vision.training.Epoch``: batches on the device, ``autocast``, ``step``); ``augmentations``: name -> (train
    transforms of a side, mean, std), the ``augment`` setting picks one; ``tta_views``: name -> view of a batch
    tensor, usable in the ``tta`` setting."""

    net: Callable[[dict, int], nn.Module] = default_net
    loss: Callable[[dict, int], nn.Module] = default_loss
    train_epoch: Callable[..., None] = train_epoch
    augmentations: Mapping[str, tuple] = field(default_factory=lambda: dict(PRESETS))
    tta_views: Mapping[str, tta.View] = field(default_factory=dict)

    def model(self, params: dict, ctx) -> VisionModel:
        """A recipe's model factory: ``Recipe(..., model=PARTS.model, ranges=PARTS.ranges())``."""
        return VisionModel(params, ctx, self)

    def ranges(self) -> dict:
        """``VISION_RANGES`` with ``augment`` and ``tta`` naming this pipeline's own presets and views."""
        return {**VISION_RANGES,
                "augment": Choice(*self.augmentations, doc=VISION_RANGES["augment"].doc),
                "tta": Text(VISION_RANGES["tta"].about, check=lambda value: tta.views(value, dict(self.tta_views)),
                            doc=VISION_RANGES["tta"].doc)}


class VisionModel:
    """An image classifier trained by ``shared.vision.training.Trainer``; its settings ``VISION_PARAMS`` (checked against
    ``VISION_RANGES`` before it is made), its net, loss, augmentations and TTA views the competition's ``parts``."""

    def __init__(self, params: dict, ctx, parts: VisionParts | None = None):
        self.params, self.ctx, self.parts = {**VISION_PARAMS, **params}, ctx, parts or VisionParts()

    # ----------------------------------------------------------------------------------------- training
    def fit(self, X: pd.DataFrame, y: np.ndarray, valid: tuple[pd.DataFrame, np.ndarray] | None = None):
        """Train on the images of ``X`` (labels ``y``), scoring ``valid`` every epoch when given: the competition's
        net and loss, its augmentation's batches (resident on the device or from loader workers), Mixup/CutMix, the
        shared loop (``Trainer.fit``: optimizer, schedule, AMP, EMA, checkpoints)."""
        from timm.data import Mixup

        p, ctx = self.params, self.ctx
        trainer = Trainer(p, ctx)  # seeds the initial weights: the net is made right after it
        device = self.device_ = trainer.device
        net = self.parts.net(p, ctx.n_classes).to(device, memory_format=trainer.memory_format)
        model = self._training_wrapper(net, device)
        paths = X[PATH_COL].tolist()
        # img_size 0: the images' own side (the first training image's longer side): 224 on the real leaves
        self.img_size_ = p["img_size"] or (max(load_rgb(paths[0], p["bad_images"]).shape[:2]) if paths else 32)
        self.mirror_ = self._use_resident(paths)  # (padding, flip) of the resident path, or None: the loader's
        self.resident_ = self.mirror_ is not None
        mixing = p["mixup"] > 0 or p["cutmix"] > 0
        # batch_size is the global batch: under torchrun each of the `world` ranks takes an equal share.
        world = distributed.world_size()
        self.batch_size_, self.lr_, epochs = fit_schedule(len(paths), p)
        batch = max(1, self.batch_size_ // world)
        batch += batch % 2 if mixing else 0  # timm's Mixup needs even batches
        self.norm_, freeze = self._start_of(net, batch)
        presets = {**self.parts.augmentations, p["augment"]: (self.parts.augmentations[p["augment"]][0], *self.norm_)}
        train_tf, self.eval_tf_ = pipelines(p["augment"], self.img_size_, presets,
                                            auto_augment=p["auto_augment"], magnitude=p["auto_augment_magnitude"],
                                            erase=p["erase"], cutout=p["cutout"])
        batches = self._train_batches(paths, y, train_tf, batch, len(paths) // world > batch, trainer)
        mixup = Mixup(mixup_alpha=p["mixup"], cutmix_alpha=p["cutmix"], label_smoothing=p["label_smoothing"],
                      num_classes=ctx.n_classes) if mixing else None
        criterion = self.parts.loss(p, ctx.n_classes)
        self.net_, self.history_ = trainer.fit(
            net, None, batches, epochs=epochs, updates_per_epoch=math.ceil(len(batches(0)) / p["accum_steps"]),
            lr=self.lr_, score=None if valid is None else self._scorer(*valid),
            train_epoch=lambda epoch: self.parts.train_epoch(frozen_bn(epoch, net, freeze), model, criterion, mixup),
            prepare=to_device(device, trainer.memory_format))
        return self

    def _start_of(self, net: nn.Module, batch: int) -> tuple[tuple[tuple, tuple], bool]:
        """(the inputs' (mean, std), whether BatchNorm's statistics stay frozen), decided by how ``net`` starts and
        saved in the fold's ``inputs.json``: a resumed fold keeps them, even where its net cannot start from the same
        weights any more (the checkpoint's replace them, but the inputs must stay those they were trained on)."""
        p, saved = self.params, Path(self.ctx.workdir) / "inputs.json"
        if getattr(self.ctx, "resume", False) and saved.is_file():
            kept = json.loads(saved.read_text())
            return (tuple(kept["mean"]), tuple(kept["std"])), bool(kept["freeze_bn"])
        main, started = distributed.is_main(), getattr(net, "started_from", "")
        mean, std = self._normalisation(net)
        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
        freeze = has_bn and (p["freeze_bn"] == "on" or (p["freeze_bn"] == "auto" and bool(started)
                                                         and batch < BN_MIN_BATCH))
        if freeze and main:
            get_log().info("BatchNorm statistics kept at the %s ones (freeze_bn=%s, %d images a batch)",
                           "pretrained" if started else "initial (0 and 1: no pretrained weights)", p["freeze_bn"], batch)
        if p["freeze_epochs"] and not started and main:
            get_log().warning("freeze_epochs=%d holds a backbone that did not start from pretrained weights: its "
                              "random features do not train for those epochs; --set freeze_epochs=0 from scratch",
                              p["freeze_epochs"])
        if main:
            write_json(saved, {"mean": list(mean), "std": list(std), "freeze_bn": freeze, "started_from": started})
        return (mean, std), freeze

    def _normalisation(self, net: nn.Module) -> tuple[tuple, tuple]:
        """(mean, std) of the inputs: the pretrained weights' own (``pretrained_norm``, set by ``nets.create``) when
        the net starts from them and ``normalize=auto``, else the augmentation preset's; said in the log."""
        p = self.params
        if p["augment"] not in self.parts.augmentations:
            raise UserError(f"--set augment={p['augment']!r}: choose one of {sorted(self.parts.augmentations)}.")
        preset = tuple(self.parts.augmentations[p["augment"]][1:])
        own = getattr(net, "pretrained_norm", None)
        if p["normalize"] == "auto" and own and tuple(map(tuple, own)) != tuple(map(tuple, preset)):
            if distributed.is_main():
                get_log().info("inputs normalised with the pretrained weights' own mean %s and std %s (not augment "
                               "%r's); --set normalize=preset keeps the preset's", _short(own[0]), _short(own[1]),
                               p["augment"])
            return tuple(own[0]), tuple(own[1])
        return preset

    def _training_wrapper(self, net: nn.Module, device: torch.device) -> nn.Module:
        """What trains: ``net`` itself, or its DistributedDataParallel wrapper under torchrun, compiled when asked.
        The weights stay the plain net's: EMA, checkpoints and prediction use it uncompiled."""
        model = net
        if distributed.world_size() > 1:
            from torch.nn.parallel import DistributedDataParallel

            # freeze_epochs: the frozen backbone's parameters get no gradient in the first epochs
            model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None,
                                            find_unused_parameters=self.params["freeze_epochs"] > 0)
        return torch.compile(model) if self.params["compile"] else model

    def _train_batches(self, paths: list[str], y: np.ndarray, train_tf, batch: int, drop_last: bool, trainer):
        """``batches(epoch)``: an epoch's (images, labels) batches, each image's augmentation drawn from (seed,
        epoch, index). Resident: decoded once onto the device, translated/flipped/cut out/erased there per batch;
        else DataLoader workers decode and augment per image (one persistent set of workers for the whole fit)."""
        p, ctx, world = self.params, self.ctx, distributed.world_size()
        if self.resident_:
            pad, flip = self.mirror_
            images = self._resident_images(paths, y, pad)
            return lambda epoch: images.train_epoch(batch, ctx.seed, epoch, flip=flip, cutout=p["cutout"],
                                                    drop_last=drop_last, memory_format=trainer.memory_format,
                                                    rank=distributed.rank(), world=world, erase=p["erase"])
        dataset = ImageDataset(paths, y, train_tf, p["bad_images"], self._cache(paths), ctx.seed)
        sampler = None
        if world > 1:
            from torch.utils.data.distributed import DistributedSampler

            sampler = DistributedSampler(dataset, world, distributed.rank(), shuffle=True, seed=ctx.seed,
                                         drop_last=True)
        workers = self._workers(dataset)
        if sampler is None and workers > 0:
            persistent, epochs_of = persistent_loader(dataset, batch, True, workers, ctx.seed, drop_last)

            def batches(epoch: int):
                epochs_of.set_epoch(epoch)
                return persistent
            return batches

        def batches(epoch: int):
            dataset.epoch = epoch
            if sampler is not None:
                sampler.set_epoch(epoch)
            return loader(dataset, batch, True, workers, ctx.seed, epoch, drop_last, sampler)
        return batches

    def _scorer(self, X_valid: pd.DataFrame, y_valid: np.ndarray):
        """``score(net)``: accuracy and cross-entropy of the held-out images (one view, no label smoothing), decoded
        once (kept in memory when small)."""
        p, valid_paths = self.params, X_valid[PATH_COL].tolist()
        monitor = (self._resident_images(valid_paths) if self.resident_ else
                   ImageDataset(valid_paths, None, self.eval_tf_, p["bad_images"], self._cache(valid_paths)))
        truth = np.asarray(y_valid)

        def score(net: nn.Module) -> dict[str, float]:
            probabilities = self._probabilities(net, monitor)[1]
            picked = probabilities[np.arange(len(truth)), truth]
            return {"accuracy": float((probabilities.argmax(1) == truth).mean()),
                    "loss": float(-np.log(np.clip(picked, 1e-12, None)).mean())}
        return score

    def cleanup(self) -> None:
        """Once the fold's predictions are made: the checkpoints ``keep`` does not keep go."""
        if distributed.is_main():
            keep_checkpoints(self.ctx.workdir, self.params["keep"])

    # ---------------------------------------------------------------------------------------- inference
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities (with the ``tta`` views merged), streamed batch by batch: memory holds one batch
        of images at a time. Under torchrun each rank predicts every world-th image and the shares are gathered."""
        return self.predict_variants(X)[""]

    def predict_variants(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{"": with TTA, "no_tta": the identity view alone}`` from one pass (when ``tta`` adds views), so the
        runner scores both and the gain of TTA is measured."""
        paths = X[PATH_COL].tolist()
        if getattr(self, "resident_", False):  # decoded onto the device a chunk at a time, the views made there
            parts = [self._probabilities(self.net_, self._resident_images(paths[i:i + resident.PREDICT_CHUNK]),
                                         self.params["tta"]) for i in range(0, len(paths), resident.PREDICT_CHUNK)]
            merged, plain = ((np.concatenate([part[k] for part in parts]) if parts else
                              np.zeros((0, self.ctx.n_classes))) for k in (0, 1))
        else:
            dataset = ImageDataset(paths, None, self.eval_tf_, self.params["bad_images"], False)
            merged, plain = self._probabilities(self.net_, dataset, self.params["tta"])
        return {"": merged} if len(self._views(self.params["tta"])) == 1 else {"": merged, "no_tta": plain}

    def _probabilities(self, net: nn.Module, dataset, views: str = "none") -> tuple[np.ndarray, np.ndarray]:
        """(merged, identity-view) class probabilities of ``dataset`` (an ``ImageDataset`` or ``ResidentImages``)."""
        world = distributed.world_size()
        if world > 1:
            mine = list(range(distributed.rank(), len(dataset), world))
            part = dataset.subset(mine) if isinstance(dataset, resident.ResidentImages) else \
                torch.utils.data.Subset(dataset, mine)
            shares = distributed.gather(self._probabilities_local(net, part, views))
            out = [np.zeros((len(dataset), self.ctx.n_classes)) for _ in range(2)]
            for r, share in enumerate(shares):
                for i in range(2):
                    out[i][r::world] = share[i]
            return out[0], out[1]
        return self._probabilities_local(net, dataset, views)

    def _probabilities_local(self, net: nn.Module, dataset, views: str) -> tuple[np.ndarray, np.ndarray]:
        net.eval()
        amp = amp_dtype(self.device_, self.params["amp"])
        fmt = memory_format(self.device_, self.params["channels_last"])
        tta_views = self._views(views)
        merged, plain = [], []
        size = self.params["batch_size"] * 2
        if isinstance(dataset, resident.ResidentImages):
            batches, total = dataset.eval_batches(size, fmt), -(-len(dataset) // size)
        else:
            batches = loader(dataset, size, False, self._workers(dataset), 0)
            total = len(batches)
        with torch.inference_mode(), autocast(self.device_, amp):
            for xb in tqdm(iter(batches), total=total, desc="predict", leave=False, disable=None):
                xb = xb.to(self.device_, non_blocking=True, memory_format=fmt)
                m, p = tta.predict_views(net, xb, tta_views, self.params["tta_merge"])
                merged.append(m.float().cpu().numpy())
                plain.append(p.float().cpu().numpy())
        if not merged:
            return np.zeros((0, self.ctx.n_classes)), np.zeros((0, self.ctx.n_classes))
        return np.concatenate(merged), np.concatenate(plain)

    # ------------------------------------------------------------------------------------------ helpers
    def _views(self, setting: str) -> list[tuple[str, tta.View]]:
        return tta.views(setting, dict(self.parts.tta_views))

    def _use_resident(self, paths: list[str]) -> tuple[int, bool] | None:
        """``data_path``: resident (an error where the augmentation cannot be made there), loader, or auto: resident
        where the preset's transforms are ones it mirrors (``resident.mirror``), no ``auto_augment`` is asked and
        the decoded images fit in memory (``cache_images``). Returns the resident path's (padding, flip), or None
        for the loader; the log says which and why."""
        p = self.params
        mirror = resident.mirror(p["augment"], self.img_size_, self.parts.augmentations)
        if p["auto_augment"] != "none":
            mirror = f"auto_augment={p['auto_augment']} is made per image by the loader path"
        if isinstance(mirror, str) and p["data_path"] == "resident":
            raise UserError(f"--set data_path=resident: {mirror}; --set data_path=loader (or auto) applies it.")
        why = (mirror if isinstance(mirror, str) else "data_path=loader" if p["data_path"] == "loader" else
               "the decoded images would not fit in memory (cache_images)"
               if p["data_path"] == "auto" and (p["cache_images"] == "off" or not self._cache(paths)) else None)
        if distributed.is_main():
            get_log().info("data path: %s", f"loader ({why})" if why else
                           f"resident (augment {p['augment']!r} made on the device, images held as one tensor)")
        return None if why else mirror

    def _resident_images(self, paths: list[str], labels=None, pad: int = 0) -> resident.ResidentImages:
        """``paths`` decoded and resized once, as one uint8 tensor on the training device."""
        mean, std = self.norm_
        images = resident.decode_all(paths, self.img_size_, self.params["bad_images"], self.ctx.n_jobs)
        return resident.ResidentImages(images, labels, self.device_, mean, std, pad)

    def _cache(self, paths: list[str]) -> bool:
        sample = load_rgb(paths[0], self.params["bad_images"]).nbytes if paths else 0
        return should_cache(paths, self.params["cache_images"], sample)

    def _workers(self, dataset) -> int:
        if self.params["workers"] >= 0:
            return self.params["workers"]
        cached = getattr(getattr(dataset, "dataset", dataset), "images", None) is not None
        if cached:
            return 0
        batch_bytes = self.params["batch_size"] * 2 * 3 * self.img_size_ ** 2 * 4  # float32, prediction's batch
        return affordable_workers(min(MAX_WORKERS, self.ctx.n_jobs), batch_bytes)


def frozen_bn(epoch: Epoch, net: nn.Module, freeze: bool) -> Epoch:
    """``epoch`` unchanged, after putting ``net``'s BatchNorm layers in eval mode when ``freeze``: they normalise with
    their running statistics and do not update them, while their scale and shift still train."""
    if freeze:
        batchnorm_eval(net)
    return epoch


def _short(values) -> str:
    return "/".join(f"{v:.3g}" for v in values)


def to_device(device: torch.device, fmt: torch.memory_format):
    """``prepare(batch)`` for (images, labels) batches: both to ``device``, the images in memory format ``fmt``."""
    def prepare(batch):
        xb, yb = batch
        return xb.to(device, non_blocking=True, memory_format=fmt), yb.to(device, non_blocking=True)
    return prepare


def image_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image recipes read only the image paths (``CompetitionSpec.load`` adds them)."""
    return train[[PATH_COL]], test[[PATH_COL]]
