"""The detection submission: a COCO results list in ``answer.json`` inside a zip, checked before it is
written — every image of the list present at least in the file's image set, original ids, known
categories, finite boxes of positive size inside their image, scores in [0, 1]."""
from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pandas as pd

from shared.errors import UserError
from shared.io import atomic_write


def check(detections: list[dict], images: pd.DataFrame, categories: dict[int, str],
          sizes: dict[int, tuple[int, int]] | None = None, where: str = "answer.json") -> None:
    """Raise one clear line for the first problem: an unknown image or category, a box that is not finite,
    of non-positive size or outside its image (``sizes``: id -> (width, height)), a score outside [0, 1]."""
    ids = set(images["id"])
    for n, d in enumerate(detections):
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in d:
                raise UserError(f"{where}: detection {n} has no {key!r}.")
        if d["image_id"] not in ids:
            raise UserError(f"{where}: detection {n} is of image id {d['image_id']}, which the image list lacks.")
        if d["category_id"] not in categories:
            raise UserError(f"{where}: detection {n} has category id {d['category_id']}, not one of "
                            f"{sorted(categories)}.")
        box = d["bbox"]
        if len(box) != 4 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
            raise UserError(f"{where}: detection {n} has bbox {box}; expected four finite numbers [x, y, w, h].")
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: detection {n} has a box of width {w} and height {h}; both must be positive.")
        if sizes is not None and d["image_id"] in sizes:
            W, H = sizes[d["image_id"]]
            if x < -0.5 or y < -0.5 or x + w > W + 0.5 or y + h > H + 0.5:
                raise UserError(f"{where}: detection {n} box {box} reaches outside its {W}x{H} image "
                                f"{d['image_id']}.")
        if not (isinstance(d["score"], (int, float)) and 0 <= d["score"] <= 1):
            raise UserError(f"{where}: detection {n} has score {d['score']}; scores are in [0, 1].")


def write(path: Path, detections: list[dict], images: pd.DataFrame, categories: dict[int, str],
          sizes: dict[int, tuple[int, int]] | None = None) -> Path:
    """Check, then write ``answer.json`` inside the zip ``path`` (atomically). Ids are written as the exact
    integers they are, however large."""
    check(detections, images, categories, sizes)
    rows = [{"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
             "bbox": [round(float(v), 2) for v in d["bbox"]], "score": round(float(d["score"]), 5)}
            for d in detections]
    text = json.dumps(rows)

    def _zip(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("answer.json", text)
    return atomic_write(path, _zip)


def read(path: Path) -> list[dict]:
    """The detections of a submission: a zip holding answer.json, or a bare json file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist.")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                if "answer.json" not in z.namelist():
                    raise UserError(f"{path} holds {z.namelist()[:3]} but no answer.json.")
                return json.loads(z.read("answer.json"))
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: answer.json is not valid JSON ({exc.msg}).") from None
