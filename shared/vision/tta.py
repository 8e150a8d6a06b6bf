"""Test-time augmentation: extra views of each decoded batch, made on the device from the batch tensor (an
image is decoded once however many views it gets), with the class probabilities merged by mean of
probabilities or of logits. ``--set tta=...`` takes a comma-separated list of views; the identity view is
always included.

Views: ``hflip``, ``vflip``, ``rot90``, ``rot180``, ``rot270``, ``scale<f>`` (e.g. ``scale0.875``,
``scale1.125``: resized by the factor; nets with global pooling take any size), ``fivecrop`` (four corners and
the centre at 87.5% of the side, each resized back to the full side: five views). Shorthands: ``none``,
``flip`` (= ``hflip``), ``dihedral`` (all eight flips and quarter turns)."""
from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F

from shared.errors import UserError, show

View = Callable[[torch.Tensor], torch.Tensor]
CROP = 0.875  # fivecrop: side of each crop, as a fraction of the image side
SCALES = (0.25, 4.0)  # scale<f>: the factors a view may resize by (4x: 16x the pixels of the batch, on the device)
MAX_VIEWS = 64  # views per image at most: each is a forward pass over the whole test set

_FIXED: dict[str, View] = {
    "hflip": lambda x: torch.flip(x, dims=[3]),
    "vflip": lambda x: torch.flip(x, dims=[2]),
    "rot90": lambda x: torch.rot90(x, 1, dims=(2, 3)),
    "rot180": lambda x: torch.rot90(x, 2, dims=(2, 3)),
    "rot270": lambda x: torch.rot90(x, 3, dims=(2, 3)),
    "transpose": lambda x: x.transpose(2, 3),
    "antitranspose": lambda x: torch.rot90(x, 2, dims=(2, 3)).transpose(2, 3),
}
SHORTHANDS = {"none": [], "flip": ["hflip"],
              "dihedral": ["hflip", "vflip", "rot90", "rot180", "rot270", "transpose", "antitranspose"]}
MERGES = ("probabilities", "logits")


def _scale(factor: float) -> View:
    def view(x: torch.Tensor) -> torch.Tensor:
        side = (max(8, round(x.shape[2] * factor)), max(8, round(x.shape[3] * factor)))
        return F.interpolate(x, size=side, mode="bilinear", align_corners=False, antialias=factor < 1)
    return view


def _crop(where: str) -> View:
    def view(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        ch, cw = round(h * CROP), round(w * CROP)
        top = {"tl": 0, "tr": 0, "bl": h - ch, "br": h - ch, "c": (h - ch) // 2}[where]
        left = {"tl": 0, "tr": w - cw, "bl": 0, "br": w - cw, "c": (w - cw) // 2}[where]
        crop = x[:, :, top:top + ch, left:left + cw]
        return F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)
    return view


def views(setting: str, extra: dict[str, View] | None = None) -> list[tuple[str, View]]:
    """The named views of a ``tta`` setting, identity first; ``extra``: a competition's own views by name. An
    unknown name is a one-line error."""
    extra = extra or {}
    names: list[str] = []
    for token in (t.strip() for t in str(setting).split(",") if t.strip()):
        for name in SHORTHANDS.get(token, [token]):
            if name not in names:
                names.append(name)
    out: list[tuple[str, View]] = [("identity", lambda x: x)]
    for name in names:
        if name in extra or name in _FIXED:
            out.append((name, extra.get(name) or _FIXED[name]))
        elif name == "fivecrop":
            out += [(f"crop_{w}", _crop(w)) for w in ("tl", "tr", "bl", "br", "c")]
        elif m := re.fullmatch(r"scale(\d+(?:\.\d+)?)", name):
            if not SCALES[0] <= float(m.group(1)) <= SCALES[1]:
                raise UserError(f"--set tta: view {show(name, limit=40)} resizes by {show(float(m.group(1)), limit=30)}; "
                                f"a scale view resizes by {SCALES[0]} to {SCALES[1]} (e.g. scale0.875, scale1.125).")
            out.append((name, _scale(float(m.group(1)))))
        elif name != "identity":
            raise UserError(f"--set tta: unknown view {name!r}; use a comma-separated list of "
                            f"{sorted([*extra, *_FIXED, 'fivecrop', 'scale<f>', *SHORTHANDS])}.")
    if len(out) > MAX_VIEWS:
        raise UserError(f"--set tta: {len(out)} views (the identity included), each a pass over the test images; "
                        f"use at most {MAX_VIEWS}.")
    return out


def predict_views(net: torch.nn.Module, xb: torch.Tensor, tta: list[tuple[str, View]], merge: str = "probabilities"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(merged class probabilities over all views, probabilities of the identity view alone) for one batch:
    one forward pass per view, no re-decoding. ``merge``: mean of probabilities, or softmax of mean logits."""
    if merge not in MERGES:
        raise UserError(f"--set tta_merge={merge!r}: choose one of {list(MERGES)}.")
    logits = [net(view(xb)).float() for _, view in tta]
    plain = logits[0].softmax(dim=1)
    if len(logits) == 1:
        return plain, plain
    if merge == "logits":
        return torch.stack(logits).mean(0).softmax(dim=1), plain
    return torch.stack([z.softmax(dim=1) for z in logits]).mean(0), plain
