"""Augmentation presets (albumentations), chosen per recipe by name among those its competition offers (the
library's ``PRESETS`` and its own). Each preset gives a train and an eval pipeline ending in a normalised CHW float
tensor. Randomness is seeded per image (``ImageDataset``), so
an epoch's augmentations do not depend on worker count or order, and a resumed run sees the same ones.

Beside the preset, the extras a recipe's settings add to the training images (``TrainPipeline``): RandAugment or
TrivialAugment (torchvision) on the uint8 image after the preset's transforms, then random erasing and cutout on
the normalised tensor (``cutout_box``, ``erase_box``: the same boxes the resident path blanks on whole batches)."""
from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np
import torch
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


AUTO_AUGMENTS = ("none", "randaugment", "trivialaugment")  # the ``auto_augment`` setting's choices
MAX_MAGNITUDE = 30  # RandAugment's magnitude at most (torchvision's 31 bins, as timm's rand-m<0-30>)
ERASE_AREA, ERASE_RATIO = (0.02, 1 / 3), (0.3, 1 / 0.3)  # random erasing's area share and aspect (timm's defaults)


def pipelines(preset: str, size: int, presets: dict = PRESETS, *, auto_augment: str = "none", magnitude: int = 9,
              erase: float = 0.0, cutout: int = 0) -> tuple[A.Compose | TrainPipeline, A.Compose]:
    """(train, eval) pipelines of a preset; eval only resizes and normalises with the same statistics. With an
    extra on (``auto_augment``, ``erase``, ``cutout``) the train pipeline is a ``TrainPipeline``; else the plain
    albumentations one, as before the extras existed."""
    if preset not in presets:
        raise UserError(f"--set augment={preset!r}: choose one of {sorted(presets)}.")
    make, mean, std = presets[preset]
    evaluate = A.Compose([A.Resize(size, size)] + _tail(mean, std))
    if auto_augment == "none" and erase == 0 and cutout == 0:
        return A.Compose(make(size) + _tail(mean, std)), evaluate
    return TrainPipeline(make(size), mean, std, auto_augment, magnitude, erase, cutout), evaluate


def auto_augment_op(name: str, magnitude: int):
    """torchvision's RandAugment (2 ops of ``magnitude`` out of 30) or TrivialAugmentWide on a uint8 CHW tensor;
    None for ``none``."""
    from torchvision.transforms import v2

    if name == "none":
        return None
    if name == "randaugment":
        return v2.RandAugment(num_ops=2, magnitude=magnitude, num_magnitude_bins=MAX_MAGNITUDE + 1)
    if name == "trivialaugment":
        return v2.TrivialAugmentWide(num_magnitude_bins=MAX_MAGNITUDE + 1)
    raise UserError(f"--set auto_augment={name!r}: choose one of {', '.join(AUTO_AUGMENTS)}.")


class TrainPipeline:
    """A preset's train transforms with the extras: ``auto_augment`` on the uint8 image after them, the preset's
    normalisation, then ``cutout`` (a square of that side centred on a random pixel) and random erasing (with
    probability ``erase``) set to the mean, 0 once normalised. Called as an albumentations pipeline is
    (``set_random_seed``, then ``(image=...)["image"]``); every draw follows that seed, and torch's global stream
    (which torchvision's ops draw from) is left as it was."""

    def __init__(self, transforms: list, mean, std, auto_augment: str = "none", magnitude: int = 9,
                 erase: float = 0.0, cutout: int = 0):
        self.auto, self.erase, self.cutout, self.seed = auto_augment_op(auto_augment, magnitude), erase, cutout, 0
        # one albumentations call where nothing comes between the preset and its normalisation (each costs ~0.1 ms)
        self.first = A.Compose(transforms + ([] if self.auto else _tail(mean, std)))
        self.tail = A.Compose(_tail(mean, std)) if self.auto else None

    def set_random_seed(self, seed: int) -> None:
        self.first.set_random_seed(seed)
        self.seed = int(seed)

    def __call__(self, *, image: np.ndarray) -> dict:
        image = self.first(image=image)["image"]
        if self.auto is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                chw = self.auto(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
            image = chw.permute(1, 2, 0).numpy()
        x = self.tail(image=np.ascontiguousarray(image))["image"] if self.tail else image
        g, (h, w) = torch.Generator().manual_seed(self.seed), x.shape[1:]
        boxes = []
        if self.cutout > 0:  # as the resident path draws it: the centre pixel, row then column
            cy, cx = int(torch.randint(0, h, (1,), generator=g)), int(torch.randint(0, w, (1,), generator=g))
            boxes.append(cutout_box(cy, cx, self.cutout))
        if self.erase > 0:
            boxes.append(erase_box(torch.rand(5, generator=g).tolist(), self.erase, h, w))
        for top, left, height, width in boxes:  # a slice per box: per-image masks cost more than the image
            x[:, max(top, 0):max(top + height, 0), max(left, 0):max(left + width, 0)] = 0.0
        return {"image": x}


def cutout_box(cy: int, cx: int, side: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of a square of ``side`` centred on pixel (``cy``, ``cx``), before clipping."""
    return cy - side // 2, cx - side // 2, side, side


def erase_box(u: list[float], p: float, h: int, w: int) -> tuple[int, int, int, int]:
    """(top, left, height, width) of timm's random erasing from five uniform draws ``u``: with probability ``p``
    (``u[0] < p``) a rectangle of ``ERASE_AREA`` of the image's area and (log-uniform) aspect ``ERASE_RATIO``,
    clipped to the image and placed uniformly inside it; else an empty box (height 0)."""
    if u[0] >= p:
        return 0, 0, 0, 0
    area = (ERASE_AREA[0] + u[1] * (ERASE_AREA[1] - ERASE_AREA[0])) * h * w
    ratio = math.exp(math.log(ERASE_RATIO[0]) + u[2] * (math.log(ERASE_RATIO[1]) - math.log(ERASE_RATIO[0])))
    height = min(max(round(math.sqrt(area * ratio)), 1), h)
    width = min(max(round(math.sqrt(area / ratio)), 1), w)
    return int(u[3] * (h - height + 1)), int(u[4] * (w - width + 1)), height, width


def box_mask(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, h, w) bool from (N, 4) boxes (top, left, height, width), clipped at the borders: the resident path's
    form of the loader's slices."""
    rows, cols = torch.arange(h, device=boxes.device), torch.arange(w, device=boxes.device)
    top, left, height, width = (boxes[:, i, None] for i in range(4))
    return ((rows >= top) & (rows < top + height))[:, :, None] & ((cols >= left) & (cols < left + width))[:, None, :]
