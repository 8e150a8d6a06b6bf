"""Augmentation presets (albumentations), chosen per recipe by name among those its competition offers (the
library's ``PRESETS`` and its own). Each preset gives a train and an eval pipeline ending in a normalised CHW float
tensor. Randomness is seeded per image (``ImageDataset``), so
an epoch's augmentations do not depend on worker count or order, and a resumed run sees the same ones."""
from __future__ import annotations

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

from shared.errors import UserError

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)  # the D2L course's values
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _tail(mean, std) -> list:
    return [A.Normalize(mean=mean, std=std), ToTensorV2()]


def _flip_translate(size: int) -> list:
    """airbench: flip and a translation of up to 2 px (reflect padding, random crop)."""
    pad = max(2, size // 16)
    return [A.Resize(size, size), A.PadIfNeeded(size + 2 * pad, size + 2 * pad, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(size, size), A.HorizontalFlip()]


def _natural(size: int) -> list:
    """Photos (timm-style): random resized crop, flip, mild colour jitter."""
    return [A.RandomResizedCrop(size=(size, size), scale=(0.35, 1.0)), A.HorizontalFlip(),
            A.ColorJitter(0.2, 0.2, 0.2, 0.0, p=0.5)]


def _d2l_imagenet(size: int) -> list:
    """The course's ImageNet-style training augmentation (its dog-breed chapter): random resized crop at scale
    0.08-1 and aspect 3/4-4/3, horizontal flip, colour jitter 0.4."""
    return [A.RandomResizedCrop(size=(size, size), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), A.HorizontalFlip(),
            A.ColorJitter(0.4, 0.4, 0.4, 0.0, p=1.0)]


def _flip(size: int) -> list:
    """The simplest: resize and horizontal flip (a course-style baseline)."""
    return [A.Resize(size, size), A.HorizontalFlip()]


def _none(size: int) -> list:
    return [A.Resize(size, size)]


# The library's presets: name -> (train transforms of a side, normalisation mean, std). A competition's pipeline.py
# adds its own (``{**PRESETS, "leaves": (leaves, IMAGENET_MEAN, IMAGENET_STD)}``) and hands them to its model.
PRESETS = {"flip_translate": (_flip_translate, CIFAR_MEAN, CIFAR_STD), "natural": (_natural, IMAGENET_MEAN, IMAGENET_STD),
           "d2l_imagenet": (_d2l_imagenet, IMAGENET_MEAN, IMAGENET_STD), "flip": (_flip, IMAGENET_MEAN, IMAGENET_STD),
           "none": (_none, IMAGENET_MEAN, IMAGENET_STD)}


def pipelines(preset: str, size: int, presets: dict = PRESETS) -> tuple[A.Compose, A.Compose]:
    """(train, eval) pipelines of a preset; eval only resizes and normalises with the same statistics."""
    if preset not in presets:
        raise UserError(f"--set augment={preset!r}: choose one of {sorted(presets)}.")
    make, mean, std = presets[preset]
    return A.Compose(make(size) + _tail(mean, std)), A.Compose([A.Resize(size, size)] + _tail(mean, std))
