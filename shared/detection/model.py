"""Detectors from torchvision's zoo trained by the shared scaffold (``shared.vision.training``: timm optimizer and
per-update scheduler, AMP on CUDA, EMA, gradient clipping, checkpoints with exact resume of a fold under way,
a log line per epoch, learning curves), with albumentations' box-aware augmentation, LVIS-style repeat-factor
sampling for rare classes, and horizontal-flip test-time augmentation merged by Weighted Boxes Fusion
(``ensemble-boxes``).

A model sees contiguous labels 1..K (0 is torchvision's background); the competition's category ids are
mapped by the caller. Predictions are per image: an array of rows ``[x, y, w, h, score, label]`` in pixels."""
from __future__ import annotations

import contextlib
import math
import sys
import time
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
    SHARE,
    Choice,
    Range,
    Text,
    count,
    settings,
)
from shared.detection.boxes import MAX_DETECTIONS, pad, wbf_merge
from shared.errors import UserError
from shared.vision.data import MAX_WORKERS, PREFETCH, affordable_workers, augment_seed
from shared.vision.images import BAD_IMAGE_POLICIES, load_rgb
from shared.vision.nets import load_weights, no_weights, pretrained_mode
from shared.vision.training import (
    MAX_EPOCHS,
    MAX_SIDE,
    MAX_WORKER_PROCESSES,
    Epoch,
    Trainer,
    amp_dtype,
    autocast,
    keep_checkpoints,
    optimizer_settings,
)

ARCHITECTURES = ("fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_resnet50_fpn_v2", "retinanet_resnet50_fpn_v2",
                 "fcos_resnet50_fpn")
DETECTION_PARAMS, DETECTION_RANGES = settings({  # name: (default, what it accepts and what it is)
    "model": ("fasterrcnn_mobilenet_v3_large_fpn", Choice(*ARCHITECTURES, doc="the torchvision detector")),
    "pretrained": ("false", Choice("true", "auto", "false", doc="start from the hub: COCO weights (Faster R-CNN) or an "
                                   "ImageNet backbone; auto: when they can be had, else from scratch")),
    "weights": ("", Text("the path of a state_dict file, or empty", doc="a local state_dict to start from (offline); "
                         "layers whose shapes differ (the class head) start fresh")),
    "max_side": (512, Range(low=64, high=MAX_SIDE, integer=True,  # the backbones downsample 32x: smaller leaves their last stage 1 px
                            doc="images are scaled so that their longer side is this (px)")),
    "proposals": (1000, count(100_000).with_doc("Faster R-CNN: region proposals kept per image in training (torchvision: 2000)")),
    "roi_batch": (256, count(100_000).with_doc("Faster R-CNN: proposals sampled per image for the box head's loss "
                                      "(torchvision: 512)")),
    "augment": ("flip_scale", Choice("flip_scale", "flip", "none", doc="box-aware training augmentation: flips, and with "
                                     "flip_scale also scale, shift and colour")),
    "min_visibility": (0.3, FRACTION.with_doc("a box cut by augmentation to less than this share of its area is dropped")),
    "epochs": (12, count(MAX_EPOCHS).with_doc("passes over the training images")),
    "batch_size": (4, count(1024).with_doc("images per batch")),
    **optimizer_settings(opt="sgd", lr=0.01, weight_decay=1e-4, momentum=0.9, sched="cosine",
                         warmup_epochs=1),
    "clip_grad": (10.0, NON_NEGATIVE.with_doc("max gradient norm; 0 = off")),
    "ema": (False, FLAG.with_doc("predict with an exponential moving average of the weights")),
    "ema_decay": (0.998, BELOW_ONE.with_doc("the EMA's decay per update")),
    "repeat_threshold": (0.0, FRACTION.with_doc("LVIS repeat-factor sampling: images with a class in fewer than this "
                                                "share of images repeat; 0 = off")),
    "tta": ("none", Choice("none", "hflip", doc="hflip: predict the image and its mirror, boxes merged by Weighted Boxes "
                           "Fusion")),
    "wbf_iou": (0.55, SHARE.with_doc("Weighted Boxes Fusion: boxes overlapping by this IoU merge")),
    "score_threshold": (0.01, FRACTION.with_doc("detections scored below this are not kept")),
    "max_detections": (100, Range(low=1, high=MAX_DETECTIONS, integer=True,  # the padded prediction row's width
                                  doc="detections kept per image")),
    "amp": ("auto", Choice("auto", "bf16", "fp16", "off",
                           doc="mixed precision: auto is bf16 on CUDA where supported, else fp16; off on CPU")),
    "device": ("auto", Text("auto, cpu, cuda or cuda:N", pattern=r"auto|cpu|cuda(:\d+)?",
                            doc="where to train; auto: CUDA when visible, else CPU")),
    "workers": (-1, Range(low=-1, high=MAX_WORKER_PROCESSES, integer=True, doc="data-loader processes; 0: load in the training process; -1: on CUDA "
                                                    "one per core up to 8, on a CPU none")),
    "bad_images": ("error", Choice(*BAD_IMAGE_POLICIES, doc="an unreadable image: error, or skip (warn, use a blank image)")),
    "keep": ("last", Choice("last", "none",  # no validation score picks a best epoch here
                            doc="what a finished fold keeps: last (the weights it predicted with) or none")),
})


# ------------------------------------------------------------------------------------------------ data
def _flip() -> list:
    import albumentations as A

    return [A.HorizontalFlip()]


def _flip_scale() -> list:
    import albumentations as A

    return [A.HorizontalFlip(), A.Affine(scale=(0.75, 1.25), translate_percent=(-0.1, 0.1), p=0.7),
            A.ColorJitter(0.2, 0.2, 0.2, 0.02, p=0.5)]


# The library's box-aware augmentations: name -> a function giving the albumentations steps (boxes follow them).
# A competition's pipeline.py adds its own: ``{**AUGMENTATIONS, "mosaic_free": my_steps}``.
AUGMENTATIONS = {"none": list, "flip": _flip, "flip_scale": _flip_scale}


def train_transform(name: str, min_visibility: float, augmentations: dict = AUGMENTATIONS):
    import albumentations as A

    if name not in augmentations:
        raise UserError(f"--set augment={name!r}: choose one of {sorted(augmentations)}.")
    return A.Compose(augmentations[name](), bbox_params=A.BboxParams(format="coco", label_fields=["labels"],
                                                                      min_visibility=min_visibility, clip=True))


class DetectionDataset(torch.utils.data.Dataset):
    """Image paths with per-image ``(boxes [N, 4] xywh, labels [N])``; items are (CHW float tensor in [0, 1],
    target dict with ``boxes`` in xyxy and ``labels``). Augmentation is seeded by (seed, epoch, index)."""

    def __init__(self, paths, targets=None, transform=None, bad_images: str = "error", seed: int = 0):
        self.paths, self.targets, self.transform = [str(p) for p in paths], targets, transform
        self.bad_images, self.seed, self.epoch = bad_images, seed, 0

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = load_rgb(self.paths[i], self.bad_images)
        if self.targets is None:
            return torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)
        boxes, labels = self.targets[i]
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        labels = np.asarray(labels, np.int64)
        if self.transform is not None:
            self.transform.set_random_seed(augment_seed(self.seed, self.epoch, i))
            out = self.transform(image=image, bboxes=boxes, labels=labels)
            image = out["image"]
            boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
            labels = np.asarray(out["labels"], np.int64)
        xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
        target = {"boxes": torch.from_numpy(xyxy).float(), "labels": torch.from_numpy(labels)}
        return torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255), target


def collate(batch):
    return tuple(zip(*batch)) if isinstance(batch[0], tuple) else list(batch)


def repeat_factors(labels_per_image: list, threshold: float) -> np.ndarray:
    """LVIS repeat factors: an image repeats max over its classes of max(1, sqrt(threshold / f_c)), f_c the
    share of training images that hold class c. 0 switches it off (all 1)."""
    n = len(labels_per_image)
    if threshold <= 0 or n == 0:
        return np.ones(n)
    counts: dict[int, int] = {}
    for labels in labels_per_image:
        for c in set(np.asarray(labels).tolist()):
            counts[c] = counts.get(c, 0) + 1
    share = {c: k / n for c, k in counts.items()}
    return np.array([max([1.0] + [math.sqrt(threshold / share[c]) for c in set(np.asarray(labels).tolist())])
                     for labels in labels_per_image])


def epoch_indices(factors: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """This epoch's image order: image i appears floor(r_i) times plus once more with probability frac(r_i)."""
    rng = np.random.default_rng(seed * 7919 + epoch)
    repeats = np.floor(factors).astype(int) + (rng.random(len(factors)) < factors - np.floor(factors))
    return rng.permutation(np.repeat(np.arange(len(factors)), repeats))


# ----------------------------------------------------------------------------------------------- models
def create(name: str, n_classes: int, pretrained: str = "false", weights: str = "", max_side: int = 512,
           proposals: int = 1000, roi_batch: int = 256, score_threshold: float = 0.01,
           max_detections: int = 100) -> nn.Module:
    """A torchvision detector for ``n_classes`` object classes (plus background)."""
    from torchvision.models import detection

    if name not in ARCHITECTURES:
        raise UserError(f"--set model={name!r}: choose one of {list(ARCHITECTURES)}.")
    mode = pretrained_mode(pretrained)
    build = getattr(detection, name)
    size = {"min_size": max_side, "max_size": max_side}
    if name.startswith("fasterrcnn"):  # fewer proposals and sampled boxes: the box head dominates CPU time
        size.update(rpn_pre_nms_top_n_train=proposals, rpn_post_nms_top_n_train=proposals,
                    box_batch_size_per_image=roi_batch, box_score_thresh=score_threshold,
                    box_detections_per_img=max_detections)
    else:  # torchvision's own cut-offs (FCOS: 0.2) would drop the low-score boxes that mAP still counts
        size.update(score_thresh=score_threshold, detections_per_img=max_detections)
    model = None
    if mode != "false" and not weights:
        try:
            if name.startswith("fasterrcnn"):
                from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

                with contextlib.redirect_stdout(sys.stderr):  # torch.hub's "Downloading: ..." off stdout
                    model = build(weights="DEFAULT", **size)
                in_features = model.roi_heads.box_predictor.cls_score.in_features
                model.roi_heads.box_predictor = FastRCNNPredictor(in_features, n_classes + 1)
            else:
                with contextlib.redirect_stdout(sys.stderr):
                    model = build(weights=None, weights_backbone="DEFAULT", num_classes=n_classes + 1, **size)
        except Exception as exc:  # offline: torchvision's download fails at once
            no_weights(name, mode, exc)
            model = None
    if model is None:
        model = build(weights=None, weights_backbone=None, num_classes=n_classes + 1, **size)
    if weights:  # all but the class head from the file (that head is of another class count in COCO's weights)
        load_weights(model, weights, name, CLASS_HEADS[name.split("_")[0]])
    return model


# Each kind of detector's layers that depend on the class count: they start fresh when the file's do not fit.
CLASS_HEADS = {"fasterrcnn": ("roi_heads.box_predictor",), "retinanet": ("head.classification_head.cls_logits",),
               "fcos": ("head.classification_head.cls_logits",)}


def default_net(p: dict, n_classes: int) -> nn.Module:
    """The library's detector: a torchvision architecture by name (``model``), sized by the recipe's settings."""
    return create(p["model"], n_classes, p["pretrained"], p["weights"], p["max_side"], p["proposals"],
                  p["roi_batch"], p["score_threshold"], p["max_detections"])


def train_epoch(epoch: Epoch, net: nn.Module) -> None:
    """The library's epoch of detection (a competition's pipeline.py writes its own)."""
    for images, targets in epoch:
        with epoch.autocast():
            losses = net(images, targets)
        epoch.step(sum(losses.values()), len(images))


@dataclass(frozen=True)
class DetectionParts:
    """The parts of a detection pipeline that a competition writes as code in its ``pipeline.py``; the library's
    defaults where it does not: ``net(p, n_classes)`` (a torchvision-style detector that returns its losses in
    training), ``train_epoch(epoch, net)`` (the loop over an epoch's batches, ``shared.vision.training.Epoch``),
    ``augmentations`` (name -> box-aware albumentations steps; the ``augment`` setting picks one)."""

    net: Callable[[dict, int], nn.Module] = default_net
    train_epoch: Callable[..., None] = train_epoch
    augmentations: Mapping[str, Callable[[], list]] = field(default_factory=lambda: dict(AUGMENTATIONS))

    def model(self, params: dict, ctx) -> DetectionModel:
        """A recipe's model factory: ``Recipe(..., model=PARTS.model, ranges=PARTS.ranges())``."""
        return DetectionModel(params, ctx, self)

    def ranges(self) -> dict:
        """``DETECTION_RANGES`` with ``augment`` naming this pipeline's own augmentations."""
        return {**DETECTION_RANGES, "augment": Choice(*self.augmentations, doc=DETECTION_RANGES["augment"].doc)}


class DetectionModel:
    """``fit(X, y)`` with X holding ``image_path`` and y an object array of per-image ``(boxes xywh, labels)``;
    ``predict(X)`` -> a list of per-image arrays of rows [x, y, w, h, score, label]. Its settings are
    ``DETECTION_PARAMS`` (checked against ``DETECTION_RANGES`` before it is made), its net and augmentations the
    competition's ``parts``."""

    def __init__(self, params: dict, ctx, parts: DetectionParts | None = None):
        self.params, self.ctx, self.parts = {**DETECTION_PARAMS, **params}, ctx, parts or DetectionParts()

    def fit(self, X: pd.DataFrame, y, valid=None):
        p, ctx = self.params, self.ctx
        trainer = Trainer(p, ctx)
        device = self.device_ = trainer.device
        net = self.parts.net(p, ctx.n_classes).to(device)
        targets = list(y)
        transform = train_transform(p["augment"], p["min_visibility"], self.parts.augmentations)
        dataset = DetectionDataset(X["image_path"].tolist(), targets, transform, p["bad_images"], ctx.seed)
        factors = repeat_factors([labels for _, labels in targets], p["repeat_threshold"])
        workers = self._workers()

        def batches(epoch: int):
            dataset.epoch = epoch
            order = epoch_indices(factors, ctx.seed, epoch)
            return torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order.tolist()),
                                               batch_size=p["batch_size"], shuffle=False, num_workers=workers,
                                               collate_fn=collate, pin_memory=device.type == "cuda",
                                               prefetch_factor=PREFETCH if workers else None)

        def prepare(batch):  # lists of image tensors and of their targets (boxes, labels), to the device
            images, batch_targets = batch
            return ([im.to(device, non_blocking=True) for im in images],
                    [{k: v.to(device) for k, v in t.items()} for t in batch_targets])

        self.workdir_ = Path(ctx.workdir)
        # the schedule counts the expected batches: repeat-factor sampling varies an epoch's length around it
        self.net_, self.history_ = trainer.fit(net, None, batches, epochs=p["epochs"],
                                               updates_per_epoch=max(1, math.ceil(factors.sum() / p["batch_size"])),
                                               train_epoch=lambda epoch: self.parts.train_epoch(epoch, net),
                                               prepare=prepare)
        return self

    def cleanup(self) -> None:
        """Once the fold's predictions are made: its checkpoint goes unless ``keep=last``."""
        if distributed.is_main():
            keep_checkpoints(self.ctx.workdir, self.params["keep"])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """One row per image: its detections [x, y, w, h, score, label] in the image's pixels, best first, padded
        to ``max_detections`` blocks (``shared.detection.boxes.unpad`` gives the per-image arrays back)."""
        return self.predict_variants(X)[""]

    def predict_variants(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """``{"": with TTA, "no_tta": the plain view}`` from one pass when TTA is on (``{"": plain}`` when off),
        each a padded table (see ``predict``)."""

        return {name: pad(rows, MAX_DETECTIONS) for name, rows in self.detect(X).items()}

    def detect(self, X: pd.DataFrame) -> dict[str, list[np.ndarray]]:
        """Per image, arrays of rows [x, y, w, h, score, label]: ``""`` with TTA, ``no_tta`` without (when on)."""
        p = self.params
        dataset = DetectionDataset(X["image_path"].tolist(), None, None, p["bad_images"])
        workers = self._workers()
        loader = torch.utils.data.DataLoader(dataset, batch_size=p["batch_size"], shuffle=False, num_workers=workers,
                                             collate_fn=collate, pin_memory=self.device_.type == "cuda",
                                             prefetch_factor=PREFETCH if workers else None)
        net = self.net_.eval()
        plain, merged = [], []
        started = time.time()
        with torch.inference_mode(), autocast(self.device_, amp_dtype(self.device_, p["amp"])):
            for images in tqdm(iter(loader), total=len(loader), desc="predict", leave=False, disable=None):
                images = [im.to(self.device_) for im in images]
                outs = [self._rows(o) for o in net(images)]
                plain += outs
                if p["tta"] == "hflip":  # the mirror view, from the same decoded tensors
                    flipped = [self._rows(o) for o in net([torch.flip(im, dims=[2]) for im in images])]
                    for im, a, b in zip(images, outs, flipped):
                        width, height = im.shape[2], im.shape[1]
                        if len(b):
                            b = b.copy()
                            b[:, 0] = width - b[:, 0] - b[:, 2]
                        merged.append(wbf_merge([a, b], width, height, p["wbf_iou"], p["max_detections"]))
        seconds = time.time() - started
        speed = {"images": len(dataset), "seconds": seconds, "img_s": len(dataset) / max(seconds, 1e-9),
                 "views": 2 if p["tta"] == "hflip" else 1}
        if getattr(self, "workdir_", None) is not None:  # the fold's last prediction speed, for the run's metrics
            from shared.io import write_json

            write_json(Path(self.workdir_) / "predict.json", speed)
        return {"": merged, "no_tta": plain} if p["tta"] == "hflip" else {"": plain}

    def _workers(self) -> int:
        """``workers``, or for -1: one per core up to 8 on CUDA (decoding 1024-px JPEGs keeps up with the GPU), none on
        a CPU, whose cores train."""
        if self.params["workers"] >= 0:
            return self.params["workers"]
        if self.device_.type != "cuda":
            return 0
        batch_bytes = self.params["batch_size"] * 3 * 1024 ** 2 * 4  # float32 images up to 1024 px a side
        return affordable_workers(min(MAX_WORKERS, self.ctx.n_jobs), batch_bytes)

    def _rows(self, out: dict) -> np.ndarray:
        boxes = out["boxes"].float().cpu().numpy()
        keep = out["scores"].float().cpu().numpy() >= self.params["score_threshold"]
        boxes = boxes[keep]
        rows = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2], out["scores"].float().cpu().numpy()[keep],
                                out["labels"].cpu().numpy()[keep]])
        return rows[:self.params["max_detections"]]
