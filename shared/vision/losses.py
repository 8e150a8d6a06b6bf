"""The classification losses the ``loss`` setting picks (``shared.vision.train.default_loss``): focal, binary
cross-entropy one-vs-rest and Poly-1, beside the cross-entropy of PyTorch and timm.

Each takes logits ``(batch, classes)`` and either integer targets ``(batch,)``, smoothed by ``smoothing`` (label
smoothing: the true class gets ``1 - smoothing + smoothing / classes``, every other ``smoothing / classes``), or soft
targets ``(batch, classes)`` of probabilities (timm's Mixup/CutMix, which has smoothed them already), used as they
are. Each returns the mean over the batch, computed in float32 whatever autocast made the logits."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "focal", "bce", "poly")  # the ``loss`` setting's choices; ce is PyTorch's / timm's cross-entropy


def soft_targets(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """``targets`` as class probabilities shaped like ``logits``: soft targets unchanged, integer ones one-hot with
    label smoothing."""
    if targets.shape == logits.shape:
        return targets.float()
    n_classes = logits.shape[-1]
    off = smoothing / n_classes
    probabilities = torch.full(logits.shape, off, dtype=torch.float32, device=logits.device)
    return probabilities.scatter_(1, targets.long().view(-1, 1), 1.0 - smoothing + off)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017), softmax form: ``-sum_c q_c (1 - p_c)^gamma log p_c``, averaged over the batch
    (``q``: the target probabilities). ``gamma=0`` is the cross-entropy; larger values weigh down the examples the
    net already gets right."""

    def __init__(self, gamma: float = 2.0, smoothing: float = 0.0):
        super().__init__()
        self.gamma, self.smoothing = gamma, smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1)
        weight = (1.0 - log_p.exp()).clamp_min(0.0) ** self.gamma
        return -(soft_targets(logits, targets, self.smoothing) * weight * log_p).sum(-1).mean()


class PolyLoss(nn.Module):
    """Poly-1 (Leng et al. 2022): the cross-entropy plus ``epsilon * (1 - p_t)``, ``p_t`` the probability the net
    gives the target (under soft targets, ``sum_c q_c p_c``). ``epsilon=0`` is the cross-entropy."""

    def __init__(self, epsilon: float = 1.0, smoothing: float = 0.0):
        super().__init__()
        self.epsilon, self.smoothing = epsilon, smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=-1)
        q = soft_targets(logits, targets, self.smoothing)
        p_t = (q * log_p.exp()).sum(-1)
        return (-(q * log_p).sum(-1) + self.epsilon * (1.0 - p_t)).mean()


class OneVsRestBCE(nn.Module):
    """Binary cross-entropy of each class against the rest (a sigmoid per class, as timm's ``BinaryCrossEntropy``
    with ``sum_classes=True``): the one-hot (or soft) targets, summed over the classes, averaged over the batch."""

    def __init__(self, smoothing: float = 0.0):
        super().__init__()
        self.smoothing = smoothing

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        q = soft_targets(logits, targets, self.smoothing)
        return F.binary_cross_entropy_with_logits(logits.float(), q, reduction="none").sum(-1).mean()


def make_loss(name: str, smoothing: float = 0.0, focal_gamma: float = 2.0, poly_epsilon: float = 1.0) -> nn.Module:
    """One of the losses above by its ``loss`` setting's name (``ce`` is not made here: PyTorch's and timm's)."""
    if name == "focal":
        return FocalLoss(focal_gamma, smoothing)
    if name == "poly":
        return PolyLoss(poly_epsilon, smoothing)
    if name == "bce":
        return OneVsRestBCE(smoothing)
    raise ValueError(f"no such loss {name!r}; the choices: {', '.join(LOSSES)}")
