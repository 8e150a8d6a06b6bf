"""Competition metrics. Each ``Metric`` knows its direction, its prediction type and the space in which
predictions are averaged (log space for RMSLE), so folds and blends average where the metric measures."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    log_loss,
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


def logloss(y_true, y_pred) -> float:
    y_pred = np.asarray(y_pred, float)
    if y_pred.ndim == 1:  # binary: probability of class 1
        y_pred = np.column_stack([1 - y_pred, y_pred])
    return float(log_loss(np.asarray(y_true), np.clip(y_pred, 1e-15, 1 - 1e-15), labels=np.arange(y_pred.shape[1])))


def auc(y_true, y_pred) -> float:
    y_pred = np.asarray(y_pred, float)
    if y_pred.ndim == 2:
        y_pred = y_pred[:, 1] if y_pred.shape[1] == 2 else y_pred
    if y_pred.ndim == 2:
        return float(roc_auc_score(np.asarray(y_true), y_pred, multi_class="ovr"))
    return float(roc_auc_score(np.asarray(y_true), y_pred))


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    task: str  # "regression" or "classification"
    log_space: bool = False  # average/fit in log1p space (RMSLE)
    positive: bool = False  # predictions must be > 0 (log metrics)
    takes: str = "values"  # what a submission holds for it: values | labels | probabilities | boxes
    autogluon: str | None = None  # the AutoGluon eval_metric that ranks models as this one does (its own name
    # when AutoGluon knows it; e.g. "roc_auc" for a Gini), for the automl recipes

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
    "rmsle": Metric("rmsle", rmsle, False, "regression", log_space=True, positive=True),
    "rmse": Metric("rmse", rmse, False, "regression"),
    "mae": Metric("mae", mae, False, "regression", autogluon="mean_absolute_error"),
    "mape": Metric("mape", mape, False, "regression", autogluon="mean_absolute_percentage_error"),
    "smape": Metric("smape", smape, False, "regression", autogluon="symmetric_mean_absolute_percentage_error"),
    "r2": Metric("r2", r2, True, "regression", autogluon="r2"),
    "accuracy": Metric("accuracy", accuracy, True, "classification", takes="labels"),
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
    try:
        return METRICS[name]
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
