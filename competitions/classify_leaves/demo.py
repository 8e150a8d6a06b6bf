"""A Classify Leaves demo: generated leaf images in the competition's exact layout.

Each species is a leaf shape: outline (length-to-width ratio, egg-shaped asymmetry, pointed tip), lobes
(count and depth), serration (tooth count and depth), a heart-shaped base notch and a stalk. Each image
varies the shape slightly and draws it at a random rotation, scale and position, in a colour drawn from one
palette for all species (greens, yellows, autumn reds), with veins, over a noisy light background, as a JPEG:
the shape, not the colour, tells species apart, as in the real data.

``--size digits`` is real images instead, in the same layout: scikit-learn's 1,797 handwritten digits (8x8 scans,
10 classes ``digit_0`` ... ``digit_9``), upscaled to ``DIGITS_SIDE`` px, grey in 3 channels, split by a seeded
stratified draw into 1,200 training and 597 test images: small real data to measure transfer learning on offline
(``scripts/bench_finetune.py``).

Layout as Kaggle's: ``images/0.jpg ...`` (training images first, then the test images), ``train.csv``
(``image,label``: ``images/0.jpg,acer_ginnala``), ``test.csv`` (``image``), ``sample_submission.csv``
(``image,label``), and the hidden answers in ``solution.csv``. Everything is a function of ``seed``.
"""
from __future__ import annotations

import colorsys
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from shared.io import write_csv, write_text

# (species, training images per species, test images per species, image side in px)
SIZES = {"tiny": (6, 12, 6, 48), "small": (12, 40, 20, 64), "medium": (40, 60, 30, 128),
         "full": (176, None, None, 224), "digits": (10, None, None, 32)}
DIGITS_SIDE, DIGITS_TRAIN = 32, 1200  # the digits' side in px (upscaled from 8x8) and training images (of 1,797)
FULL_TRAIN, FULL_TEST = 18353, 8800  # the competition's counts: 176 species, at least 50 training images each
GENERA = ["acer", "quercus", "ulmus", "magnolia", "prunus", "betula", "fraxinus", "tilia", "populus", "salix",
          "carpinus", "castanea", "juglans", "platanus", "liriodendron", "ginkgo", "catalpa", "cornus", "malus",
          "morus", "sassafras", "celtis", "gleditsia", "aesculus", "amelanchier", "crataegus", "diospyros",
          "liquidambar", "nyssa", "ostrya", "oxydendrum", "pyrus", "robinia", "styrax", "zelkova"]
EPITHETS = ["ginnala", "palmatum", "rubrum", "saccharinum", "alba", "rubra", "americana", "grandiflora",
            "serotina", "nigra", "papyrifera", "pensylvanica", "cordata", "deltoides", "babylonica", "caroliniana",
            "dentata", "cinerea", "occidentalis", "tulipifera", "biloba", "speciosa", "florida", "floribunda",
            "albidum", "laevigata", "triacanthos", "glabra", "arborea", "viridis", "virginiana", "styraciflua",
            "sylvatica", "japonica", "calleryana", "pseudoacacia", "obassia", "serrata", "macrophylla", "kousa"]


def species_names(n: int, seed: int) -> list[str]:
    """``n`` distinct genus_epithet names, sorted (the real labels look like ``acer_ginnala``)."""
    rng = np.random.default_rng(seed)
    pairs = [f"{g}_{e}" for g in GENERA for e in EPITHETS]
    return sorted(rng.choice(pairs, size=n, replace=False).tolist())


def species_shapes(n: int, rng: np.random.Generator) -> list[dict]:
    """One shape per species. Lobe counts and serration are discrete traits, the rest continuous."""
    shapes = []
    for _ in range(n):
        lobed = rng.random() < 0.4
        shapes.append({
            "aspect": float(rng.uniform(1.0, 3.2)), "egg": float(rng.uniform(-0.35, 0.35)),
            "tip": float(rng.uniform(0.0, 0.6)),
            "lobes": int(rng.choice([3, 5, 7])) if lobed else 0, "lobe_depth": float(rng.uniform(0.15, 0.5)),
            "teeth": int(rng.choice([0, 0, 14, 22, 32, 44])), "tooth_depth": float(rng.uniform(0.03, 0.09)),
            "notch": float(rng.choice([0.0, 0.0, rng.uniform(0.1, 0.3)])), "stalk": float(rng.uniform(0.0, 0.35)),
        })
    return shapes


def outline(shape: dict, rng: np.random.Generator, points: int = 360) -> tuple[np.ndarray, float]:
    """The leaf's outline in leaf coordinates (tip at +y, base at -y, length about 2), with per-image jitter
    of the continuous traits; and the base's distance from the centre (where the stalk starts)."""
    jitter = {k: v * float(rng.uniform(0.9, 1.1)) if isinstance(v, float) else v for k, v in shape.items()}
    theta = np.linspace(0, 2 * np.pi, points, endpoint=False)  # 0 = towards the tip
    half_width = 1 / jitter["aspect"]
    r = 1 / np.sqrt(np.cos(theta) ** 2 + (np.sin(theta) / half_width) ** 2)
    r *= 1 + jitter["egg"] * np.cos(theta)
    r *= 1 + jitter["tip"] * np.clip(np.cos(theta), 0, None) ** 12
    if jitter["lobes"]:
        r *= 1 - jitter["lobe_depth"] * (0.5 - 0.5 * np.cos(jitter["lobes"] * theta))
    if jitter["teeth"]:
        r *= 1 - jitter["tooth_depth"] * ((jitter["teeth"] * theta / (2 * np.pi)) % 1.0)
    r *= 1 - jitter["notch"] * np.exp(-(((theta - np.pi) / 0.3) ** 2))
    xy = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return xy / np.abs(xy).max(), float(r[points // 2] / np.abs(xy).max())


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A leaf colour from one palette shared by all species: mostly greens, some yellows and autumn reds."""
    hue = rng.uniform(0.2, 0.38) if rng.random() < 0.75 else rng.uniform(0.0, 0.16)
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 0.9), rng.uniform(0.35, 0.8))
    return int(r * 255), int(g * 255), int(b * 255)


def render(shape: dict, side: int, rng: np.random.Generator) -> Image.Image:
    """One image of one species: rotated, scaled, shifted, coloured, on a noisy light background."""
    big = side * 3  # drawn 3x larger, then shrunk: smooth edges
    background = rng.uniform(210, 250) + rng.uniform(-8, 8, 3)
    canvas = Image.fromarray(np.clip(background + rng.normal(0, 6, (big, big, 3)), 0, 255).astype(np.uint8))
    xy, base = outline(shape, rng)
    turn = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    scale = big * rng.uniform(0.36, 0.46)
    centre = big / 2 + rng.uniform(-0.06, 0.06, 2) * big

    def place(points: np.ndarray) -> list[tuple[float, float]]:
        p = np.asarray(points, float) @ rotation.T * scale + centre
        return [(float(x), float(big - y)) for x, y in p]

    colour = _colour(rng)
    vein = tuple(int(c * 0.6) for c in colour)
    ImageDraw.Draw(canvas).line(place([[0, -base], [0, -base - shape["stalk"]]]), fill=vein, width=max(1, big // 60))
    leaf = Image.new("RGB", (big, big), colour)  # the blade with its veins, pasted through the outline's mask
    draw = ImageDraw.Draw(leaf)
    draw.line(place([[0, -base], [0, 1.0]]), fill=vein, width=max(1, big // 80))  # midrib
    for y0 in np.linspace(-0.6 * base, 0.6, 5):  # side veins, cut off at the edge by the mask
        for sign in (-1, 1):
            draw.line(place([[0, y0], [sign * 1.2, y0 + 0.6]]), fill=vein, width=max(1, big // 140))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).polygon(place(xy), fill=255)
    canvas.paste(leaf, (0, 0), mask)
    image = canvas.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.2))).resize((side, side), Image.LANCZOS)
    pixels = np.asarray(image, np.float32) + rng.normal(0, 3, (side, side, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(85, 96)))
    return buffer.getvalue()


def _write_layout(out_dir: Path, files: list[str], names: list[str], labels: np.ndarray, n_train: int,
                  description: str) -> None:
    """train.csv, test.csv, sample_submission.csv and the hidden solution.csv of ``files`` (training images first)
    whose labels are ``names[labels]``."""
    classes = np.asarray(names, dtype=object)[labels]
    write_csv(out_dir / "train.csv", pd.DataFrame({"image": files[:n_train], "label": classes[:n_train]}))
    write_csv(out_dir / "test.csv", pd.DataFrame({"image": files[n_train:]}))
    write_csv(out_dir / "sample_submission.csv", pd.DataFrame({"image": files[n_train:], "label": names[0]}))
    write_csv(out_dir / "solution.csv", pd.DataFrame({"image": files[n_train:], "label": classes[n_train:]}))
    write_text(out_dir / "data_description.txt", description)


def digit_image(scan: np.ndarray, side: int = DIGITS_SIDE) -> Image.Image:
    """One 8x8 scikit-learn digit (values 0-16) as a ``side`` x ``side`` RGB image: 0-16 scaled to 0-255, upscaled
    bicubically, the grey copied into 3 channels."""
    grey = Image.fromarray(np.round(np.asarray(scan, np.float64) * 255 / 16).astype(np.uint8))
    return grey.resize((side, side), Image.BICUBIC).convert("RGB")


def build_digits(out_dir: Path, seed: int = 5, side: int = DIGITS_SIDE, n_train: int = DIGITS_TRAIN) -> Path:
    """scikit-learn's handwritten digits in this layout (``--size digits``): a stratified split of the 1,797 scans
    drawn by ``seed``, training images first, saved as near-lossless JPEGs."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    train, test = train_test_split(np.arange(len(digits.target)), train_size=n_train, random_state=seed,
                                   stratify=digits.target)
    order = np.concatenate([train, test])
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    files = [f"images/{i}.jpg" for i in range(len(order))]
    for file, k in zip(files, order):
        digit_image(digits.images[k], side).save(out_dir / file, format="JPEG", quality=95, subsampling=0)
    _write_layout(out_dir, files, [f"digit_{d}" for d in range(10)], digits.target[order], len(train),
                  f"Classify Leaves layout with real images (digits: scikit-learn's handwritten digits, {len(train)} "
                  f"train / {len(test)} test images of {side}x{side} px upscaled from 8x8 scans, stratified split "
                  f"seed {seed}). solution.csv holds the test labels.\n")
    return out_dir


def build(out_dir: Path, size: str = "small", seed: int = 5) -> Path:
    """Write the layout plus ``solution.csv`` (``image,label`` for the test images)."""
    from tqdm.auto import tqdm

    if size == "digits":
        return build_digits(out_dir, seed)
    n_species, per_train, per_test, side = SIZES[size]
    rng = np.random.default_rng(seed)
    names = species_names(n_species, seed)
    shapes = species_shapes(n_species, rng)
    if per_train is None:  # the real counts: at least 50 training images per species, the rest spread unevenly
        train_counts = 50 + rng.multinomial(FULL_TRAIN - 50 * n_species, np.ones(n_species) / n_species)
        test_counts = rng.multinomial(FULL_TEST, train_counts / train_counts.sum())
    else:
        train_counts, test_counts = np.full(n_species, per_train), np.full(n_species, per_test)
    train_labels = rng.permutation(np.repeat(np.arange(n_species), train_counts))
    test_labels = rng.permutation(np.repeat(np.arange(n_species), test_counts))
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    labels = np.concatenate([train_labels, test_labels])
    files = [f"images/{i}.jpg" for i in range(len(labels))]
    for file, k in zip(tqdm(files, desc="leaf images", leave=False, disable=None), labels):
        (out_dir / file).write_bytes(_jpeg(render(shapes[k], side, rng), rng))
    n_train = len(train_labels)
    _write_layout(out_dir, files, names, labels, n_train,
                  f"Classify Leaves layout demo ({size}: {n_species} species, {n_train} train / {len(test_labels)} "
                  f"test images of {side}x{side} px, seed {seed}): generated leaf shapes, one per species; colour is "
                  "drawn from one palette for all species. solution.csv holds the test labels.\n")
    return out_dir
