"""COCO data for detection: reading a COCO json and an ``id,file_name`` list with checks, keeping the
original image ids exactly (Python ints: real ids exceed int64), contiguous indices only where a library
needs them, and COCO evaluation through pycocotools on remapped ids.

Handling of bad input (each tested):
- an annotation with zero or negative width or height: dropped, with one warning line counting them;
- a box that is not four finite numbers (NaN, text, three values): an error naming its annotation;
- a category id listed twice, an entry lacking a field that is read: an error naming it;
- a box reaching outside its image: clipped to the image (dropped when nothing is left);
- an annotation of an unknown category, or of an image the json does not list: an error naming it;
- an image listed but missing from the image folder: an error naming its id and file;
- an id that does not fit int64: kept exactly (ids never pass through numpy integer arrays).
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, show
from shared.io import inside


@dataclass
class Coco:
    """``images``: id (Python int), file_name, width, height; ``annotations``: image_id, category_id, bbox
    ``[x, y, w, h]`` (floats), area, iscrowd; ``categories``: original id -> name, in file order."""

    images: pd.DataFrame
    annotations: pd.DataFrame
    categories: dict[int, str]

    @property
    def labels(self) -> dict[int, int]:
        """Original category id -> contiguous label 1..K (0 is the background in torchvision's detectors)."""
        return {cid: i + 1 for i, cid in enumerate(self.categories)}

    def to_json(self) -> dict:
        images = [{"id": int(r.id), "file_name": r.file_name, "width": int(r.width), "height": int(r.height)}
                  for r in self.images.itertuples()]
        annotations = [{"id": i + 1, "image_id": int(r.image_id), "category_id": int(r.category_id),
                        "bbox": [float(v) for v in r.bbox], "area": float(r.area), "iscrowd": int(r.iscrowd)}
                       for i, r in enumerate(self.annotations.itertuples())]
        return {"images": images, "annotations": annotations,
                "categories": [{"id": k, "name": v} for k, v in self.categories.items()]}

    def subset(self, image_ids) -> Coco:
        keep = {int(i) for i in image_ids}
        return Coco(self.images[self.images["id"].map(lambda i: i in keep)].reset_index(drop=True),
                    self.annotations[self.annotations["image_id"].map(lambda i: i in keep)].reset_index(drop=True),
                    dict(self.categories))


def _int_id(value, where: str) -> int:
    """An id as a Python int (exact at any size); text ids of digits are read as numbers."""
    if isinstance(value, bool) or value is None:
        raise UserError(f"{where}: id {show(value)} is not an integer id.")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    raise UserError(f"{where}: id {show(value)} is not an integer id.")


def read_coco(path: Path, categories: dict[int, str] | None = None) -> Coco:
    """Read and check a COCO json (``categories``, when given, is the competition's fixed set)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a COCO json file: pass the json file itself.")
    if not path.is_file():
        raise UserError(f"{path} does not exist; put the competition's files in the data folder.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(raw, dict) or not isinstance(raw.get(key), list):
            raise UserError(f"{path} has no {key!r} list; a COCO file has images, annotations and categories.")
    for key, fields in (("images", ("id", "file_name")), ("annotations", ("image_id", "category_id", "bbox")),
                        ("categories", ("id",))):
        _check_records(raw[key], key, fields, path)
    known = {}
    for c in raw["categories"]:
        cid = _int_id(c["id"], f"{path} categories")
        if cid in known:  # two names for one id: which one would the predictions mean?
            raise UserError(f"{path}: category id {cid} is listed more than once in 'categories'; keep one entry "
                            "per category (or use the competition's original file).")
        known[cid] = str(c.get("name", c["id"]))
    if categories is not None:
        unknown = sorted(set(known) - set(categories))
        if unknown:
            raise UserError(f"{path}: category id {unknown[0]} is not one of the competition's {sorted(categories)}.")
        known = {k: categories[k] for k in categories}
    images = pd.DataFrame({
        "id": pd.Series([_int_id(im["id"], f"{path} images") for im in raw["images"]], dtype=object),
        "file_name": [str(im["file_name"]) for im in raw["images"]],
        "width": [_size_of(im, "width", path) for im in raw["images"]],
        "height": [_size_of(im, "height", path) for im in raw["images"]],
    })
    dup = images["id"][images["id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: image id {dup.iloc[0]} is listed more than once.")
    size = {i: (w, h) for i, w, h in zip(images["id"], images["width"], images["height"])}
    rows, degenerate, clipped = [], 0, 0
    for ann in raw["annotations"]:
        image_id = _int_id(ann["image_id"], f"{path} annotation {ann.get('id')}")
        category = _int_id(ann["category_id"], f"{path} annotation {ann.get('id')}")
        if image_id not in size:
            raise UserError(f"{path}: annotation {ann.get('id')} is of image {image_id}, which 'images' does not list.")
        if category not in known:
            raise UserError(f"{path}: annotation {ann.get('id')} has category id {category}, not one of {sorted(known)}.")
        x, y, w, h = _box(ann, path)
        if w <= 0 or h <= 0:
            degenerate += 1
            continue
        W, H = size[image_id]
        if W > 0 and H > 0 and (x < 0 or y < 0 or x + w > W or y + h > H):
            x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
            clipped += 1
            if x1 - x0 <= 0 or y1 - y0 <= 0:
                continue
            x, y, w, h = x0, y0, x1 - x0, y1 - y0
        rows.append({"image_id": image_id, "category_id": category, "bbox": [x, y, w, h], "area": w * h,
                     "iscrowd": int(ann.get("iscrowd", 0))})
    if degenerate or clipped:
        warnings.warn(f"{path}: {degenerate} annotation(s) with zero or negative width or height dropped, "
                      f"{clipped} box(es) reaching outside their image clipped to it", stacklevel=2)
    annotations = pd.DataFrame(rows, columns=["image_id", "category_id", "bbox", "area", "iscrowd"])
    annotations["image_id"] = annotations["image_id"].astype(object)
    return Coco(images, annotations, known)


def _check_records(records: list, key: str, fields: tuple[str, ...], path: Path) -> None:
    """Every entry of a COCO list is an object with the fields read from it."""
    for i, record in enumerate(records):
        lacking = [f for f in fields if not isinstance(record, dict) or f not in record]
        if lacking:
            raise UserError(f"{path}: entry {i} of {key!r} lacks {lacking}; each of its entries has "
                            f"{list(fields)}.")


def _size_of(image: dict, key: str, path: Path) -> int:
    """An image's width or height (0: not given, read from the file)."""
    value = image.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise UserError(f"{path}: image {show(image['id'])} has {key} {show(value)}, which is not a size in pixels; "
                        "write a whole number or leave it out.")
    return int(value)


def _box(ann: dict, path: Path) -> tuple[float, float, float, float]:
    """An annotation's ``[x, y, w, h]``, four finite numbers (NaN or text is no box to drop or clip)."""
    box = ann["bbox"]
    ok = (isinstance(box, list) and len(box) == 4 and
          all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in box))
    if not ok:
        raise UserError(f"{path}: annotation {show(ann.get('id'))} of image {show(ann['image_id'])} has bbox "
                        f"{show(box)}, which is not four finite numbers [x, y, width, height]; fix the box or remove "
                        "the annotation.")
    return tuple(float(v) for v in box)


def read_image_list(path: Path, image_dir: Path) -> pd.DataFrame:
    """``id,file_name`` (valid.csv / test.csv) with ids as exact Python ints; every file must exist."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist; put the competition's files in the data folder.")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "file_name") if c not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks column(s) {missing}; expected id,file_name.")
    frame["id"] = pd.Series([_int_id(v, str(path)) for v in frame["id"]], dtype=object)
    dup = frame["id"][frame["id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: id {dup.iloc[0]} is listed more than once.")
    for image_id, name in zip(frame["id"], frame["file_name"]):
        if not inside(Path(image_dir), name, str(path)).is_file():
            raise UserError(f"{path} lists id {image_id} but its image {Path(image_dir) / name} does not exist; "
                            "restore the image or remove the row.")
    return frame[["id", "file_name"]]


# ------------------------------------------------------------------------------------------------ scoring
STATS = ["mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large"]


def evaluate(truth: Coco, detections: list[dict]) -> dict:
    """COCO box metrics through pycocotools: mAP@[.5:.95], AP50, AP75, by size, and AP per class (by name).
    Image and category ids are remapped to small ints first, so ids beyond int64 score exactly as small ones.
    Detections of images outside ``truth`` are an error; images without detections count as misses."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    image_index = {image_id: i + 1 for i, image_id in enumerate(truth.images["id"])}
    category_index = {cid: i + 1 for i, cid in enumerate(truth.categories)}
    gt = truth.to_json()
    for im in gt["images"]:
        im["id"] = image_index[im["id"]]
    for ann in gt["annotations"]:
        ann["image_id"], ann["category_id"] = image_index[ann["image_id"]], category_index[ann["category_id"]]
    gt["categories"] = [{"id": category_index[c["id"]], "name": c["name"]} for c in gt["categories"]]
    dets = []
    for d in detections:
        image_id = int(d["image_id"])
        if image_id not in image_index:
            raise UserError(f"a detection is of image id {image_id}, which is not among the images scored.")
        if int(d["category_id"]) not in category_index:
            raise UserError(f"a detection has category id {d['category_id']}, not one of {sorted(category_index)}.")
        dets.append({"image_id": image_index[image_id], "category_id": category_index[int(d["category_id"])],
                     "bbox": [float(v) for v in d["bbox"]], "score": float(d["score"])})
    names = {category_index[k]: v for k, v in truth.categories.items()}
    empty = {**dict.fromkeys(STATS, 0.0), "per_class_AP": {v: 0.0 for v in names.values()}}
    if not dets or not gt["annotations"]:
        return empty
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    out = {name: max(0.0, float(v)) for name, v in zip(STATS, ev.stats[:6])}
    precision = ev.eval["precision"]  # [iou, recall, class, area, max_dets]
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_class[names[cat]] = float(p[p > -1].mean()) if (p > -1).any() else None  # None: no true boxes
    out["per_class_AP"] = per_class
    return out
