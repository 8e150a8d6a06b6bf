"""The training target checked once, where a run reads it and before anything is written: a target nothing can be
learned from is refused in one line (one value in every row; a negative value where the metric or the fit takes
logs; values so large that their squared errors overflow a float), and values far from the rest in the metric's log space are named, by id, in the run log.

Why those are named and not refused: RMSLE takes zeros and small counts as they are (sales, counts of bikes), and
real competition data hold the odd such row; refusing would stop the run on the competition's own file. The score
is right for the data given, but one such row can move it from 0.13 to 0.85, so the run says which rows those are
(drop or fix them, or keep them knowingly). Classification targets are checked where they are encoded
(``shared.tables.encode_target``: a single class) and where the folds are made (a class too rare for stratified
folds)."""
from __future__ import annotations

import numpy as np

from shared.errors import UserError, show
from shared.metrics import Metric

FAR_IQRS = 10.0  # log1p values further than this many interquartile ranges from the median are far from the rest
NAMED = 5  # ids a line names at most


def fits_logs(metric: Metric, log_target: bool | None) -> bool:
    """Whether a run fits log1p of its target: as ``--set log_target`` says, or as its metric measures (RMSLE)."""
    return metric.log_space if log_target is None else bool(log_target)


def check_target(spec, data, y: np.ndarray, classes: list | None, log_target: bool | None) -> list[str]:
    """Refuse a regression target ``y`` (the training rows' values, in ``data.train``'s order) that cannot be
    learned or scored; return the lines the run log should say about it (values far from the rest)."""
    if classes is not None or y.dtype == object:  # classes, or a competition's own kind of answers (boxes)
        return []
    where, col, ids = data.data_dir / spec.train_file, spec.target_col, data.train[spec.id_col].to_numpy()
    if np.ptp(y) == 0:
        raise UserError(f"{where}: column {col!r} is {show(y[0].item())} in all {len(y)} rows: there is nothing to "
                        "learn (repeating it would score perfectly); use the file with the real target values.")
    if not spec.metric.log_space:
        _refuse_overflowing(where, col, ids, y, spec.metric.name)
    logs = fits_logs(spec.metric, log_target)
    if spec.metric.positive or logs:
        why = f"{spec.metric.name} takes logs of it" if spec.metric.positive else "--set log_target=true fits its logs"
        _refuse_negative(where, col, ids, y, why)
        return _far_in_logs(col, ids, y, f"{spec.metric.name}'s" if spec.metric.positive else "the fit's")
    return []


def _refuse_overflowing(where, col: str, ids: np.ndarray, y: np.ndarray, metric: str) -> None:
    """A target whose spread, squared and summed over the rows, is beyond a float: no error of it can be scored."""
    with np.errstate(over="ignore", invalid="ignore"):
        reach = np.float64(np.ptp(y)) ** 2 * len(y)
    if not np.isfinite(reach):
        big = int(np.argmax(np.abs(y)))
        raise UserError(f"{where}: column {col!r} is {show(y[big].item())} at id {show(ids[big])}: its values are too "
                        f"large for {metric} (their squared errors overflow a float); rescale the column (divide it by a "
                        "power of ten) and scale the predictions back.")


def _refuse_negative(where, col: str, ids: np.ndarray, y: np.ndarray, why: str) -> None:
    negative = np.flatnonzero(y < 0)
    if len(negative):
        first = negative[0]
        raise UserError(f"{where}: column {col!r} is {show(y[first].item())} at id {show(ids[first])} "
                        f"({len(negative)} such row(s)); {why}, so it must be 0 or more: fix or drop those rows.")


def _far_in_logs(col: str, ids: np.ndarray, y: np.ndarray, space: str) -> list[str]:
    """The run log's line naming the rows whose log1p is more than ``FAR_IQRS`` interquartile ranges from the
    median (none when the middle half of the values is one value)."""
    logs = np.log1p(y)
    low, median, high = np.percentile(logs, [25, 50, 75])
    far = np.flatnonzero(np.abs(logs - median) > FAR_IQRS * (high - low)) if high > low else []
    if not len(far):
        return []
    near = np.delete(y, far)
    named = ", ".join(f"{show(y[i].item())} at id {show(ids[i])}" for i in far[:NAMED])
    more = f" and {len(far) - NAMED} more" if len(far) > NAMED else ""
    return [f"target {col!r}: {len(far)} value(s) far from the rest in {space} log space: {named}{more} (the "
            f"others run from {show(near.min().item())} to {show(near.max().item())}); one such row can move the "
            "CV score a lot: fix or drop it if it is a mistake."]

