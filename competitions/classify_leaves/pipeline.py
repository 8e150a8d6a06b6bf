"""Classify Leaves' pipeline: the parts of training a Kaggler changes, as code. Edit here; nothing outside this
folder moves. The recipes in ``__init__.py`` set the numbers (learning rate, epochs, ...); this file sets the parts:

- ``net``: the network, built once per fold (``p`` holds the recipe's resolved settings, e.g. ``p["model"]``,
  ``p["pretrained"]``, ``p["weights"]``);
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
import cv2
from torch import nn

from shared.vision.augment import IMAGENET_MEAN, IMAGENET_STD, PRESETS
from shared.vision.train import VisionParts, default_loss, default_net


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's ``model``: any timm model (ResNet-50-D for ``timm``, ResNet-18 for ``baseline``)."""
    return default_net(p, n_classes)


def loss(p: dict, n_classes: int) -> nn.Module:
    """Cross-entropy with the recipe's label smoothing (soft-target under Mixup/CutMix)."""
    return default_loss(p, n_classes)


def leaves(size: int) -> list:
    """Leaf scans: any orientation (flips, 90-degree turns, rotation), scale, mild colour; shape decides."""
    return [A.RandomResizedCrop(size=(size, size), scale=(0.5, 1.0)), A.HorizontalFlip(), A.VerticalFlip(),
            A.RandomRotate90(), A.Affine(rotate=(-20, 20), border_mode=cv2.BORDER_REFLECT_101, p=0.5),
            A.ColorJitter(0.1, 0.1, 0.1, 0.0, p=0.3)]


# flip (the baseline's) and the others are the library's.
AUGMENTATIONS = {**PRESETS, "leaves": (leaves, IMAGENET_MEAN, IMAGENET_STD)}
TTA_VIEWS: dict = {}

PARTS = VisionParts(net=net, loss=loss, augmentations=AUGMENTATIONS, tta_views=TTA_VIEWS)
