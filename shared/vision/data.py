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
        # An index from ``EpochBatches`` carries its epoch (epoch * len + index): workers that persist across epochs
        # never see ``self.epoch`` change, so the epoch travels with the index.
        epoch, i = divmod(i, len(self.paths)) if i >= len(self.paths) else (self.epoch, i)
        image = self.image(i)
        if self.transform is not None:
            self.transform.set_random_seed(augment_seed(self.seed, epoch, i))
            image = self.transform(image=image)["image"]
        return image if self.labels is None else (image, int(self.labels[i]))


def should_cache(paths, setting: str, sample_bytes: int) -> bool:
    """``cache_images``: on | off | auto (on when the decoded images would fit in ``CACHE_LIMIT_BYTES``)."""
    if setting in ("on", "off"):
        return setting == "on"
    return len(paths) * sample_bytes <= CACHE_LIMIT_BYTES


class EpochBatches(torch.utils.data.Sampler):
    """The batches of one epoch after another for a DataLoader whose workers persist (``set_epoch`` before each):
    the order ``loader`` gives for (seed, epoch), as indices that carry their epoch (``ImageDataset``), so a run
    draws the same with persistent workers as without them, at any worker count, and after a resume."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool):
        self.n, self.batch_size, self.shuffle, self.seed, self.drop_last, self.epoch = (n, batch_size, shuffle, seed,
                                                                                        drop_last, 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self):
        order = range(self.n)
        if self.shuffle:  # as DataLoader(shuffle=True, generator=...): one draw for its worker seed, then the order
            generator = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            order = torch.randperm(self.n, generator=generator).tolist()
        codes = [self.epoch * self.n + i for i in order]
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield codes[start:start + self.batch_size]


def persistent_loader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int, seed: int,
                      drop_last: bool = False) -> tuple[DataLoader, EpochBatches]:
    """One DataLoader for every epoch of a fit: ``workers`` processes started once and kept (persistent), each with
    batches prefetched, pinned memory on CUDA; ``EpochBatches.set_epoch`` picks each epoch's order."""
    batches = EpochBatches(len(dataset), batch_size, shuffle, seed, drop_last)
    # Its own generator for the worker base seed it draws: the global torch stream (seeded per epoch) stays untouched.
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, persistent_workers=workers > 0,
                      prefetch_factor=PREFETCH if workers > 0 else None, generator=torch.Generator(),
                      pin_memory=torch.cuda.is_available()), batches


PREFETCH = 4  # batches each worker prepares ahead
MAX_WORKERS = 8  # data-loader processes at most when their number is automatic (one per core up to this)


def affordable_workers(wanted: int, batch_bytes: float, shm: str = "/dev/shm") -> int:
    """Of ``wanted`` automatic data-loader workers, as many as the shared memory their prefetched batches pass through
    holds with room to spare (a container's small /dev/shm kills workers with a bus error): each keeps ``PREFETCH``
    batches of ``batch_bytes`` there."""
    import shutil

    try:
        free = shutil.disk_usage(shm).free
    except OSError:  # no such mount (not Linux): the platform's own mechanism, no limit known
        return wanted
    return max(0, min(wanted, int(free // (2 * PREFETCH * max(batch_bytes, 1)))))


def loader(dataset: Dataset, batch_size: int, shuffle: bool, workers: int, seed: int, epoch: int = 0,
           drop_last: bool = False, sampler=None) -> DataLoader:
    """A DataLoader whose order is a function of (seed, epoch): resumable without saving its state."""
    generator = torch.Generator().manual_seed(seed * 7919 + epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers, generator=generator, drop_last=drop_last,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False,
                      prefetch_factor=PREFETCH if workers > 0 else None)
