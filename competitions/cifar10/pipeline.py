"""CIFAR-10's pipeline: the parts of training a Kaggler changes, as code. Edit here; nothing outside this folder
moves. The recipes in ``__init__.py`` set the numbers (learning rate, epochs, ...); this file sets the parts:

- ``net``: the network, built once per fold (``p`` holds the recipe's resolved settings, e.g. ``p["model"]``);
- ``loss``: the criterion, called on (logits, targets); targets are class indices, or class probabilities
  under Mixup/CutMix;
- ``AUGMENTATIONS``: the training augmentations by name (``--set augment=NAME`` picks one); each is
  (transforms of a side, normalisation mean, std), albumentations on uint8 HWC images;
- ``TTA_VIEWS``: extra test-time views by name (functions of an NCHW batch), usable in ``--set tta=...`` beside
  the library's (hflip, vflip, rot90, ..., scale<f>, fivecrop).

An epoch (``shared.training.Stepper.epoch``): for each batch, Mixup/CutMix when on, ``loss(net(images),
targets)`` under autocast, backward, optimizer step, schedule step, EMA update; after the epoch the validation
images are scored with the raw and the EMA weights (``shared.vision.train.VisionModel.fit`` composes it).
"""
from __future__ import annotations

import albumentations as A
from torch import nn

from shared.vision.augment import CIFAR_MEAN, CIFAR_STD, PRESETS
from shared.vision.train import VisionParts, default_loss, default_net


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's ``model``: airbench (a small fast CIFAR net) or any timm model, ``cifar_stem`` for 32 px."""
    return default_net(p, n_classes)


def loss(p: dict, n_classes: int) -> nn.Module:
    """Cross-entropy with the recipe's label smoothing (soft-target under Mixup/CutMix)."""
    return default_loss(p, n_classes)


def d2l_cifar(size: int) -> list:
    """The course's CIFAR-10 recipe: resize to 40, random crop back to 32 at scale 0.64-1, flip."""
    return [A.Resize(round(size * 1.25), round(size * 1.25)),
            A.RandomResizedCrop(size=(size, size), scale=(0.64, 1.0), ratio=(1.0, 1.0)), A.HorizontalFlip()]


# flip_translate (airbench: flip and up-to-2-px translations) and the others are the library's.
AUGMENTATIONS = {**PRESETS, "d2l_cifar": (d2l_cifar, CIFAR_MEAN, CIFAR_STD)}
TTA_VIEWS: dict = {}

PARTS = VisionParts(net=net, loss=loss, augmentations=AUGMENTATIONS, tta_views=TTA_VIEWS)
