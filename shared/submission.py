"""Build submissions from predictions, validate them against ``sample_submission``, write atomically,
and score them against a solution file (the local private leaderboard)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, show
from shared.io import read_csv, write_csv
from shared.metrics import Metric


def build(sample: pd.DataFrame, id_col: str, ids, values, columns: list[str] | None = None) -> pd.DataFrame:
    """Put ``values`` (one row per id in ``ids``) in the sample's id order and column layout."""
    columns = columns or [c for c in sample.columns if c != id_col]
    values = np.asarray(values, dtype=object if np.asarray(values).dtype.kind in "OUS" else float)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[1] != len(columns):
        raise UserError(f"predictions have {values.shape[1]} column(s) but the sample submission has {columns}.")
    pred = pd.DataFrame(values, columns=columns)
    pred.insert(0, id_col, list(ids))
    key = pred[id_col].astype(str)
    if key.duplicated().any():
        raise UserError(f"prediction ids repeat (e.g. {show(key[key.duplicated()].iloc[0])}).")
    pred.index = key
    order = sample[id_col].astype(str)
    missing = order[~order.isin(pred.index)]
    if len(missing):
        raise UserError(f"no prediction for test id {show(missing.iloc[0])} (and {len(missing) - 1} more) "
                        "listed in the sample submission; predict every test row.")
    sub = pred.loc[order.values].reset_index(drop=True)
    sub[id_col] = sample[id_col].values
    return sub[[id_col, *columns]]


def validate(sub: pd.DataFrame, sample: pd.DataFrame, id_col: str, metric: Metric,
             labels: list | None = None, name: str = "submission") -> None:
    """Raise a one-line UserError unless ``sub`` has the sample's columns, ids and order, and valid values."""
    if list(sub.columns) != list(sample.columns):
        raise UserError(f"{name}: columns {list(sub.columns)} differ from the sample submission's "
                        f"{list(sample.columns)}.")
    if len(sub) != len(sample):
        raise UserError(f"{name}: {len(sub)} rows but the sample submission has {len(sample)}.")
    a, b = sub[id_col].astype(str).values, sample[id_col].astype(str).values
    if not (a == b).all():
        i = int(np.argmax(a != b))
        raise UserError(f"{name}: row {i} has id {a[i]!r} where the sample submission has {b[i]!r}; "
                        "keep the sample's ids and order.")
    for col in sample.columns:
        if col == id_col:
            continue
        values = sub[col]
        if values.isna().any():
            raise UserError(f"{name}: column {col!r} is empty at id {show(sub[id_col][values.isna()].iloc[0])}.")
        if labels is not None and metric.name == "accuracy":
            bad = ~values.astype(str).isin([str(x) for x in labels])
            if bad.any():
                raise UserError(f"{name}: column {col!r} has unknown label {show(values[bad].iloc[0])} at id "
                                f"{show(sub[id_col][bad].iloc[0])}; labels come from the training data.")
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            raise UserError(f"{name}: column {col!r} has non-numeric value {show(values[numeric.isna()].iloc[0])}.")
        bad = ~np.isfinite(numeric.values)
        if bad.any():
            raise UserError(f"{name}: column {col!r} is infinite at id {show(sub[id_col][bad].iloc[0])}.")
        if metric.positive and (numeric <= 0).any():
            i = int(np.argmax(numeric.values <= 0))
            raise UserError(f"{name}: column {col!r} has non-positive value {show(numeric.iloc[i])} at id "
                            f"{show(sub[id_col].iloc[i])}; {metric.name} takes logs, so predictions must be > 0.")
        if metric.task == "classification" and ((numeric < 0) | (numeric > 1)).any():
            raise UserError(f"{name}: column {col!r} holds probabilities outside [0, 1].")


def write(path: Path, sub: pd.DataFrame, sample: pd.DataFrame, id_col: str, metric: Metric,
          labels: list | None = None) -> Path:
    """Validate, then write atomically: a rejected submission never replaces a good one."""
    validate(sub, sample, id_col, metric, labels, name=str(path))
    return write_csv(path, sub)


def score(sub: pd.DataFrame, solution: pd.DataFrame, id_col: str, metric: Metric,
          labels: list | None = None) -> float:
    """Score a submission against a solution with the same id column (any row order)."""
    target_cols = [c for c in solution.columns if c != id_col and c.lower() != "usage"]
    missing = [c for c in target_cols if c not in sub.columns]
    if missing:
        raise UserError(f"submission lacks column(s) {missing} that the solution has.")
    truth = solution.set_index(solution[id_col].astype(str))
    pred = sub.set_index(sub[id_col].astype(str))
    lacking = truth.index.difference(pred.index)
    if len(lacking):
        raise UserError(f"submission has no row for solution id {lacking[0]!r} ({len(lacking)} missing).")
    pred = pred.loc[truth.index]
    if metric.name == "accuracy" or (labels is not None and len(target_cols) == 1
                                     and pred[target_cols[0]].dtype == object):
        return metric(truth[target_cols[0]].astype(str).values, pred[target_cols[0]].astype(str).values)
    y_pred = pred[target_cols].to_numpy(float)
    y_true = truth[target_cols].to_numpy()
    if len(target_cols) == 1:
        y_pred, y_true = y_pred[:, 0], y_true[:, 0]
    else:  # one probability column per class; the truth is one-hot or the class column
        y_true = y_true.argmax(axis=1)
    return metric(y_true, y_pred)


def score_files(submission: Path, solution: Path, id_col: str, metric: Metric) -> float:
    sub = read_csv(submission, [id_col], "submission")
    sol = read_csv(solution, [id_col], "solution")
    return score(sub, sol, id_col, metric)
