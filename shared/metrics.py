"""Competition metrics. Each ``Metric`` knows its direction, its prediction type and the space in which
predictions are averaged (log space for RMSLE), so folds and blends average where the metric measures."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (
    cohen_kappa_score,
    f1_score,
    matthews_corrcoef,
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
    roc_auc_score,
)

from shared.errors import UserError


def rmse(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def rmsle(y_true, y_pred) -> float:
    """Kaggle's RMSLE: sqrt(mean((log(1+p) - log(1+y))^2)). Predictions must be > -1 (prices: > 0)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if np.any(y_pred <= -1) or np.any(y_true <= -1):
        raise UserError("rmsle needs values > -1: clip predictions before scoring.")
    return rmse(np.log1p(y_true), np.log1p(y_pred))


def mae(y_true, y_pred) -> float:
    return float(mean_absolute_error(np.asarray(y_true, float), np.asarray(y_pred, float)))


def mape(y_true, y_pred) -> float:
    """mean(|y - p| / |y|), as scikit-learn computes it (a true value of 0 divides by its tiny epsilon instead)."""
    return float(mean_absolute_percentage_error(np.asarray(y_true, float), np.asarray(y_pred, float)))


def smape(y_true, y_pred) -> float:
    """Kaggle's SMAPE in percent: 100 * mean(2|p - y| / (|y| + |p|)), a row where both are 0 counting 0."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    denominator = np.abs(y_true) + np.abs(y_pred)
    ratio = np.divide(2 * np.abs(y_pred - y_true), denominator, out=np.zeros_like(denominator),
                      where=denominator != 0)
    return float(100 * ratio.mean())


def r2(y_true, y_pred) -> float:
    return float(r2_score(np.asarray(y_true, float), np.asarray(y_pred, float)))


def _labels(y_pred) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    return y_pred.argmax(axis=1) if y_pred.ndim == 2 else y_pred


def accuracy(y_true, y_pred) -> float:
    """``y_pred``: labels, or class probabilities (n, C) whose argmax is the label."""
    return float(np.mean(np.asarray(y_true) == _labels(y_pred)))


def as_text(values) -> np.ndarray:
    """Labels as text, as submissions and solutions compare them: whole numbers without a '.0' (1.0 -> '1')."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    return values.astype(str)


def default_positive(labels) -> str:
    """The positive class of two labels when none is chosen: 1 of 0/1 labels, otherwise the last in sorted order
    (as text: 'yes' of no/yes), as the AUC of scikit-learn takes it."""
    text = sorted(set(as_text(labels)))
    return "1" if set(text) <= {"0", "1"} else text[-1]


def binary_truth(y_true, positive=None, what: str = "the truth") -> np.ndarray:
    """0/1 of a binary truth (labels or codes): 1 where it is ``positive`` (compared as text; by default
    ``default_positive``). More than two labels is one line: a binary metric scores two classes."""
    text = as_text(y_true)
    seen = sorted(set(map(str, text)))
    if len(seen) > 2:
        raise UserError(f"{what} holds {len(seen)} labels ({', '.join(map(repr, seen[:5]))}"
                        f"{', ...' if len(seen) > 5 else ''}); this metric scores a binary target (two classes).")
    return (text == str(default_positive(text) if positive is None else positive)).astype(int)


def f1(y_true, y_pred) -> float:
    """Binary F1 of the positive class: 2 TP / (2 TP + FP + FN), 0 when there is no positive anywhere.
    ``y_pred``: labels, or class probabilities (n, 2) whose argmax is the label (the positive class where its
    probability is above 0.5). The positive class is 1 of codes or 0/1 labels, else the last of the sorted labels
    (a run says which, and ``--set positive_class`` chooses; score.py: ``--positive-class``)."""
    y_true, y_pred = as_text(y_true), as_text(_labels(y_pred))
    if len(set(y_true)) > 2:
        raise UserError(f"f1 is the F1 of one positive class of a binary target; the truth holds "
                        f"{len(set(y_true))} classes: use f1_macro or f1_micro.")
    positive = default_positive(np.concatenate([y_true, y_pred]) if len(set(y_true)) < 2 else y_true)
    return float(f1_score(y_true == positive, y_pred == positive, zero_division=0))


def f1_macro(y_true, y_pred) -> float:
    """The mean of each class's F1 (scikit-learn's average='macro' over the labels of the truth and the
    predictions: a class never predicted counts 0, a predicted label the truth lacks counts 0)."""
    return float(f1_score(as_text(y_true), as_text(_labels(y_pred)), average="macro", zero_division=0))


def f1_micro(y_true, y_pred) -> float:
    """F1 of all rows' decisions pooled; with one label per row it equals the accuracy."""
    return float(f1_score(as_text(y_true), as_text(_labels(y_pred)), average="micro", zero_division=0))


def mcc(y_true, y_pred) -> float:
    """Matthews correlation coefficient (binary or multiclass, scikit-learn's), 0 where it is undefined (one class
    in the truth or the predictions); symmetric in the classes, so the positive class does not change it."""
    with warnings.catch_warnings():  # one label on both sides: scikit-learn warns, then gives its 0
        warnings.simplefilter("ignore", UserWarning)
        return float(matthews_corrcoef(as_text(y_true), as_text(_labels(y_pred))))


def _ratings(values, what: str) -> np.ndarray:
    numbers = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        raise UserError(f"qwk scores whole-number ratings (0, 1, 2, ...); {what} holds "
                        f"{np.asarray(values, dtype=object)[bad][0]!r}.")
    return numbers.astype(np.int64)


def qwk(y_true, y_pred) -> float:
    """Quadratic weighted kappa as Kaggle publishes it: ratings are whole numbers, the weights (i - j)^2 run over
    every rating from the lowest to the highest of truth and predictions (a rating nobody gave still counts in the
    distance), kappa = 1 - sum(w O) / sum(w E). ``y_pred``: ratings, or class probabilities whose argmax is the
    rating's code (a run's codes follow the ratings' order). Truth and predictions all one same rating: 1."""
    a, b = _ratings(y_true, "the truth"), _ratings(_labels(y_pred), "the predictions")
    low, high = min(a.min(), b.min()), max(a.max(), b.max())
    if low == high:
        return 1.0
    return float(cohen_kappa_score(a, b, labels=np.arange(low, high + 1), weights="quadratic"))


EPS = 1e-15  # Kaggle's clipping of probabilities in log loss


def logloss(y_true, y_pred) -> float:
    """Kaggle's log loss: each row rescaled to sum 1 (a row of zeros stays 0), the probabilities clipped to
    [1e-15, 1 - 1e-15], then the mean negative log of the true class's probability (scikit-learn's for rows that
    sum to 1). ``y_pred``: (n, C) probabilities of the classes (codes 0..C-1 in
    ``y_true``), or for a binary target the probability of the positive class (``y_true`` 0/1)."""
    y_pred = np.asarray(y_pred, float)
    if y_pred.ndim == 1:  # binary: probability of class 1
        y_pred = np.column_stack([1 - y_pred, y_pred])
    y_true = np.asarray(y_true)
    codes = y_true.astype(np.int64) if y_true.dtype.kind in "iuf" else binary_truth(y_true)
    if codes.min() < 0 or codes.max() >= y_pred.shape[1]:
        raise UserError(f"logloss: a true class {int(codes.max())} has no probability column (there are "
                        f"{y_pred.shape[1]}).")
    sums = y_pred.sum(axis=1, keepdims=True)
    rescaled = np.divide(y_pred, sums, out=np.zeros_like(y_pred), where=sums > 0)
    clipped = np.clip(rescaled[np.arange(len(codes)), codes], EPS, 1 - EPS)
    return float(-np.mean(np.log(clipped)))


def auc(y_true, y_pred) -> float:
    y_pred = np.asarray(y_pred, float)
    if y_pred.ndim == 2:
        y_pred = y_pred[:, 1] if y_pred.shape[1] == 2 else y_pred
    if y_pred.ndim == 2:
        return float(roc_auc_score(np.asarray(y_true), y_pred, multi_class="ovr"))
    y_true = np.asarray(y_true)
    if y_true.dtype.kind in "biuf" and len(y_true) == len(y_pred) and np.isfinite(y_pred).all():
        positive = y_true == 1
        n_pos = int(positive.sum())
        if 0 < n_pos < len(y_true) and np.isin(y_true, (0, 1)).all():
            return _rank_auc(positive, y_pred, n_pos)
    return float(roc_auc_score(y_true, y_pred))


def _rank_auc(positive: np.ndarray, y_pred: np.ndarray, n_pos: int) -> float:
    """Binary ROC AUC as the Mann-Whitney statistic on average ranks (ties count a half): scikit-learn's value, without
    its checks, which cost ten times the sum (a blend's hill-climbing scores thousands of mixes)."""
    from scipy.stats import rankdata

    n_neg = len(positive) - n_pos
    return float((rankdata(y_pred)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    task: str  # "regression" or "classification"
    log_space: bool = False  # average/fit in log1p space (RMSLE)
    in_space: str | None = None  # the metric that scores as this one on targets and predictions in to_space's space
    # (RMSLE: the RMSE of log1p), which a blend climbs by without leaving that space at each step
    positive: bool = False  # predictions must be > 0 (log metrics)
    takes: str = "values"  # what a submission holds for it: values | labels | probabilities | boxes
    autogluon: str | None = None  # the AutoGluon eval_metric that ranks models as this one does (its own name
    # when AutoGluon knows it; e.g. "roc_auc" for a Gini), for the automl recipes
    binary: bool = False  # scores one positive class of a binary target only (F1): a run of more classes is refused
    ordinal: bool = False  # scores whole-number ratings by their distance (QWK): a run orders its classes by value

    def __call__(self, y_true, y_pred) -> float:
        return self.fn(y_true, y_pred)

    def to_space(self, pred: np.ndarray) -> np.ndarray:
        """Into the space where averaging is honest for this metric."""
        return np.log1p(pred) if self.log_space else np.asarray(pred, float)

    def from_space(self, value: np.ndarray) -> np.ndarray:
        return np.expm1(value) if self.log_space else value

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b


METRICS: dict[str, Metric] = {
    "rmsle": Metric("rmsle", rmsle, False, "regression", log_space=True, positive=True, in_space="rmse"),
    "rmse": Metric("rmse", rmse, False, "regression"),
    "mae": Metric("mae", mae, False, "regression", autogluon="mean_absolute_error"),
    "mape": Metric("mape", mape, False, "regression", autogluon="mean_absolute_percentage_error"),
    "smape": Metric("smape", smape, False, "regression", autogluon="symmetric_mean_absolute_percentage_error"),
    "r2": Metric("r2", r2, True, "regression", autogluon="r2"),
    "accuracy": Metric("accuracy", accuracy, True, "classification", takes="labels"),
    "f1": Metric("f1", f1, True, "classification", takes="labels", autogluon="f1", binary=True),
    "f1_macro": Metric("f1_macro", f1_macro, True, "classification", takes="labels", autogluon="f1_macro"),
    "f1_micro": Metric("f1_micro", f1_micro, True, "classification", takes="labels", autogluon="f1_micro"),
    "mcc": Metric("mcc", mcc, True, "classification", takes="labels", autogluon="mcc"),
    "qwk": Metric("qwk", qwk, True, "classification", takes="labels", autogluon="quadratic_kappa", ordinal=True),
    "logloss": Metric("logloss", logloss, False, "classification", takes="probabilities"),
    "auc": Metric("auc", auc, True, "classification", takes="probabilities"),
}


def register(metric: Metric) -> Metric:
    """Add a competition's own metric (by its name; the same definition again is a no-op)."""
    if metric.takes not in ("values", "labels", "probabilities", "boxes"):
        raise ValueError(f"metric {metric.name!r}: takes must be values, labels, probabilities or boxes")
    known = METRICS.get(metric.name)
    if known is not None and known != metric:
        raise ValueError(f"a different metric named {metric.name!r} is registered already")
    METRICS[metric.name] = metric
    return metric


def get_metric(name: str) -> Metric:
    """The metric of that name, in any case (``--metric F1`` or ``AUC``, as Kaggle's pages write them)."""
    try:
        return METRICS[name] if name in METRICS else METRICS[str(name).strip().lower()]
    except KeyError:
        raise UserError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}.") from None


def finite_score(metric: Metric, value: float, what: str) -> float:
    """``value``, the ``metric`` of ``what`` (e.g. "fold 0"), when it is a number: a metric that gives NaN or inf
    for finite predictions (a registered function's bug, or rows it cannot score) is one line, never a reported
    score."""
    if not np.isfinite(value):
        raise UserError(f"{what}: metric {metric.name!r} gives {value} for finite predictions, which is no score; "
                        "check the metric's function (shared.metrics.register) against these rows.")
    return float(value)


def squeeze(pred: np.ndarray) -> np.ndarray:
    """(n, 1) -> (n,): one-output predictions as the metrics take them; (n, C) probabilities unchanged."""
    pred = np.asarray(pred)
    return pred[:, 0] if pred.ndim == 2 and pred.shape[1] == 1 else pred


def average(preds: np.ndarray, metric: Metric, axis: int = 0, weights=None) -> np.ndarray:
    """Average predictions (e.g. over folds) in the metric's space."""
    stacked = metric.to_space(np.asarray(preds, float))
    return metric.from_space(np.average(stacked, axis=axis, weights=weights))
