"""Networks: any timm model by name (``timm.create_model``), with pretrained weights from the hub or
from a local file, an optional CIFAR stem for 32-px inputs, and ``airbench`` — a small fast CIFAR net in
the style of Keller Jordan's airbench (conv-pool-BN-GELU blocks, scaled logits)."""
from __future__ import annotations

import contextlib
import functools
import os
import socket
import sys
from pathlib import Path

import torch
from torch import nn

from shared.errors import UserError
from shared.readback import read_weights
from shared.vision import pip_weights


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.GELU()]


class AirbenchNet(nn.Module):
    """airbench94's layout: a 2x2 stem conv, three blocks of (conv, max-pool, conv) with BN + GELU at
    widths 64/256/256, global max-pool, a linear head whose logits are scaled by 1/9."""

    def __init__(self, num_classes: int, widths=(64, 256, 256), stem: int = 24):
        super().__init__()
        layers = [nn.Conv2d(3, stem, 2, padding=0, bias=False), nn.BatchNorm2d(stem), nn.GELU()]
        c = stem
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(w), nn.GELU(),
                       *_conv_bn(w, w)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, num_classes, bias=False)
        self.scale = 1 / 9  # as airbench: small logits keep high learning rates stable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(torch.amax(x, dim=(2, 3))) * self.scale


# airbench94's widths (GPU), and a 5x cheaper variant that also learns faster from a few thousand images (CPU demos).
AIRBENCH_WIDTHS = {"airbench": ((64, 256, 256), 24), "airbench_small": ((32, 64, 128), 16)}


def cifar_stem(model: nn.Module) -> nn.Module:
    """ResNet-style nets for 32-px inputs (as the D2L course's ResNet-18): a 3x3 stride-1 first conv and
    no max-pool, so the 32x32 image is not shrunk 4x before the first block."""
    if not (hasattr(model, "conv1") and hasattr(model, "maxpool")):
        raise UserError(f"--set cifar_stem=true needs a ResNet-style model (conv1 + maxpool); "
                        f"{type(model).__name__} has none.")
    out = model.conv1.out_channels
    model.conv1 = nn.Conv2d(3, out, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


_SCRATCH_WARNED: set[str] = set()  # pretrained=auto fell back to random weights: said once per model name


@functools.cache
def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all (checked once per process): offline, weights come from the cache."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def weights_source(model: str) -> str:
    """Where ``pretrained=auto`` would find ``model``'s ImageNet weights here, without loading them: ``pip:NAME``
    (an installed package), ``hub`` (reachable), ``cache`` (the hub's local cache holds them), or ``""``: nowhere,
    so the net would train from scratch."""
    if model in AIRBENCH_WIDTHS:
        return ""
    found = pip_weights.for_model(model)
    if found:
        return found
    if hub_reachable():
        return "hub"
    try:
        import huggingface_hub.constants as hub

        cache = Path(hub.HF_HUB_CACHE)
    except ImportError:
        return ""
    base = model.split(".")[0]  # resnet50d.ra2_in1k, or any of resnet50d's tags; not resnet50d for resnet50
    found = [d for pattern in (f"models--timm--{model}", f"models--timm--{base}.*") for d in cache.glob(pattern)]
    return "cache" if any(any((d / "snapshots").glob("*/*")) for d in found) else ""


def pretrained_mode(value) -> str:
    """``--set pretrained``: true | false | auto (booleans accepted)."""
    mode = str(value).lower()
    if mode not in ("true", "false", "auto"):
        raise UserError(f"--set pretrained={value!r}: choose true, false or auto.")
    return mode


def load_weights(model: nn.Module, weights: str, name: str, head: tuple[str, ...]) -> list[str]:
    """``--set weights=FILE`` into ``model`` (``name``): every tensor of its backbone (all but the ``head`` parts,
    e.g. the classifier) must come from the file, matched by name and shape; a file covering less holds another
    network's weights and is an error saying how many matched, never a silent start from scratch. A head part of
    another shape (another class count) starts fresh, said in the log; their names are returned. The file is read by
    ``shared.readback.read_weights``: nothing in it runs."""
    state, own = read_weights(weights), model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}

    backbone = [k for k in own if not pip_weights.part_of(k, head) and not k.endswith("num_batches_tracked")]  # a counter, not weights
    matched = sum(k in fits for k in backbone)
    if matched < len(backbone):
        raise UserError(f"--set weights={weights}: {matched} of the {len(backbone)} tensors of {name}'s backbone are in "
                        "it (by name and shape), so it holds another network's weights; pass weights saved from "
                        f"{name} (such as a run's fold0/last.pt of the same model), or drop --set weights.")
    fresh = [k for k in own if pip_weights.part_of(k, head) and k not in fits and not k.endswith("num_batches_tracked")]
    from shared.log import get_log

    get_log().info(f"weights: {weights}: {len(fits)} tensors into {name} by name" + (
        f"; {name}'s {', '.join(fresh)} start fresh (the file's are of another shape, e.g. another class count)"
        if fresh else ""))
    model.load_state_dict(fits, strict=False)
    return fresh


def no_weights(name: str, mode: str, exc: Exception) -> None:
    """Hub weights could not be had: an error for pretrained=true; for auto, said once, then from scratch."""
    if mode == "true":
        raise UserError(f"could not download pretrained weights for {name!r} ({type(exc).__name__}); "
                        "offline, pass --set weights=PATH, or --set pretrained=false.") from None
    if name not in _SCRATCH_WARNED:
        from shared.log import get_log

        _SCRATCH_WARNED.add(name)
        get_log().warning(f"pretrained=auto: no weights for {name!r} could be had ({type(exc).__name__}); "
                          "training from scratch. Online, or with --set weights=PATH (or an installed package's: "
                          f"{', '.join(pip_weights.PREFIX + k for k in pip_weights.SOURCES)}), it starts pretrained.")


def create(name: str, num_classes: int, pretrained: bool | str = False, weights: str = "", stem: bool = False,
           drop_rate: float = 0.0, drop_path: float = 0.0) -> nn.Module:
    """``pretrained``: true starts from ImageNet weights (an error when none can be had); ``auto`` when they can be
    had, else from scratch, saying so; false never. Sources, first found: an installed pip package whose weights fit
    the model (``pip_weights.for_model``: offline, nothing downloaded), then the hub (online, or its local cache).
    ``weights`` loads a local file (offline: a missing file is an error, never a silent random start), or with
    ``pip:NAME`` an installed package's (``shared.vision.pip_weights``). The classifier is resized to
    ``num_classes`` (a file's classifier of another class count starts fresh), and with ``stem`` the first conv is
    the CIFAR stem's (from the file where it fits, else fresh). A net that starts from pretrained weights gets a
    fresh classifier initialised small (``start_small``: the first logits near zero, the loss near ln(classes)), says
    where its weights came from as ``started_from`` and, for the hub's or a package's, carries their own input
    normalisation as ``pretrained_norm`` (mean, std)."""
    mode = pretrained_mode(pretrained)
    hub = False
    if name in AIRBENCH_WIDTHS:
        if drop_path:
            raise UserError(f"--set drop_path={drop_path}: {name} has no residual blocks to drop; --set drop_path=0.")
        widths, stem_width = AIRBENCH_WIDTHS[name]
        model = AirbenchNet(num_classes, widths, stem_width)
    else:
        import timm

        if not timm.is_model(name):
            raise UserError(f"--set model={name!r}: not a timm model name (see timm.list_models('*resnet*')).")
        installed = pip_weights.for_model(name) if not weights and mode != "false" else ""
        if installed:
            weights = installed
            from shared.log import get_log

            get_log().info(f"pretrained={mode}: {name}'s ImageNet weights from the installed package "
                           f"{pip_weights.source(weights).package} ({weights}; no download)")
        model, hub = _timm_model(name, num_classes, "false" if weights else mode, drop_rate, drop_path)
    model = cifar_stem(model) if stem else model
    classifier = _classifier(model)
    fresh = classifier if hub and num_classes != 1000 else []
    if weights:
        head = (*classifier, *(("conv1",) if stem else ()))
        load = pip_weights.load if pip_weights.is_pip(weights) else load_weights
        fresh = [k for k in load(model, weights, name, head) if not k.startswith("conv1")]
    if hub or weights:
        start_small(model, fresh)
        model.started_from = "hub" if hub else weights
        # the normalisation the weights were trained with: ImageNet's as timm states it (hub) or the package says;
        # a file's is not known (a run's last.pt was trained with its preset's), so the preset's stays
        cfg = getattr(model, "pretrained_cfg", None) or {}
        src = pip_weights.source(weights) if pip_weights.is_pip(weights) else None
        norm = (src.mean, src.std) if src else (cfg.get("mean"), cfg.get("std")) if hub else (None, None)
        model.pretrained_norm = (tuple(norm[0]), tuple(norm[1])) if norm[0] and norm[1] else None
    return model


def _timm_model(name: str, num_classes: int, mode: str, drop_rate: float, drop_path: float) -> tuple[nn.Module, bool]:
    """(timm's ``name``, whether it holds the hub's weights): offline only the local cache is tried, and ``auto``
    falls back to random weights, said once."""
    import timm

    def make(use: bool) -> nn.Module:
        kwargs = {"num_classes": num_classes, "drop_rate": drop_rate, **({"drop_path_rate": drop_path} if drop_path
                                                                           else {})}
        # a download's text (torch.hub writes "Downloading: ..." to stdout) goes to stderr: stdout is the result's
        with contextlib.redirect_stdout(sys.stderr):
            if not use or hub_reachable():
                return timm.create_model(name, pretrained=use, **kwargs)
            import huggingface_hub.constants as hub  # offline: the local cache only, no minute of retries

            before, hub.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE, True
            try:
                return timm.create_model(name, pretrained=True, **kwargs)
            finally:
                hub.HF_HUB_OFFLINE = before
    try:
        model = make(mode != "false")
    except TypeError as exc:  # a model without drop_path_rate
        if drop_path and "drop_path_rate" in str(exc):
            raise UserError(f"--set drop_path={drop_path}: {name} has no stochastic depth; --set drop_path=0.") from None
        raise
    except Exception as exc:  # no network, no cached file, or a hub error: each surfaces differently
        if mode == "false":
            raise
        no_weights(name, mode, exc)
        return make(False), False
    if mode != "false":
        from shared.log import get_log

        get_log().info(f"pretrained={mode}: {name}'s weights from the hub (or its local cache)")
    return model, mode != "false"


def _classifier(model: nn.Module) -> tuple[str, ...]:
    """The names of ``model``'s classifier modules: timm's ``pretrained_cfg['classifier']``, airbench's ``head``."""
    head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or "head"
    return (head,) if isinstance(head, str) else tuple(head)


HEAD_STD = 0.01  # a fresh classifier's weights on pretrained features: logits near zero, loss near ln(classes)


def start_small(model: nn.Module, fresh: list[str]) -> None:
    """Re-initialise the ``fresh`` classifier parts (names of modules or tensors) of a pretrained net small: weights
    from N(0, HEAD_STD), biases zero. Some timm inits (EfficientNet's, scaled by 1/sqrt(classes)) give logits of
    several units on pretrained features, so the first epochs only undo the head's start."""
    with torch.no_grad():
        for key, tensor in model.state_dict(keep_vars=True).items():
            if not pip_weights.part_of(key, fresh):
                continue
            if key.endswith("bias"):
                tensor.zero_()
            elif tensor.dim() >= 2:
                tensor.normal_(0.0, HEAD_STD)
