"""Classify Leaves' pipeline, as code to edit in place: the parts its recipes (``__init__.py``: the settings) train
with. See ``shared.vision.train.VisionParts`` for what each part receives, and docs/templates.md for a focal loss.

- ``net``: ResNet-50-D (``timm``) or ResNet-18 (``baseline``), pretrained where weights can be had;
- ``loss``: what the logits are scored by; targets are species indices, or probabilities under Mixup/CutMix;
- ``train_epoch``: the loop over an epoch's batches (forward, loss, step);
- ``AUGMENTATIONS``: ``leaves`` below (any orientation: a leaf has no up), or the library's ``flip``, ...;
- ``TTA_VIEWS``: views of one's own, beside the library's hflip, vflip, rot90 the ``timm`` recipe averages.
"""
from __future__ import annotations

import albumentations as A
import cv2
from torch import nn

from shared.vision.augment import IMAGENET_MEAN, IMAGENET_STD, PRESETS
from shared.vision.train import VisionParts, default_loss, default_net
from shared.vision.training import Epoch


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's ``model``: any timm model (ResNet-50-D for ``timm``, ResNet-18 for ``baseline``)."""
    return default_net(p, n_classes)


def loss(p: dict, n_classes: int) -> nn.Module:
    """Cross-entropy with the recipe's label smoothing (soft-target under Mixup/CutMix)."""
    return default_loss(p, n_classes)


def train_epoch(epoch: Epoch, net: nn.Module, loss: nn.Module, mixup=None) -> None:
    """An epoch of the leaves' batches; after it, the held-out leaves are scored (raw and EMA weights)."""
    for images, targets in epoch:
        # CutMix pastes a patch of one leaf on another: the target mixes the two species by area
        images, targets = mixup(images, targets) if mixup is not None else (images, targets)
        with epoch.autocast():
            value = loss(net(images), targets)
        epoch.step(value, len(images))  # backward, then (every accum_steps batches) optimizer, schedule, EMA


def leaves(size: int) -> list:
    """Leaf scans: any orientation (flips, 90-degree turns, rotation), scale, mild colour; shape decides."""
    return [A.RandomResizedCrop(size=(size, size), scale=(0.5, 1.0)), A.HorizontalFlip(), A.VerticalFlip(),
            A.RandomRotate90(), A.Affine(rotate=(-20, 20), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.ColorJitter(0.1, 0.1, 0.1, 0.0, p=0.3)]


# flip (the baseline's) and the others are the library's.
AUGMENTATIONS = {**PRESETS, "leaves": (leaves, IMAGENET_MEAN, IMAGENET_STD)}
TTA_VIEWS: dict = {}

PARTS = VisionParts(net=net, loss=loss, train_epoch=train_epoch, augmentations=AUGMENTATIONS, tta_views=TTA_VIEWS)
