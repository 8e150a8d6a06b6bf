"""Fits that diverged: a training loss that stops being a number or rises far above where it began, and predictions
that are not finite or absurdly far from every target seen. Each is one line (``Diverged``) naming the
fit (the fold), what went wrong and the setting most likely at fault, raised before anything of that fit is saved
or scored: a run never reports a score from such predictions. Every model passes the prediction check (the runner
makes it on each fit's predictions); the loss check is the torch loops' (``LossWatch``: the tabular nets'
``train_net``, the image and detection ``Trainer``). The feature table every model gets is checked first
(``check_features``): a number too large to compute with makes any model diverge."""
from __future__ import annotations

import numpy as np

from shared.errors import UserError, show

GROWTH = 100.0  # an epoch's training loss this many times the untrained model's has blown up, not learned
FAR = 1e3  # predictions further from the targets' median than this many times their range are an explosion
LEARNING_RATES = ("learning_rate", "lr")  # the settings most often at fault, named first where a model has one


class Diverged(UserError):
    """A fit whose loss or predictions are unusable: ``fit`` (e.g. "fold 0"), ``what`` went wrong, and the advice
    built from the fit's settings ``params``."""

    def __init__(self, fit: str, what: str, params: dict):
        super().__init__(f"{fit or 'the fit'}: {what}; nothing of it is scored. {advice(params)}")


def advice(params: dict) -> str:
    """What to change: the learning rate where the model has one, otherwise its settings or the features."""
    rates = [name for name in LEARNING_RATES if name in params]
    if not rates:
        return "Check the settings given with --set, or look for extreme values in the features."
    now = f"--set {rates[0]}={show(params[rates[0]], setting=True, compact=True)}"
    return f"The training diverged: lower the learning rate ({now}), or look for extreme values in the features."


class LossWatch:
    """A torch fit's loss, watched after each epoch: ``first`` is the loss of the first batch (the untrained model's,
    the yardstick); an epoch whose mean loss is not a finite number, or ``GROWTH`` times the yardstick, or whose
    weights are no longer numbers, is a ``Diverged`` fit, at once (a net that came back from such a blow-up to a low
    training loss fits its rows with weights that predict nonsense elsewhere: measured, CV RMSLE 1.0 against 0.55)."""

    def __init__(self, fit: str, params: dict):
        self.fit, self.params, self.start = fit, params, None

    def first(self, loss: float) -> None:
        if self.start is None:
            self.start = float(loss)

    def epoch(self, loss: float, epoch: int, finite_weights: bool = True, what: str = "training loss") -> None:
        """After ``epoch`` (from 1): its mean ``what`` (the training loss; or the validation loss, only checked to
        be a number), and whether the weights are all numbers still (the epoch's last update can spoil them after
        its losses were taken)."""
        if not np.isfinite(loss):
            raise Diverged(self.fit, f"the {what} became {loss} in epoch {epoch}", self.params)
        if not finite_weights:
            raise Diverged(self.fit, f"its weights stopped being numbers (NaN or inf) in epoch {epoch}", self.params)
        start = self.start if what == "training loss" and self.start and np.isfinite(self.start) else None
        if start is not None and loss > GROWTH * abs(start):
            raise Diverged(self.fit, f"the training loss rose to {loss:.4g} in epoch {epoch}, {loss / start:.0f} times "
                                     f"the untrained model's {start:.4g}", self.params)


def check_predictions(fit: str, params: dict, target: np.ndarray, preds: dict[str, np.ndarray], regression: bool,
                      log_target: bool = False) -> None:
    """Refuse a fit's predictions (``preds``: named arrays) that are not finite or, for a regression fitted on
    ``target`` (the training rows' target as the model fitted it: logs where ``log_target``), lie ``FAR`` beyond
    every target. (Predictions that are one constant are not refused: trees on a few rows rightly predict the mean;
    a net that collapsed to one value got there by a loss blow-up, which ``LossWatch`` refuses.)"""
    for name, pred in preds.items():
        bad = ~np.isfinite(np.asarray(pred, float).reshape(len(pred), -1)).all(axis=1)
        if bad.any():
            raise Diverged(fit, f"{int(bad.sum())} of its {len(pred)} {name} predictions are not finite "
                                f"({np.asarray(pred, float)[bad].flat[0]})", params)
    if not regression:
        return
    target = np.asarray(target, float)
    center, span = float(np.median(target)), float(np.ptp(target)) or 1.0
    for name, pred in preds.items():
        worst = float(np.max(np.abs((np.log1p(pred) if log_target else np.asarray(pred, float)) - center)))
        if worst > FAR * span:
            raise Diverged(fit, f"its {name} predictions reach {worst:.4g} from the targets' median, more than "
                                f"{FAR:g} times the targets' range ({span:.4g}){' in log space' * log_target}", params)


def finite_weights(net) -> bool:
    """Whether every weight and statistic (batch norm's) of a torch ``net`` is a finite number (one device sync)."""
    import torch

    tensors = [t.detach().isfinite().all() for t in net.state_dict().values() if t.is_floating_point()]
    return bool(torch.stack(tensors).all()) if tensors else True


HUGE = 1e150  # a feature value beyond this overflows the models' arithmetic (its square is beyond float64)


def check_features(X, ids, where: str) -> None:
    """The feature table the models get (``X``, one row per id of ``ids``, made from ``where``): every number finite
    and small enough to square. A feature made by division by (nearly) zero, or a value such as 1e300 in the data,
    would otherwise turn into NaN inside a model and fail with a library's traceback or a meaningless score."""
    import pandas as pd

    numeric = X.select_dtypes("number")
    if numeric.shape[1] == 0:
        return
    values = numeric.to_numpy(float)
    with np.errstate(invalid="ignore"):  # an empty cell (NaN) is a missing value, which models take
        bad = np.isinf(values) | (np.abs(values) > HUGE)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise UserError(f"feature {numeric.columns[col]!r} is {values[row, col]:g} at id "
                        f"{show(pd.Series(ids).iloc[row])} of {where} ({int(bad.sum())} such value(s)): a number no "
                        f"model can compute with (beyond ±{HUGE:g}, or made by a division by zero); fix the value in "
                        "the data or the feature that makes it.")
