"""Build submissions from predictions, validate them against ``sample_submission``, write atomically,
and score them against a solution file (the local private leaderboard).

The rules are Kaggle's: ids are compared as text (``001001`` is not ``1001``), each id appears once, every
expected id has a row and no other id does. With accuracy on one column the column holds labels (class
names or numbers), scored by exact match."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, show
from shared.io import read_csv, write_csv
from shared.metrics import Metric, as_text, binary_truth, default_positive


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


def competition_columns(id_col: str, target_col: str, task: str, metric: Metric) -> list[str] | None:
    """The header a competition's submissions have where its spec fixes it: the id, then the target (a value or a
    label per row). None where a submission may hold one probability column per class, named by the training
    labels (a classification scored on probabilities)."""
    if task != "regression" and metric.takes != "labels":
        return None
    return [id_col, target_col]


def check_columns(columns, expected, name: str, where: str, fix: str = "write exactly those columns, in that order"
                  ) -> None:
    """Refuse a header other than ``expected`` (``where`` names whose it is), saying when the names are the same in
    another order or differ only in case (names are compared exactly, as Kaggle does)."""
    columns, expected = [str(c) for c in columns], [str(c) for c in expected]
    if columns == expected:
        return
    if sorted(columns) == sorted(expected):
        note = " (the same columns in another order)"
    else:
        cased = [(c, e) for c in columns for e in expected if c != e and c.lower() == e.lower()]
        note = (f" (column {cased[0][0]!r} is {cased[0][1]!r} there: names differ in case, and Kaggle compares them "
                "exactly)" if cased else "")
    raise UserError(f"{name} has columns {columns}; expected {expected}, those of {where}{note}: {fix}.")


def check_sample(sample: pd.DataFrame, path: Path, id_col: str, columns: list[str] | None) -> None:
    """Before any training: the sample submission has the competition's header (``columns``, see
    ``competition_columns``), or where that is not fixed at least the id column first, as every submission built
    from it will."""
    expected = columns or [id_col, *[c for c in sample.columns if c != id_col]]
    check_columns(sample.columns, expected, str(path), "the competition's submissions",
                  "use the competition's own sample submission, unedited (on the generic path, check --id and "
                  "--target)")


def validate(sub: pd.DataFrame, sample: pd.DataFrame, id_col: str, metric: Metric,
             labels: list | None = None, name: str = "submission", where: str = "the sample submission") -> None:
    """The one check of a submission, wherever it is written or read (a run's write, score.py, submit.py, a blend):
    raise a one-line UserError unless ``sub`` has the columns of ``sample`` (``where`` names it) in their order,
    exactly its ids (as text, each once, in any row order, as Kaggle matches them) and valid values. ``labels``:
    the known classes; a label column holding another value is refused."""
    check_columns(sub.columns, sample.columns, name, where)
    same_ids(unique_ids(sub, id_col, name), unique_ids(sample, id_col, where), name, where)
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
    """Cells with nothing in them: no text (an empty or blank CSV cell), or None. A float NaN is a value a model
    gave, named as such (``_not_a_number``)."""
    if values.dtype != object:
        return np.zeros(len(values), bool)
    return (values.map(lambda v: v is None) | values.astype(str).str.strip().eq("")).to_numpy()


def _not_a_number(values: pd.Series, ids: np.ndarray, col: str, name: str) -> None:
    """Refuse a cell that is no finite number, naming what is there (NaN, inf, text) and the first row's id."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(numeric)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    value, shown = numeric[i], show(values.iloc[i])
    what = (f"is not a number ({shown})" if np.isnan(value) and _spells_nan(values.iloc[i]) else
            f"is infinite ({shown})" if np.isinf(value) else f"has non-numeric value {shown}")
    raise UserError(f"{name}: column {col!r} {what} at id {ids[i]} ({int(bad.sum())} such row(s)); every row needs "
                    "a finite number.")


def _spells_nan(value) -> bool:
    return not isinstance(value, str) or value.strip().lower() in ("nan", "-nan", "+nan")


def _unknown_label(values: pd.Series, labels: list, ids: np.ndarray, col: str, name: str) -> None:
    known = [str(x) for x in labels]
    bad = (~values.astype(str).isin(known)).to_numpy()
    if bad.any():
        value = str(values[bad].iloc[0])
        cased = [k for k in known if k.lower() == value.lower()]
        note = f" (the label {cased[0]!r} differs only in case; labels are compared exactly)" if cased else ""
        raise UserError(f"{name}: column {col!r} has unknown label {show(values[bad].iloc[0])} at id {ids[bad][0]}"
                        f"{note}; labels come from the training data.")


def check_values(frame: pd.DataFrame, id_col: str, columns: list[str], metric: Metric, name: str,
                 labels: list | None = None, predictions: bool = True) -> None:
    """Refuse an empty value; in a label column (see ``is_label_column``) a label outside ``labels`` when they
    are given; elsewhere a value that is no finite number (NaN, inf, text), and for ``predictions`` a value the
    metric cannot take (non-positive for log metrics, a probability outside [0, 1]). The truth of a classification
    metric (``predictions`` false) may be class labels, so only its emptiness is checked."""
    ids = frame[id_col].astype(str).to_numpy()
    label_column = is_label_column(metric, columns) or (not predictions and metric.task == "classification")
    for col in columns:
        values = frame[col].reset_index(drop=True)
        empty = _blank(values)
        if empty.any():
            raise UserError(f"{name}: column {col!r} is empty at id {ids[empty][0]}.")
        if label_column:
            if labels is not None:
                _unknown_label(values, labels, ids, col, name)
            continue
        _not_a_number(values, ids, col, name)
        if not predictions:
            continue
        numeric = pd.to_numeric(values)
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
          labels: list | None = None, name: str = "submission", solution_name: str = "solution",
          positive=None) -> float:
    """Score a submission against a solution with the same id column (any row order; ids compared as text).

    Refused: a repeated id, a solution id with no row, an empty or unusable value. Rows beyond the solution's ids are
    not scored (a sample submission may list unscored ids, like CIFAR-10's decoys): a submission file is checked
    against its sample first (``score_files``). A label column is scored by exact match; labels outside ``labels``
    (or, without them, never seen in the solution) count as wrong, with a warning. A binary target's one
    probability column (and F1's labels) is of the ``positive`` class (a run's last class; by default the last of
    the solution's sorted labels, 1 of 0/1)."""
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
    check_values(sub, id_col, target_cols, metric, name)
    check_values(solution, id_col, target_cols, metric, solution_name, predictions=False)
    rows = pd.Index(ids).get_indexer(truth_ids)
    pred, truth = sub[target_cols].iloc[rows], solution[target_cols]
    if is_label_column(metric, target_cols):
        col = target_cols[0]
        y_true, y_pred = truth[col].astype(str).to_numpy(), pred[col].astype(str).to_numpy()
        _warn_unknown_labels(sub, id_col, col, set(map(str, labels)) if labels is not None else set(y_true),
                             name, "the training labels" if labels is not None else "the solution's labels")
        if metric.binary:  # F1 of the positive class: 1 where a row is it, in the truth and the predictions
            positive = _positive(y_true, positive, labels, solution_name)
            return metric(binary_truth(y_true, positive, solution_name), (y_pred == str(positive)).astype(int))
        return metric(y_true, y_pred)
    y_pred = pred.apply(pd.to_numeric).to_numpy(float)
    y_true = truth.apply(_numbers_if_all).to_numpy()  # a classification truth may be labels ('no', 'yes')
    if len(target_cols) == 1:
        y_pred, y_true = y_pred[:, 0], y_true[:, 0]
        if metric.task == "classification":  # the probability of the positive class: the truth is 1 where it is
            y_true = binary_truth(y_true, _positive(y_true, positive, labels, solution_name), solution_name)
    else:  # one probability column per class; the truth is one-hot
        y_true = y_true.argmax(axis=1)
    return metric(y_true, y_pred)


def _positive(y_true: np.ndarray, positive, labels: list | None, solution_name: str) -> str:
    """The positive class of a binary truth, as text: ``positive`` (a run's, or ``score.py --positive-class``, which
    must be one of the solution's two labels where it has two), else the last of the sorted labels (1 of 0/1). A truth of one label other
    than 0/1 names no positive class by itself: one line asks for it."""
    seen = sorted(set(map(str, as_text(y_true))))
    if positive is not None:
        if labels is None and len(seen) == 2 and str(positive) not in seen:
            raise UserError(f"--positive-class {positive!r} is not a label of {solution_name}, whose labels are "
                            f"{', '.join(map(repr, seen[:5]))}; pass one of them as written there.")
        return str(positive)
    if labels is not None and len(labels) == 2:  # a run's classes: the positive one is last
        return str(labels[-1])
    if len(seen) == 1 and seen[0] not in ("0", "1"):
        raise UserError(f"{solution_name} holds one label, {seen[0]!r}, so which class the probabilities are of is "
                        "not in it: say it with --positive-class LABEL.")
    return default_positive(seen)


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
    """A CSV exactly as written: every cell as text (ids keep their leading zeros; nothing becomes NaN; a byte-order
    mark, Windows line ends and blank lines at the end are read as Kaggle reads them). A first row with more fields
    than the header is refused (pandas would silently take the first column for an index, shifting the others)."""
    path = require_file(path, what, usual, hint)
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        header, first = next(csv.reader(f), []), next(csv.reader(f), None)
    if first is not None and len(first) > len(header):
        raise UserError(f"{path}: its first row has {len(first)} fields but the header names {len(header)} columns "
                        f"{header} (a comma at the end of each line?); write one field per column.")
    return read_csv(path, [id_col] if id_col else [], what, dtype=str, keep_default_na=False, index_col=False,
                    sep=",")  # Kaggle reads commas only


def check_file(path: Path, sample: pd.DataFrame, id_col: str, metric: Metric, labels: list | None = None,
               columns: list[str] | None = None, where: str = "the sample submission", competition: str = ""
               ) -> pd.DataFrame:
    """Read a submission file as text and ``validate`` it against ``sample``, after its header against
    ``columns``, the competition's (``competition_columns``), where known: a file of another competition is named
    so. The checked frame."""
    sub = read_text(path, None, "the submission", ("submission.csv",))  # its header is checked below, whole
    if columns is not None:
        foreign = not set(map(str, sub.columns)) & set(columns[1:])  # not one answer column of this competition
        check_columns(sub.columns, columns, str(path), f"a {competition} submission",
                      "is it a submission of another competition? Write this competition's columns, in that order"
                      if foreign else "write exactly those columns, in that order")
    validate(sub, sample, id_col, metric, labels, name=str(path), where=where)
    return sub


def score_files(submission: Path, solution: Path, id_col: str | None, metric: Metric,
                sample: Path | None = None, sample_name: str | None = None, columns: list[str] | None = None,
                competition: str = "", positive: str | None = None) -> float:
    """Score a submission file against a solution file (``id_col`` None: the solution's first column), after
    ``check_file`` against ``sample`` (a sample submission file) or, without one, the solution's ids and columns
    (``sample_name``: how messages name that file; ``columns``: the competition's header, where known)."""
    sol = read_text(solution, id_col, "the solution", ("solution.csv",),
                    "the demos write theirs in the data folder; a Kaggle download has none")
    id_col = id_col or sol.columns[0]
    if sample is not None:
        expected = read_text(sample, id_col, "the sample submission", ("sample_submission.csv",))
        where = sample_name or f"the sample submission {sample}"
    else:
        expected = sol[[c for c in sol.columns if c.lower() != "usage"]]
        where = sample_name or f"the solution {solution}"
    sub = check_file(submission, expected, id_col, metric, None, columns, where, competition)
    return score(sub, sol, id_col, metric, name=str(submission), solution_name=str(solution), positive=positive)
