"""A CowBoy Outfits Detection demo: COCO-format scenes in the competition's exact layout.

Backgrounds are real photos bundled with scikit-learn (``china.jpg``, ``flower.jpg``), cropped, flipped,
scaled and tinted differently for every image. On them are drawn objects of the five classes, each a distinct
shape (a sunglasses pair of dark lenses, a wide-brimmed hat, a jacket with sleeves, an L-shaped boot, a
buckled belt) in class-typical colours, at random sizes and positions, with the competition's imbalance: belt
is rare. Every object drawn is annotated, and an object hidden behind a later one is not.

Layout as the competition's: ``images/<hex>.jpg``, ``train.json`` (COCO: images, annotations with
``bbox = [x, y, w, h]``, categories {87 belt, 1034 sunglasses, 131 boot, 318 cowboy_hat, 588 jacket}),
``valid.csv`` and ``test.csv`` (``id,file_name``); image ids are 64-bit and some exceed 2**63 (as in the real
data), so they are kept as Python ints. The answers for the valid and test images are in ``solution_valid.json``
and ``solution_test.json`` (COCO ground truth) for local scoring. Everything is a function of ``seed``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from shared.io import write_csv, write_text

CATEGORIES = {87: "belt", 1034: "sunglasses", 131: "boot", 318: "cowboy_hat", 588: "jacket"}
# Share of annotations per class in the real train.json (belt 25, sunglasses 2330, cowboy_hat 595,
# boot 449, jacket 2195 of 5594).
SHARES = {87: 25, 1034: 2330, 131: 449, 318: 595, 588: 2195}
# (train images, valid images, test images, longest side in px)
SIZES = {"tiny": (40, 12, 12, 160), "small": (300, 60, 60, 320), "medium": (1000, 200, 200, 512),
         "full": (3062, 999, 999, 1024)}
MIN_SIDE = 12  # smallest drawn object (px)


def _background(side: int, rng: np.random.Generator) -> Image.Image:
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    photo = photos[int(rng.integers(len(photos)))]
    h, w = photo.shape[:2]
    ch, cw = int(h * rng.uniform(0.5, 1.0)), int(w * rng.uniform(0.5, 1.0))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = photo[top:top + ch, left:left + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    tint = rng.uniform(0.75, 1.2, 3)
    crop = np.clip(crop * tint, 0, 255).astype(np.uint8)
    aspect = rng.uniform(0.6, 1.0)
    size = (side, int(side * aspect)) if rng.random() < 0.6 else (int(side * aspect), side)
    return Image.fromarray(crop).resize(size, Image.BILINEAR)


def _draw(draw: ImageDraw.ImageDraw, category: int, x: float, y: float, w: float, h: float,
          rng: np.random.Generator) -> None:
    """One object filling the box (x, y, w, h)."""
    jitter = rng.integers(-25, 26, 3)

    def colour(base) -> tuple[int, int, int]:
        return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter))

    if category == 1034:  # sunglasses: two dark lenses and a bridge
        lens = colour((25, 25, 35))
        draw.ellipse([x, y, x + 0.44 * w, y + h], fill=lens)
        draw.ellipse([x + 0.56 * w, y, x + w, y + h], fill=lens)
        draw.line([x + 0.4 * w, y + 0.35 * h, x + 0.6 * w, y + 0.35 * h], fill=lens, width=max(1, int(h / 6)))
    elif category == 318:  # cowboy hat: a wide brim and a crown
        felt = colour((170, 120, 60))
        draw.ellipse([x, y + 0.55 * h, x + w, y + h], fill=felt)
        draw.polygon([(x + 0.25 * w, y + 0.75 * h), (x + 0.32 * w, y), (x + 0.68 * w, y), (x + 0.75 * w, y + 0.75 * h)],
                     fill=colour((140, 95, 45)))
    elif category == 588:  # jacket: a torso with sleeves and a zip
        cloth = colour((50, 80, 150))
        draw.polygon([(x + 0.25 * w, y), (x + 0.75 * w, y), (x + w, y + 0.15 * h), (x + w, y + 0.8 * h),
                      (x + 0.82 * w, y + 0.8 * h), (x + 0.8 * w, y + h), (x + 0.2 * w, y + h),
                      (x + 0.18 * w, y + 0.8 * h), (x, y + 0.8 * h), (x, y + 0.15 * h)], fill=cloth)
        draw.line([x + 0.5 * w, y, x + 0.5 * w, y + h], fill=colour((200, 200, 200)), width=max(1, int(w / 30)))
    elif category == 131:  # boot: an L shape with a heel
        leather = colour((90, 50, 25))
        draw.polygon([(x, y), (x + 0.45 * w, y), (x + 0.45 * w, y + 0.6 * h), (x + w, y + 0.7 * h),
                      (x + w, y + h), (x, y + h)], fill=leather)
        draw.rectangle([x, y + 0.88 * h, x + 0.3 * w, y + h], fill=colour((30, 20, 10)))
    else:  # belt: a long strap with a metal buckle
        strap = colour((110, 70, 30))
        draw.rectangle([x, y + 0.2 * h, x + w, y + 0.8 * h], fill=strap)
        draw.rectangle([x + 0.42 * w, y, x + 0.58 * w, y + h], outline=colour((210, 200, 120)),
                       width=max(1, int(h / 5)))


ASPECTS = {1034: (2.0, 3.2), 318: (1.4, 2.2), 588: (0.7, 1.0), 131: (0.6, 0.9), 87: (4.0, 7.0)}  # w / h


def scene(side: int, rng: np.random.Generator, categories: list[int]) -> tuple[Image.Image, list[dict]]:
    """A background with the given objects drawn in order; boxes of objects later ones hide are dropped."""
    image = _background(side, rng)
    W, H = image.size
    draw = ImageDraw.Draw(image)
    boxes = []
    for category in categories:
        aspect = rng.uniform(*ASPECTS[category])
        h = rng.uniform(0.08, 0.3) * min(W, H)
        w = min(h * aspect, 0.9 * W)
        h = max(MIN_SIDE, w / aspect)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        _draw(draw, category, x, y, w, h, rng)
        boxes.append({"category_id": category, "bbox": [x, y, w, h]})
    kept = []
    for i, box in enumerate(boxes):  # visible: at most 60% of it covered by any one later object
        x, y, w, h = box["bbox"]
        covered = max((_overlap(box["bbox"], later["bbox"]) for later in boxes[i + 1:]), default=0.0)
        if covered <= 0.6 * w * h:
            kept.append({"category_id": box["category_id"], "bbox": [round(v, 2) for v in (x, y, w, h)]})
    return image, kept


def _overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))


def _ids(n: int, rng: np.random.Generator) -> list[int]:
    """Distinct 64-bit ids, a third of them above 2**63 (beyond int64, as some real ones are)."""
    out: set[int] = set()
    while len(out) < n:
        value = int(rng.integers(0, 2**63, dtype=np.int64))
        out.add(value + 2**63 if rng.random() < 1 / 3 else value)
    return sorted(out, key=lambda _: rng.random())


def _coco(images: list[dict], annotations: list[dict]) -> dict:
    return {"images": images, "annotations": annotations,
            "categories": [{"id": k, "name": v, "supercategory": "outfit"} for k, v in CATEGORIES.items()]}


def build(out_dir: Path, size: str = "small", seed: int = 3) -> Path:
    """Write the layout plus ``solution_valid.json`` and ``solution_test.json``."""
    from tqdm.auto import tqdm

    n_train, n_valid, n_test, side = SIZES[size]
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    cats = np.array(list(SHARES))
    p = np.array(list(SHARES.values()), float) / sum(SHARES.values())
    ids = _ids(n_train + n_valid + n_test, rng)
    splits = {"train": ids[:n_train], "valid": ids[n_train:n_train + n_valid], "test": ids[n_train + n_valid:]}
    annotation_id = 1
    coco = {name: ([], []) for name in splits}
    for name, split_ids in splits.items():
        for image_id in tqdm(split_ids, desc=f"{name} scenes", leave=False, disable=None):
            objects = [int(c) for c in rng.choice(cats, size=int(rng.integers(1, 5)), p=p)]
            image, boxes = scene(side, rng, objects)
            file_name = f"{int(rng.integers(0, 2**63)):016x}.jpg"
            image.save(out_dir / "images" / file_name, quality=90)
            images, annotations = coco[name]
            images.append({"id": image_id, "file_name": file_name, "height": image.size[1], "width": image.size[0]})
            for box in boxes:
                x, y, w, h = box["bbox"]
                annotations.append({"id": annotation_id, "image_id": image_id, "category_id": box["category_id"],
                                    "bbox": box["bbox"], "area": round(w * h, 2), "iscrowd": 0})
                annotation_id += 1
    write_text(out_dir / "train.json", json.dumps(_coco(*coco["train"])))
    for name in ("valid", "test"):
        images = coco[name][0]
        write_csv(out_dir / f"{name}.csv", pd.DataFrame({"id": [im["id"] for im in images],
                                                          "file_name": [im["file_name"] for im in images]}))
        write_text(out_dir / f"solution_{name}.json", json.dumps(_coco(*coco[name])))
    counts = pd.Series([a["category_id"] for a in coco["train"][1]]).map(CATEGORIES).value_counts().to_dict()
    write_text(out_dir / "data_description.txt",
               f"CowBoy Outfits layout demo ({size}: {n_train} train / {n_valid} valid / {n_test} test images, longest "
               f"side {side} px, seed {seed}): objects drawn on scikit-learn's sample photos. Train annotations: "
               f"{counts}. solution_valid.json and solution_test.json hold the answers.\n")
    return out_dir
