"""Feature importance of table runs, per fold and over the folds.

Three measures, each fold's saved in its own folder (``fold<k>/importance.csv``) so that a resumed run keeps its
finished folds' numbers and a merge of partial runs combines theirs:

- **gain**: what the fitted model says itself (``gain_importance()`` of the model: LightGBM's and XGBoost's total
  split gain, CatBoost's prediction-value change, the forests' impurity decrease, the linear models' |coefficient|
  on standardised inputs), as shares of the fold's total; a model that has none has no gain column;
- **permutation**: on the fold's held-out rows, each model input column shuffled (a seeded RNG) and the rows
  predicted again; the number is how much the metric got worse, in the metric's own direction (0: the model does
  not use the column; below 0: shuffling it helped, i.e. noise);
- **shap**: on the same held-out rows (the same seeded sample), the mean |SHAP value| of each model input column
  from the model's own TreeSHAP (``shap_values()`` of the model: LightGBM, XGBoost, CatBoost; no extra package),
  in the model's raw output (the fitted target's space; log-odds for classes, averaged over them); a model without
  one has no shap column, said once in the log.

The run's ``importance.csv`` has each measure's mean and std over the folds and each fold's number, sorted by
the permutation mean (else the SHAP, else the gain), and ``importance.png`` draws the top ``TOP`` with error bars over folds.
The run settings ``importance``, ``importance_repeats``, ``importance_columns`` and ``importance_rows``
(``shared.config.RUN_SETTINGS``) bound the cost, which the log states."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shared import plots
from shared.io import read_csv, write_csv
from shared.log import get_log
from shared.metrics import Metric, squeeze
from shared.models import FoldPipeline

FILE, PICTURE = "importance.csv", "importance.png"
TOP = 30  # features the picture draws (the CSV has them all)
BATCH_CELLS = 4_000_000  # table cells per prediction call: the shuffled copies of the rows predicted together
# what each ``importance`` setting measures (gain is always there where the model has it), in importance.csv's order
MEASURES = {"gain": ("gain",), "permutation": ("gain", "permutation"), "shap": ("gain", "shap"),
            "all": ("gain", "permutation", "shap"), "none": ()}


@dataclass
class Plan:
    """How a run measures importance (from its run settings), what a fold's held-out rows are scored against
    (``y``, the target as the metric scores it) and the run's seed."""

    kind: str  # a key of MEASURES but none
    repeats: int
    columns: int
    rows: int
    metric: Metric
    y: np.ndarray
    seed: int
    said: bool = False  # the log has said that the model has no TreeSHAP

    @classmethod
    def of(cls, config: dict, metric: Metric, y: np.ndarray, seed: int) -> Plan | None:
        """The plan of a run's resolved ``config``; None with ``importance=none``."""
        if config["importance"] == "none":
            return None
        return cls(config["importance"], config["importance_repeats"], config["importance_columns"],
                   config["importance_rows"], metric, np.asarray(y), seed)

    def of_fold(self, model, X_valid: pd.DataFrame, valid_rows: np.ndarray, predict,
                fold: int) -> pd.DataFrame | None:
        """Fold ``fold``'s table (feature, gain, permutation, shap; one row per model input column) of a fitted
        ``model``, ``predict`` giving its predictions as the run scores them (back in the target's space); None where
        nothing is measured (importance=gain and a model without gain)."""
        measures = MEASURES[self.kind]
        gain = gain_of(model, X_valid.columns)
        shap = self.shap(model, X_valid, fold) if "shap" in measures else None
        made = [c for own in (gain, shap) if own is not None for c in own.index if c not in X_valid]  # a fold step's
        table = pd.DataFrame(index=pd.Index([*X_valid.columns, *dict.fromkeys(made)], name="feature"))
        if gain is not None:
            table["gain"] = gain.reindex(table.index).fillna(0.0)
        if "permutation" in measures:
            rng = np.random.default_rng([self.seed, fold])
            ranked = list(X_valid.columns) if gain is None else sorted(
                X_valid.columns, key=lambda c: -gain.get(c, 0.0))  # stable: ties keep the column order
            table["permutation"] = self.permutation(X_valid, self.y[valid_rows], predict, ranked, rng)
        if shap is not None:
            table["shap"] = shap.reindex(table.index).fillna(0.0)
        return table.reset_index() if len(table.columns) else None

    def sample(self, n: int, rng) -> np.ndarray | None:
        """The held-out rows a fold's permutation and SHAP are measured on: at most ``rows`` of ``n``, a sample drawn
        first from the fold's seeded ``rng`` (None: all of them)."""
        return np.sort(rng.choice(n, self.rows, replace=False)) if n > self.rows else None

    def shap(self, model, X: pd.DataFrame, fold: int) -> pd.Series | None:
        """Fold ``fold``'s mean |SHAP value| per model input column on (the permutation's sample of) its held-out
        rows ``X``; None for a model without TreeSHAP (said once in the log)."""
        keep = self.sample(len(X), np.random.default_rng([self.seed, fold]))
        values = shap_of(model, X if keep is None else X.iloc[keep])
        if values is None and not self.said:
            self.said = True
            inner = _inner(model)
            get_log().info(f"importance: {type(inner).__name__} has no TreeSHAP (LightGBM, XGBoost and CatBoost "
                           "have one): no shap column")
        return values

    def permutation(self, X: pd.DataFrame, truth: np.ndarray, predict, ranked: list, rng) -> pd.Series:
        """Each of the first ``columns`` of ``ranked`` shuffled ``repeats`` times on (at most ``rows`` of) ``X``: the
        mean loss of the metric, in its own direction. Columns beyond ``columns`` are not measured (NaN)."""
        keep = self.sample(len(X), rng)
        if keep is not None:
            X, truth = X.iloc[keep], truth[keep]
        sign = 1.0 if self.metric.greater_is_better else -1.0
        jobs = [(column, rng.permutation(len(X))) for _ in range(self.repeats) for column in ranked[:self.columns]]
        losses: dict = {column: [] for column in ranked[:self.columns]}
        per_call = max(1, BATCH_CELLS // max(1, X.size) - 1)
        for start in range(0, len(jobs), per_call):
            chunk = jobs[start:start + per_call]
            blocks = np.split(np.asarray(predict(_stacked(X, chunk))), len(chunk) + 1)
            base = self.metric(truth, squeeze(blocks[0]))  # the unshuffled rows, predicted in the same call
            for (column, _), block in zip(chunk, blocks[1:]):
                losses[column].append(sign * (base - self.metric(truth, squeeze(block))))
        return pd.Series({c: float(np.mean(v)) for c, v in losses.items()}, dtype=float).reindex(X.columns)


def _stacked(X: pd.DataFrame, chunk: list) -> pd.DataFrame:
    """``X``, then for each (column, order) of ``chunk`` a copy of ``X`` with that column's values in ``order``: one
    frame to predict in one call (each column taken once; dtypes kept, a category stays a category)."""
    n = len(X)
    shuffled: dict = {}
    for block, (column, order) in enumerate(chunk, start=1):
        shuffled.setdefault(column, []).append((block, order))
    data = {}
    for column in X.columns:
        rows = np.tile(np.arange(n), len(chunk) + 1)
        for block, order in shuffled.get(column, ()):
            rows[block * n:(block + 1) * n] = order
        data[column] = X[column].array.take(rows)
    return pd.DataFrame(data, columns=X.columns)


def _inner(model):
    """The fitted model itself: a fold pipeline's model (behind its fold-fitted steps), else ``model``."""
    return model.model if isinstance(model, FoldPipeline) else model


def gain_of(model, columns) -> pd.Series | None:
    """The fitted model's own importance per input column (``gain_importance()``, one number per column of the
    frame it was fitted on) as shares of their total; None for a model without one. A fold pipeline's model sees
    the columns its steps made."""
    inner = _inner(model)
    inputs = model.columns_ if isinstance(model, FoldPipeline) else list(columns)
    if not hasattr(inner, "gain_importance"):
        return None
    values = np.abs(np.asarray(inner.gain_importance(), float))
    if len(values) != len(inputs) or not np.isfinite(values).all():
        return None
    total = values.sum()
    return pd.Series(values / total if total > 0 else values, index=inputs)


def shap_of(model, X: pd.DataFrame) -> pd.Series | None:
    """The mean |SHAP value| per model input column on the rows ``X`` (the model's ``shap_values()``: its own
    TreeSHAP, the bias dropped; several classes: the mean over them too); None for a model without one. A fold
    pipeline's model sees the columns its steps made of ``X``."""
    inner = _inner(model)
    if not hasattr(inner, "shap_values"):
        return None
    if isinstance(model, FoldPipeline):
        for step in model.steps:
            X = step.transform(X)
        X = X[model.columns_]
    values = np.abs(np.asarray(inner.shap_values(X), float)[..., :-1]).mean(axis=(0, 1))
    if len(values) != X.shape[1] or not np.isfinite(values).all():
        return None
    return pd.Series(values, index=X.columns)


# ------------------------------------------------------------------------------------------ the run's table
def write_fold(fold_dir: Path, table: pd.DataFrame) -> Path:
    return write_csv(Path(fold_dir) / FILE, table, float_format="%.10g")


def combine(run_dir: Path, folds: list[int]) -> pd.DataFrame | None:
    """The run's table from its folds' (``fold<k>/importance.csv`` of each of ``folds`` that has one): per measure
    the mean and std over those folds and each fold's column; sorted, most important first. None: no fold has one."""
    per_fold = {k: read_csv(Path(run_dir) / f"fold{k}" / FILE, ["feature"], "importance", dtype={"feature": str})
                for k in folds if (Path(run_dir) / f"fold{k}" / FILE).is_file()}
    if not per_fold:
        return None
    features = list(dict.fromkeys(f for table in per_fold.values() for f in table["feature"]))
    out = pd.DataFrame({"feature": features})
    for measure in MEASURES["all"]:
        columns = {f"{measure}_fold{k}": table.set_index("feature")[measure].reindex(features).to_numpy(float)
                   for k, table in per_fold.items() if measure in table}
        if not columns:
            continue
        values = np.column_stack(list(columns.values()))
        with warnings.catch_warnings():  # a feature no fold measured (beyond importance_columns): NaN, said once
            warnings.simplefilter("ignore", RuntimeWarning)
            out[f"{measure}_mean"], out[f"{measure}_std"] = np.nanmean(values, axis=1), np.nanstd(values, axis=1)
        for name, value in columns.items():
            out[name] = value
    order = [c for c in ("permutation_mean", "shap_mean", "gain_mean") if c in out]
    if not order:
        return None
    out = out.sort_values(order, ascending=False, na_position="last", kind="stable")
    means = [f"{m}_{s}" for m in MEASURES["all"] for s in ("mean", "std") if f"{m}_mean" in out]
    return out[["feature", *means, *[c for c in out.columns if "_fold" in c]]].reset_index(drop=True)


def write(run_dir: Path, folds: list[int]) -> pd.DataFrame | None:
    """``importance.csv`` of a run (or a merge) from its folds' tables, returned for its ``picture``; None where no
    fold has one (importance=none, an image run, a blend)."""
    table = combine(run_dir, folds)
    if table is not None:
        write_csv(Path(run_dir) / FILE, table, float_format="%.10g")
    return table


def picture(run_dir: Path, table: pd.DataFrame) -> Path:
    """``importance.png``: the top ``TOP`` features of the run's ``table`` (``write``'s)."""
    return plots.importance_plot(Path(run_dir) / PICTURE, table.head(TOP), plots.run_title(run_dir))


def top(run_dir: Path, n: int = 5) -> str:
    """The ``n`` most important features of a finished run, by name (its importance.csv), or '' without one."""
    file = Path(run_dir) / FILE
    if not file.is_file():
        return ""
    return ", ".join(read_csv(file, ["feature"], "importance", dtype={"feature": str})["feature"].head(n))


def cost_line(plan_kind: str, seconds: dict, fit_seconds: dict, measured: tuple[str, ...] | None = None) -> str:
    """The log's line on what importance cost: its seconds over the folds beside the fits', and how to change it;
    ``measured``: the measures a fold's importance.csv holds (shap asked of a model without TreeSHAP: not shap)."""
    spent, fits = sum(seconds.values()), sum(fit_seconds.values())
    share = f", {100 * spent / fits:.0f}% of the fits' {fits:.1f} s" if fits > 0 else ""
    other = ("--set importance=gain: the models' own, free" if plan_kind != "gain" else
             "--set importance=permutation or shap: measured on the held-out rows too")
    kept = [m for m in MEASURES[plan_kind] if measured is None or m in measured] or list(MEASURES[plan_kind][:1])
    *more, gain = kept[1:] + kept[:1]
    measured = f"{', '.join(more)} and {gain}" if more else gain
    return (f"importance ({measured}): {spent:.2f} s over {len(seconds)} fold(s){share}; importance.csv, "
            f"importance.png ({other})")
