"""CowBoy Outfits' pipeline: the parts of training a Kaggler changes, as code. Edit here; nothing outside this
folder moves. The recipes in ``__init__.py`` set the numbers (learning rate, epochs, image side, ...); this file
sets the parts:

- ``net``: the detector, built once per fold (``p`` holds the recipe's resolved settings, e.g. ``p["model"]``,
  ``p["max_side"]``); in training it returns its losses, in evaluation its boxes (torchvision's convention);
- ``train_epoch``: the loop over an epoch's batches (forward, the detector's losses, step);
- ``AUGMENTATIONS``: box-aware training augmentations by name (``--set augment=NAME`` picks one); each is a
  function giving albumentations steps, applied to the image and its COCO boxes together (boxes cut below
  ``min_visibility`` of their area are dropped).

The rest of a fold (``shared.detection.model.DetectionModel.fit``): optimizer, schedule, EMA when on, a checkpoint
each epoch; test-time flips merged by Weighted Boxes Fusion.
"""
from __future__ import annotations

from torch import nn

from shared.detection.model import AUGMENTATIONS as LIBRARY_AUGMENTATIONS
from shared.detection.model import DetectionParts, default_net
from shared.vision.training import Epoch


def net(p: dict, n_classes: int) -> nn.Module:
    """The recipe's torchvision detector (Faster R-CNN MobileNetV3 or ResNet-50-FPN v2), ``n_classes`` + background."""
    return default_net(p, n_classes)


def train_epoch(epoch: Epoch, net: nn.Module) -> None:
    """One epoch: each batch's images (repeat-factor sampled, so the rare belt comes round more often) and boxes."""
    for images, targets in epoch:  # lists of image tensors and of their boxes and labels, on the device
        with epoch.autocast():
            losses = net(images, targets)  # in training a torchvision detector returns its losses by name
        epoch.step(sum(losses.values()), len(images))  # weight one to change the balance, e.g. the box loss


# none, flip, flip_scale (flip, scale/shift, colour) are the library's.
AUGMENTATIONS = {**LIBRARY_AUGMENTATIONS}

PARTS = DetectionParts(net=net, train_epoch=train_epoch, augmentations=AUGMENTATIONS)
