"""SHAP importance of table runs (``--set importance=shap``): the boosters' own TreeSHAP per model input column
(additive: a row's values and the bias sum to its raw prediction), on the same seeded sample of a fold's held-out
rows as the permutation; the run's importance.csv, importance.png and report.html show it beside gain; the same
seed gives the same file, a merge of partial runs the full run's; the models and submission are those of a run
without it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli
from test_importance import run, signal_and_noise

from shared.importance import Plan
from shared.metrics import get_metric
from shared.models import ModelContext

SHAP = ["--set", "importance=shap"]


def tiny(task: str, n: int = 160) -> tuple[pd.DataFrame, np.ndarray]:
    """Two numbers and a category; the target follows the first and the category (classes: its bins)."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": pd.Categorical(rng.choice(["x", "y", "z"], n))})
    value = 2 * X["a"].to_numpy() + (X["c"] == "x").to_numpy() + 0.1 * rng.normal(size=n)
    cuts = {"regression": None, "binary": [0.5], "multiclass": [1 / 3, 2 / 3]}[task]
    return X, (value if cuts is None else np.digitize(value, np.quantile(value, cuts)))


def fitted(name: str, task: str, X: pd.DataFrame, y: np.ndarray, tmp_path: Path):
    from shared.tabular.models import LGBMModel
    from shared.tabular.zoo import CATBOOST_PARAMS, XGBOOST_PARAMS, CatBoostModel, XGBoostModel

    classes = {"regression": 0, "binary": 2, "multiclass": 3}[task]
    ctx = ModelContext(task, "rmse" if task == "regression" else "logloss", classes, 0, None, tmp_path, 1)
    quick = {"max_rounds": 30, "early_stopping_rounds": 10}
    model = {"lightgbm": lambda: LGBMModel({**quick, "linear_base": "none", "min_data_in_leaf": 5}, ctx),
             "xgboost": lambda: XGBoostModel({**XGBOOST_PARAMS, **quick}, ctx),
             "catboost": lambda: CatBoostModel({**CATBOOST_PARAMS, **quick}, ctx)}[name]()
    return model.fit(X, y)


def raw_prediction(name: str, model, X: pd.DataFrame) -> np.ndarray:
    if name == "lightgbm":
        return model.booster_.predict(X, num_iteration=model.booster_.best_iteration or None, raw_score=True)
    if name == "xgboost":
        return model.booster_.predict(model._matrix(X), iteration_range=(0, model.use_rounds_), output_margin=True)
    return model.model_.predict(model._frame(X), prediction_type="RawFormulaVal")


@pytest.mark.parametrize("name, task", [("lightgbm", "regression"), ("lightgbm", "multiclass"),
                                        ("xgboost", "regression"), ("xgboost", "multiclass"),
                                        ("catboost", "binary")])
def test_treeshap_values_and_bias_sum_to_the_raw_prediction(name, task, tmp_path):
    X, y = tiny(task)
    model = fitted(name, task, X, y, tmp_path)
    values = model.shap_values(X.iloc[:50])
    outputs = 3 if task == "multiclass" else 1
    assert values.shape == (50, outputs, X.shape[1] + 1)  # each input column (the category as one), the bias last
    raw = raw_prediction(name, model, X.iloc[:50]).reshape(50, outputs)
    np.testing.assert_allclose(values.sum(axis=2), raw, rtol=1e-4, atol=1e-4)
    assert np.abs(values[:, :, 0]).mean() > np.abs(values[:, :, 1]).mean()  # a, the signal, above b, the noise


class Recorder:
    """A model whose SHAP value of a column is the column itself: its mean |SHAP| is the mean |x| of the rows it got."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["a"].to_numpy(float)

    def shap_values(self, X: pd.DataFrame) -> np.ndarray:
        return np.concatenate([X.to_numpy(float), np.ones((len(X), 1))], axis=1)[:, None, :]


def test_shap_is_measured_on_the_permutations_seeded_sample_and_a_model_without_one_is_said_once(caplog):
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80)})
    plan = Plan("all", repeats=1, columns=10, rows=30, metric=get_metric("rmse"), y=X["a"].to_numpy(), seed=7)
    table = plan.of_fold(Recorder(), X, np.arange(80), Recorder().predict, fold=2).set_index("feature")
    keep = np.sort(np.random.default_rng([7, 2]).choice(80, 30, replace=False))  # the permutation's draw
    np.testing.assert_allclose(table["shap"], X.iloc[keep].abs().mean())
    assert table.loc["b", "permutation"] == 0.0 and "gain" not in table
    without = Plan("shap", repeats=1, columns=10, rows=30, metric=get_metric("rmse"), y=X["a"].to_numpy(), seed=7)
    with caplog.at_level("INFO"):
        for fold in range(3):
            assert without.of_fold(object(), X, np.arange(80), None, fold) is None
    assert [r.getMessage() for r in caplog.records].count(
        "importance: object has no TreeSHAP (LightGBM, XGBoost and CatBoost have one): no shap column") == 1


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return signal_and_noise(tmp_path_factory.mktemp("shap") / "data")


@pytest.fixture(scope="module")
def full(data, tmp_path_factory) -> Path:
    return run(data, tmp_path_factory.mktemp("runs"), *SHAP)


def test_shap_importance_ranks_the_signal_above_the_noise_and_is_shown(full):
    table = pd.read_csv(full / "importance.csv")
    assert list(table.columns[:5]) == ["feature", "gain_mean", "gain_std", "shap_mean", "shap_std"]
    assert {f"shap_fold{k}" for k in range(3)} <= set(table.columns) and "permutation_mean" not in table
    assert table["feature"].iloc[0] == "strong"  # sorted by the SHAP mean
    rank = table.set_index("feature")["shap_mean"]
    assert rank["noise"] < rank["weak"] < rank["strong"]
    assert rank["strong"] > 1.5  # in the target's own units: 3 x a standard normal's mean |x| (about 2.4)
    page = (full / "report.html").read_text()
    assert "SHAP: the mean |SHAP value|" in page and "<th>shap mean</th>" in page
    assert "importance (shap and gain):" in (full / "log.txt").read_text()


def test_shap_changes_no_model_and_is_the_same_for_the_same_seed(data, full, tmp_path):
    again = run(data, tmp_path / "again", *SHAP)
    assert (again / "importance.csv").read_bytes() == (full / "importance.csv").read_bytes()
    gain = run(data, tmp_path / "gain")
    assert (gain / "submission.csv").read_bytes() == (full / "submission.csv").read_bytes()
    assert json.loads((gain / "metrics.json").read_text())["cv"] == json.loads((full / "metrics.json").read_text())["cv"]


def test_a_merge_of_partial_shap_runs_has_the_full_runs_importance(data, full, tmp_path):
    parts = [run(data, tmp_path / "parts", *SHAP, "--only-folds", folds) for folds in ("0", "1,2")]
    rc, stdout, stderr = run_cli("merge", *parts, "--out", tmp_path / "merged")
    assert rc == 0, stderr[-3000:]
    assert (Path(last_line(stdout)) / "importance.csv").read_bytes() == (full / "importance.csv").read_bytes()


def test_xgboost_run_has_shap_and_a_linear_run_says_it_has_none(tmp_path):
    data = signal_and_noise(tmp_path / "data", n=200)
    xgb = run(data, tmp_path / "xgb", "--set", "importance=all", "--set", "max_rounds=100", recipe="xgboost")
    table = pd.read_csv(xgb / "importance.csv").set_index("feature")
    assert {"gain_mean", "permutation_mean", "shap_mean"} <= set(table.columns)
    assert table["shap_mean"].idxmax() == "strong" and table["shap_mean"].idxmin() == "noise"
    linear = run(data, tmp_path / "linear", *SHAP, recipe="linear")
    assert "shap_mean" not in pd.read_csv(linear / "importance.csv")  # gain only
    log = (linear / "log.txt").read_text()
    assert log.count("has no TreeSHAP") == 1
    assert "importance (gain):" in log and "shap and gain" not in log  # the cost line names what was measured
