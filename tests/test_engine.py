"""The engine's pieces against hand-computed values: metrics, fold splitters, submissions, config."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shared import submission
from shared.config import parse_sets, resolve
from shared.cv import assign_folds, load_or_make_folds
from shared.errors import UserError
from shared.metrics import accuracy, auc, average, get_metric, logloss, rmse, rmsle
from shared.spec import Recipe

# ---------------------------------------------------------------- metrics


def test_rmse_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))


def test_rmsle_uses_log1p_like_kaggle():
    expected = math.sqrt(((math.log(2) - math.log(2)) ** 2 + (math.log(4) - math.log(8)) ** 2) / 2)
    assert rmsle([1, 3], [1, 7]) == pytest.approx(expected)


def test_rmsle_refuses_values_below_minus_one():
    with pytest.raises(UserError, match="rmsle"):
        rmsle([1.0], [-2.0])


def test_accuracy_on_labels_and_probabilities():
    assert accuracy(["a", "b", "b", "c"], ["a", "b", "c", "c"]) == 0.75
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert accuracy([0, 1, 1], proba) == pytest.approx(2 / 3)


def test_logloss_by_hand():
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert logloss([1, 0], [0.8, 0.4]) == pytest.approx(expected)
    assert logloss([1, 0], np.array([[0.2, 0.8], [0.6, 0.4]])) == pytest.approx(expected)


def test_auc_by_hand():
    # positives score 0.8, 0.4; negatives 0.5, 0.1 -> 3 of 4 pairs ordered right
    assert auc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_average_is_taken_in_the_metric_space():
    preds = np.array([[99.0], [9999.0]])
    assert average(preds, get_metric("rmsle"))[0] == pytest.approx(math.expm1((math.log(100) + math.log(10000)) / 2))
    assert average(preds, get_metric("rmse"))[0] == pytest.approx(5049.0)


def test_unknown_metric():
    with pytest.raises(UserError, match="unknown metric 'mape'"):
        get_metric("mape")


# ---------------------------------------------------------------- folds


def test_kfold_covers_every_row_once_and_is_seeded():
    a = assign_folds(103, 5, seed=1)
    assert sorted(np.unique(a)) == [0, 1, 2, 3, 4]
    assert np.bincount(a).max() - np.bincount(a).min() <= 1
    assert np.array_equal(a, assign_folds(103, 5, seed=1))
    assert not np.array_equal(a, assign_folds(103, 5, seed=2))


def test_stratified_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    folds = assign_folds(100, 5, seed=0, kind="stratified", y=y)
    for k in range(5):
        assert (y[folds == k] == 1).sum() == 4


def test_group_folds_never_split_a_group():
    groups = np.repeat(np.arange(30), 4)
    folds = assign_folds(120, 5, seed=0, kind="group", groups=groups)
    assert all(len(set(folds[groups == g])) == 1 for g in range(30))
    assert len(set(folds)) == 5


def test_time_folds_are_consecutive_blocks_latest_last():
    order = np.array([5, 1, 4, 2, 3, 0, 9, 7, 8, 6])
    folds = assign_folds(10, 5, seed=0, kind="time", order=order)
    by_time = folds[np.argsort(order)]
    assert list(by_time) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_fold_errors():
    with pytest.raises(UserError, match="at least 2"):
        assign_folds(10, 1, seed=0)
    with pytest.raises(UserError, match="unknown fold kind"):
        assign_folds(10, 2, seed=0, kind="random")


def test_folds_are_saved_once_and_reused(tmp_path):
    ids, target = pd.Series(range(50)), np.arange(50.0)
    first = load_or_make_folds(tmp_path, ids, 5, 0, "kfold", target, id_col="Id")
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = load_or_make_folds(tmp_path, ids, 5, 0, "kfold", target, id_col="Id")
    assert again.equals(first) and files[0].stat().st_mtime_ns == stamp
    load_or_make_folds(tmp_path, ids, 5, 0, "kfold", target + 1, id_col="Id")  # other data: another file
    assert len(list(tmp_path.iterdir())) == 2


# ---------------------------------------------------------------- submissions

RMSLE = get_metric("rmsle")
SAMPLE = pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [0.0, 0.0, 0.0]})


def test_build_puts_predictions_in_sample_order():
    sub = submission.build(SAMPLE, "Id", [1, 2, 3], [10.0, 20.0, 30.0])
    assert list(sub["Id"]) == [3, 1, 2] and list(sub["SalePrice"]) == [30.0, 10.0, 20.0]
    with pytest.raises(UserError, match="no prediction for test id '3'"):
        submission.build(SAMPLE, "Id", [1, 2], [10.0, 20.0])


@pytest.mark.parametrize("bad, message", [
    (pd.DataFrame({"Id": [3, 1, 2], "Price": [1.0, 2, 3]}), "columns"),
    (pd.DataFrame({"Id": [3, 1], "SalePrice": [1.0, 2]}), "2 rows"),
    (pd.DataFrame({"Id": [1, 3, 2], "SalePrice": [1.0, 2, 3]}), "row 0 has id '1'"),
    (pd.DataFrame({"Id": [3, 1, 7], "SalePrice": [1.0, 2, 3]}), "row 2 has id '7'"),
    (pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [1.0, np.nan, 3]}), "empty at id 1"),
    (pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [1.0, np.inf, 3]}), "infinite at id 1"),
    (pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [1.0, 0.0, 3]}), "non-positive value 0.0 at id 1"),
    (pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [1.0, "cheap", 3]}), "non-numeric"),
])
def test_validate_rejects(bad, message):
    with pytest.raises(UserError, match=message):
        submission.validate(bad, SAMPLE, "Id", RMSLE)


def test_validate_labels_for_accuracy():
    sample = pd.DataFrame({"id": [1, 2], "label": ["cat", "cat"]})
    submission.validate(pd.DataFrame({"id": [1, 2], "label": ["cat", "dog"]}), sample, "id",
                        get_metric("accuracy"), labels=["cat", "dog"])
    with pytest.raises(UserError, match="unknown label 'cow' at id 2"):
        submission.validate(pd.DataFrame({"id": [1, 2], "label": ["cat", "cow"]}), sample, "id",
                            get_metric("accuracy"), labels=["cat", "dog"])


def test_write_refuses_bad_input_and_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "submission.csv"
    good = pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [1.0, 2.0, 3.0]})
    submission.write(path, good, SAMPLE, "Id", RMSLE)
    before = path.read_bytes()
    with pytest.raises(UserError):
        submission.write(path, good.assign(SalePrice=[1.0, -5.0, 3.0]), SAMPLE, "Id", RMSLE)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["submission.csv"]  # no temp file left behind


def test_score_aligns_ids_in_any_order():
    solution = pd.DataFrame({"Id": [1, 2, 3], "SalePrice": [100.0, 200.0, 300.0]})
    sub = pd.DataFrame({"Id": [3, 2, 1], "SalePrice": [300.0, 200.0, 100.0 * math.e - 1 + math.e]})
    # only Id 1 is off: log1p(pred) - log1p(100) = log(e * 101) - log(101) = 1
    assert submission.score(sub, solution, "Id", RMSLE) == pytest.approx(math.sqrt(1 / 3))


# ---------------------------------------------------------------- config

RECIPE = Recipe("r", "test", lambda a, b, p: (a, b), object, model_params={"lr": 0.1, "hidden": [], "epochs": 10,
                                                                              "kind": "lasso", "flag": False})


def test_parse_sets_reads_yaml_values():
    assert parse_sets(["lr=0.5", "hidden=[256,128]", "flag=true", "kind=ridge"]) == {
        "lr": 0.5, "hidden": [256, 128], "flag": True, "kind": "ridge"}
    with pytest.raises(UserError, match="key=value"):
        parse_sets(["lr"])


def test_resolve_overrides_and_coerces():
    config = resolve(RECIPE, {"lr": 1, "epochs": 20.0, "hidden": [8]})
    assert config["model"]["lr"] == 1.0 and isinstance(config["model"]["lr"], float)
    assert config["model"]["epochs"] == 20 and isinstance(config["model"]["epochs"], int)
    assert config["model"]["hidden"] == [8]
    assert RECIPE.model_params["hidden"] == []  # the recipe itself is untouched


def test_resolve_errors_name_the_key():
    with pytest.raises(UserError, match="--set learning_rate: recipe 'r' has no such key; known keys: .*'lr'"):
        resolve(RECIPE, {"learning_rate": 0.1})
    with pytest.raises(UserError, match="--set lr='fast': expected a number"):
        resolve(RECIPE, {"lr": "fast"})
    with pytest.raises(UserError, match="expected true or false"):
        resolve(RECIPE, {"flag": "yes please"})
