"""CUDA correctness of the image engine (marked ``gpu``; skipped without a CUDA device): one epoch of every image and
detection recipe in each precision (bf16, fp16 with the grad scaler, fp32), EMA and TTA on the device, the resident
path's seeding there, resume from a checkpoint on the device against an uninterrupted run, and the same weights
predicting the same on the CPU and the GPU.

    python -m pytest -m gpu tests/test_gpu.py                       # on a machine with a CUDA device
    GPU_TEST_DEVICE=cpu python -m pytest -m gpu tests/test_gpu.py   # the same tests on the CPU (checks the tests)

Tolerances (stated, not bit equality: CUDA kernels may sum in any order): a resumed fit's probabilities within
2e-3 of the uninterrupted fit's (cuDNN deterministic); CPU and GPU probabilities of the same weights within 1e-4 in
fp32 (TF32 off) and 3e-2 under bf16 autocast."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch

import competitions
from shared import runner
from shared.models import ModelContext
from shared.vision.train import VISION_PARAMS, VisionModel

DEVICE = os.environ.get("GPU_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(),
                                 reason="needs a CUDA device (GPU_TEST_DEVICE=cpu runs these tests on the CPU)")]
PRECISIONS = ["bf16", "fp16", "off"]
# Each recipe at a side and batch that keep one epoch on the tiny demos to seconds; everything else as the recipe.
IMAGE_RECIPES = {("cifar10", "fast"): {}, ("cifar10", "timm"): {}, ("cifar10", "baseline"): {},
                 ("classify_leaves", "baseline"): {"img_size": 64, "batch_size": 16},
                 ("classify_leaves", "timm"): {"img_size": 64, "batch_size": 16}}
DETECTION_RECIPES = {"mobile": {}, "baseline": {"max_side": 320}, "strong": {"max_side": 320}}


def one_epoch(demos, tmp_path, competition: str, recipe: str, settings: dict) -> tuple[dict, object]:
    spec = competitions.get(competition)
    off = False if isinstance(spec.recipes[recipe].model_params.get("pretrained"), bool) else "false"
    overrides = {"epochs": 1, "pretrained": off, "device": DEVICE, "min_updates": 0, "min_steps_per_epoch": 0,
                 **settings}
    if competition == "cowboy_outfits":
        overrides.pop("min_updates"), overrides.pop("min_steps_per_epoch")
    run_dir = runner.run(spec, recipe, demos(competition), n_folds=2, out_root=tmp_path, overrides=overrides)
    return json.loads((run_dir / "metrics.json").read_text()), run_dir


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("competition,recipe", list(IMAGE_RECIPES))
def test_one_epoch_of_every_image_recipe_in_each_precision(demos, tmp_path, competition, recipe, precision):
    metrics, run_dir = one_epoch(demos, tmp_path, competition, recipe,
                                 {**IMAGE_RECIPES[competition, recipe], "amp": precision})
    assert math.isfinite(metrics["cv"]) and 0 <= metrics["cv"] <= 1
    history = pd.read_csv(run_dir / "fold0" / "history.csv")
    assert np.isfinite(history["train_loss"]).all() and (history["train_img_s"] > 0).all()
    oof = pd.read_csv(run_dir / "oof.csv")
    probabilities = oof[[c for c in oof.columns if c.startswith("proba_")]].to_numpy()
    assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(1), 1, atol=1e-3)
    assert (run_dir / "submission.csv").is_file()


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("recipe", list(DETECTION_RECIPES))
def test_one_epoch_of_every_detection_recipe_in_each_precision(demos, tmp_path, recipe, precision):
    metrics, run_dir = one_epoch(demos, tmp_path, "cowboy_outfits", recipe,
                                 {**DETECTION_RECIPES[recipe], "amp": precision})
    assert math.isfinite(metrics["cv"]) and 0 <= metrics["cv"] <= 1
    history = pd.read_csv(run_dir / "fold0" / "history.csv")
    assert np.isfinite(history["train_loss"]).all()
    assert (run_dir / "submission.zip").is_file()


# ------------------------------------------------------------------------------------------ one model, in process
TINY = {**VISION_PARAMS, "model": "airbench_small", "augment": "flip_translate", "opt": "sgd", "lr": 0.05,
        "epochs": 3, "batch_size": 32, "ema": True, "ema_decay": 0.9, "workers": 0, "tta": "flip",
        "device": DEVICE}


def cifar_frame(cifar, n: int = 96):
    labels = pd.read_csv(cifar / "trainLabels.csv").iloc[:n]
    X = pd.DataFrame({"image_path": [str(cifar / "train" / f"{i}.png") for i in labels["id"]]})
    return X, pd.Categorical(labels["label"]).codes.astype(int)


def fit(cifar, workdir, resume: bool = False, **settings) -> VisionModel:
    X, y = cifar_frame(cifar)
    ctx = ModelContext("multiclass", "accuracy", 10, 0, None, workdir, 2, resume)
    return VisionModel({**TINY, **settings}, ctx).fit(X.iloc[:64], y[:64], valid=(X.iloc[64:], y[64:]))


@pytest.fixture(scope="module")
def cifar(demos):
    return demos("cifar10")


@pytest.fixture
def deterministic():
    """cuDNN's deterministic kernels for a test that compares two fits."""
    before = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("data_path", ["resident", "loader"])
def test_ema_and_tta_run_on_the_device(cifar, tmp_path, data_path):
    model = fit(cifar, tmp_path, data_path=data_path, epochs=1)
    assert next(model.net_.parameters()).device.type == torch.device(DEVICE).type  # the EMA's weights, on the device
    assert model.resident_ == (data_path == "resident")
    X, _ = cifar_frame(cifar)
    views = model.predict_variants(X.iloc[64:])
    assert set(views) == {"", "no_tta"} and not np.allclose(views[""], views["no_tta"])
    assert np.allclose(views[""].sum(1), 1, atol=1e-4)


def test_the_resident_path_on_the_device_is_seeded(cifar):
    from shared.vision.augment import CIFAR_MEAN, CIFAR_STD
    from shared.vision.resident import ResidentImages

    images = np.random.default_rng(0).integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    data = ResidentImages(images, np.arange(200) % 10, DEVICE, CIFAR_MEAN, CIFAR_STD, pad=2)
    assert data.images.device.type == torch.device(DEVICE).type
    a = torch.cat([x for x, _ in data.train_epoch(64, 3, 5, cutout=8)])
    b = torch.cat([x for x, _ in data.train_epoch(64, 3, 5, cutout=8)])
    assert torch.equal(a, b) and not torch.equal(a, torch.cat([x for x, _ in data.train_epoch(64, 3, 6)]))


class Stop(Exception):
    pass


def test_resume_from_a_checkpoint_on_the_device_equals_an_uninterrupted_fit(cifar, tmp_path, monkeypatch,
                                                                           deterministic):
    import shared.vision.training as training

    full = fit(cifar, tmp_path / "full")
    X, _ = cifar_frame(cifar)
    expected = full.predict(X.iloc[64:])
    line = training.epoch_line

    def stop_after_two(row, *args):  # the checkpoint of epoch 2 is written before its log line
        if row["epoch"] == 2:
            raise Stop
        return line(row, *args)

    monkeypatch.setattr(training, "epoch_line", stop_after_two)
    with pytest.raises(Stop):
        fit(cifar, tmp_path / "cut")
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    monkeypatch.setattr(training, "epoch_line", line)
    resumed = fit(cifar, tmp_path / "cut", resume=True)
    assert [round(h["train_loss"], 3) for h in resumed.history_] == [round(h["train_loss"], 3) for h in full.history_]
    np.testing.assert_allclose(resumed.predict(X.iloc[64:]), expected, atol=2e-3)


@pytest.mark.parametrize("precision,tolerance", [("off", 1e-4), ("bf16", 3e-2)])
def test_the_same_weights_predict_the_same_on_the_cpu_and_the_gpu(cifar, tmp_path, monkeypatch, precision, tolerance):
    if precision == "off":  # fp32 means fp32: no TF32 convolutions or matrix products (Ampere and later use them)
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    cpu = fit(cifar, tmp_path, device="cpu", epochs=1)
    X, _ = cifar_frame(cifar)
    on_cpu = cpu.predict(X.iloc[64:])
    cpu.net_ = cpu.net_.to(DEVICE)
    cpu.device_ = torch.device(DEVICE)
    cpu.params = {**cpu.params, "amp": precision, "channels_last": "auto"}
    np.testing.assert_allclose(cpu.predict(X.iloc[64:]), on_cpu, atol=tolerance)


def test_compile_trains_the_classification_net(cifar, tmp_path):
    model = fit(cifar, tmp_path, compile=True, epochs=1)
    X, _ = cifar_frame(cifar)
    probabilities = model.predict(X.iloc[64:])
    assert np.isfinite(model.history_[0]["train_loss"]) and np.allclose(probabilities.sum(1), 1, atol=1e-4)
