"""The one k-fold loop: for each saved fold fit a fresh model, predict the held-out rows (OOF) and the
test set, score, and write the run directory. Models only need ``fit(X, y)`` and ``predict(X)``."""
from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from shared import plots, submission
from shared.config import resolve
from shared.cv import load_or_make_folds
from shared.errors import UserError, show
from shared.io import read_csv, write_csv, write_json, write_npy
from shared.metrics import Metric, average, squeeze
from shared.runs import get_log, git_version, logging_to, new_run_dir, save_config, start_log
from shared.spec import CompetitionSpec, Dataset


def available_cores() -> int:
    """Cores this process may use (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class ModelContext:
    """What a model factory may need besides its hyperparameters."""

    task: str  # regression | binary | multiclass
    metric: str  # the competition metric's name
    n_classes: int
    seed: int
    time_limit: float | None  # seconds for this fold's fit, when the recipe honours a budget
    workdir: Path  # scratch space inside the run (AutoGluon saves its models here)
    n_jobs: int


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def encode_target(spec: CompetitionSpec, y: pd.Series) -> tuple[np.ndarray, list | None]:
    if spec.task == "regression":
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            raise UserError(f"target column {spec.target_col!r} has non-numeric value "
                            f"{show(y[values.isna()].iloc[0])}; a regression target must be numeric.")
        if spec.metric.positive and (values <= -1).any():
            raise UserError(f"target column {spec.target_col!r} has values <= -1, which {spec.metric.name} cannot take.")
        return values.to_numpy(float), None
    classes = sorted(pd.unique(y), key=str)
    if len(classes) < 2:
        raise UserError(f"target column {spec.target_col!r} has a single class; nothing to learn.")
    codes = pd.Categorical(y, categories=classes).codes
    return codes.astype(int), [c.item() if hasattr(c, "item") else c for c in classes]


def prediction_columns(spec: CompetitionSpec, classes: list | None) -> list[str]:
    if classes is None:
        return ["prediction"]
    return [f"proba_{c}" for c in classes]


def to_submission_values(spec: CompetitionSpec, pred: np.ndarray, classes: list | None,
                         sample: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Turn averaged predictions into the sample submission's columns (values, labels or probabilities)."""
    target_cols = [c for c in sample.columns if c != spec.id_col]
    if classes is None:
        return pred, target_cols
    if len(target_cols) == len(classes) and {str(c) for c in target_cols} == {str(c) for c in classes}:
        order = [[str(c) for c in classes].index(str(col)) for col in target_cols]
        return pred[:, order], target_cols
    if spec.metric.name == "accuracy":
        return np.asarray(classes, dtype=object)[pred.argmax(axis=1)], target_cols
    if len(classes) == 2:
        return pred[:, 1], target_cols
    raise UserError(f"the sample submission's columns {target_cols} match neither one label column "
                    f"nor the classes {classes}.")


def run(spec: CompetitionSpec, recipe_name: str | None, data_dir: Path, n_folds: int = 5, seed: int = 42,
        time_limit: float | None = None, out_root: Path = Path("runs"), overrides: dict | None = None,
        only_folds: list[int] | None = None) -> Path:
    """Run one recipe with k-fold CV and write a complete run directory; return its path."""
    started = time.time()
    recipe = spec.recipe(recipe_name)
    config = resolve(recipe, overrides or {})
    data = spec.load(Path(data_dir), clean=config["clean_train"])
    metric: Metric = spec.metric
    y, classes = encode_target(spec, data.train[spec.target_col])
    ids = data.train[spec.id_col]
    folds = load_or_make_folds(Path(out_root) / spec.name / "folds", ids, n_folds, seed, spec.fold_kind,
                               target=y, id_col=spec.id_col)
    fold_ids = sorted(folds["fold"].unique())
    todo = fold_ids if only_folds is None else sorted(set(only_folds))
    bad = [k for k in todo if k not in fold_ids]
    if bad:
        raise UserError(f"--only-folds {bad}: folds run from 0 to {len(fold_ids) - 1}.")

    if time_limit is not None and "time_limit" in config["model"]:
        config["model"]["time_limit"] = float(time_limit)  # --time-limit is the recipe's total budget
    budget = config["model"].get("time_limit")
    per_fold_budget = None if budget is None else budget / len(todo)

    run_dir = new_run_dir(out_root, spec.name, recipe.name)
    log = start_log(run_dir)
    log_target = metric.log_space if config["log_target"] is None else config["log_target"]
    config.update({
        "competition": spec.name, "id_col": spec.id_col, "target_col": spec.target_col, "task": spec.task,
        "metric": metric.name, "classes": classes, "log_target": log_target, "seed": seed,
        "n_folds": n_folds, "fold_kind": spec.fold_kind, "only_folds": None if only_folds is None else todo,
        "time_limit": time_limit, "data_dir": str(Path(data_dir).resolve()), "code_version": git_version(),
        "command": " ".join(sys.argv),
    })
    save_config(run_dir, config)
    write_csv(run_dir / "folds.csv", folds)
    log.info(f"{spec.name} / {recipe.name}: {recipe.about}")
    if config["clean_train"] and spec.clean_train is not None:
        log.info(f"clean_train: {spec.clean_train_about} (keep all with --set clean_train=false)")
    log.info(f"run directory {run_dir}; {len(data.train)} train rows, {len(data.test)} test rows, "
             f"{len(todo)} of {len(fold_ids)} folds")

    seed_everything(seed)
    X, X_test = recipe.features(data.train.drop(columns=[spec.id_col, spec.target_col]),
                                data.test.drop(columns=[spec.id_col]), config["features"])
    log.info(f"features: {X.shape[1]} columns")
    target = np.log1p(y) if log_target else y
    fold_of = folds["fold"].to_numpy()
    n_out = 1 if classes is None else len(classes)
    oof = np.full((len(X), n_out), np.nan)
    test_folds, fold_scores, fold_times = [], [], []

    for k in tqdm(todo, desc=f"{recipe.name} folds", file=sys.stderr, leave=False):
        t0 = time.time()
        train_rows, valid_rows = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        seed_everything(seed)
        ctx = ModelContext(spec.task, metric.name, n_out if classes else 0, seed, per_fold_budget, run_dir / f"fold{k}",
                           available_cores())
        model = recipe.model(config["model"], ctx)
        model.fit(X.iloc[train_rows], target[train_rows])
        pred_valid, pred_test = _predict(model, X.iloc[valid_rows], log_target), _predict(model, X_test, log_target)
        if hasattr(model, "cleanup"):
            model.cleanup()
        oof[valid_rows] = pred_valid.reshape(len(valid_rows), n_out)
        test_folds.append(pred_test.reshape(len(X_test), n_out))
        fold_scores.append(metric(y[valid_rows], squeeze(oof[valid_rows])))
        fold_times.append(time.time() - t0)
        log.info(f"fold {k}: {metric.name} {fold_scores[-1]:.5f} ({fold_times[-1]:.1f} s, "
                 f"{len(train_rows)} train rows)")
        if ctx.workdir.exists() and not any(ctx.workdir.iterdir()):
            ctx.workdir.rmdir()

    test_folds = np.stack(test_folds)
    return write_results(run_dir, spec, data, y, classes, fold_of, oof, todo, fold_scores,
                         test_folds, fold_average(test_folds, metric, classes), started,
                         {"recipe": recipe.name, "fold_times_s": dict(zip(map(str, todo), fold_times)),
                          "complete": len(todo) == len(fold_ids)})


def fold_average(test_folds: np.ndarray, metric: Metric, classes: list | None) -> np.ndarray:
    """Test predictions averaged over folds: in the metric's space for values, plain mean of probabilities."""
    return average(test_folds, metric, axis=0) if classes is None else test_folds.mean(axis=0)


def write_results(run_dir: Path, spec: CompetitionSpec, data: Dataset, y: np.ndarray, classes: list | None,
                  fold_of: np.ndarray, oof: np.ndarray, folds_done: list[int], fold_scores: list[float],
                  test_folds: np.ndarray, test_pred: np.ndarray, started: float, extra: dict) -> Path:
    """Write OOF, test predictions, the validated submission, metrics (with the local holdout when a
    solution file exists) and plots. Shared by runs, merged runs and ensembles."""
    log = start_log(run_dir) if not logging_to(run_dir) else get_log()
    metric = spec.metric
    done = np.isin(fold_of, folds_done)
    cv_score = metric(y[done], squeeze(oof[done]))
    columns = prediction_columns(spec, classes)
    oof_df = pd.DataFrame(oof[done], columns=columns)
    oof_df.insert(0, "target", data.train[spec.target_col].to_numpy()[done])
    oof_df.insert(0, "fold", fold_of[done])
    oof_df.insert(0, spec.id_col, data.train[spec.id_col].to_numpy()[done])
    write_csv(run_dir / "oof.csv", oof_df)
    test_df = pd.DataFrame(test_pred.reshape(len(data.test), -1), columns=columns)
    test_df.insert(0, spec.id_col, data.test[spec.id_col].to_numpy())
    write_csv(run_dir / "test_pred.csv", test_df)
    write_npy(run_dir / "test_folds.npy", test_folds)

    values, target_cols = to_submission_values(spec, squeeze(test_pred), classes, data.sample_submission)
    sub = submission.build(data.sample_submission, spec.id_col, data.test[spec.id_col], values, target_cols)
    submission.write(run_dir / "submission.csv", sub, data.sample_submission, spec.id_col, metric, classes)

    metrics = {
        "competition": spec.name, "metric": metric.name, "greater_is_better": metric.greater_is_better,
        "cv": cv_score, "cv_mean": float(np.mean(fold_scores)), "cv_std": float(np.std(fold_scores)),
        "folds": dict(zip(map(str, folds_done), map(float, fold_scores))), "holdout": None, **extra,
    }
    solution = data.data_dir / spec.solution_file
    if solution.is_file():
        metrics["holdout"] = submission.score(sub, read_csv(solution, [spec.id_col], "solution"), spec.id_col,
                                              metric, classes)
    metrics["wall_time_s"] = time.time() - started
    write_json(run_dir / "metrics.json", metrics)
    plots.run_plots(run_dir, metric, y[done], squeeze(oof[done]), folds_done, fold_scores, classes)

    holdout = "" if metrics["holdout"] is None else f", local holdout {metrics['holdout']:.5f}"
    log.info(f"CV {metric.name} {cv_score:.5f} (folds {metrics['cv_mean']:.5f} ± {metrics['cv_std']:.5f})"
             f"{holdout}; {metrics['wall_time_s']:.1f} s")
    log.info(f"submission: {run_dir / 'submission.csv'}")
    return run_dir


def _predict(model, X: pd.DataFrame, log_target: bool) -> np.ndarray:
    pred = np.asarray(model.predict(X), float)
    return np.expm1(pred) if log_target else pred
