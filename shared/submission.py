"""Build submissions from predictions, validate them against ``sample_submission``, write atomically,
and score them against a solution file (the local private leaderboard).

The rules are Kaggle's: ids are compared as text (``001001`` is not ``1001``), each id appears once, every
expected id has a row and no other id does. With accuracy on one column the column holds labels (class
names or numbers), scored by exact match."""
from __future__ import annotations

import warnings
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


def is_label_column(metric: Metric, columns: list[str]) -> bool:
    """A label metric (accuracy) on a single column: the column holds labels, compared as text."""
    return metric.takes == "labels" and len(columns) == 1


def validate(sub: pd.DataFrame, sample: pd.DataFrame, id_col: str, metric: Metric,
             labels: list | None = None, name: str = "submission") -> None:
    """Raise a one-line UserError unless ``sub`` has the sample's columns, ids and order, and valid values.
    ``labels``: the known classes; a label column holding another value is refused."""
    if list(sub.columns) != list(sample.columns):
        raise UserError(f"{name}: columns {list(sub.columns)} differ from the sample submission's "
                        f"{list(sample.columns)}.")
    ids = unique_ids(sub, id_col, name)
    expected = sample[id_col].astype(str).reset_index(drop=True)
    same_ids(ids, expected, name, "the sample submission")
    a, b = ids.values, expected.values
    if not (a == b).all():
        i = int(np.argmax(a != b))
        raise UserError(f"{name}: row {i} has id {a[i]!r} where the sample submission has {b[i]!r}; "
                        "keep the sample's ids and order.")
    check_values(sub, id_col, [c for c in sample.columns if c != id_col], metric, name, labels)


def unique_ids(frame: pd.DataFrame, id_col: str, name: str) -> pd.Series:
    """The id column as text, refused when a row has no id or an id appears twice."""
    raw = frame[id_col].reset_index(drop=True)
    ids = raw.astype(str)
    empty = (raw.isna() | ids.str.strip().eq("")).to_numpy()
    if empty.any():
        raise UserError(f"{name}: row {int(np.argmax(empty))} has no {id_col!r}; every row needs its id.")
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        first = ids[repeated].iloc[0]
        rows = np.flatnonzero((ids == first).to_numpy())
        raise UserError(f"{name}: id {first!r} appears {len(rows)} times (rows {', '.join(map(str, rows[:3]))}); "
                        "Kaggle refuses a submission that repeats an id: keep one row per id.")
    return ids


def same_ids(ids: pd.Series, expected: pd.Series, name: str, where: str) -> None:
    """Refuse an id ``expected`` lacks (Kaggle refuses rows it does not expect), then an expected id with no row."""
    extra = ids[~ids.isin(expected)]
    missing = expected[~expected.isin(ids)]
    if len(extra):
        raise UserError(f"{name}: id {extra.iloc[0]!r} is not in {where}{_lookalike(extra.iloc[0], missing)} "
                        f"({len(extra)} such row(s)); Kaggle refuses rows it does not expect: one row per expected id.")
    if len(missing):
        raise UserError(f"{name}: no row for id {missing.iloc[0]!r} of {where}{_lookalike(missing.iloc[0], extra)} "
                        f"({len(missing)} missing: {len(ids)} rows, {where} has {len(expected)}); predict every row.")


def _lookalike(wanted: str, others: pd.Series) -> str:
    """A hint when one of ``others`` is ``wanted`` written differently (001001 for 1001, '1001.0', ' 1001')."""
    def same(a: str, b: str) -> bool:
        if a.strip() == b.strip():
            return True
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    for other in others:
        if same(wanted, other):
            return (f" (there is {other!r}: ids are compared as text, so leading zeros, spaces and '.0' count; "
                    "write the ids exactly as the competition's files do)")
    return ""


def _blank(values: pd.Series) -> np.ndarray:
    blank = values.isna()
    if values.dtype == object:
        blank |= values.astype(str).str.strip().eq("")
    return blank.to_numpy()


def check_values(frame: pd.DataFrame, id_col: str, columns: list[str], metric: Metric, name: str,
                 labels: list | None = None, predictions: bool = True) -> None:
    """Refuse an empty value; in a label column (see ``is_label_column``) a label outside ``labels`` when they
    are given; elsewhere a non-numeric or infinite value, and for ``predictions`` a value the metric cannot take
    (non-positive for log metrics, a probability outside [0, 1]). The truth of a classification metric
    (``predictions`` false) may be class labels, so only its emptiness is checked."""
    ids = frame[id_col].astype(str).to_numpy()
    label_column = is_label_column(metric, columns) or (not predictions and metric.task == "classification")
    for col in columns:
        values = frame[col].reset_index(drop=True)
        empty = _blank(values)
        if empty.any():
            raise UserError(f"{name}: column {col!r} is empty at id {ids[empty][0]}.")
        if label_column:
            if labels is not None:
                bad = (~values.astype(str).isin([str(x) for x in labels])).to_numpy()
                if bad.any():
                    raise UserError(f"{name}: column {col!r} has unknown label {show(values[bad].iloc[0])} at id "
                                    f"{ids[bad][0]}; labels come from the training data.")
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            i = int(np.argmax(numeric.isna().to_numpy()))
            raise UserError(f"{name}: column {col!r} has non-numeric value {show(values.iloc[i])} at id {ids[i]}.")
        bad = ~np.isfinite(numeric.to_numpy(float))
        if bad.any():
            raise UserError(f"{name}: column {col!r} is infinite at id {ids[bad][0]}.")
        if not predictions:
            continue
        if metric.positive and (numeric <= 0).any():
            i = int(np.argmax(numeric.to_numpy() <= 0))
            raise UserError(f"{name}: column {col!r} has non-positive value {show(numeric.iloc[i])} at id "
                            f"{ids[i]}; {metric.name} takes logs, so predictions must be > 0.")
        if metric.task == "classification" and ((numeric < 0) | (numeric > 1)).any():
            i = int(np.argmax(((numeric < 0) | (numeric > 1)).to_numpy()))
            raise UserError(f"{name}: column {col!r} has {show(numeric.iloc[i])} at id {ids[i]}, a probability "
                            f"outside [0, 1]; {metric.name} scores class probabilities.")


def write(path: Path, sub: pd.DataFrame, sample: pd.DataFrame, id_col: str, metric: Metric,
          labels: list | None = None) -> Path:
    """Validate, then write atomically: a rejected submission never replaces a good one."""
    validate(sub, sample, id_col, metric, labels, name=str(path))
    return write_csv(path, sub)


def score(sub: pd.DataFrame, solution: pd.DataFrame, id_col: str, metric: Metric,
          labels: list | None = None, sample: pd.DataFrame | None = None, name: str = "submission",
          solution_name: str = "solution", sample_name: str = "the sample submission") -> float:
    """Score a submission against a solution with the same id column (any row order; ids compared as text).

    Refused: a repeated id, a solution id with no row, an empty or unusable value. ``sample``: the frame whose ids
    the submission must hold exactly (the sample submission; it may list unscored ids, like CIFAR-10's decoys);
    None leaves rows beyond the solution's ids unchecked (a run's submission, built from the sample). A label column is scored by exact match; labels outside
    ``labels`` (or, without them, never seen in the solution) count as wrong, with a warning."""
    target_cols = [c for c in solution.columns if c != id_col and c.lower() != "usage"]
    missing = [c for c in target_cols if c not in sub.columns]
    if missing:
        raise UserError(f"{name} lacks column(s) {missing} that the solution has; it has {list(sub.columns)}.")
    truth_ids = unique_ids(solution, id_col, solution_name)
    ids = unique_ids(sub, id_col, name)
    lacking = truth_ids[~truth_ids.isin(ids)]
    if len(lacking):
        raise UserError(f"{name}: no row for solution id {lacking.iloc[0]!r}"
                        f"{_lookalike(lacking.iloc[0], ids[~ids.isin(truth_ids)])} ({len(lacking)} missing).")
    if sample is not None:
        same_ids(ids, unique_ids(sample, id_col, sample_name), name, sample_name)
    check_values(sub, id_col, target_cols, metric, name)
    check_values(solution, id_col, target_cols, metric, solution_name, predictions=False)
    rows = pd.Index(ids).get_indexer(truth_ids)
    pred, truth = sub[target_cols].iloc[rows], solution[target_cols]
    if is_label_column(metric, target_cols):
        col = target_cols[0]
        y_true, y_pred = truth[col].astype(str).to_numpy(), pred[col].astype(str).to_numpy()
        _warn_unknown_labels(sub, id_col, col, set(map(str, labels)) if labels is not None else set(y_true),
                             name, "the training labels" if labels is not None else "the solution's labels")
        return metric(y_true, y_pred)
    y_pred = pred.apply(pd.to_numeric).to_numpy(float)
    y_true = truth.apply(_numbers_if_all).to_numpy()  # a classification truth may be labels ('no', 'yes')
    if len(target_cols) == 1:
        y_pred, y_true = y_pred[:, 0], y_true[:, 0]
    else:  # one probability column per class; the truth is one-hot
        y_true = y_true.argmax(axis=1)
    return metric(y_true, y_pred)


def _numbers_if_all(values: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def _warn_unknown_labels(sub: pd.DataFrame, id_col: str, col: str, known: set[str], name: str, where: str) -> None:
    """Labels outside ``known`` are scoreable (they are wrong), but usually a misspelt class: say how many."""
    values = sub[col].astype(str).reset_index(drop=True)
    unknown = (~values.isin(known)).to_numpy()
    if unknown.any():
        first_id = sub[id_col].astype(str).to_numpy()[unknown][0]
        warnings.warn(f"{name}: {int(unknown.sum())} of {len(values)} labels in column {col!r} are not among "
                      f"{where} (first {values[unknown].iloc[0]!r} at id {first_id}); they count as wrong.",
                      stacklevel=3)


def require_file(path: Path, what: str, usual: tuple[str, ...] = (), hint: str = "check the path") -> Path:
    """``path``, which must be a file: a folder or a missing path is a one-line error saying which (for a folder
    holding one of the ``usual`` file names, that file is named)."""
    path = Path(path)
    if path.is_dir():
        inside = [path / n for n in usual if (path / n).is_file()]
        if inside:
            raise UserError(f"{path} is a folder; {what} is a file: pass {inside[0]}, which that folder holds.")
        like = f" (like {' or '.join(usual)})" if usual else ""
        raise UserError(f"{path} is a folder; {what} is a file{like}: pass the file's path.")
    if not path.exists():
        raise UserError(f"missing file {path} ({what}): {hint}.")
    if not path.is_file():
        raise UserError(f"{path} is not a regular file; {what} is a file: pass the file's path.")
    return path


def read_text(path: Path, id_col: str | None, what: str, usual: tuple[str, ...] = (), hint: str = "check the path"
              ) -> pd.DataFrame:
    """A CSV exactly as written: every cell as text (ids keep their leading zeros; nothing becomes NaN)."""
    return read_csv(require_file(path, what, usual, hint), [id_col] if id_col else [], what,
                    dtype=str, keep_default_na=False)


def score_files(submission: Path, solution: Path, id_col: str | None, metric: Metric,
                sample: Path | None = None, sample_name: str | None = None) -> float:
    """Score a submission file against a solution file (``id_col`` None: the solution's first column). The
    submission must hold exactly the ids of ``sample`` (a sample submission file) or, without one, the solution's
    (``sample_name``: how messages name that file)."""
    sol = read_text(solution, id_col, "the solution", ("solution.csv",),
                    "the demos write theirs in the data folder; a Kaggle download has none")
    id_col = id_col or sol.columns[0]
    sub = read_text(submission, id_col, "the submission", ("submission.csv",))
    if sample is not None:
        allowed = read_text(sample, id_col, "the sample submission", ("sample_submission.csv",))
        return score(sub, sol, id_col, metric, sample=allowed, name=str(submission), solution_name=str(solution),
                     sample_name=sample_name or f"the sample submission {sample}")
    return score(sub, sol, id_col, metric, sample=sol, name=str(submission), solution_name=str(solution),
                 sample_name=sample_name or f"the solution {solution}")
