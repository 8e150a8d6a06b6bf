"""The tabular model zoo: every member fits and predicts on tiny data for each task (values for regression,
probabilities that sum to 1 for classes, better than a constant on rows it never saw), takes the columns the
feature code makes (numbers with gaps, pandas categories, a level unseen in training), and stops at its time
limit; LightGBM's softmax sizes its rounds by the number of classes."""
from __future__ import annotations

import importlib.util
import logging
import time

import numpy as np
import pandas as pd
import pytest

from shared.log import LOGGER
from shared.models import FoldPipeline, ModelContext
from shared.tabular import generic
from shared.tabular.models import GBM_PARAMS, sized_for_classes

ZOO = ["linear", "gbm", "catboost", "xgboost", "extra_trees", "rf", "knn", "mlp"]
TASKS = ["regression", "binary", "multiclass"]


def tiny(task: str, n: int = 240, seed: int = 0):
    """(X, y, X_new, y_new): a signal in a number and a category, a noise column, gaps, and one level of the category
    that only the new rows have."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=2 * n)
    colour = rng.choice(["red", "green", "blue"], 2 * n)
    score = 2 * x + (colour == "red") * 1.5
    if task == "regression":
        y = score + rng.normal(0, 0.3, 2 * n)
    else:
        k = 2 if task == "binary" else 4
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1])).astype(int)
    noise = rng.normal(size=2 * n)
    noise[::7] = np.nan
    colour = colour.astype(object)
    colour[n + 3] = "violet"  # never seen in training
    frame = pd.DataFrame({"x": x, "noise": noise, "colour": colour})
    train, test = frame.iloc[:n].copy(), frame.iloc[n:].copy()
    levels = sorted(train["colour"].unique())
    for df in (train, test):
        df["colour"] = pd.Categorical(df["colour"], categories=levels)
    return train, y[:n], test.reset_index(drop=True), y[n:]


def fit_member(name: str, task: str, tmp_path, time_limit=None, params=None, n: int = 240):
    recipe = generic.RECIPES[name]
    X, y, X_new, y_new = tiny(task, n)
    classes = 0 if task == "regression" else len(np.unique(y))
    ctx = ModelContext(task, "rmse" if task == "regression" else "logloss", classes, 0, time_limit, tmp_path / name, 2)
    steps = recipe.fold_features(X, recipe.feature_params, ctx) if recipe.fold_features else []
    model = FoldPipeline(steps, recipe.model({**recipe.model_params, **(params or {})}, ctx))
    t0 = time.monotonic()
    model.fit(X, y)
    seconds = time.monotonic() - t0
    return model.predict(X_new), y_new, seconds


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", ZOO)
def test_every_member_fits_and_predicts_each_task(name, task, tmp_path):
    pred, y_new, _ = fit_member(name, task, tmp_path)
    assert np.isfinite(pred).all()
    if task == "regression":
        assert pred.shape == (len(y_new),)
        assert np.mean((pred - y_new) ** 2) < 0.5 * np.var(y_new)  # learnt the signal, on rows it never saw
    else:
        k = len(np.unique(y_new))
        assert pred.shape == (len(y_new), k)
        assert np.allclose(pred.sum(axis=1), 1, atol=1e-6) and (pred >= 0).all()
        majority = np.bincount(y_new).max() / len(y_new)
        assert (pred.argmax(axis=1) == y_new).mean() > majority + 0.15


@pytest.mark.parametrize("name", ["gbm", "catboost", "xgboost", "extra_trees", "mlp"])
def test_a_member_stops_at_its_time_limit(name, tmp_path):
    """Settings that would take hours: the fit stops at its limit, and says so, with a usable model (how soon after
    the limit is a matter for a benchmark: a loaded machine is slow to notice it)."""
    slow = {"gbm": {"learning_rate": 1e-4, "max_rounds": 10**6, "early_stopping_rounds": 10**6, "pace": False},
            "catboost": {"learning_rate": 1e-4, "max_rounds": 10**6, "early_stopping_rounds": 10**6, "pace": False},
            "xgboost": {"learning_rate": 1e-4, "max_rounds": 10**6, "early_stopping_rounds": 10**6, "pace": False},
            "extra_trees": {"n_estimators": 10**6},
            "mlp": {"lr": 1e-6, "max_epochs": 10**6, "patience": 10**6}}[name]
    if name == "mlp":
        import torch  # noqa: F401  (torch's first import in a process, seconds on a cold disk, is not the fit's)
    said = []
    listen = logging.Handler(logging.INFO)
    listen.emit = lambda record: said.append(record.getMessage())
    log = logging.getLogger(LOGGER)
    level = log.level
    log.addHandler(listen)
    log.setLevel(logging.INFO)
    try:
        pred, _, _ = fit_member(name, "regression", tmp_path, time_limit=1.5, params=slow, n=2000)
    finally:
        log.removeHandler(listen)
        log.setLevel(level)
    assert any("the fit's time limit" in line for line in said), said  # it stopped there, not at its settings' end
    assert np.isfinite(pred).all()


def test_the_same_seed_gives_the_same_predictions(tmp_path):
    for name in ("catboost", "xgboost", "extra_trees", "mlp"):
        a, _, _ = fit_member(name, "multiclass", tmp_path / "a")
        b, _, _ = fit_member(name, "multiclass", tmp_path / "b")
        assert np.array_equal(a, b), name


def test_softmax_boosting_sizes_its_rounds_to_the_classes():
    p = GBM_PARAMS
    assert sized_for_classes(p, 2) == (p["learning_rate"], p["max_rounds"], p["early_stopping_rounds"])
    lr, rounds, patience = sized_for_classes(p, 32)
    assert rounds * 32 <= p["max_trees"] and rounds < p["max_rounds"]  # trees per fit grow with classes, no faster
    assert lr == pytest.approx(p["learning_rate"] * 4) and patience == round(p["early_stopping_rounds"] / 4)
    assert sized_for_classes({**p, "learning_rate": 0.2}, 32)[0] == 0.3  # capped


def test_svr_is_for_regression_only(tmp_path):
    from shared.errors import UserError
    from shared.tabular.zoo import SVR_PARAMS, SVRModel

    X, y, _, _ = tiny("binary")
    ctx = ModelContext("binary", "auc", 2, 0, None, tmp_path, 1)
    with pytest.raises(UserError, match="svr recipe is for regression"):
        SVRModel(SVR_PARAMS, ctx).fit(X, y)


@pytest.mark.integration  # pytabkit's first import takes a while
@pytest.mark.skipif(importlib.util.find_spec("pytabkit") is None, reason="pytabkit not installed")
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", ["realmlp", "tabm"])
def test_pytabkit_members_fit_and_predict_each_task(name, task, tmp_path):
    pred, y_new, _ = fit_member(name, task, tmp_path, params={"n_epochs": 64})
    assert np.isfinite(pred).all()
    if task == "regression":
        assert np.mean((pred - y_new) ** 2) < np.var(y_new)
    else:
        assert np.allclose(pred.sum(axis=1), 1, atol=1e-5)
        assert (pred.argmax(axis=1) == y_new).mean() > np.bincount(y_new).max() / len(y_new)


@pytest.mark.parametrize("name", ["linear", "svr", "mlp", "knn"])
def test_clip_range_prices_a_number_beyond_the_training_range_as_its_edge(name, tmp_path):
    """With ``clip_range`` a value beyond every training row's is predicted as the largest seen (a slope is not
    extrapolated past the data); without it the linear model extrapolates. The range is the fold's training rows'."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 200)
    X = pd.DataFrame({"x": x, "other": rng.normal(size=200)})
    y = x + rng.normal(0, 0.05, 200)
    far = pd.DataFrame({"x": [10.0, 40.0, -30.0], "other": [0.0, 0.0, 0.0]})
    recipe = generic.RECIPES[name]
    ctx = ModelContext("regression", "rmse", 0, 0, None, tmp_path / name, 1)
    clipped = recipe.model({**recipe.model_params, "clip_range": True, "skew_threshold": 100.0}, ctx).fit(X, y)
    edge, beyond, below = clipped.predict(far)
    assert beyond == pytest.approx(edge, abs=1e-5)  # 10 and 40 are both seen as the largest training x
    assert below == pytest.approx(clipped.predict(far.assign(x=x.min()))[0], abs=1e-5)
    if name == "linear":
        free = recipe.model({**recipe.model_params, "clip_range": False, "skew_threshold": 100.0}, ctx).fit(X, y)
        assert free.predict(far)[1] > 30  # the line goes on
        assert 9 < edge < 11


def test_house_prices_linear_members_clip_to_the_training_range():
    """House Prices' Lasso, SVR, MLP and the Lasso base of its gbm clip (a partial sale of a house larger than any
    seen was priced at $1.7M by the slope); the generic defaults do not."""
    from competitions.house_prices import RECIPES as HOUSE

    assert all(HOUSE[name].model_params["clip_range"] for name in ("linear", "svr", "mlp", "gbm"))
    assert not any(generic.RECIPES[name].model_params["clip_range"] for name in ("linear", "svr", "mlp", "knn", "gbm"))
