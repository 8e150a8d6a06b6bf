"""Image decoding for every Kaggle image layout: any PIL mode (RGB, grayscale, RGBA/LA and palette with
transparency composited on white, CMYK, 16-bit) becomes an RGB uint8 array; a truncated or unreadable
file is a one-line error naming it, or — when the user asks (``bad_images=skip``) — a warning and a
blank image, so that one broken file does not end a night of training."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from shared.errors import UserError

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a cut-off file is an error, never silently grey pixels
BAD_IMAGE_POLICIES = ("error", "skip")


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparency is composited on white (a transparent leaf scan is not black)."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        hi = values.max() if values.size and values.max() > 0 else 1.0
        image = Image.fromarray((values / hi * 255).astype(np.uint8))
    return image.convert("RGB")


def load_rgb(path: str | Path, bad_images: str = "error", size: tuple[int, int] | None = None) -> np.ndarray:
    """HxWx3 uint8. ``bad_images='skip'``: an unreadable file warns and gives a blank image of ``size``
    (or 32x32) instead of stopping the run."""
    try:
        with Image.open(path) as image:
            image.load()
            return np.asarray(to_rgb(image), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        reason = "missing" if not Path(path).exists() else f"unreadable ({exc})"
        if bad_images == "skip":
            warnings.warn(f"image {path} is {reason}: replaced by a blank image (bad_images=skip)", stacklevel=2)
            h, w = size or (32, 32)
            return np.zeros((h, w, 3), np.uint8)
        raise UserError(f"image {path} is {reason}; replace or remove it, or pass --set bad_images=skip "
                        "to train and predict with a blank image in its place.") from None
