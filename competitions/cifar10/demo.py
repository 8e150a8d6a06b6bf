"""A CIFAR-10-layout demo from real images offline: scikit-learn's bundled handwritten digits (1,797
real 8x8 scans, 10 classes), each digit class standing for one CIFAR class name, rendered into 32x32 RGB
PNGs — digit strokes in a random colour over a contrasting background colour with noise, randomly scaled,
shifted and slightly rotated, so each of the 1,797 scans yields many distinct images.

Layout exactly as Kaggle's: ``train/1.png ...``, ``trainLabels.csv`` (``id,label`` with class names),
``test/1.png ...``, ``sampleSubmission.csv`` (``id,label``). As in the competition, the test folder also
holds decoys (a quarter of the test images here, blank noise) that are not scored: ``solution.csv`` lists
only the scored ids. Everything is a function of ``seed``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from shared.io import write_csv, write_text

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SIZES = {"tiny": (200, 100), "small": (1000, 400), "medium": (5000, 2000), "full": (50000, 300000)}  # (train, test)
DECOY_SHARE = 0.25  # of the test images; the real test set has 290,000 decoys among 300,000


def render(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 8x8 digit scan (values 0-16) -> a 32x32 RGB uint8 image with random colours and geometry."""
    strokes = Image.fromarray((digit / 16 * 255).astype(np.uint8)).resize(
        (int(rng.integers(18, 29)),) * 2, Image.BILINEAR).rotate(float(rng.uniform(-15, 15)), Image.BILINEAR)
    canvas = Image.new("L", (32, 32))
    w = strokes.size[0]
    canvas.paste(strokes, (int(rng.integers(0, 33 - w)), int(rng.integers(0, 33 - w))))
    alpha = np.asarray(canvas, np.float32)[..., None] / 255
    background = rng.uniform(0, 255, 3)
    ink = np.clip(255 - background + rng.normal(0, 40, 3), 0, 255)  # a contrasting colour: the digit stays legible
    image = background * (1 - alpha) + ink * alpha + rng.normal(0, 8, (32, 32, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def build(out_dir: Path, size: str = "small", seed: int = 10) -> Path:
    """Write the Kaggle layout plus ``solution.csv`` (scored test ids and their labels)."""
    from sklearn.datasets import load_digits

    n_train, n_test = SIZES[size]
    digits = load_digits()
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "train").mkdir(parents=True, exist_ok=True)
    (out_dir / "test").mkdir(parents=True, exist_ok=True)
    # Train and test draw from disjoint scans, so no test image is a re-rendering of a training one.
    order = rng.permutation(len(digits.images))
    cut = int(len(order) * 0.7)
    train_pool, test_pool = order[:cut], order[cut:]

    labels = []
    for i in range(1, n_train + 1):
        k = rng.choice(train_pool)
        Image.fromarray(render(digits.images[k], rng)).save(out_dir / "train" / f"{i}.png")
        labels.append(CLASSES[digits.target[k]])
    write_csv(out_dir / "trainLabels.csv", pd.DataFrame({"id": range(1, n_train + 1), "label": labels}))

    decoy = rng.random(n_test) < DECOY_SHARE
    solution = []
    for i in range(1, n_test + 1):
        if decoy[i - 1]:
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        else:
            k = rng.choice(test_pool)
            image = render(digits.images[k], rng)
            solution.append((i, CLASSES[digits.target[k]]))
        Image.fromarray(image).save(out_dir / "test" / f"{i}.png")
    write_csv(out_dir / "sampleSubmission.csv", pd.DataFrame({"id": range(1, n_test + 1), "label": "cat"}))
    write_csv(out_dir / "solution.csv", pd.DataFrame(solution, columns=["id", "label"]))
    write_text(out_dir / "data_description.txt",
               f"CIFAR-10 layout demo ({size}: {n_train} train / {n_test} test images, seed {seed}) rendered from "
               "scikit-learn's handwritten digits; class k of the digits is CIFAR class CLASSES[k]. About "
               f"{DECOY_SHARE:.0%} of the test images are unscored decoys; solution.csv lists the scored ids.\n")
    return out_dir
