"""The image dataset behind every image competition: paths (+ labels) in, decoded and augmented tensors
out. Small datasets (CIFAR-size) are decoded once and kept in memory as uint8; large ones are decoded per
item, so memory stays bounded whatever the number of images."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from shared.vision.images import load_rgb

CACHE_LIMIT_BYTES = 2 * 1024**3  # decode once and keep in memory when the images fit in this


def augment_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one item's random augmentation: a function of (seed, epoch, index) only."""
    return int(seed * 1_000_003 + epoch * 10_007 + index) % 2**32


class ImageDataset(Dataset):
    """``paths`` (and integer ``labels`` for training). ``epoch`` and ``seed`` make each item's random
    augmentation a function of (seed, epoch, index): identical across worker counts and after resume."""

    def __init__(self, paths, labels=None, transform=None, bad_images: str = "error", cache: bool = False,
                 seed: int = 0):
        self.paths = [str(p) for p in paths]
        self.labels = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.transform, self.bad_images, self.seed, self.epoch = transform, bad_images, seed, 0
        self.images = [load_rgb(p, bad_images) for p in self.paths] if cache else None

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        return self.images[i] if self.images is not None else load_rgb(self.paths[i], self.bad_images)

    def __getitem__(self, i: int):
        image = self.image(i)
        if self.transform is not None:
            self.transform.set_random_seed(augment_seed(self.seed, self.epoch, i))
            image = self.transform(image=image)["image"]
        return image if self.labels is None else (image, int(self.labels[i]))


def should_cache(paths, setting: str, sample_bytes: int) -> bool:
    """``cache_images``: on | off | auto (on when the decoded images would fit in ``CACHE_LIMIT_BYTES``)."""
    if setting in ("on", "off"):
        return setting == "on"
    return len(paths) * sample_bytes <= CACHE_LIMIT_BYTES


def loader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int, seed: int, epoch: int = 0,
           drop_last: bool = False, sampler=None) -> DataLoader:
    """A DataLoader whose order is a function of (seed, epoch): resumable without saving its state."""
    generator = torch.Generator().manual_seed(seed * 7919 + epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers, generator=generator, drop_last=drop_last,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False)
