"""The device-resident path for small images (CIFAR-size): a set's images decoded once (and resized to the recipe's
side) into one uint8 tensor on the training device, reflect-padded once; each epoch's order, and every image's
translation, flip and optional cutout, drawn at the epoch's start from one generator seeded by (seed, epoch) and
applied to whole batches on the device, then normalised there. Nothing is decoded, copied from the host or
augmented per image after the first decode, so a GPU is never waiting for a CPU (airbench's way), and on a CPU the
same code replaces per-image albumentations calls by a few tensor operations per batch.

The seeding contract is the loader's (``shared.vision.data``): what an epoch draws depends only on (seed, epoch),
so a resumed fold continues exactly. The streams differ between devices (a CUDA generator is not a CPU one):
same seed, same device, same result.

What it makes is decided by the preset's transforms themselves, whatever the preset's name (``mirror``): a resize,
optionally a translation (reflect padding and a random crop back, as ``flip_translate``), optionally a horizontal
flip, each with albumentations' default arguments. A preset holding anything else (random resized crops, colour,
rotations, a CoarseDropout a user added to ``flip``) is made by the loader, which applies it; cutout and random
erasing are made on both paths (``shared.vision.augment``: the same masks)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shared.vision.augment import box_mask, cutout_box, erase_box

MIRRORED = ("Resize", "PadIfNeeded", "RandomCrop", "HorizontalFlip")  # the transforms this path makes itself
PAD_CHUNK = 4096  # images reflect-padded at a time when the tensor is built (bounded float memory)
PREDICT_CHUNK = 16_384  # images predicted per resident tensor: memory stays flat over a 300,000-image test set


def made_here(size: int, pad: int, flip: bool) -> list:
    """The train transforms (albumentations, before the normalisation) that this path makes, at side ``size``, with
    a translation of up to ``pad`` px (0: none) and horizontal flips or not."""
    import albumentations as A
    import cv2

    transforms = [A.Resize(size, size)]
    if pad > 0:
        transforms += [A.PadIfNeeded(size + 2 * pad, size + 2 * pad, border_mode=cv2.BORDER_REFLECT_101),
                       A.RandomCrop(size, size)]
    return transforms + ([A.HorizontalFlip()] if flip else [])


def mirror(preset: str, size: int, presets: dict) -> tuple[int, bool] | str:
    """(padding, flip) with which this path makes augment ``preset`` at side ``size`` exactly as the loader would
    (its transforms are ``made_here``'s, type by type and argument by argument), or why it cannot, as text."""
    import albumentations as A

    transforms = presets[preset][0](size)
    others = [type(t).__name__ for t in transforms if type(t).__name__ not in MIRRORED]
    if others:
        return f"augment {preset!r} holds {', '.join(dict.fromkeys(others))}, which only the loader path makes"
    pad = next((max(1, (t.min_height - size) // 2) for t in transforms if isinstance(t, A.PadIfNeeded)), 0)
    flip = any(isinstance(t, A.HorizontalFlip) for t in transforms)
    want = made_here(size, pad, flip)
    if [type(t) for t in transforms] != [type(t) for t in want]:
        return (f"augment {preset!r} is {' + '.join(type(t).__name__ for t in transforms)}, not an order the resident "
                "path mirrors (Resize [+ PadIfNeeded + RandomCrop] [+ HorizontalFlip])")
    changed = [f"{type(t).__name__}({key}={value!r})" for t, made in zip(transforms, want)
               for key, value in t.get_transform_init_args().items() if made.get_transform_init_args().get(key) != value]
    if changed:
        return (f"augment {preset!r} sets {', '.join(changed)}, which only the loader path makes (the resident path "
                "mirrors the default arguments)")
    return pad, flip


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's draws (order, translations, flips, cutouts): a function of (seed, epoch) only."""
    return (seed * 1_000_003 + epoch * 7_919 + 104_729) % 2**62


class ResidentImages:
    """``images`` (N, H, W, 3) uint8, all of one size, with optional integer ``labels``, held on ``device`` as one
    (N, 3, H + 2 pad, W + 2 pad) uint8 tensor. ``mean``/``std`` are the preset's normalisation (0-1 scale), applied
    as albumentations' ``Normalize`` does: (x - 255 mean) / (255 std) in float32."""

    def __init__(self, images: np.ndarray, labels, device: torch.device, mean, std, pad: int = 0):
        self.device, self.pad = torch.device(device), int(pad)
        self.n, self.height, self.width = len(images), images.shape[1], images.shape[2]
        chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        if self.pad and self.n:  # reflect (the edge pixel not repeated: OpenCV's BORDER_REFLECT_101, as the loader's)
            chw = torch.cat([F.pad(chw[i:i + PAD_CHUNK].float(), (self.pad,) * 4, mode="reflect").to(torch.uint8)
                             for i in range(0, self.n, PAD_CHUNK)])
        elif self.pad:
            chw = torch.zeros((0, 3, self.height + 2 * self.pad, self.width + 2 * self.pad), dtype=torch.uint8)
        self.images = chw.contiguous().to(self.device)
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64)).to(self.device)
        self.shift = (torch.tensor(mean, dtype=torch.float32) * 255).view(1, 3, 1, 1).to(self.device)
        self.scale = (torch.tensor(std, dtype=torch.float32) * 255).view(1, 3, 1, 1).to(self.device)

    def __len__(self) -> int:
        return self.n

    def subset(self, indices) -> ResidentImages:
        """The images (and labels) at ``indices``, sharing this set's device and normalisation."""
        part = object.__new__(ResidentImages)
        part.__dict__.update(self.__dict__)
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        part.images, part.n = self.images[idx], len(idx)
        part.labels = None if self.labels is None else self.labels[idx]
        return part

    def normalise(self, x: torch.Tensor, memory_format=torch.contiguous_format) -> torch.Tensor:
        return ((x.float() - self.shift) / self.scale).contiguous(memory_format=memory_format)

    def centre(self, idx: torch.Tensor) -> torch.Tensor:
        """The images at ``idx`` without padding (uint8)."""
        p = self.pad
        return self.images[idx, :, p:p + self.height, p:p + self.width]

    def train_epoch(self, batch: int, seed: int, epoch: int, *, flip: bool = True,
                    cutout: int = 0, drop_last: bool = True, memory_format=torch.contiguous_format,
                    rank: int = 0, world: int = 1, erase: float = 0.0) -> TrainEpoch:
        """One epoch's training batches ((images, labels) on the device), in an order and with augmentations drawn
        from (seed, epoch): flips, a ``cutout`` square, random erasing with probability ``erase``. Under torchrun
        each of the ``world`` ranks takes every world-th image of the order."""
        return TrainEpoch(self, batch, epoch_seed(seed, epoch), flip, cutout, drop_last, memory_format,
                          rank, world, erase)

    def eval_batches(self, batch: int, memory_format=torch.contiguous_format):
        """The images in order, un-augmented and normalised, ``batch`` at a time (for scoring and TTA views)."""
        for start in range(0, self.n, batch):
            idx = torch.arange(start, min(start + batch, self.n), device=self.device)
            yield self.normalise(self.centre(idx), memory_format)


class TrainEpoch:
    """An epoch of augmented batches from a ``ResidentImages``; ``len()`` is its batch count (as a DataLoader's)."""

    def __init__(self, data: ResidentImages, batch: int, seed: int, flip: bool, cutout: int,
                 drop_last: bool, memory_format, rank: int, world: int, erase: float = 0.0):
        self.data, self.batch, self.seed, self.erase = data, int(batch), seed, float(erase)
        self.translate, self.flip, self.cutout = data.pad > 0, flip, int(cutout)  # the padding is the translation
        self.drop_last, self.memory_format, self.rank, self.world = drop_last, memory_format, rank, world
        self.per_rank = data.n // world if world > 1 else data.n

    def __len__(self) -> int:
        if self.per_rank == 0:
            return 0
        full, rest = divmod(self.per_rank, self.batch)
        return full if self.drop_last and full > 0 else full + (rest > 0)

    def __iter__(self):
        data, device = self.data, self.data.device
        n, p, h, w = data.n, data.pad, data.height, data.width
        if len(self) == 0:
            return
        g = torch.Generator(device=device).manual_seed(self.seed)
        # Every draw of the epoch at once, per image of the order: independent of the batch size.
        order = torch.randperm(n, generator=g, device=device)
        dy = torch.randint(0, 2 * p + 1, (n,), generator=g, device=device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=g, device=device)
        flips = torch.rand(n, generator=g, device=device) < 0.5
        cy = torch.randint(0, h, (n,), generator=g, device=device)
        cx = torch.randint(0, w, (n,), generator=g, device=device)
        erasing = torch.zeros((n, 4), dtype=torch.long, device=device)  # (top, left, height, width) per image
        if self.erase > 0:  # the loader's boxes (``erase_box``), from draws made on the device
            draws = torch.rand(n, 5, generator=g, device=device).tolist()
            erasing = torch.tensor([erase_box(u, self.erase, h, w) for u in draws], dtype=torch.long).to(device)
        if self.world > 1:
            keep = torch.arange(self.rank, self.per_rank * self.world, self.world, device=device)
            order, dy, dx, flips, cy, cx, erasing = (t[keep] for t in (order, dy, dx, flips, cy, cx, erasing))
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        for b in range(len(self)):
            at = slice(b * self.batch, (b + 1) * self.batch)
            idx = order[at]
            if self.translate:
                x = data.images[idx]  # (B, 3, H + 2p, W + 2p)
                top = (dy[at, None] + rows)[:, None, :, None].expand(-1, 3, -1, x.shape[3])
                x = x.gather(2, top)
                left = (dx[at, None] + cols)[:, None, None, :].expand(-1, 3, h, -1)
                x = x.gather(3, left)
            else:
                x = data.centre(idx)
            if self.flip:
                x = torch.where(flips[at, None, None, None], x.flip(3), x)
            x = data.normalise(x, self.memory_format)
            if self.cutout > 0:  # a square of side `cutout` centred on a random pixel, set to the mean (0)
                top, left, _, _ = cutout_box(cy[at], cx[at], self.cutout)
                side = torch.full_like(top, self.cutout)
                x = x.masked_fill(box_mask(torch.stack([top, left, side, side], 1), h, w)[:, None], 0.0)
            if self.erase > 0:  # timm's random erasing, set to the mean (0): the loader's code, a batch at a time
                x = x.masked_fill(box_mask(erasing[at], h, w)[:, None], 0.0)
            yield x, data.labels[idx]


def decode_all(paths: list[str], size: int, bad_images: str, workers: int = 0) -> np.ndarray:
    """(N, size, size, 3) uint8: every image decoded and resized (albumentations' ``Resize``, as the loader's
    presets) once; ``workers`` threads decode in parallel (PIL and OpenCV release the GIL)."""
    import albumentations as A

    from shared.vision.images import load_rgb

    resize = A.Resize(size, size)

    def one(path: str) -> np.ndarray:
        image = load_rgb(path, bad_images)
        return image if image.shape[:2] == (size, size) else resize(image=image)["image"]

    if not paths:
        return np.zeros((0, size, size, 3), np.uint8)
    if workers > 1 and len(paths) > 256:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            return np.stack(list(pool.map(one, paths)))
    return np.stack([one(p) for p in paths])
