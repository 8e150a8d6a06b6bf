"""Blend finished runs by their out-of-fold predictions: mean, rank mean, optimised non-negative
weights, hill-climbing, a level-2 model, or the better of hill-climbing and the level-2 model by an inner nested
CV. Weights and level-2 models are fitted inside the saved folds (nested), so the blend's reported CV
never scores rows the blend was fitted on."""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import rankdata

from shared import fingerprint
from shared.compare import markdown_table, text_table
from shared.errors import UserError
from shared.io import atomic_write, write_text
from shared.log import LOGGER, get_log
from shared.metrics import Metric, get_metric, squeeze
from shared.runs import Run, new_run_dir

METHODS = ("mean", "rank", "weights", "hill", "stack", "best")
CANDIDATES = ("hill", "stack")  # what ``best`` chooses among, simpler first: the simpler unless the other is better by
# more than a standard error (``Blender._clearly_better``). No "best member
# alone": hill starts from it and keeps it where no mix scores better; as a third candidate it won inner comparisons by
# luck (ames: 4 of 5 outer folds chose it, nested CV 0.1207 against hill's 0.1200). Where a blend does not beat its
# best member, auto's result is that member, and ensemble.py says so.
INNER_FOLDS = 5  # ``best``'s inner folds (fewer when rows are few) ...
INNER_ROWS = 5  # ... each of at least this many rows; with fewer than two such folds it takes hill unscored
INNER_REPEATS = 3  # ... and repeated on this many seeded splits, the scores averaged: on one split the choice followed
# the split's luck (the public suite's nested CV: 6 of 9 data sets better with 3 repeats, none worse by more than 3e-4)
NESTED_FITS = 100  # a nested best blend's seconds over those of one fit of each candidate on all its rows: it makes
# 186 fits on 64 to 100 % of the rows; on the public suite's members this priced the blends at 0.9 to 1.35 times
# their measured seconds (diamonds 15.4 s for 16.6, credit 31.4 for 23.3, leaves 38.6 for 31.9)
PROBA_FLOOR = 0.03  # what the stacker adds to a probability before its log (see Blender._features)


def check_compatible(runs: list[Run]) -> None:
    """Refuse runs that cannot be blended honestly, with one line naming the offending run."""
    if len(runs) < 2:
        raise UserError("an ensemble needs at least two run directories.")
    check_distinct_folders([r.path for r in runs])
    first = runs[0]
    for r in runs[1:]:
        for key in ("competition", "metric", "target_col", "id_col"):
            if r.config.get(key) != first.config.get(key):
                raise UserError(f"{r.path} has {key} {r.config.get(key)!r} but {first.path} has "
                                f"{first.config.get(key)!r}: blend runs of one competition only.")
        mine, theirs = r.config.get("classes"), first.config.get("classes")
        if mine != theirs and len(mine or ()) == 2 and sorted(mine, key=str) == sorted(theirs or (), key=str):
            raise UserError(f"{r.path} has positive class {mine[-1]!r} but {first.path} has {theirs[-1]!r} (their "
                            f"probabilities are of opposite labels): blend runs made with one --set positive_class.")
        if mine != theirs:
            raise UserError(f"{r.path} has other classes than {first.path}.")
        a, b = first.folds, r.folds
        if len(a) != len(b) or not (a.astype(str).values == b.astype(str).values).all():
            raise UserError(f"{r.path}/folds.csv differs from {first.path}/folds.csv: blend runs made with "
                            "the same --folds and --seed on the same data.")
        id_col = first.config["id_col"]
        if not (r.test_pred[id_col].astype(str).values == first.test_pred[id_col].astype(str).values).all():
            raise UserError(f"{r.path}/test_pred.csv has other test ids than {first.path}.")
    for r in runs:
        if not r.metrics.get("complete", True) or len(r.oof) != len(r.folds):
            raise UserError(f"{r.path} covers only some folds: merge its partial runs first (scripts/merge.py).")
    check_distinct_predictions([(r.path, r.oof_in_fold_order()) for r in runs])


def check_distinct_folders(paths: list[Path]) -> None:
    """One run passed twice (the same path, or two paths to one folder) would pass for a blend of two models."""
    seen: dict[Path, Path] = {}
    for path in map(Path, paths):
        key = path.resolve()
        if key in seen:
            earlier = seen[key]
            what = (f"{path} is passed twice" if str(earlier) == str(path)
                    else f"{earlier} and {path} are the same run folder ({key})")
            raise UserError(f"{what}: pass each run once; a blend needs different runs.")
        seen[key] = path


def check_distinct_predictions(oofs: list[tuple[Path, np.ndarray]]) -> None:
    """Two folders with the same out-of-fold predictions hold one model (a copied run, or a rerun of the same
    settings): the blend would only repeat it."""
    for i, (path, oof) in enumerate(oofs):
        for other, other_oof in oofs[:i]:
            if oof.shape == other_oof.shape and np.array_equal(oof, other_oof, equal_nan=True):
                raise UserError(f"{path} and {other} have identical out-of-fold predictions (one run copied, or "
                                "the same settings run twice): blend runs of different models.")


def stacked_predictions(runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """(oof (M, n, K), test (M, n_test, K)) with OOF rows in folds.csv order."""
    return (np.stack([r.oof_in_fold_order() for r in runs]),
            np.stack([r.test_pred[r.prediction_columns].to_numpy(float) for r in runs]))


@dataclass
class Blender:
    """Fit on OOF predictions (M, n, K) and targets; predict blended (n, K). ``metric`` fixes the space."""

    method: str
    metric: Metric
    task: str
    seed: int = 0
    repeats: int = INNER_REPEATS  # best's inner splits

    def fit(self, preds: np.ndarray, y: np.ndarray) -> Blender:
        M = preds.shape[0]
        self.weights_ = np.full(M, 1.0 / M)
        if self.method == "weights":
            # A metric of labels (accuracy) is flat almost everywhere in the weights, which gives the optimiser no
            # slope: the weights follow the log loss of the blended probabilities instead. Hill-climbing needs no
            # slope and climbs the metric itself.
            smooth = self.task != "regression" and self.metric.takes == "labels"
            self.weights_ = optimise_weights(preds, y, get_metric("logloss") if smooth else self.metric,
                                             self._combine_weighted)
        elif self.method == "hill":  # a number's members into the metric's space once, not at each of its steps
            space = self.metric.to_space(preds) if self.task == "regression" else preds
            if self.task == "regression" and self.metric.in_space:  # and scored there (RMSLE: the RMSE of the logs)
                self.weights_ = hill_climb(space, self.metric.to_space(np.asarray(y, float)),
                                           get_metric(self.metric.in_space), lambda z, w: np.tensordot(w, z, axes=1))
            else:
                self.weights_ = hill_climb(space, y, self.metric, self._combine_in_space)
        elif self.method == "stack":
            self.stacker_ = self._fit_stack(preds, y)
        elif self.method == "best":
            self._fit_best(preds, y)
        return self

    def _fit_best(self, preds: np.ndarray, y: np.ndarray) -> None:
        """Score each candidate by a nested CV on these rows only (inner folds, ``repeats`` seeded splits, the
        scores averaged), keep the best (``chosen_``; its inner CV per candidate in ``scores_``) where it beats the
        simpler by more than a standard error (``_clearly_better``), else the simpler, and refit it on all of them."""
        splits = [inner_folds(y, self.task, self.seed + repeat) for repeat in range(self.repeats)]
        scored = len(np.unique(splits[0])) >= 2
        oofs = {c: [squeeze(nested_oof(self._args(c), preds, y, fold_of)) for fold_of in splits]
                for c in CANDIDATES} if scored else {}
        self.scores_: dict[str, float] = {c: float(np.mean([self.metric(y, oof) for oof in oofs[c]])) for c in oofs}
        sign = 1.0 if self.metric.greater_is_better else -1.0
        # max: the first of equals, the simpler
        self.chosen_ = max(self.scores_, key=lambda c: sign * self.scores_[c]) if self.scores_ else CANDIDATES[0]
        if self.chosen_ != CANDIDATES[0] and not self._clearly_better(oofs[self.chosen_], oofs[CANDIDATES[0]], y,
                                                                       splits):
            self.chosen_ = CANDIDATES[0]
        self.inner_ = Blender(**self._args(self.chosen_)).fit(preds, y)
        self.weights_ = self.inner_.weights_

    def _clearly_better(self, oofs: list[np.ndarray], simpler: list[np.ndarray], y: np.ndarray,
                        splits: list[np.ndarray]) -> bool:
        """Whether a candidate beats the simpler one by more than one standard error of their difference over the
        inner folds of every split (the one-standard-error rule): a choice by a mean that chance could reverse kept
        following the split's luck (ames: two of five outer folds chose the stacker, nested CV 0.1191 against hill's
        0.1189). Where a fold cannot be scored alone (one class in it), the means decide."""
        sign = 1.0 if self.metric.greater_is_better else -1.0
        y = np.asarray(y)
        try:
            gains = [sign * (self.metric(y[rows], oof[rows]) - self.metric(y[rows], other[rows]))
                     for oof, other, fold_of in zip(oofs, simpler, splits)
                     for rows in (fold_of == k for k in np.unique(fold_of))]
        except (ValueError, UserError):
            return True
        gains = np.asarray(gains, float)
        if not np.isfinite(gains).all():
            return True
        return float(gains.mean()) > float(gains.std(ddof=1)) / np.sqrt(len(gains))

    def _args(self, method: str) -> dict:
        return {"method": method, "metric": self.metric, "task": self.task, "seed": self.seed, "repeats": self.repeats}

    def predict(self, preds: np.ndarray) -> np.ndarray:
        if self.method == "best":
            return self.inner_.predict(preds)
        if self.method in ("mean", "weights", "hill"):
            return self._combine_weighted(preds, self.weights_)
        if self.method == "rank":
            return rank_blend(preds, self._combine_weighted(preds, self.weights_), self.task)
        return self._predict_stack(preds)

    def _combine_weighted(self, preds: np.ndarray, w: np.ndarray) -> np.ndarray:
        return self._combine_in_space(self.metric.to_space(preds) if self.task == "regression" else preds, w)

    def _combine_in_space(self, space: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``_combine_weighted`` of predictions already in the metric's space (a number's; classes need none)."""
        if self.task == "regression":
            return self.metric.from_space(np.tensordot(w, space, axes=1))
        return np.tensordot(w, space, axes=1)

    def _features(self, preds: np.ndarray) -> np.ndarray:
        if self.task == "regression":
            return self.metric.to_space(preds[:, :, 0]).T
        # log(p + PROBA_FLOOR), not log(p) clipped at 1e-6: a forest's many exact zeros otherwise become extreme
        # features the stacker fits (order kept: ranks still count for AUC).
        return np.log(preds + PROBA_FLOOR).transpose(1, 0, 2).reshape(preds.shape[1], -1)

    def _fit_stack(self, preds, y):
        """A level-2 model on the members' predictions: for a number, a ridge with non-negative weights and an
        intercept in the metric's space (its alpha hardly matters: measured flat from 1e-3 to 100 on concrete);
        for classes, a logistic regression on the standardised log-probabilities (C = 1: a grid of 0.01 to 10 did
        not beat it on 32-class leaves)."""
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        X = self._features(preds)
        if self.task == "regression":
            return Ridge(alpha=1e-3, positive=True).fit(X, self.metric.to_space(np.asarray(y, float)))
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(X, y)

    def _predict_stack(self, preds):
        X = self._features(preds)
        if self.task == "regression":
            return self.metric.from_space(self.stacker_.predict(X))[:, None]
        proba = np.zeros((len(X), preds.shape[2]))  # a class none of its rows held: probability 0
        proba[:, self.stacker_.classes_] = self.stacker_.predict_proba(X)
        return proba

    @property
    def member_weights(self) -> np.ndarray | None:
        """The members' weights as fitted, or None for a level-2 model (its coefficients are no weights)."""
        return None if "stack" in (self.method, getattr(self, "chosen_", None)) else self.weights_


def fit_seconds(method: str, metric: Metric, task: str, preds: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Seconds of one fit of each candidate of ``method`` (``best``: each of ``CANDIDATES``) on these OOF predictions,
    all rows: the probe ``nested_seconds`` prices a blend by."""
    seconds = {}
    for candidate in CANDIDATES if method == "best" else (method,):
        start = time.perf_counter()
        Blender(candidate, metric, task).fit(preds, y)
        seconds[candidate] = time.perf_counter() - start
    return seconds


def nested_seconds(fits: dict[str, float], method: str, n_folds: int, repeats: int = INNER_REPEATS) -> float:
    """Seconds the nested blend (``nested_oof``, then the fit on all rows) should take, from one fit of each candidate
    timed on all rows (``fit_seconds``): ``best`` makes ``NESTED_FITS`` times the fits on ``INNER_REPEATS`` inner
    splits (each split 10 of its 31 fits a fold), another method one a fold and one on all rows."""
    times = NESTED_FITS * (10 * repeats + 1) / (10 * INNER_REPEATS + 1) if method == "best" else n_folds + 1
    return times * sum(fits.values())


def optimise_weights(preds: np.ndarray, y: np.ndarray, metric: Metric, combine) -> np.ndarray:
    """Non-negative weights summing to 1 that optimise the metric on (OOF) predictions (SLSQP)."""
    M = preds.shape[0]
    sign = -1.0 if metric.greater_is_better else 1.0

    def loss(w):
        return sign * metric(y, squeeze(combine(preds, np.clip(w, 0, None))))

    best = None
    for start in [np.full(M, 1.0 / M)] + [np.eye(M)[i] for i in range(M)]:
        res = minimize(loss, start, method="SLSQP", bounds=[(0, 1)] * M,
                       constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"maxiter": 200})
        if best is None or res.fun < best.fun:
            best = res
    w = np.clip(best.x, 0, None)
    return w / w.sum()


def inner_folds(y: np.ndarray, task: str, seed: int, k: int = INNER_FOLDS) -> np.ndarray:
    """``best``'s inner fold of each row: a permutation seeded by ``seed`` (for classes, then stably sorted by label,
    so each fold gets its share of every class), then the position modulo k; k is ``INNER_FOLDS``, fewer so that
    each fold holds ``INNER_ROWS`` rows or more (below two folds, all rows are fold 0: nothing to score)."""
    n = len(y)
    k = max(1, min(k, n // INNER_ROWS))
    order = np.random.default_rng(seed).permutation(n)
    if task != "regression":
        order = order[np.argsort(np.asarray(y)[order], kind="stable")]
    fold_of = np.empty(n, dtype=int)
    fold_of[order] = np.arange(n) % k
    return fold_of


def hill_climb(preds: np.ndarray, y: np.ndarray, metric: Metric, combine, steps: int = 25) -> np.ndarray:
    """Greedy ensemble selection (Caruana et al. 2004): start from the best member (or two or three), then ``steps``
    times add (with replacement) the member whose addition scores best, even when no addition improves (a flat step
    can lead to a better mix); the weights are the pick counts of the best-scoring step. Needs no slope, so it
    climbs any metric, smooth or not (accuracy, AUC)."""
    M = preds.shape[0]
    sign = 1.0 if metric.greater_is_better else -1.0

    def gain(counts):
        return sign * metric(y, squeeze(combine(preds, counts / counts.sum())))

    # Sorted initialisation: the equal mix of the best one, two or three members, whichever scores best (a vote of
    # three can beat each, where adding one voter to one cannot).
    order = np.argsort([-gain(np.eye(M)[m]) for m in range(M)], kind="stable")
    starts = [np.isin(np.arange(M), order[:n]).astype(float) for n in range(1, min(3, M) + 1)]
    counts = max(starts, key=gain).copy()  # ties: the fewest members
    best, best_counts = gain(counts), counts.copy()
    for _ in range(steps):
        scores = [gain(counts + np.eye(M)[m]) for m in range(M)]
        counts[int(np.argmax(scores))] += 1  # ties: the first member listed
        if max(scores) > best + 1e-12:
            best, best_counts = max(scores), counts.copy()
    return best_counts / best_counts.sum()


def rank_blend(preds: np.ndarray, reference: np.ndarray, task: str) -> np.ndarray:
    """Average normalised ranks per output column, then map them back onto the sorted values of
    ``reference`` (the mean blend) so the result keeps the scale the metric needs."""
    M, n, K = preds.shape
    out = np.empty((n, K))
    for k in range(K):
        ranks = np.mean([rankdata(preds[m, :, k]) / n for m in range(M)], axis=0)
        order = rankdata(ranks, method="ordinal").astype(int) - 1  # a permutation: ties broken by position
        out[:, k] = np.sort(reference[:, k])[order]
    if task != "regression":
        out = np.clip(out, 1e-9, None)
        out /= out.sum(axis=1, keepdims=True)
    return out


def nested_oof(blender_args: dict, preds: np.ndarray, y: np.ndarray, fold_of: np.ndarray,
               fitted: list[Blender] | None = None) -> np.ndarray:
    """Blend OOF honestly: for each fold, fit the blender on the other folds' OOF and predict this one. ``fitted``:
    a list that receives each fold's blender, in fold order."""
    out = np.empty(preds.shape[1:])
    for k in np.unique(fold_of):
        inside, outside = fold_of == k, fold_of != k
        blender = Blender(**blender_args).fit(preds[:, outside], y[outside])
        out[inside] = blender.predict(preds[:, inside]).reshape(inside.sum(), -1)
        if fitted is not None:
            fitted.append(blender)
    return out


def choice_record(final: Blender, by_fold: list[Blender]) -> dict:
    """For a ``best`` blend's metrics.json: the candidate it chose on all rows, each candidate's inner nested CV
    there, and what each outer fold's blend chose (on the other folds' rows); {} for the other methods."""
    if final.method != "best":
        return {}
    return {"chose": final.chosen_, "inner_cv": final.scores_, "chose_by_fold": [b.chosen_ for b in by_fold]}


def method_label(method: str, blend: dict) -> str:
    """The method as members.md and the log name it: ``best`` with what it chose (``best, chose stack``)."""
    return f"{method}, chose {blend['chose']}" if blend.get("chose") else method



def members_table(runs: list[Run], weights: np.ndarray | None) -> pd.DataFrame:
    """Each member's run, recipe, CV, holdout and weight; its fit and predict seconds summed over its folds (as
    its own run measured them: fitting, then predicting the held-out rows and the test set) and its most important
    features (its importance.csv)."""
    from shared import importance

    rows = []
    for i, r in enumerate(runs):
        fit, predict = (sum(v for v in (r.metrics.get(key) or {}).values() if v is not None) or None
                        for key in ("fit_times_s", "predict_times_s"))
        rows.append({"run": r.path.name, "recipe": r.config.get("recipe"), "cv": r.metrics["cv"],
                     "holdout": r.metrics.get("holdout"), "weight": None if weights is None else float(weights[i]),
                     "fit_s": fit, "predict_s": predict, "top_features": importance.top(r.path, 5)})
    return pd.DataFrame(rows)


IGNORED_FOR_MERGE = {"only_folds", "command", "code_version", "time_limit", fingerprint.KEY}  # data: compared apart



def fold_owners(parts: list[tuple[Path, dict, pd.DataFrame, dict]]) -> tuple[dict[int, int], list[int]]:
    """Partial runs as (path, config, folds.csv frame, their per-fold scores): check that they are one recipe and
    configuration on the same folds, each fold in exactly one of them; return {fold: index of the run holding
    it} and every fold. Shared by the table and the detection merge."""
    first_path, first_config, first_folds, _ = parts[0]
    for path, config, _, _ in parts[1:]:
        proven = first_config.get(fingerprint.KEY) is not None and config.get(fingerprint.KEY) is not None
        ignored = IGNORED_FOR_MERGE | ({"data_dir"} if proven else set())  # same data at another path: fine
        for key in set(first_config) | set(config):
            if key not in ignored and first_config.get(key) != config.get(key):
                raise UserError(f"{path} differs from {first_path} in {key!r} ({config.get(key)!r} vs "
                                f"{first_config.get(key)!r}): merge runs of one recipe and configuration only.")
    fingerprint.check_same_data([(path, config) for path, config, _, _ in parts])  # other data: other folds too
    for path, _, folds, _ in parts[1:]:
        a, b = first_folds.astype(str).values, folds.astype(str).values
        if a.shape != b.shape or not (a == b).all():
            raise UserError(f"{path}/folds.csv differs from {first_path}/folds.csv.")
    owner: dict[int, int] = {}
    for i, (path, _, _, scores) in enumerate(parts):
        for k in map(int, scores):
            if k in owner:
                raise UserError(f"fold {k} is in both {parts[owner[k]][0]} and {path}: each fold must come from "
                                "one run.")
            owner[k] = i
    all_folds = sorted(int(k) for k in first_folds["fold"].unique())
    missing = [k for k in all_folds if k not in owner]
    if missing:
        raise UserError(f"fold(s) {missing} are in none of the runs: run them with --only-folds "
                        f"{','.join(map(str, missing))} and merge again.")
    return owner, all_folds



MEMBER_COLUMNS = ["run", "recipe", "cv", "holdout", "weight", "fit_s", "predict_s", "top_features"]


def write_members(run_dir: Path, members: list[dict], method: str, methods: tuple[str, ...] = METHODS,
                  judge: bool = True) -> Path:
    """Each member's CV, holdout and weight beside the blend's nested CV and holdout (read back from the blend's
    metrics.json): in the log (stderr and log.txt) and in ``members.md``, with one warning line when the blend
    does not beat its best member (``judge=False``: the caller says what follows from that). ``methods``: the blend
    methods to suggest instead."""
    blend = json.loads((run_dir / "metrics.json").read_text())
    label = f"ensemble ({method_label(method, blend)}, nested CV)"
    row = {"run": run_dir.name, "cv": blend["cv"], "holdout": blend.get("holdout"), "weight": None}
    names = {"cv": f"CV {blend['metric']}", "holdout": f"holdout {blend['metric']}", "fit_s": "fit (s)",
             "predict_s": "predict (s)", "top_features": "top features (importance.csv)"}

    def frame(recipe: str) -> pd.DataFrame:
        table = pd.DataFrame([*members, {**row, "recipe": recipe}]).reindex(columns=MEMBER_COLUMNS)
        for seconds in ("fit_s", "predict_s"):  # seconds to the hundredth, not to five decimals
            table[seconds] = [None if pd.isna(v) else f"{v:.2f}" for v in table[seconds]]
        return table

    log = get_log()
    if blend.get("chose"):
        log.info(choice_line(blend))
    log.info("members and blend:\n" + text_table(frame(label).rename(columns=names)).rstrip("\n"))
    warning = not_better(members, blend, method, methods) if judge else None
    if warning:
        log.warning(warning)
    table = markdown_table(frame(f"**{label}**").rename(columns=names))
    notes = [choice_line(blend)] if blend.get("chose") else []
    notes += [warning] if warning else []
    write_text(run_dir / "members.md", table + "".join(f"\n{line}\n" for line in notes))
    return run_dir


def choice_line(blend: dict) -> str:
    """One line on what ``best`` chose: each candidate's inner nested CV on all rows, and each outer fold's choice."""
    scores = ", ".join(f"{c} {v:.5f}" for c, v in blend.get("inner_cv", {}).items()) or "too few rows to score"
    return (f"best chose {blend['chose']} (inner nested CV {blend['metric']}: {scores}; the outer folds' blends "
            f"chose {', '.join(blend.get('chose_by_fold', []))}).")


def not_better(members: list[dict], blend: dict, method: str, methods: tuple[str, ...]) -> str | None:
    """The warning line when the blend's CV does not beat its best member's (a tie does not beat it), else None."""
    sign = 1.0 if blend["greater_is_better"] else -1.0
    best = max(members, key=lambda m: sign * m["cv"])
    if sign * blend["cv"] > sign * best["cv"]:
        return None
    others = sorted((m for m in methods if m != method), key=lambda m: m != "weights")  # weights can pick one run
    tip = ""
    if others:
        tip = ", or try --method " + (f"{', '.join(others[:-1])} or " if len(others) > 1 else "") + others[-1]
    return (f"warning: the blend's CV {blend['metric']} {blend['cv']:.5f} does not beat its best member "
            f"{best['run']} ({best['recipe']}) at {best['cv']:.5f}: submit {best['run']} alone{tip}.")


FOLD_RECORDS = ("history.csv", "curves.png", "predict.json",  # a fold's small records: learning curves, speeds,
                "importance.csv")  # its feature importance


def copy_fold_records(owners: dict[int, Path], run_dir: Path) -> None:
    """A merged run gets each fold's small records from the partial run that trained it (not its checkpoint)."""
    for k, path in owners.items():
        for name in FOLD_RECORDS:
            source = Path(path) / f"fold{k}" / name
            if source.is_file():
                atomic_write(Path(run_dir) / f"fold{k}" / name, lambda tmp, s=source: shutil.copyfile(s, tmp))


@contextmanager
def staged_run_dir(out_root: Path, competition: str, name: str,
                   label: str = "") -> Iterator[tuple[Path, Path]]:
    """(the folder to build a blend's run in, the run folder it becomes): built under a hidden temporary folder and
    renamed into place once complete, so that a blend that fails leaves nothing behind. Its name is reserved at the start (an empty folder), so that report.html, the
    pictures and the log name the folder it ends in; log lines that name the temporary folder name the final one."""
    final = new_run_dir(out_root, competition, name, label or "")
    holder = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    stage = holder / competition / final.name  # the same parent and folder names as the final one
    stage.mkdir(parents=True)
    shown_as = _ShownAs(stage, final)
    logging.getLogger(LOGGER).addFilter(shown_as)
    try:
        yield stage, final
        os.replace(stage, final)  # onto the empty reserved folder, in one step
    except BaseException:
        final.rmdir()
        raise
    finally:
        logging.getLogger(LOGGER).removeFilter(shown_as)
        shutil.rmtree(holder, ignore_errors=True)


class _ShownAs(logging.Filter):
    """Log lines name the folder a staged run ends in, not the temporary one it is built in."""

    def __init__(self, stage: Path, final: Path):
        super().__init__()
        self.stage, self.final = str(stage), str(final)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = record.getMessage().replace(self.stage, self.final), ()
        return True
