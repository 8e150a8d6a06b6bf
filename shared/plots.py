"""PNG plots written into run directories (matplotlib, headless)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shared.io import atomic_write  # noqa: E402


def save(fig, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)


def run_plots(run_dir: Path, metric, y_true, oof, folds, fold_scores, classes=None) -> None:
    """fold_scores.png for every run; oof.png (predicted vs true) for regression."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([str(k) for k in folds], fold_scores, color="tab:blue")
    ax.axhline(np.mean(fold_scores), color="k", ls="--", lw=1, label=f"mean {np.mean(fold_scores):.4f}")
    lo, hi = min(fold_scores), max(fold_scores)
    pad = (hi - lo) * 0.5 + 1e-3 * max(abs(hi), 1e-9)
    ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
    ax.set_xlabel("fold")
    ax.set_ylabel(metric.name)
    ax.set_title(f"{metric.name} per fold")
    ax.legend(loc="best", fontsize=8)
    save(fig, Path(run_dir) / "fold_scores.png")
    if classes is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        t, p = metric.to_space(y_true), metric.to_space(np.clip(oof, 0 if metric.positive else None, None))
        ax.scatter(t, p, s=4, alpha=0.5)
        lims = [min(t.min(), p.min()), max(t.max(), p.max())]
        ax.plot(lims, lims, "k--", lw=1)
        space = "log1p " if metric.log_space else ""
        ax.set_xlabel(f"{space}true")
        ax.set_ylabel(f"{space}out-of-fold prediction")
        ax.set_title(f"OOF predictions ({metric.name} {metric(y_true, oof):.4f})")
        save(fig, Path(run_dir) / "oof.png")


def bar_table(path: Path, names, means, stds, holdouts, metric_name: str, times=None) -> None:
    """compare.png: CV mean ± std (and local holdout) per recipe, wall time on a second axis."""
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.6))
    ax.bar(x - 0.2, means, 0.4, yerr=stds, capsize=3, label="CV (mean ± std over folds)")
    if any(h is not None for h in holdouts):
        ax.bar(x + 0.2, [np.nan if h is None else h for h in holdouts], 0.4, label="local holdout")
    ax.set_xticks(x, names)
    ax.set_ylabel(metric_name)
    ax.legend(loc="upper right", fontsize=8)
    if times is not None:
        for xi, t in zip(x, times):
            ax.annotate(f"{t:.0f} s", (xi, 0), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    ax.set_title(f"{metric_name} by recipe (lower is better)" if metric_name in ("rmsle", "rmse", "logloss")
                 else f"{metric_name} by recipe")
    save(fig, Path(path))


def adversarial_plot(path: Path, report, title: str, top: int = 15) -> None:
    """Left: the features the train-vs-test classifier leans on. Right: how test-like the rows look."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.3 * top + 1.8))
    head = report.features.head(top).iloc[::-1]
    left.barh(head["feature"].astype(str), head["importance"], color="tab:red")
    left.set_xlabel("share of the classifier's gain")
    left.set_title(f"{title}: adversarial AUC {report.auc:.3f}")
    bins = np.linspace(0, 1, 41)
    right.hist(report.test_likeness, bins=bins, alpha=0.6, density=True, label="train rows")
    right.hist(report.test_likeness_test, bins=bins, alpha=0.6, density=True, label="test rows")
    right.set_xlabel("out-of-fold P(row is from test)")
    right.set_ylabel("density")
    right.legend()
    fig.tight_layout()
    save(fig, path)


def learning_curves(path: Path, history) -> None:
    """Per-epoch training loss and (when monitored) validation accuracy of the raw and EMA weights."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(history["epoch"], history["train_loss"], marker="o")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    for col, label in (("valid_accuracy", "raw weights"), ("valid_accuracy_ema", "EMA weights")):
        if col in history:
            right.plot(history["epoch"], history[col], marker="o", label=label)
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy")
    if right.lines:
        right.legend()
    fig.tight_layout()
    save(fig, path)


def throughput_plot(path: Path, training: list[dict], inference: list[dict]) -> None:
    """Left: training img/s, bare PyTorch loop vs ours. Right: peak memory of streaming inference by size."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = [f"{r['device']}{' +EMA' if r['ema'] else ''}" for r in training]
    x = np.arange(len(training))
    left.bar(x - 0.2, [r["bare_img_s"] for r in training], 0.4, label="bare PyTorch loop")
    left.bar(x + 0.2, [r["ours_img_s"] for r in training], 0.4, label="our loop")
    for xi, r in zip(x, training):
        left.annotate(f"{r['ratio']:.2f}x", (xi + 0.2, r["ours_img_s"]), ha="center", va="bottom", fontsize=8)
    left.set_xticks(x, labels)
    left.set_ylabel("training img/s")
    left.legend(fontsize=8)
    right.plot([r["images"] for r in inference], [r["peak_rss_mib"] for r in inference], marker="o")
    right.set_ylim(0, max(r["peak_rss_mib"] for r in inference) * 1.3)
    right.set_xlabel("test images")
    right.set_ylabel("peak RSS during inference (MiB)")
    fig.tight_layout()
    save(fig, path)


def boxes_plot(path: Path, image_paths: list[str], truths: list, predictions: list, names: dict[int, str],
               min_score: float = 0.3) -> None:
    """Predicted (red, with score) vs true (green) boxes on a few images. ``truths``: per image (boxes xywh,
    labels); ``predictions``: per image rows [x, y, w, h, score, label]; ``names``: label -> class name."""
    from matplotlib.patches import Rectangle
    from PIL import Image

    n = max(1, len(image_paths))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image_path, (boxes, labels), pred in zip(axes.ravel(), image_paths, truths, predictions):
        with Image.open(image_path) as image:
            ax.imshow(image.convert("RGB"))
        for (x, y, w, h), label in zip(boxes, labels):
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="lime", linewidth=1.5))
            ax.text(x, y, names.get(int(label), str(label)), color="lime", fontsize=6, va="bottom")
        for x, y, w, h, score, label in pred:
            if score >= min_score:
                ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="red", linewidth=1, linestyle="--"))
                ax.text(x, y + h, f"{names.get(int(round(label)), '?')} {score:.2f}", color="red", fontsize=6,
                        va="top")
    fig.suptitle(f"true boxes (green) vs predicted (red, score >= {min_score})", fontsize=9)
    fig.tight_layout()
    save(fig, path)
