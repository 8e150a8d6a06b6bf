"""The detection submission: a COCO results list in ``answer.json`` inside a zip, checked before it is
written and before it is scored — a JSON list of objects, every image of the list present in the image set,
original ids as JSON integers, known categories, four finite numbers per box, of positive size inside their
image, scores in [0, 1]."""
from __future__ import annotations

import json
import math
import numbers
import zipfile
from pathlib import Path

import pandas as pd

from shared.errors import UserError
from shared.io import atomic_write


def check(detections: list[dict], images: pd.DataFrame, categories: dict[int, str],
          sizes: dict[int, tuple[int, int]] | None = None, where: str = "answer.json") -> None:
    """Raise one clear line for the first problem: not a list of objects, a missing field, an id that is not a
    JSON integer, an unknown image or category, a bbox that is not four finite numbers, of non-positive size or
    outside its image (``sizes``: id -> (width, height)), a score that is not a number in [0, 1]."""
    must_be_list(detections, where)
    ids = set(images["id"])
    for n, d in enumerate(detections):
        if not isinstance(d, dict):
            raise UserError(f"{where}: detection {n} is {_describe(d)}; each detection is an object "
                            f"{EXAMPLE}.")
        for key in ("image_id", "category_id", "bbox", "score"):
            if key not in d:
                raise UserError(f"{where}: detection {n} has no {key!r} (it has {sorted(d)[:6]}); each detection "
                                f"is an object {EXAMPLE}.")
        _integer(d, "image_id", n, where, "the image's id as listed in the image list")
        if d["image_id"] not in ids:
            raise UserError(f"{where}: detection {n} is of image id {d['image_id']}, which the image list lacks.")
        _integer(d, "category_id", n, where, f"one of the category ids {sorted(categories)}")
        if d["category_id"] not in categories:
            raise UserError(f"{where}: detection {n} has category id {d['category_id']}, not one of "
                            f"{sorted(categories)}.")
        box = d["bbox"]
        if not isinstance(box, (list, tuple)) or len(box) != 4:
            got = f"{len(box)} value(s)" if isinstance(box, (list, tuple)) else _kind(box)
            raise UserError(f"{where}: detection {n} has \"bbox\": {_short(box)} ({got}); expected four finite "
                            "numbers [x, y, w, h] (left, top, width, height in pixels).")
        for j, v in enumerate(box):
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise UserError(f"{where}: detection {n} has bbox {_short(box)} whose value {j} is {_describe(v)}; "
                                "expected four finite numbers [x, y, w, h].")
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: detection {n} has a box of width {w} and height {h}; both must be positive.")
        if sizes is not None and d["image_id"] in sizes:
            W, H = sizes[d["image_id"]]
            if x < -0.5 or y < -0.5 or x + w > W + 0.5 or y + h > H + 0.5:
                raise UserError(f"{where}: detection {n} box {box} reaches outside its {W}x{H} image "
                                f"{d['image_id']}.")
        s = d["score"]
        if isinstance(s, bool) or not isinstance(s, numbers.Real):
            raise UserError(f"{where}: detection {n} has \"score\": {_short(s)} ({_kind(s)}); expected a JSON number "
                            "in [0, 1], the detection's confidence.")
        if not 0 <= s <= 1:
            raise UserError(f"{where}: detection {n} has score {s}; scores are in [0, 1] (the detection's "
                            "confidence).")


EXAMPLE = '{"image_id": 123, "category_id": 87, "bbox": [x, y, w, h], "score": 0.9}'


def must_be_list(detections, where: str) -> None:
    """A submission is a JSON list of detections; say what else it is (a COCO ground-truth object, say)."""
    if isinstance(detections, list):
        return
    if isinstance(detections, dict):
        coco = (" It looks like a COCO ground-truth file; the submission is the list of detections alone."
                if "annotations" in detections or "images" in detections else "")
        raise UserError(f"{where} holds a JSON object (keys {list(detections)[:5]}) where a list of detections is "
                        f"expected: [{EXAMPLE}, ...].{coco}")
    raise UserError(f"{where} holds {_describe(detections)} where a list of detections is "
                    f"expected: [{EXAMPLE}, ...].")


def _integer(d: dict, key: str, n: int, where: str, what: str) -> None:
    """Ids are JSON integers, exact at any size; the text "123" is refused (COCO scorers match numbers only)."""
    value = d[key]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return
    fix = ""
    if isinstance(value, str) and value.strip().isdigit():
        fix = f": write {value.strip()}, without quotes"
    elif isinstance(value, float) and value.is_integer():
        fix = f": write {int(value)}, without a decimal point (large ids lose digits as floats)"
    raise UserError(f"{where}: detection {n} has \"{key}\": {_short(value)} ({_kind(value)}); {key} must be a JSON "
                    f"integer, {what}{fix}.")


def _kind(value) -> str:
    """The JSON type of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a number" if math.isfinite(value) else "not a finite number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _describe(value) -> str:
    """``a string "2"``, ``a list [1, 2]``, ``null``: a value's JSON type and text, for messages."""
    return "null" if value is None else f"{_kind(value)} {_short(value)}"


def _short(value, limit: int = 60) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def write(path: Path, detections: list[dict], images: pd.DataFrame, categories: dict[int, str],
          sizes: dict[int, tuple[int, int]] | None = None) -> Path:
    """Check, then write ``answer.json`` inside the zip ``path`` (atomically). Ids are written as the exact
    integers they are, however large; boxes and scores unrounded (each float in its shortest exact form), so the
    file scores exactly what the run reports for it (rounding moves boxes across IoU thresholds and ties scores)."""
    check(detections, images, categories, sizes)
    rows = [{"image_id": int(d["image_id"]), "category_id": int(d["category_id"]),
             "bbox": [float(v) for v in d["bbox"]], "score": float(d["score"])} for d in detections]
    text = json.dumps(rows)

    def _zip(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("answer.json", text)
    return atomic_write(path, _zip)


def read(path: Path) -> list[dict]:
    """The detections of a submission: a zip holding answer.json, or a bare json file."""
    from shared.submission import require_file

    path = require_file(path, "the submission", ("submission.zip", "answer.json"))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "answer.json" not in names:
                nested = [n for n in names if n.rsplit("/", 1)[-1] == "answer.json"]
                if nested:
                    raise UserError(f"{path} holds {nested[0]!r}, not answer.json at the top of the zip; zip the "
                                    "file itself, not the folder it is in.")
                raise UserError(f"{path} holds {names[:3]} but no answer.json; the zip must hold answer.json.")
            raw, where = z.read("answer.json"), f"{path}: answer.json"
    else:
        raw, where = path.read_bytes(), str(path)
    try:
        detections = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = f"{exc.msg} at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise UserError(f"{where} is not valid JSON ({reason}); the submission is a zip holding answer.json, a "
                        f"JSON list of detections [{EXAMPLE}, ...].") from None
    must_be_list(detections, where)
    return detections
