"""Fold assignment, saved once per dataset + seed as ``folds.csv`` (id, fold) so every model of a
competition sees the same folds: the condition for honest comparison and blending."""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, show
from shared.io import read_csv, write_csv

SPLITTERS = ("kfold", "stratified", "group", "time")
MAX_FOLDS = 100  # folds at most (--folds): beyond this a fold's validation rows are too few to score it


def check_fold_count(n_folds: int, n_rows: int, rows_in: str = "the training data") -> None:
    """Before anything is built from it: a fold count from 2 to ``MAX_FOLDS``, and no more folds than rows (the
    rows in ``rows_in``)."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or not 2 <= n_folds <= MAX_FOLDS:
        raise UserError(f"--folds {show(n_folds)}: the folds must be a whole number from 2 to {MAX_FOLDS} "
                        "(at least 2, since each fold is scored by a model trained on the others).")
    if n_folds > n_rows:
        raise UserError(f"--folds {n_folds}: cannot make {n_folds} folds from {n_rows} rows of {rows_in}; use "
                        f"--folds {n_rows} or fewer.")


def assign_folds(n_rows: int, n_folds: int, seed: int, kind: str = "kfold", y=None, groups=None,
                 order=None) -> np.ndarray:
    """Return an int array: the validation fold of each row.

    kind: ``kfold`` (shuffled), ``stratified`` (needs ``y``, class labels; ``shared.tables.check_class_counts``
    checks first that each class has a row per fold), ``group`` (needs ``groups``; a group never spans two folds,
    so there must be as many groups as folds) or ``time`` (needs ``order``: rows sorted by it, cut into
    ``n_folds`` consecutive blocks, fold k = the k-th block, so the last fold is the latest).
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    check_fold_count(n_folds, n_rows)
    folds = np.full(n_rows, -1, dtype=int)
    index = np.arange(n_rows)
    if kind == "kfold":
        splits = KFold(n_folds, shuffle=True, random_state=seed).split(index)
    elif kind == "stratified":
        if y is None:
            raise UserError("stratified folds need class labels.")
        splits = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(index, np.asarray(y))
    elif kind == "group":
        if groups is None:
            raise UserError("group folds need a group column.")
        groups = np.asarray(groups)
        # GroupKFold is deterministic in group sizes; shuffle group labels by seed for variety.
        uniq = np.unique(groups)
        if len(uniq) < n_folds:
            raise UserError(f"--folds {n_folds}: the rows fall into {len(uniq)} groups, and a group never spans two "
                            f"folds; use --folds {len(uniq)} or fewer (at least 2).")
        perm = dict(zip(uniq, np.random.default_rng(seed).permutation(len(uniq))))
        splits = GroupKFold(n_folds).split(index, groups=np.array([perm[g] for g in groups]))
    elif kind == "time":
        if order is None:
            raise UserError("time-ordered folds need an ordering column.")
        ranks = np.argsort(np.argsort(np.asarray(order), kind="stable"), kind="stable")
        return (ranks * n_folds // n_rows).astype(int)
    else:
        raise UserError(f"unknown fold kind {kind!r}; choose one of {list(SPLITTERS)}.")
    for k, (_, valid) in enumerate(splits):
        folds[valid] = k
    return folds


def parse_dates(s: pd.Series) -> pd.Series:
    """Dates from text; a value that does not parse becomes NaT (its features NaN), never an error."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


def time_holdout(dates: pd.Series, fraction: float, name: str = "date") -> np.ndarray:
    """Boolean mask of the validation rows of a time-ordered split: the rows dated on or after the day
    that leaves ``fraction`` of the dated rows to validation, so every validation row is later than
    every training row. Rows without a date stay in training."""
    if not 0 < fraction < 1:
        raise UserError(f"--set time_valid_fraction={fraction}: expected a fraction between 0 and 1.")
    known = dates.dropna().sort_values()
    if len(known) < 10:
        raise UserError(f"time column {name!r}: only {len(known)} value(s) parse as dates; pick a date column "
                        "(--set time_col=NAME) or switch the time split off (--set time_col='').")
    cutoff = known.iloc[min(len(known) - 1, int(round((1 - fraction) * len(known))))]
    valid = (dates >= cutoff).to_numpy()
    if valid.all() or not valid.any():
        raise UserError(f"time column {name!r}: every dated row falls on one side of {cutoff}; no time split possible.")
    return valid


def fingerprint(ids, target, *columns) -> str:
    """Short hash of the training ids and target (and of the group / order column the folds read): folds are
    reused only for the same data."""
    h = hashlib.sha1()
    for values in (ids, target, *(c for c in columns if c is not None)):
        h.update(pd.Series(values).astype(str).str.cat(sep=",").encode())
    return h.hexdigest()[:10]


def load_or_make_folds(cache_dir: Path, ids, n_folds: int, seed: int, kind: str, target, groups=None,
                       order=None, id_col: str = "id") -> pd.DataFrame:
    """Folds for this dataset + seed + kind, made once and saved under ``cache_dir``."""
    ids = pd.Series(ids).reset_index(drop=True)
    path = Path(cache_dir) / f"folds-{kind}-k{n_folds}-seed{seed}-{fingerprint(ids, target, groups, order)}.csv"
    cached = _cached_folds(path, ids, n_folds, id_col)
    if cached is not None:
        return cached
    folds = pd.DataFrame({id_col: ids, "fold": assign_folds(len(ids), n_folds, seed, kind, y=target,
                                                               groups=groups, order=order)})
    write_csv(path, folds)
    return folds


def _cached_folds(path: Path, ids: pd.Series, n_folds: int, id_col: str) -> pd.DataFrame | None:
    """The folds saved at ``path`` when it holds what this cache writes for these rows: an id column (whatever its
    header: the same rows may be read under another id name) with the ids in order, and a ``fold`` column holding
    every fold from 0 to ``n_folds`` - 1 and nothing else; None (make them again) for anything else, a damaged or
    hand-edited file included. The name of the file is no proof of its content."""
    if not path.is_file():
        return None
    try:
        folds = read_csv(path, required=["fold"], what="cached folds", dtype=str, keep_default_na=False)
    except UserError:
        return None
    fold = pd.to_numeric(folds["fold"], errors="coerce")
    if (list(folds.columns)[1:] != ["fold"] or len(folds) != len(ids)
            or not (folds.iloc[:, 0].values == ids.astype(str).values).all()
            or not ((fold >= 0) & (fold < n_folds) & (fold % 1 == 0)).all() or fold.nunique() != n_folds):
        return None
    return pd.DataFrame({id_col: folds.iloc[:, 0].to_numpy(), "fold": fold.astype(int).to_numpy()})
