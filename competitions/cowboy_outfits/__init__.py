"""The D2L course's "CowBoy Outfits Detection": boxes of five outfit classes, scored by COCO mAP.

Layout: ``images/<hex>.jpg``; ``train.json`` (COCO: images, annotations with ``bbox = [x, y, w, h]``,
categories {87 belt, 1034 sunglasses, 131 boot, 318 cowboy_hat, 588 jacket}); ``valid.csv`` and ``test.csv``
(``id,file_name``: the images to predict; ``--set predict=valid`` for the former). Image ids are 64-bit and
some exceed int64: they are kept exact. The submission is ``answer.json`` (COCO results with the original ids)
inside ``submission.zip``.
"""
from __future__ import annotations

from competitions.cowboy_outfits import demo
from competitions.cowboy_outfits.pipeline import PARTS
from shared.detection.model import DETECTION_PARAMS
from shared.detection.task import DetectionSpec, detection_features
from shared.spec import Recipe

RECIPES = {
    "baseline": Recipe(
        "baseline", "the competition's sample-program style Faster R-CNN: ResNet-50-FPN v2, flips only, SGD, no TTA",
        detection_features, PARTS.model,
        model_params={**DETECTION_PARAMS, "model": "fasterrcnn_resnet50_fpn_v2", "pretrained": "auto",
                      "augment": "flip", "max_side": 800, "epochs": 12, "batch_size": 4, "lr": 0.01},
        ranges=PARTS.ranges(),
    ),
    "strong": Recipe(
        "strong", "Faster R-CNN ResNet-50-FPN v2 with scale/colour augmentation, repeat-factor sampling for the "
        "rare belt, EMA, flip TTA merged by Weighted Boxes Fusion",
        detection_features, PARTS.model,
        model_params={**DETECTION_PARAMS, "model": "fasterrcnn_resnet50_fpn_v2", "pretrained": "auto",
                      "augment": "flip_scale", "max_side": 800, "epochs": 16, "batch_size": 4, "lr": 0.01,
                      "repeat_threshold": 0.1, "ema": True, "tta": "hflip"},
        ranges=PARTS.ranges(),
    ),
    "mobile": Recipe(
        "mobile", "the strong recipe's augmentation, repeat-factor sampling and flip TTA on Faster R-CNN "
        "MobileNetV3-Large-FPN at 320 px, without EMA: minutes on a CPU",
        detection_features, PARTS.model,
        model_params={**DETECTION_PARAMS, "model": "fasterrcnn_mobilenet_v3_large_fpn", "pretrained": "auto",
                      "augment": "flip_scale", "max_side": 320, "epochs": 12, "batch_size": 4, "lr": 0.02,
                      "proposals": 300, "roi_batch": 64, "repeat_threshold": 0.1, "tta": "hflip"},
        ranges=PARTS.ranges(),
    ),
}

SPEC = DetectionSpec(
    name="cowboy_outfits",
    slug="cowboyoutfits",
    title="CowBoy Outfits Detection",
    metric_name="map",
    id_col="id",
    target_col="annotations",
    task="detection",
    train_file="train.json",
    test_file="test.csv",
    sample_submission_file="",
    solution_file="solution_test.json",
    fold_kind="kfold",  # one row per image: k-fold over images keeps every image's boxes in one fold
    recipes=RECIPES,
    default_recipe="mobile",
    make_demo=demo.build,
    categories=dict(demo.CATEGORIES),
    submit_note="CowBoy Outfits is scored off Kaggle (its API takes no submission for it): upload the zip where "
                "the competition's page, https://www.kaggle.com/competitions/cowboyoutfits, says.",
)
