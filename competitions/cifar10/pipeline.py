"""CIFAR-10's pipeline, as code to edit in place: the net, the loss, the augmentations and TTA views that its
recipes (``__init__.py``, the numbers: learning rate, epochs, ...) train with. ``shared.vision.train.VisionParts``
says what each part receives; docs/templates.md shows a hand-written net added as a recipe.

Training a fold (``VisionModel.fit`` on ``shared.vision.training``): 32-px images resident on the device, flipped and
translated per batch; ``train_epoch`` below runs each epoch's batches; after each epoch the held-out images are
scored with the raw and EMA weights, and the fold is checkpointed; flip TTA at the end.
"""
from __future__ import annotations

import albumentations as A
from torch import nn

from shared.vision.augment import CIFAR_MEAN, CIFAR_STD, PRESETS
from shared.vision.train import VisionParts, default_loss, default_net
from shared.vision.training import Epoch


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's ``model``: airbench (a small fast CIFAR net) or any timm model, ``cifar_stem`` for 32 px."""
    return default_net(p, n_classes)


def loss(p: dict, n_classes: int) -> nn.Module:
    """Cross-entropy, label smoothing 0.2 in ``fast`` as airbench (targets are mixed probabilities under the
    ``timm`` recipe's Mixup/CutMix)."""
    return default_loss(p, n_classes)


def train_epoch(epoch: Epoch, net: nn.Module, loss: nn.Module, mixup=None) -> None:
    """One epoch, batch by batch: the step to change for a training trick (SAM, gradient penalty, ...)."""
    for images, targets in epoch:  # this epoch's augmented batches, already on the training device
        if mixup is not None:  # the timm recipe's Mixup/CutMix: targets become class probabilities
            images, targets = mixup(images, targets)
        with epoch.autocast():  # bf16/fp16 on a GPU, full precision on a CPU
            value = loss(net(images), targets)
        epoch.step(value, len(images))  # backward; per update: clip, optimizer, schedule, EMA


def d2l_cifar(size: int) -> list:
    """The course's CIFAR-10 recipe: resize to 40, random crop back to 32 at scale 0.64-1, flip."""
    return [A.Resize(round(size * 1.25), round(size * 1.25)),
            A.RandomResizedCrop(size=(size, size), scale=(0.64, 1.0), ratio=(1.0, 1.0)), A.HorizontalFlip()]


# flip_translate (airbench: flip and up-to-2-px translations) and the others are the library's.
AUGMENTATIONS = {**PRESETS, "d2l_cifar": (d2l_cifar, CIFAR_MEAN, CIFAR_STD)}
TTA_VIEWS: dict = {}

PARTS = VisionParts(net=net, loss=loss, train_epoch=train_epoch, augmentations=AUGMENTATIONS, tta_views=TTA_VIEWS)
