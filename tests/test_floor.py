"""The library-default floor (``shared.tabular.defaults``): each library with its own defaults fits and predicts
every task on the columns the feature code makes, its recipes run end to end; and the generic ``linear`` member's
``alpha=auto``, which picks its strength on inner folds and keeps the library default unless another clearly
beats it, while a number is honoured exactly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli

from shared.models import ModelContext
from shared.tabular import generic
from shared.tabular.defaults import FLOOR, LIBRARIES, LibraryDefaults
from shared.tabular.models import LINEAR_PARAMS, LinearModel


def frame(task: str, n: int = 150, seed: int = 0):
    """(X, y): a signal in a number and a category, gaps in a noise column; classes 0..3 of which 3 is absent (a
    class of the run that the fold's rows lack)."""
    rng = np.random.default_rng(seed)
    x, noise = rng.normal(size=n), rng.normal(size=n)
    noise[::6] = np.nan
    colour = pd.Categorical(rng.choice(["red", "green", "blue"], n), categories=["blue", "green", "red"])
    score = 2 * x + (np.asarray(colour) == "red") * 1.5
    if task == "regression":
        y = score + rng.normal(0, 0.3, n)
    else:
        k = 2 if task == "binary" else 3
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, k + 1)[1:-1])).astype(int)
    return pd.DataFrame({"x": x, "noise": noise, "colour": colour}), y


def context(task: str, n_classes: int, metric: str = "logloss", tmp: Path = Path("unused")) -> ModelContext:
    return ModelContext(task, "rmse" if task == "regression" else metric, n_classes, 0, 0.01, tmp, 1)


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("library", list(LIBRARIES))
def test_each_library_default_fits_and_predicts_every_class_of_the_run(library, task, tmp_path):
    X, y = frame(task)
    n_classes = {"regression": 0, "binary": 2, "multiclass": 4}[task]  # multiclass: class 3 has no row
    model = LibraryDefaults({"library": library}, context(task, n_classes, tmp=tmp_path)).fit(X[:100], y[:100])
    pred = model.predict(X[100:])
    assert np.isfinite(pred).all()
    if task == "regression":
        assert pred.shape == (50,) and np.mean((pred - y[100:]) ** 2) < 0.5 * np.var(y[100:])
    else:
        assert pred.shape == (50, n_classes) and np.allclose(pred.sum(axis=1), 1)
        assert (pred.argmax(axis=1) == y[100:]).mean() > 0.6
        if task == "multiclass":
            assert (pred[:, 3] == 0).all()
    assert model.gain_importance().shape == (3,)


def test_the_defaults_are_the_librarys_and_ignore_a_time_limit(tmp_path):
    import lightgbm as lgb

    X, y = frame("multiclass")
    model = LibraryDefaults({"library": "lightgbm"}, context("multiclass", 3, tmp=tmp_path)).fit(X, y)
    reference = lgb.LGBMClassifier(random_state=0, n_jobs=1, verbose=-1, deterministic=True,
                                   force_row_wise=True).fit(X, y)
    assert model.model_.n_estimators == 100 and model.model_.booster_.current_iteration() == 100
    assert np.allclose(model.predict(X), reference.predict_proba(X))
    assert set(FLOOR.values()) == {f"{library}_defaults" for library in LIBRARIES} <= set(generic.RECIPES)
    assert set(FLOOR) <= set(generic.RECIPES)


def test_the_default_recipes_run_end_to_end_and_are_listed(tmp_path):
    rng = np.random.default_rng(1)
    n = 120
    df = pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n), "kind": rng.choice(["a", "b", "c"], n)})
    df["y"] = np.where(df["x"] + (df["kind"] == "a") + rng.normal(0, 0.3, n) > 0.3, "yes", "no")
    df.loc[::9, "x"] = np.nan
    df.iloc[:90].to_csv(tmp_path / "train.csv", index=False)
    df.iloc[90:].drop(columns="y").to_csv(tmp_path / "test.csv", index=False)
    df.iloc[90:][["id"]].assign(y="no").to_csv(tmp_path / "sample_submission.csv", index=False)
    for recipe in ("lightgbm_defaults", "linear_defaults", "extra_trees_defaults"):
        rc, out, err = run_cli("run", "tabular", "--data", tmp_path, "--target", "y", "--id", "id", "--metric", "auc",
                               "--folds", "2", "--recipe", recipe, "--out", tmp_path / "runs")
        assert rc == 0, err
        run = Path(last_line(out))
        assert run.name.startswith(recipe) and len(pd.read_csv(run / "submission.csv")) == 30
    rc, out, _ = run_cli("run", "tabular", "--list")
    assert rc == 0 and "xgboost_defaults" in out and "the floor auto's members are measured against" in out


def separable(noise: float, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    y = (X[:, :4].sum(axis=1) + rng.normal(0, noise, n) > 0).astype(int)
    return pd.DataFrame(X, columns=[f"c{i}" for i in range(8)]), y


def test_linear_auto_picks_a_weaker_penalty_on_clean_data_than_on_noisy(log_lines):
    clean = LinearModel(dict(LINEAR_PARAMS), context("binary", 2)).fit(*separable(0.05))
    noisy = LinearModel(dict(LINEAR_PARAMS), context("binary", 2)).fit(*separable(8.0))
    assert clean.alpha_ < noisy.alpha_
    assert clean.pipeline_[-1].C == 1 / clean.alpha_
    assert any(line.startswith("linear: alpha ") and "inner folds" in line for line in log_lines)


def test_linear_auto_is_not_below_the_library_default_on_many_classes():
    """10 classes, 400 rows, many informative columns (the Flavia leaves' shape): alpha=auto's CV accuracy is at
    least LogisticRegression()'s on the same folds (the old fixed alpha 10 was below it)."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import StratifiedKFold

    X, y = make_classification(n_samples=400, n_features=30, n_informative=25, n_redundant=0, n_classes=10,
                               n_clusters_per_class=1, class_sep=1.5, random_state=0)
    X = pd.DataFrame(X, columns=[f"c{i}" for i in range(30)])
    right = {"auto": 0, "default": 0}
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
        ctx = context("multiclass", 10, metric="accuracy")
        for name, model in (("auto", LinearModel(dict(LINEAR_PARAMS), ctx)),
                            ("default", LibraryDefaults({"library": "linear"}, ctx))):
            right[name] += (model.fit(X.iloc[train], y[train]).predict(X.iloc[test]).argmax(axis=1) == y[test]).sum()
    assert right["auto"] >= right["default"]


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_fixed_alpha_is_honoured_exactly(task):
    from sklearn.linear_model import LogisticRegression, Ridge

    X, y = separable(1.0)
    y = y if task == "binary" else X["c0"].to_numpy() * 3 + X["c1"].to_numpy()
    params = {**LINEAR_PARAMS, "alpha": 4.0, "skew_threshold": float("inf")}
    model = LinearModel(params, context(task, 2 if task == "binary" else 0)).fit(X, y)
    features = model.pipeline_[0].transform(X)
    reference = (LogisticRegression(C=0.25, max_iter=2000) if task == "binary" else Ridge(alpha=4.0)).fit(features, y)
    assert model.alpha_ == 4.0
    assert np.allclose(model.pipeline_[-1].coef_, reference.coef_)
