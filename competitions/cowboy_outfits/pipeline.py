"""CowBoy Outfits' pipeline: the parts of training a Kaggler changes, as code. Edit here; nothing outside this
folder moves. The recipes in ``__init__.py`` set the numbers (learning rate, epochs, image side, ...); this file
sets the parts:

- ``net``: the detector, built once per fold (``p`` holds the recipe's resolved settings, e.g. ``p["model"]``,
  ``p["max_side"]``); in training it returns its losses, in evaluation its boxes (torchvision's convention);
- ``AUGMENTATIONS``: box-aware training augmentations by name (``--set augment=NAME`` picks one); each is a
  function giving albumentations steps, applied to the image and its COCO boxes together (boxes cut below
  ``min_visibility`` of their area are dropped).

An epoch (``shared.vision.training.Stepper.epoch``): images drawn with repeat-factor sampling for the rare belt, the
detector's summed losses, backward, optimizer step, schedule step, EMA update when on
(``shared.detection.model.DetectionModel.fit`` composes it); test-time flips merged by Weighted Boxes Fusion.
"""
from __future__ import annotations

from torch import nn

from shared.detection.model import AUGMENTATIONS as LIBRARY_AUGMENTATIONS
from shared.detection.model import DetectionParts, default_net


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's torchvision detector (Faster R-CNN MobileNetV3 or ResNet-50-FPN v2), ``n_classes`` + background."""
    return default_net(p, n_classes)


# none, flip, flip_scale (flip, scale/shift, colour) are the library's.
AUGMENTATIONS = {**LIBRARY_AUGMENTATIONS}

PARTS = DetectionParts(net=net, augmentations=AUGMENTATIONS)
