"""The device-resident image path (``shared.vision.resident``): an epoch's batches are a function of (seed, epoch)
alone, whatever the batch size; every training image is its source translated by at most the padding (reflected
at the edges) and maybe flipped; evaluation views equal the loader's; cutout blanks one square; torchrun ranks
share an epoch without overlap; and the recipe trains the same with it as with the loader (seeded, resumable)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from shared.errors import UserError
from shared.runner import ModelContext
from shared.vision.augment import CIFAR_MEAN, CIFAR_STD, pipelines
from shared.vision.resident import ResidentImages, epoch_seed
from shared.vision.train import VISION_PARAMS, VisionModel


def images(n: int = 96, side: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 3), dtype=np.uint8)


def resident(n: int = 96, pad: int = 2) -> tuple[np.ndarray, ResidentImages]:
    raw = images(n)
    return raw, ResidentImages(raw, np.arange(n) % 10, "cpu", CIFAR_MEAN, CIFAR_STD, pad)


def raw_pixels(data: ResidentImages, x: torch.Tensor) -> torch.Tensor:
    """Normalised batch -> the uint8 pixel values it came from."""
    return (x * data.scale + data.shift).round().clamp(0, 255).to(torch.uint8)


def test_an_epoch_is_a_function_of_seed_and_epoch_alone_and_not_of_the_batch_size():
    _, data = resident()
    a = list(data.train_epoch(32, seed=7, epoch=3))
    b = list(data.train_epoch(32, seed=7, epoch=3))
    assert len(a) == 3 and all(torch.equal(x, y) and torch.equal(s, t) for (x, s), (y, t) in zip(a, b))
    other = torch.cat([x for x, _ in data.train_epoch(32, seed=7, epoch=4)])
    assert not torch.equal(torch.cat([x for x, _ in a]), other)  # the next epoch draws anew
    assert not torch.equal(torch.cat([x for x, _ in a]), torch.cat([x for x, _ in data.train_epoch(32, 8, 3)]))
    halves = list(data.train_epoch(16, seed=7, epoch=3))  # the draws are per image of the order, not per batch
    assert torch.equal(torch.cat([x for x, _ in a]), torch.cat([x for x, _ in halves]))
    assert epoch_seed(7, 3) != epoch_seed(7, 4) != epoch_seed(8, 3)


def test_every_training_image_is_its_source_translated_within_the_padding_and_maybe_flipped():
    raw, data = resident(pad=2)
    padded = F.pad(torch.from_numpy(raw).permute(0, 3, 1, 2).float(), (2, 2, 2, 2), mode="reflect").to(torch.uint8)
    seen_shifts, seen_flips = set(), set()
    for x, labels in data.train_epoch(32, seed=1, epoch=0):
        pixels = raw_pixels(data, x)
        for image in pixels:
            found = [(dy, dx, flip) for dy in range(5) for dx in range(5) for flip in (False, True)
                     if any(torch.equal(image, (w.flip(2) if flip else w))
                            for w in [padded[i, :, dy:dy + 16, dx:dx + 16] for i in range(len(raw))])]
            assert found, "a training image that is no translation or flip of any source image"
            seen_shifts.add(found[0][:2])
            seen_flips.add(found[0][2])
        assert labels.dtype == torch.int64
    assert len(seen_shifts) > 10 and seen_flips == {False, True}  # the draws vary


def test_a_training_batch_keeps_each_image_with_its_label():
    raw = np.stack([np.full((8, 8, 3), 10 * k, np.uint8) for k in range(20)])  # image k is flat grey 10 k
    data = ResidentImages(raw, np.arange(20), "cpu", CIFAR_MEAN, CIFAR_STD, pad=2)
    for x, labels in data.train_epoch(8, seed=3, epoch=0, drop_last=False):
        pixels = raw_pixels(data, x)
        assert all(int(pixels[i].float().mean()) == 10 * int(labels[i]) for i in range(len(labels)))


def test_evaluation_views_equal_the_loaders_pipeline():
    raw, data = resident(pad=2)
    _, evaluate = pipelines("flip_translate", 16)
    loader_view = torch.stack([evaluate(image=image)["image"] for image in raw])
    mine = torch.cat(list(data.eval_batches(40)))
    assert mine.shape == loader_view.shape
    torch.testing.assert_close(mine, loader_view, rtol=0, atol=1e-6)


def test_cutout_blanks_one_square_of_the_given_side_per_image():
    _, data = resident(pad=0)
    plain = torch.cat([x for x, _ in data.train_epoch(32, 5, 0, flip=False)])
    cut = torch.cat([x for x, _ in data.train_epoch(32, 5, 0, flip=False, cutout=4)])
    changed = (plain != cut).any(dim=1)  # (N, H, W) pixels blanked
    assert (cut.permute(0, 2, 3, 1)[changed] == 0).all()  # blanked to the mean: 0 once normalised
    areas = changed.flatten(1).sum(1)
    assert areas.max() <= 16 and (areas == 16).float().mean() > 0.3  # a 4x4 square, clipped at the borders


def test_torchrun_ranks_share_an_epoch_without_overlap():
    _, data = resident(n=50, pad=0)
    seen = []
    for rank in (0, 1):
        labels = torch.cat([y for _, y in data.train_epoch(5, 2, 0, drop_last=False, rank=rank, world=2)])
        seen.append(labels)
    assert len(seen[0]) == len(seen[1]) == 25
    order = torch.randperm(50, generator=torch.Generator().manual_seed(epoch_seed(2, 0)))
    assert torch.equal(torch.sort(torch.cat(seen)).values, torch.sort(data.labels[order]).values)


def test_an_empty_or_tiny_set_gives_no_batch_or_one_short_batch():
    data = ResidentImages(images(0), np.zeros(0, int), "cpu", CIFAR_MEAN, CIFAR_STD, pad=2)
    assert len(data.train_epoch(8, 0, 0)) == 0 and list(data.train_epoch(8, 0, 0)) == []
    small = ResidentImages(images(5), np.arange(5), "cpu", CIFAR_MEAN, CIFAR_STD, pad=2)
    assert [len(y) for _, y in small.train_epoch(8, 0, 0, drop_last=False)] == [5]


# ------------------------------------------------------------------------------------------- in the recipe
TINY = {**VISION_PARAMS, "model": "airbench_small", "augment": "flip_translate", "opt": "sgd", "lr": 0.05,
        "epochs": 2, "batch_size": 32, "ema": True, "ema_decay": 0.9, "workers": 0, "img_size": 16, "tta": "flip"}


def image_frame(cifar, n: int = 64) -> tuple[pd.DataFrame, np.ndarray]:
    labels = pd.read_csv(cifar / "trainLabels.csv").iloc[:n]
    X = pd.DataFrame({"image_path": [str(cifar / "train" / f"{i}.png") for i in labels["id"]]})
    return X, pd.Categorical(labels["label"]).codes.astype(int)


@pytest.fixture(scope="module")
def cifar(demos):
    return demos("cifar10")


def fit(cifar, tmp_path, name: str, **settings) -> tuple[VisionModel, np.ndarray]:
    X, y = image_frame(cifar)
    ctx = ModelContext("multiclass", "accuracy", 10, 0, None, tmp_path / name, 1)
    model = VisionModel({**TINY, **settings}, ctx).fit(X.iloc[:48], y[:48], valid=(X.iloc[48:], y[48:]))
    return model, model.predict(X.iloc[48:])


def test_the_recipe_on_the_resident_path_is_seeded_and_learns_the_same_schedule(cifar, tmp_path):
    a, pa = fit(cifar, tmp_path, "a", data_path="resident", cutout=4)
    b, pb = fit(cifar, tmp_path, "b", data_path="resident", cutout=4)
    assert a.resident_ and b.resident_
    np.testing.assert_array_equal(pa, pb)  # same seed, same device: the same probabilities
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    c, pc = fit(cifar, tmp_path, "c", data_path="loader")
    assert not c.resident_ and len(c.history_) == len(a.history_)  # same epochs and batches, other draws
    assert pa.shape == pc.shape == (16, 10) and np.allclose(pa.sum(1), 1)
    assert "valid_accuracy_ema" in a.history_[0]  # the held-out images are scored from their resident tensor


def test_auto_is_resident_where_the_preset_allows_and_loader_elsewhere(cifar, tmp_path):
    model = VisionModel({**TINY, "augment": "natural"}, ModelContext("multiclass", "accuracy", 10, 0, None,
                                                                     tmp_path, 1))
    model.img_size_ = 16
    X, _ = image_frame(cifar, 8)
    assert not model._use_resident(X["image_path"].tolist())
    model.params["augment"] = "flip_translate"
    assert model._use_resident(X["image_path"].tolist())
    model.params["cache_images"] = "off"  # the images may not be kept in memory: the loader decodes per batch
    assert not model._use_resident(X["image_path"].tolist())


def test_the_resident_path_refuses_a_preset_it_cannot_make(cifar, tmp_path):
    X, y = image_frame(cifar, 16)
    ctx = ModelContext("multiclass", "accuracy", 10, 0, None, tmp_path, 1)
    with pytest.raises(UserError, match="data_path=resident: augment 'natural' holds RandomResizedCrop, ColorJitter"):
        VisionModel({**TINY, "augment": "natural", "data_path": "resident"}, ctx).fit(X, y)


def test_a_library_preset_stays_resident_in_another_process_and_a_replaced_one_does_not():
    """A competition's augmentations reach a parallel fold's process as a copy (pickled): the library's presets in
    it are still the library's (the resident path), while a preset of its own under a library name is not."""
    import pickle

    from competitions.cifar10.pipeline import AUGMENTATIONS
    from shared.vision import resident

    copy = pickle.loads(pickle.dumps(AUGMENTATIONS))
    assert resident.mirror("flip_translate", 32, copy) == (2, True) and resident.mirror("flip", 32, copy) == (0, True)
    assert isinstance(resident.mirror("d2l_cifar", 32, copy), str)  # made per image by the loader
    own = {**copy, "flip": (lambda size: [], (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}
    assert "not an order the resident path mirrors" in resident.mirror("flip", 32, own)
