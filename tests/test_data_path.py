"""One data path, or two that agree: the preset's own transforms decide whether the resident path makes it (an edited
``flip`` goes to the loader, which applies it, and the log says so); random erasing and cutout on both paths,
RandAugment / TrivialAugment on the loader, each seeded per image and resumed exactly; a progress line inside a
long epoch; and a download's text kept off stdout."""
from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_cli

from shared.errors import UserError
from shared.runner import ModelContext
from shared.vision import augment, resident, training
from shared.vision.augment import CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, PRESETS
from shared.vision.data import ImageDataset
from shared.vision.train import VISION_PARAMS, VisionModel, VisionParts

TINY = {**VISION_PARAMS, "model": "airbench_small", "opt": "sgd", "lr": 0.05, "epochs": 1, "batch_size": 16,
        "workers": 0, "img_size": 16, "augment": "flip"}


@pytest.fixture(scope="module")
def cifar(demos):
    return demos("cifar10")


def frame(cifar, n: int = 48) -> tuple[pd.DataFrame, np.ndarray]:
    labels = pd.read_csv(cifar / "trainLabels.csv").iloc[:n]
    X = pd.DataFrame({"image_path": [str(cifar / "train" / f"{i}.png") for i in labels["id"]]})
    return X, pd.Categorical(labels["label"]).codes.astype(int)


def fit(cifar, workdir: Path, parts: VisionParts | None = None, resume: bool = False, **settings) -> VisionModel:
    X, y = frame(cifar)
    ctx = ModelContext("multiclass", "accuracy", 10, 0, None, workdir, 1, resume)
    return VisionModel({**TINY, **settings}, ctx, parts).fit(X.iloc[:32], y[:32], valid=(X.iloc[32:], y[32:]))


def black_flip(size: int) -> list:
    """The library's flip with a CoarseDropout that paints the whole image black, as a user might add one."""
    return [A.Resize(size, size), A.HorizontalFlip(),
            A.CoarseDropout(num_holes_range=(1, 1), hole_height_range=(size, size), hole_width_range=(size, size),
                            fill=0, p=1.0)]


EDITED = VisionParts(augmentations={**PRESETS, "flip": (black_flip, IMAGENET_MEAN, IMAGENET_STD)})


# ------------------------------------------------------------------------------------------- which path
def test_an_edited_flip_goes_to_the_loader_path_is_applied_and_the_log_says_why(cifar, tmp_path, monkeypatch,
                                                                               log_lines):
    plain = fit(cifar, tmp_path / "plain")  # the library's flip: made on the device
    assert plain.resident_ and plain.mirror_ == (0, True)
    assert "data path: resident (augment 'flip' made on the device, images held as one tensor)" in log_lines
    loader = fit(cifar, tmp_path / "loader", data_path="loader")  # the same path and draws, without the black
    assert "data path: loader (data_path=loader)" in log_lines
    monkeypatch.setitem(augment.PRESETS, "flip", EDITED.augmentations["flip"])  # the library's _flip edited
    edited = fit(cifar, tmp_path / "edited")
    assert not edited.resident_
    assert ("data path: loader (augment 'flip' holds CoarseDropout, which only the loader path makes)"
            in log_lines)
    assert edited.history_[0]["train_loss"] != loader.history_[0]["train_loss"]  # the black images were trained on
    with pytest.raises(UserError, match=r"^--set data_path=resident: augment 'flip' holds CoarseDropout, which only "
                                        r"the loader path makes; --set data_path=loader \(or auto\) applies it\.$"):
        fit(cifar, tmp_path / "refused", EDITED, data_path="resident")


def test_the_preset_s_transforms_decide_whatever_its_name():
    def presets(make):
        return {"mine": (make, CIFAR_MEAN, CIFAR_STD)}

    assert resident.mirror("mine", 32, presets(lambda s: [A.Resize(s, s), A.HorizontalFlip()])) == (0, True)
    assert resident.mirror("mine", 32, presets(lambda s: [A.Resize(s, s)])) == (0, False)
    translate = resident.made_here(32, 4, False)  # a 4-px translation without flips: the resident path does it
    assert resident.mirror("mine", 32, presets(lambda s: translate)) == (4, False)
    assert resident.mirror("flip_translate", 32, PRESETS) == (2, True)
    assert resident.mirror("mine", 32, presets(lambda s: [A.Resize(s, s), A.HorizontalFlip(p=1.0)])) == (
        "augment 'mine' sets HorizontalFlip(p=1.0), which only the loader path makes (the resident path mirrors "
        "the default arguments)")
    assert "not an order" in resident.mirror("mine", 32, presets(lambda s: [A.HorizontalFlip(), A.Resize(s, s)]))
    assert resident.mirror("natural", 32, PRESETS).startswith("augment 'natural' holds RandomResizedCrop, ColorJitter")


# --------------------------------------------------------------------------------- erasing, cutout, auto
def items(transform, epoch: int = 0, n: int = 6, seed: int = 3) -> torch.Tensor:
    raw = [np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8) for i in range(n)]
    dataset = ImageDataset([f"{i}.png" for i in range(n)], np.arange(n), transform, seed=seed)
    dataset.images, dataset.epoch = raw, epoch
    return torch.stack([dataset[i][0] for i in range(n)])


def test_the_extras_off_leave_today_s_pipeline_and_on_are_seeded_per_image():
    plain, _ = augment.pipelines("flip", 16)
    assert isinstance(plain, A.Compose)  # nothing asked: the albumentations pipeline as before
    made = {name: augment.pipelines("flip", 16, **kw)[0] for name, kw in
            {"erase": {"erase": 1.0}, "cutout": {"cutout": 6}, "rand": {"auto_augment": "randaugment"},
             "trivial": {"auto_augment": "trivialaugment"}}.items()}
    base = items(plain)
    for name, transform in made.items():
        state = torch.get_rng_state()
        first = items(transform)
        assert torch.equal(torch.get_rng_state(), state), name  # torch's global stream is left as it was
        assert torch.equal(first, items(transform)), name  # same seed, epoch and index: the same image
        assert not torch.equal(first, base), name
        assert not torch.equal(first, items(transform, epoch=1)), name  # the next epoch draws anew
    blank = (items(made["cutout"]) == 0).all(dim=1)  # (N, H, W): pixels set to the mean
    assert ((blank.flatten(1).sum(1) <= 36) & (blank.flatten(1).sum(1) >= 9)).all()  # a 6x6 square, clipped
    erased = (items(made["erase"]) == 0).all(dim=1).flatten(1).sum(1)
    assert ((erased >= 4) & (erased <= 256 // 3 + 16)).all()  # every image: a rectangle of 2-33 % of 16x16
    magnitudes = [items(augment.pipelines("flip", 16, auto_augment="randaugment", magnitude=m)[0]) for m in (0, 30)]
    assert not torch.equal(*magnitudes)


def test_erase_boxes_follow_timm_s_area_and_probability():
    draws = torch.rand(4000, 5, generator=torch.Generator().manual_seed(0)).tolist()
    boxes = np.array([augment.erase_box(u, 0.25, 32, 32) for u in draws])
    on = boxes[:, 2] > 0
    assert abs(on.mean() - 0.25) < 0.03
    area = boxes[on, 2] * boxes[on, 3] / 1024
    assert area.min() >= 0.01 and area.max() <= 0.36 and 0.1 < area.mean() < 0.2  # 2-33 %, clipped and rounded
    inside = (boxes[:, 0] >= 0) & (boxes[:, 0] + boxes[:, 2] <= 32) & (boxes[:, 1] >= 0) & (boxes[:, 1] + boxes[:, 3] <= 32)
    assert inside.all() and not any(augment.erase_box(u, 0.0, 32, 32)[2] for u in draws)


def test_the_resident_path_erases_as_the_loader_does():
    raw = np.random.default_rng(0).integers(1, 256, (40, 16, 16, 3), dtype=np.uint8)
    data = resident.ResidentImages(raw, np.arange(40) % 10, "cpu", CIFAR_MEAN, CIFAR_STD, pad=2)
    plain = torch.cat([x for x, _ in data.train_epoch(8, 5, 0)])
    assert torch.equal(plain, torch.cat([x for x, _ in data.train_epoch(8, 5, 0, erase=0.0)]))
    erased = torch.cat([x for x, _ in data.train_epoch(8, 5, 0, erase=1.0)])
    assert torch.equal(erased, torch.cat([x for x, _ in data.train_epoch(8, 5, 0, erase=1.0)]))
    changed = (plain != erased).any(dim=1)
    assert (erased.permute(0, 2, 3, 1)[changed] == 0).all()  # set to the mean, 0 once normalised
    assert ((changed.flatten(1).sum(1) >= 4) & (changed.flatten(1).sum(1) <= 256 // 3 + 16)).all()


def test_auto_augment_forces_the_loader_path_and_data_path_resident_refuses_it(cifar, tmp_path, log_lines):
    X, y = frame(cifar, 8)
    ctx = ModelContext("multiclass", "accuracy", 10, 0, None, tmp_path, 1)
    with pytest.raises(UserError, match=r"^--set data_path=resident: auto_augment=trivialaugment is made per image "
                                        r"by the loader path; --set data_path=loader \(or auto\) applies it\.$"):
        VisionModel({**TINY, "auto_augment": "trivialaugment", "data_path": "resident"}, ctx).fit(X, y)
    model = VisionModel({**TINY, "auto_augment": "randaugment"}, ctx)
    model.img_size_ = 16
    assert model._use_resident(X["image_path"].tolist()) is None
    assert log_lines[-1] == "data path: loader (auto_augment=randaugment is made per image by the loader path)"


@pytest.mark.parametrize("path, extras", [("loader", {"erase": 0.5, "cutout": 6, "auto_augment": "randaugment"}),
                                          ("resident", {"erase": 0.5, "cutout": 6})])
def test_the_extras_resume_exactly(cifar, tmp_path, monkeypatch, path, extras):
    straight = fit(cifar, tmp_path / "straight", epochs=2, data_path=path, **extras)
    plain = fit(cifar, tmp_path / "plain", epochs=2, data_path=path)
    assert straight.history_[0]["train_loss"] != plain.history_[0]["train_loss"]  # the extras change what trains
    end_epoch = training.Trainer._end_epoch

    def killed_after_the_first(self, stepper, row, *args):
        state = end_epoch(self, stepper, row, *args)
        if row["epoch"] == 1:
            raise KeyboardInterrupt
        return state
    monkeypatch.setattr(training.Trainer, "_end_epoch", killed_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        fit(cifar, tmp_path / "resumed", epochs=2, data_path=path, **extras)
    monkeypatch.setattr(training.Trainer, "_end_epoch", end_epoch)
    resumed = fit(cifar, tmp_path / "resumed", resume=True, epochs=2, data_path=path, **extras)
    assert [h["train_loss"] for h in resumed.history_] == [h["train_loss"] for h in straight.history_]
    for a, b in zip(resumed.net_.state_dict().values(), straight.net_.state_dict().values()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------- the log
def test_a_long_epoch_writes_progress_lines(cifar, tmp_path, monkeypatch, log_lines):
    monkeypatch.setattr(training, "PROGRESS_SECONDS", 0.0)  # a line at every batch
    fit(cifar, tmp_path, data_path="loader")
    lines = [line for line in log_lines if ": batch " in line]
    assert len(lines) == 2, lines  # 32 images, batches of 16
    assert re.fullmatch(r"epoch 1/1: batch 1/2, train loss \d+\.\d{4}, \d+ img/s, epoch ETA \S+", lines[0])
    assert lines[1].startswith("epoch 1/1: batch 2/2, ")


# ------------------------------------------------------------------------------------------- stdout
def test_a_weights_download_s_text_goes_to_stderr(monkeypatch, capsys):
    import timm

    from shared.vision import nets

    create = timm.create_model

    def downloading(*args, **kwargs):
        print('Downloading: "https://example.org/w.pth" to /cache/w.pth')  # as torch.hub writes it
        return create(*args, **{**kwargs, "pretrained": False})
    monkeypatch.setattr(timm, "create_model", downloading)
    monkeypatch.setattr(nets, "hub_reachable", lambda: True)
    nets.create("resnet18", 3, "true")
    out, err = capsys.readouterr()
    assert out == "" and "Downloading:" in err


class PrintingApi:
    """A Kaggle client that prints as the real one does while it 'downloads' a local archive."""

    def __init__(self, archive: Path):
        self.archive = archive

    def competition_download_files(self, competition, path=None, quiet=True, **_):
        print(f"Downloading {competition}.zip to {path}")
        shutil.copy(self.archive, Path(path) / f"{competition}.zip")


def test_download_s_stdout_is_the_data_folder_alone(demo_dir, tmp_path, monkeypatch):
    from shared import kaggle_io

    archive = tmp_path / "hp.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(demo_dir.rglob("*")):
            if p.is_file():
                z.write(p, str(p.relative_to(demo_dir)))
    monkeypatch.setattr(kaggle_io, "connect", lambda: PrintingApi(archive))
    rc, out, err = run_cli("download", "house_prices", "--out", tmp_path / "data")
    assert rc == 0 and out.splitlines() == [str(tmp_path / "data")]
    assert "Downloading " in err  # the client's text, on stderr
