"""PNG plots written into run directories (matplotlib, headless). Every run picture is titled with its run
(``competition / run folder``) and, where it judges predictions, the metric and CV score, so a PNG copied out of
its folder still says what it shows."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from shared.io import atomic_write  # noqa: E402
from shared.metrics import METRICS  # noqa: E402

FULL_MATRIX_CLASSES = 20  # up to this many classes the confusion matrix is drawn whole; beyond, its largest cells
TOP = 20  # how many confusions and worst classes a many-class run lists


def save(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG and close it. A figure laid out by its layout engine (``layout="constrained"``) is
    drawn once; others are cropped to their content (a second draw)."""
    tight = None if fig.get_layout_engine() is not None else "tight"
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, bbox_inches=tight, format="png"))
    plt.close(fig)
    return Path(path)


def run_title(run_dir: Path) -> str:
    """``competition / run folder``: which run a picture belongs to."""
    run_dir = Path(run_dir)
    return f"{run_dir.parent.name} / {run_dir.name}"


def score_text(metric, cv: float, fold_scores) -> str:
    """``rmsle CV 0.1234 (folds 0.1230 ± 0.0050)``: the pooled out-of-fold score, then the folds' spread."""
    text = f"{metric.name} CV {cv:.4f}"
    if len(fold_scores) > 1:
        text += f" (folds {np.mean(fold_scores):.4f} ± {np.std(fold_scores):.4f})"
    return text


# ------------------------------------------------------------------------------------------ table runs
def run_plots(run_dir: Path, metric, y_true, oof, folds, fold_scores, classes=None) -> list[Path]:
    """The pictures of a table run's out-of-fold predictions: ``fold_scores.png`` always; regression
    ``oof.png`` (predicted vs true) and ``residuals.png``; classes ``confusion.png`` (and ``calibration.png`` for
    two classes). Returns the files written."""
    run_dir = Path(run_dir)
    title = run_title(run_dir)
    score = score_text(metric, metric(y_true, oof), fold_scores)
    written = [fold_scores_plot(run_dir / "fold_scores.png", metric, folds, fold_scores, title)]
    if classes is None:
        written.append(oof_plot(run_dir / "oof.png", metric, y_true, oof, f"{title}\nOOF predicted vs true, {score}"))
        written.append(residuals_plot(run_dir / "residuals.png", metric, y_true, oof,
                                      f"{title}\nOOF residuals vs predicted, {score}"))
        return written
    proba = np.asarray(oof, float).reshape(len(y_true), -1)
    confusion_plot(run_dir / "confusion.png", y_true, proba, classes, f"{title}\nOOF confusions, {score}")
    written.append(run_dir / "confusion.png")
    if len(classes) == 2:
        written.append(calibration_plot(run_dir / "calibration.png", y_true, proba, classes,
                                        f"{title}\nOOF reliability, {score}"))
    return written


def fold_scores_plot(path: Path, metric, folds, fold_scores, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([str(k) for k in folds], fold_scores, color="tab:blue")
    ax.axhline(np.mean(fold_scores), color="k", ls="--", lw=1, label=f"mean {np.mean(fold_scores):.4f}")
    lo, hi = min(fold_scores), max(fold_scores)
    pad = (hi - lo) * 0.5 + 1e-3 * max(abs(hi), 1e-9)
    ax.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
    ax.set_xlabel("fold")
    ax.set_ylabel(metric.name)
    ax.set_title(f"{title}\n{metric.name} per fold", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def _in_space(metric, y_true, oof) -> tuple[np.ndarray, np.ndarray, str]:
    """(true, predicted) where the metric measures (log1p for RMSLE), and that space's axis prefix."""
    oof = np.asarray(oof, float)
    return (metric.to_space(y_true), metric.to_space(np.maximum(oof, 0) if metric.positive else oof),
            "log1p " if metric.log_space else "")


def oof_plot(path: Path, metric, y_true, oof, title: str) -> Path:
    t, p, space = _in_space(metric, y_true, oof)
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.scatter(t, p, s=4, alpha=0.5)
    lims = [min(t.min(), p.min()), max(t.max(), p.max())]
    ax.plot(lims, lims, "k--", lw=1, label="prediction = true")
    ax.set_xlabel(f"{space}true")
    ax.set_ylabel(f"{space}out-of-fold prediction")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=9)
    return save(fig, path)


def residuals_plot(path: Path, metric, y_true, oof, title: str, bins: int = 20) -> Path:
    """Residual (prediction - true, in the metric's space) against the prediction, with the mean residual per
    ``bins`` equal shares of the predictions: a trend or a fan shows what the model gets wrong where."""
    t, p, space = _in_space(metric, y_true, oof)
    residual = p - t
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(p, residual, s=4, alpha=0.4, label="OOF rows")
    ax.axhline(0, color="k", ls="--", lw=1)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    if len(edges) > 2:
        which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, len(edges) - 2)
        counts = np.bincount(which, minlength=len(edges) - 1)
        filled = counts > 0
        centre = np.bincount(which, p, len(edges) - 1)[filled] / counts[filled]
        mean = np.bincount(which, residual, len(edges) - 1)[filled] / counts[filled]
        ax.plot(centre, mean, color="tab:red", marker="o", ms=3, lw=1.5,
                label=f"mean residual per {100 // bins}% of the predictions")
    ax.set_xlabel(f"{space}out-of-fold prediction")
    ax.set_ylabel(f"{space}prediction - {space}true")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=9)
    return save(fig, path)


def confusion_counts(y_true, proba: np.ndarray, n_classes: int) -> np.ndarray:
    """``counts[true, predicted]`` of the argmax labels."""
    pred = np.asarray(proba).argmax(axis=1)
    cells = np.asarray(y_true, int) * n_classes + pred
    return np.bincount(cells, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def top_confusions(counts: np.ndarray, classes, k: int = TOP) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal cells as (true class, predicted class, rows), most rows first."""
    off = counts.copy()
    np.fill_diagonal(off, 0)
    n = len(classes)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(str(classes[i // n]), str(classes[i % n]), int(off.flat[i])) for i in order if off.flat[i] > 0]


def confusion_plot(path: Path, y_true, proba: np.ndarray, classes, title: str, top: int = TOP
                   ) -> list[tuple[str, str, int]]:
    """Up to ``FULL_MATRIX_CLASSES`` classes: the confusion matrix normalised per true class, beside each class's
    accuracy. More (176 leaf species): the ``top`` most frequent confusions, named ``true -> predicted (count)``,
    beside the ``top`` worst classes. Returns the top confusions."""
    names = [str(c) for c in classes]
    n = len(names)
    counts = confusion_counts(y_true, proba, n)
    support = counts.sum(axis=1)
    correct = np.diag(counts)
    accuracy = np.divide(correct, support, out=np.full(n, np.nan), where=support > 0)
    overall = correct.sum() / max(support.sum(), 1)
    confusions = top_confusions(counts, names, top)
    if n <= FULL_MATRIX_CLASSES:
        fig, (left, right) = plt.subplots(1, 2, figsize=(0.42 * n + 7.5, 0.36 * n + 3.2), layout="constrained",
                                          gridspec_kw={"width_ratios": [3, 1.4]})
        share = counts / np.maximum(support[:, None], 1)
        image = left.imshow(share, cmap="Blues", vmin=0, vmax=1)
        if n <= 12:
            for (i, j), value in np.ndenumerate(share):
                if value >= 0.005:  # what would print as 0.00 stays blank
                    left.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                              color="white" if value > 0.5 else "black")
        left.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
        left.set_yticks(range(n), names, fontsize=8)
        left.set_xlabel("predicted class")
        left.set_ylabel("true class")
        left.set_title(f"share of each true class (row) by predicted class; accuracy {overall:.4f}", fontsize=9)
        fig.colorbar(image, ax=left, fraction=0.046, pad=0.03)
        right.barh(range(n), np.nan_to_num(accuracy), color="tab:blue")
        right.set_yticks(range(n), [f"{name} ({c}/{s})" for name, c, s in zip(names, correct, support)], fontsize=8)
        right.invert_yaxis()
        right.set_xlim(0, 1)
        right.set_xlabel("accuracy of the class (recall)")
        right.set_title("per class: correct / rows", fontsize=9)
    else:
        worst = np.argsort(np.where(support > 0, accuracy, np.inf), kind="stable")[:top]
        fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.28 * top + 1.8), layout="constrained")
        left.barh(range(len(confusions)), [c for *_, c in confusions], color="tab:red")
        left.set_yticks(range(len(confusions)), [f"{t} -> {p} ({c})" for t, p, c in confusions], fontsize=8)
        left.invert_yaxis()
        left.xaxis.set_major_locator(MaxNLocator(integer=True))
        left.set_xlabel("out-of-fold rows")
        left.set_title(f"the {len(confusions)} most frequent confusions: true -> predicted (rows)", fontsize=9)
        right.barh(range(len(worst)), accuracy[worst], color="tab:blue")
        right.set_yticks(range(len(worst)), [f"{names[i]} ({correct[i]}/{support[i]})" for i in worst], fontsize=8)
        right.invert_yaxis()
        right.set_xlim(0, 1)
        right.set_xlabel("accuracy of the class (recall)")
        right.set_title(f"the {len(worst)} worst of {n} classes (correct / rows); accuracy {overall:.4f}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    save(fig, path)
    return confusions


def calibration_plot(path: Path, y_true, proba: np.ndarray, classes, title: str, bins: int = 10) -> Path:
    """Two classes: the observed share of the second class against the predicted probability, in ``bins`` equal
    widths (points on the diagonal are calibrated), over the histogram of the predictions."""
    p = proba[:, 1] if proba.ndim == 2 else np.asarray(proba, float)
    hit = np.asarray(y_true) == 1
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    filled = counts > 0
    predicted = np.bincount(which, p, bins)[filled] / counts[filled]
    observed = np.bincount(which, hit, bins)[filled] / counts[filled]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.2, 5.6), sharex=True, layout="constrained",
                                      gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
    top.plot(predicted, observed, marker="o", color="tab:blue", label="out-of-fold")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel(f"observed share of {classes[1]!s}")
    top.legend(loc="upper left", fontsize=8)
    top.set_title(f"{title}\nBrier score {np.mean((p - hit) ** 2):.4f}", fontsize=9)
    bottom.hist(p, bins=edges, color="tab:gray")
    bottom.set_xlabel(f"predicted probability of {classes[1]!s}")
    bottom.set_ylabel("rows")
    return save(fig, path)


# ------------------------------------------------------------------------------------- other pictures
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
    known = METRICS.get(metric_name)
    ax.set_title(f"{metric_name} by recipe (lower is better)" if known is not None and not known.greater_is_better
                 else f"{metric_name} by recipe")
    save(fig, Path(path))


def importance_plot(path: Path, table: pd.DataFrame, title: str) -> Path:
    """importance.png: the features of ``table`` (the top of a run's importance.csv, most important first) as bars
    of each measure's mean over the folds, the std over folds as error bars; permutation left, then SHAP, gain right."""
    colours = {"permutation": "tab:green", "shap": "tab:purple", "gain": "tab:blue"}
    measures = [(m, label) for m, label in (("permutation", "permutation: metric loss when shuffled"),
                                             ("shap", "SHAP: mean |value| (raw output)"),
                                             ("gain", "gain: share of the model's own importance"))
                if f"{m}_mean" in table]
    rows = table.iloc[::-1]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures) + 2.4, 0.24 * len(rows) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (measure, label) in zip(axes[0], measures):
        ax.barh(rows["feature"].astype(str), rows[f"{measure}_mean"].fillna(0.0),
                xerr=rows[f"{measure}_std"].fillna(0.0), capsize=2, color=colours[measure],
                error_kw={"lw": 0.8})
        ax.axvline(0, color="k", lw=0.6)
        ax.set_xlabel(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    folds = sum(c.startswith(f"{measures[0][0]}_fold") for c in table.columns)
    fig.suptitle(f"{title}\nfeature importance, top {len(rows)}: mean ± std over {folds} fold(s)", fontsize=9)
    fig.tight_layout()
    return save(fig, path)


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


# ----------------------------------------------------------------------------------------- learning curves
def _loss_columns(history: pd.DataFrame) -> list[str]:
    """``train_loss`` first, then the validation losses (``valid_loss``, ``valid_loss_ema``) the history holds."""
    found = [c for c in history.columns if c.removesuffix("_ema").endswith("loss")]
    return sorted(found, key=lambda c: (not c.startswith("train"), c))


def _score_columns(history: pd.DataFrame) -> list[str]:
    """The validation metrics (``valid_accuracy`` and its EMA twin ``valid_accuracy_ema``)."""
    return [c for c in history.columns if c.startswith("valid_") and not c.removesuffix("_ema").endswith("loss")]


def _label(column: str) -> str:
    """``valid_accuracy_ema`` -> ``validation accuracy (EMA weights)``."""
    ema = column.endswith("_ema")
    part, _, name = column.removesuffix("_ema").partition("_")
    who = {"train": "training", "valid": "validation"}.get(part, part)
    return f"{who} {name.replace('_', ' ')}" + (" (EMA weights)" if ema else "")


def _style(column: str) -> str:
    return ":" if column.endswith("_ema") else "-" if column.startswith("train") else "--"


def _curves_title(path: Path) -> str:
    """``competition / run / fold k: learning curves`` from a fold's ``curves.png`` path."""
    folder = Path(path).parent
    if folder.name.startswith("fold") and folder.name[4:].isdigit():
        return f"{run_title(folder.parent)} / fold {folder.name[4:]}: learning curves"
    return f"{run_title(folder)}: learning curves"


def _curve_axes(has_scores: bool, last_epoch: int):
    fig, axes = plt.subplots(1, 2 if has_scores else 1, figsize=(11 if has_scores else 6, 3.8), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.set_xlabel("epoch")
        ax.set_xlim(0.5, max(1, last_epoch) + 0.5)  # whole epochs, a single one too
        if last_epoch <= 12:
            ax.set_xticks(range(1, max(1, last_epoch) + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("loss")
    axes[0, 0].set_title("loss per epoch", fontsize=9)
    if has_scores:
        axes[0, 1].set_title("validation metric per epoch", fontsize=9)
    return fig, axes[0]


def learning_curves(path: Path, history: pd.DataFrame, title: str | None = None) -> Path:
    """One fit's per-epoch training and (when recorded) validation loss, and the validation metric of the raw and
    EMA weights (its best epoch marked). ``title`` defaults to the run and fold the ``path`` lies in."""
    losses, scores = _loss_columns(history), _score_columns(history)
    epochs = history["epoch"]
    fig, axes = _curve_axes(bool(scores), int(epochs.max()))
    for col in losses:
        axes[0].plot(epochs, history[col], marker="o", ms=3, ls=_style(col), label=_label(col))
    axes[0].legend(fontsize=8)
    if scores:
        right = axes[1]
        for col in scores:
            right.plot(epochs, history[col], marker="o", ms=3, ls=_style(col), label=_label(col))
        best = history[scores].max(axis=1)
        if best.notna().any():
            i = int(best.to_numpy().argmax())
            right.plot(epochs.iloc[i], best.iloc[i], marker="*", ms=12, color="gold", mec="k", ls="none",
                       label=f"best {best.iloc[i]:.4f} (epoch {epochs.iloc[i]})")
        right.set_ylabel(_label(scores[0]).removeprefix("validation ").removesuffix(" (EMA weights)"))
        right.legend(fontsize=8)
    fig.suptitle(title or _curves_title(path), fontsize=10)
    return save(fig, path)


def fold_histories(run_dir: Path) -> dict[str, pd.DataFrame]:
    """``{fold: history}`` from the run's ``fold<k>/history.csv`` files, in fold order."""
    found = {}
    for folder in Path(run_dir).glob("fold*"):
        history = folder / "history.csv"
        if folder.name[4:].isdigit() and history.is_file():
            frame = pd.read_csv(history)
            if len(frame) and {"epoch", "train_loss"} <= set(frame.columns):
                found[folder.name[4:]] = frame
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


def run_curves(run_dir: Path) -> Path | None:
    """``curves.png`` of the run: every fold's learning curves in one figure (None: no fold recorded any)."""
    histories = fold_histories(run_dir)
    if not histories:
        return None
    return fold_curves(Path(run_dir) / "curves.png", histories,
                       f"{run_title(run_dir)}: learning curves of {len(histories)} fold(s)")


def fold_curves(path: Path, histories: dict[str, pd.DataFrame], title: str) -> Path:
    """The folds' losses (training solid, validation dashed) and validation metrics (EMA dotted), a colour per
    fold."""
    scores = sorted({c for h in histories.values() for c in _score_columns(h)})
    fig, axes = _curve_axes(bool(scores), max(int(h["epoch"].max()) for h in histories.values()))
    columns = set()
    for i, history in enumerate(histories.values()):
        colour = f"C{i % 10}"
        for col in _loss_columns(history):
            axes[0].plot(history["epoch"], history[col], color=colour, ls=_style(col), marker="o", ms=4)
            columns.add(col)
        for col in _score_columns(history):
            axes[1].plot(history["epoch"], history[col], color=colour, ls=_style(col), marker="o", ms=4)
    folds = [Line2D([], [], color=f"C{i % 10}", label=f"fold {fold}") for i, fold in enumerate(histories)]
    axes[0].legend(handles=folds + [Line2D([], [], color="grey", ls=_style(c), label=_label(c))
                                    for c in sorted(columns, key=lambda c: (not c.startswith("train"), c))],
                   fontsize=8)
    if scores:
        axes[1].legend(handles=[Line2D([], [], color="grey", ls=_style(c), label=_label(c)) for c in scores],
                       fontsize=8)
        axes[1].set_ylabel(_label(scores[0]).removeprefix("validation ").removesuffix(" (EMA weights)"))
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


# --------------------------------------------------------------------------------------------- detection
TRUE_COLOUR, PREDICTED_COLOUR = "#00e000", "#ff3030"


def boxes_plot(path: Path, image_paths: list[str], truths: list, predictions: list | None, names: dict[int, str],
               min_score: float = 0.3, title: str | None = None) -> list[str]:
    """True (green, solid) vs predicted (red, dashed, with score) boxes on a few images, labels readable at full
    size; an image where no predicted box reaches ``min_score`` says so. ``truths``: per image (boxes xywh,
    labels); ``predictions``: per image rows [x, y, w, h, score, label], or None to draw the true boxes alone;
    ``names``: label -> class name. Returns each image's caption."""
    from matplotlib.patches import Patch, Rectangle
    from PIL import Image

    n = max(1, len(image_paths))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.6 * rows + 0.8), squeeze=False, layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    captions = []
    label_box = {"alpha": 0.85, "pad": 1.5, "edgecolor": "none"}
    predicted = predictions is not None
    for ax, image_path, (boxes, labels), pred in zip(axes.ravel(), image_paths, truths,
                                                     predictions if predicted else [None] * len(image_paths)):
        with Image.open(image_path) as image:
            ax.imshow(image.convert("RGB"))
            width, height = image.size
        edge = 0.08 * height  # a label this close to the top or bottom goes inside its box
        for (x, y, w, h), label in zip(boxes, labels):  # true: name above the top-left corner
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=TRUE_COLOUR, linewidth=2))
            ax.text(x, y, names.get(int(label), str(label)), color="black", fontsize=9, clip_on=True,
                    va="top" if y < edge else "bottom", bbox={"facecolor": TRUE_COLOUR, **label_box})
        pred = np.asarray([] if pred is None else pred, float).reshape(-1, 6)
        kept = pred[pred[:, 4] >= min_score]
        for x, y, w, h, score, label in kept:  # predicted: name and score below the bottom-right corner
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=PREDICTED_COLOUR, linewidth=2, linestyle="--"))
            ax.text(min(x + w, width), min(y + h, height), f"{names.get(int(round(label)), '?')} {score:.2f}",
                    color="white", fontsize=9, ha="right", va="bottom" if y + h > height - edge else "top",
                    clip_on=True, bbox={"facecolor": PREDICTED_COLOUR, **label_box})
        caption = f"{Path(image_path).name}: {len(boxes)} true" + (f", {len(kept)} predicted" if predicted else "")
        if predicted and not len(kept):
            best = f" (best score {pred[:, 4].max():.2f})" if len(pred) else " (none predicted)"
            note = f"no box above threshold {min_score:g}{best}"
            ax.text(0.5, 0.03, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=11, color="white",
                    bbox={"facecolor": "black", "alpha": 0.75, "pad": 5, "edgecolor": "none"})
            caption += f"; {note}"
        ax.set_title(caption.split("; ")[0], fontsize=10)
        captions.append(caption)
    handles = [Patch(fill=False, edgecolor=TRUE_COLOUR, linewidth=2, label="true box")]
    if predicted:
        handles.append(Patch(fill=False, edgecolor=PREDICTED_COLOUR, linewidth=2, linestyle="--",
                             label=f"predicted box with its score (score >= {min_score:g})"))
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
    fig.suptitle(title or ("true vs predicted boxes" if predicted else "true boxes"), fontsize=12)
    save(fig, path)
    return captions
