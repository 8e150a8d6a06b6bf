"""Kaggle "CIFAR-10 - Object Recognition in Images": 32x32 photos in 10 classes, scored by accuracy.

Layout: ``train/<id>.png`` with ``trainLabels.csv`` (``id,label``, class names), ``test/<id>.png`` for
every id of ``sampleSubmission.csv`` (300,000, of which 10,000 are scored), submission ``id,label``.
"""
from __future__ import annotations

import pandas as pd

from competitions.cifar10 import demo
from competitions.cifar10.pipeline import PARTS
from shared.spec import CompetitionSpec, Recipe
from shared.vision.train import VISION_PARAMS, image_features


def image_file(frame: pd.DataFrame, split: str) -> pd.Series:
    return split + "/" + frame["id"].astype(str) + ".png"


RECIPES = {
    "baseline": Recipe(
        "baseline", "the D2L course's ResNet-18 (CIFAR stem), resize-40 random crops + flips, SGD, step decay",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "resnet18", "cifar_stem": True, "augment": "d2l_cifar", "img_size": 32,
                      "opt": "momentum",  # SGD with momentum 0.9, as taught
                      # The course: lr 2e-4, weight decay 5e-4 on the *summed* batch loss (l.sum().backward()).
                      # On the mean loss used here the same updates are lr 2e-4 * 128 and weight decay 5e-4 / 128.
                      "lr": 2e-4 * 128, "weight_decay": 5e-4 / 128, "sched": "step", "decay_epochs": 4,
                      "decay_rate": 0.9,
                      "epochs": 20, "batch_size": 128,
                      "min_steps_per_epoch": 20, "min_updates": 500},  # small samples only (the demo)
        ranges=PARTS.ranges(),
    ),
    "fast": Recipe(
        "fast", "airbench-style: small conv net, flip + 2 px translations, label smoothing 0.2, EMA, flip TTA",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "airbench", "augment": "flip_translate", "img_size": 32,
                      "opt": "sgd",  # Nesterov SGD (timm's "sgd")
                      "lr": 0.2, "weight_decay": 5e-4, "sched": "cosine", "warmup_epochs": 1,
                      "label_smoothing": 0.2, "ema": True, "ema_decay": 0.99, "tta": "flip",
                      "epochs": 10, "batch_size": 512, "min_steps_per_epoch": 20,
                      "min_updates": 500},
        ranges=PARTS.ranges(),
    ),
    "timm": Recipe(
        "timm", "any timm backbone (--set model=NAME), natural-image augmentation, Mixup/CutMix, AdamW, EMA",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "resnet18", "cifar_stem": True, "augment": "flip_translate", "img_size": 32,
                      "opt": "adamw", "lr": 2e-3, "weight_decay": 0.05, "sched": "cosine", "warmup_epochs": 1,
                      "mixup": 0.2, "cutmix": 1.0, "label_smoothing": 0.1, "ema": True, "ema_decay": 0.998,
                      "tta": "flip", "epochs": 15, "batch_size": 128,
                      "min_steps_per_epoch": 20, "min_updates": 500},  # small samples only (the demo)
        ranges=PARTS.ranges(),
    ),
}

SPEC = CompetitionSpec(
    name="cifar10",
    slug="cifar-10",
    title="CIFAR-10 - Object Recognition in Images",
    metric_name="accuracy",
    id_col="id",
    target_col="label",
    task="multiclass",
    train_file="trainLabels.csv",
    test_file=None,
    sample_submission_file="sampleSubmission.csv",
    fold_kind="stratified",
    recipes=RECIPES,
    default_recipe="fast",
    image_path=image_file,
    layout_dirs=("train", "test"),  # from train.7z and test.7z
    make_demo=demo.build,
)
