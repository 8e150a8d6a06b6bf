"""A first look at a competition's data, for a notebook's opening cells: what the rows are, what the target looks
like, where values are missing; for images, a grid of training images with their labels (detection: with their
boxes). ``look(spec, data_dir)`` returns a one-row-per-fact table and writes ``look.png`` (shown in a notebook)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared import plots


def look(spec, data_dir: Path, out: Path | None = None, show: bool = True) -> pd.DataFrame:
    """Facts about the data and a picture of them (``out``, default ``data_dir``'s sibling is not touched: the
    picture goes to ``out`` or a temporary folder), displayed when ``show`` and running under IPython."""
    import tempfile

    data = spec.load_run_data(Path(data_dir), {})
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="look-"))
    png = out / "look.png"
    found = spec.outputs.look(data, png)  # what the predictions are says what to look at (detection: boxes)
    if show:
        _display(found, png)
    return found


def of_rows(spec, data, png: Path) -> pd.DataFrame:
    """The look at data whose predictions are table rows (``TableOutputs.look``): images with their labels, or the
    target's distribution and the missing values."""
    return _images(spec, data, png) if spec.image_path is not None else _table(spec, data, png)


def facts(rows: dict) -> pd.DataFrame:
    """``{fact: value}`` as the table ``look`` returns (one row per fact, the values as text)."""
    return pd.DataFrame({"value": [str(v) for v in rows.values()]}, index=list(rows))


def _table(spec, data, png: Path) -> pd.DataFrame:
    import matplotlib.pyplot as plt

    train, target = data.train, data.train[spec.target_col]
    features = train.drop(columns=[spec.id_col, spec.target_col])
    missing = features.isna().mean().sort_values(ascending=False)
    missing = missing[missing > 0].head(15)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    if spec.task == "regression":
        values = pd.to_numeric(target, errors="coerce").dropna()
        a.hist(np.log1p(values) if spec.metric.log_space else values, bins=40, color="#4c72b0")
        a.set_xlabel(f"log1p({spec.target_col})" if spec.metric.log_space else spec.target_col)
        a.set_ylabel("training rows")
    else:
        counts = target.astype(str).value_counts().head(20)
        a.barh(counts.index[::-1], counts.values[::-1], color="#4c72b0")
        a.set_xlabel("training rows")
    a.set_title(f"{spec.target_col} ({spec.metric.name})")
    if len(missing):
        b.barh(missing.index[::-1].astype(str), missing.values[::-1] * 100, color="#dd8452")
        b.set_xlabel("% of training rows missing")
        b.set_title(f"missing values: {int((features.isna().mean() > 0).sum())} of {features.shape[1]} columns")
    else:
        b.text(0.5, 0.5, "no missing values", ha="center", va="center", fontsize=12)
        b.set_axis_off()
    fig.suptitle(f"{spec.title or spec.name}: {len(train)} training rows, {len(data.test)} test rows")
    plots.save(fig, png)
    numeric = features.select_dtypes("number").shape[1]
    return facts({"training rows": len(train), "test rows": len(data.test), "feature columns": features.shape[1],
                   "numeric columns": numeric, "other columns": features.shape[1] - numeric,
                   "columns with missing values": int((features.isna().mean() > 0).sum()),
                   "target": _target_summary(spec, target), "metric": spec.metric.name,
                   "folds": spec.fold_kind + (f" on {spec.fold_col}" if spec.fold_col else "")})


def _target_summary(spec, target: pd.Series) -> str:
    if spec.task == "regression":
        values = pd.to_numeric(target, errors="coerce")
        return f"median {values.median():.6g}, from {values.min():.6g} to {values.max():.6g}"
    counts = target.astype(str).value_counts()
    return f"{len(counts)} classes, {counts.iloc[0]} to {counts.iloc[-1]} rows each"


def _images(spec, data, png: Path, n: int = 12) -> pd.DataFrame:
    import matplotlib.pyplot as plt

    from shared.vision.images import load_rgb

    shown = data.train.sample(min(n, len(data.train)), random_state=0)
    cols = 6
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (_, row) in zip(axes.ravel(), shown.iterrows()):
        ax.imshow(load_rgb(row["image_path"]))
        ax.set_title(str(row[spec.target_col])[:22], fontsize=9)
    fig.suptitle(f"{spec.title or spec.name}: {len(data.train)} training images, {len(data.test)} test images")
    plots.save(fig, png)
    sizes = {load_rgb(p).shape[:2] for p in shown["image_path"]}
    return facts({"training images": len(data.train), "test images": len(data.test),
                   "target": _target_summary(spec, data.train[spec.target_col]), "metric": spec.metric.name,
                   "image sizes seen (h, w)": ", ".join(f"{h}x{w}" for h, w in sorted(sizes))})


def _display(facts: pd.DataFrame, png: Path) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display(facts)
    display(Image(filename=str(png)))
