"""Metrics against hand-computed values (the arithmetic is written out in each test)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli

from shared.errors import UserError
from shared.metrics import METRICS, accuracy, auc, average, get_metric, logloss, rmse, rmsle


def test_rmse_by_hand():
    # errors 1, -2, 0 -> sqrt((1 + 4 + 0) / 3)
    assert rmse([1, 2, 3], [2, 0, 3]) == pytest.approx(math.sqrt(5 / 3))
    assert rmse([5.0, 5.0], [5.0, 5.0]) == 0.0


def test_rmsle_uses_kaggle_log1p_convention():
    # log(1+1)=log 2 on both sides for the first pair; log(1+3)=log 4 vs log(1+7)=log 8 for the second
    expected = math.sqrt(((math.log(2) - math.log(2)) ** 2 + (math.log(4) - math.log(8)) ** 2) / 2)
    assert expected == pytest.approx(math.log(2) / math.sqrt(2))
    assert rmsle([1, 3], [1, 7]) == pytest.approx(expected)


def test_rmsle_is_symmetric_in_log_space_and_not_plain_log():
    # zero is allowed for log1p (log(1+0) = 0): rmsle([0], [e-1]) = |0 - 1| = 1
    assert rmsle([0.0], [math.e - 1]) == pytest.approx(1.0)
    # a factor-2 error on (1+y) gives log 2 whatever the scale
    assert rmsle([99.0], [199.0]) == pytest.approx(math.log(2))
    assert rmsle([199.0], [99.0]) == pytest.approx(math.log(2))


def test_rmsle_rejects_values_at_or_below_minus_one():
    with pytest.raises(UserError, match="rmsle"):
        rmsle([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(UserError):
        rmsle([-2.0], [1.0])


def test_accuracy_on_labels():
    # 3 of 4 equal
    assert accuracy(["a", "b", "c", "a"], ["a", "b", "a", "a"]) == pytest.approx(0.75)
    assert accuracy([0, 1, 2], [0, 1, 2]) == 1.0


def test_accuracy_on_probabilities_uses_argmax():
    proba = np.array([[0.7, 0.2, 0.1],   # -> 0, true 0
                      [0.1, 0.3, 0.6],   # -> 2, true 1 (wrong)
                      [0.2, 0.5, 0.3],   # -> 1, true 1
                      [0.0, 0.1, 0.9]])  # -> 2, true 2
    assert accuracy([0, 1, 1, 2], proba) == pytest.approx(3 / 4)


def test_logloss_binary_by_hand():
    # binary: a 1-D prediction is P(class 1); truth 1 with p=0.8, truth 0 with p=0.3 (P(0)=0.7)
    expected = -(math.log(0.8) + math.log(0.7)) / 2
    assert logloss([1, 0], [0.8, 0.3]) == pytest.approx(expected)
    # the same as two probability columns
    assert logloss([1, 0], [[0.2, 0.8], [0.7, 0.3]]) == pytest.approx(expected)


def test_logloss_multiclass_by_hand():
    proba = [[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.2, 0.6, 0.2]]
    expected = -(math.log(0.5) + math.log(0.8) + math.log(0.6)) / 3
    assert logloss([0, 2, 1], proba) == pytest.approx(expected)


def test_logloss_clips_certain_wrong_predictions():
    # p=0 for the true class would be infinite; clipped at 1e-15 -> -log(1e-15) / 1
    assert logloss([1], [0.0]) == pytest.approx(-math.log(1e-15), rel=1e-6)


def test_auc_by_hand():
    # positives score 0.35 and 0.8, negatives 0.1 and 0.4: pairs (pos > neg):
    # 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes -> 3/4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half: pairs 1, 0.5, 1, 1 -> 3.5/4
    assert auc([0, 0, 1, 1], [0.1, 0.35, 0.35, 0.8]) == pytest.approx(3.5 / 4)


def test_auc_takes_two_probability_columns():
    proba = np.column_stack([1 - np.array([0.1, 0.4, 0.35, 0.8]), [0.1, 0.4, 0.35, 0.8]])
    assert auc([0, 0, 1, 1], proba) == pytest.approx(0.75)


def test_metric_directions_and_spaces():
    assert get_metric("rmsle").log_space and get_metric("rmsle").positive
    assert not get_metric("rmse").log_space
    assert get_metric("auc").greater_is_better and get_metric("accuracy").greater_is_better
    assert not get_metric("logloss").greater_is_better and not get_metric("rmse").greater_is_better
    assert get_metric("rmse").better(0.1, 0.2) and not get_metric("rmse").better(0.2, 0.1)
    assert get_metric("auc").better(0.9, 0.8)
    assert get_metric("rmsle")([1, 3], [1, 7]) == pytest.approx(math.log(2) / math.sqrt(2))


def test_average_in_log_space_for_rmsle():
    m = get_metric("rmsle")
    # log1p(0)=0, log1p(3)=log 4 -> mean log 2 -> expm1 = 1 (the arithmetic mean would be 1.5)
    assert average(np.array([0.0, 3.0]), m) == pytest.approx(1.0)
    # over folds (axis 0) per row: (1+a)(1+b) geometric mean minus one
    preds = np.array([[99.0, 8.0], [399.0, 0.0]])
    expected = [math.sqrt(100 * 400) - 1, math.sqrt(9 * 1) - 1]  # 199, 2
    assert np.allclose(average(preds, m, axis=0), expected)
    # weights apply in log space too: 3/4 * log 100 + 1/4 * log 400 = log(100^0.75 * 400^0.25)
    w = average(np.array([99.0, 399.0]), m, weights=[3, 1])
    assert w == pytest.approx(100 ** 0.75 * 400 ** 0.25 - 1)


def test_average_plain_for_other_metrics():
    assert average(np.array([0.0, 3.0]), get_metric("rmse")) == pytest.approx(1.5)
    assert np.allclose(average(np.array([[0.2, 0.8], [0.6, 0.4]]), get_metric("logloss"), axis=0), [0.4, 0.6])


def test_get_metric_unknown_name_is_a_user_error_listing_the_known():
    with pytest.raises(UserError, match="unknown metric 'quadratic_kappa'") as info:
        get_metric("quadratic_kappa")
    for name in METRICS:
        assert name in str(info.value)


def test_regression_metrics_on_known_answers():
    """MAE, MAPE and R² as scikit-learn computes them, worked by hand; SMAPE as Kaggle publishes it (percent, a
    row where truth and prediction are both 0 counting 0)."""
    from shared.metrics import mae, mape, r2, smape

    y, p = np.array([100.0, 200.0, 400.0]), np.array([110.0, 180.0, 400.0])
    assert mae(y, p) == pytest.approx(10.0)  # (10 + 20 + 0) / 3
    assert mape(y, p) == pytest.approx((0.1 + 0.1 + 0) / 3)
    mean = 700 / 3
    assert r2(y, p) == pytest.approx(1 - 500 / ((100 - mean) ** 2 + (200 - mean) ** 2 + (400 - mean) ** 2))
    assert smape(y, p) == pytest.approx(100 * (20 / 210 + 40 / 380 + 0) / 3)
    assert smape([0.0, 1.0], [0.0, 1.0]) == 0.0 and smape([0.0], [5.0]) == pytest.approx(200.0)
    assert [get_metric(n).greater_is_better for n in ("mae", "mape", "smape", "r2")] == [False, False, False, True]


def test_regression_metrics_match_scikit_learn_on_random_data():
    from sklearn import metrics as sk

    from shared.metrics import mae, mape, r2

    rng = np.random.default_rng(0)
    y, p = rng.uniform(1, 100, 500), rng.uniform(1, 100, 500)
    assert mae(y, p) == pytest.approx(sk.mean_absolute_error(y, p))
    assert mape(y, p) == pytest.approx(sk.mean_absolute_percentage_error(y, p))
    assert r2(y, p) == pytest.approx(sk.r2_score(y, p))


@pytest.mark.parametrize("name", ["mae", "mape", "SMAPE", "R2"])
def test_a_generic_run_scores_its_cv_with_the_metric_asked_for(name, tmp_path):
    """``run.py tabular --metric mae|mape|smape|r2``: the CV in metrics.json is that metric of oof.csv; a name in
    capitals (as Kaggle's pages write it) is the same metric, recorded in lower case."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=160)
    frame = pd.DataFrame({"id": range(160), "a": a, "b": rng.normal(size=160), "y": np.exp(3 + 0.5 * a)})
    data = tmp_path / "data"
    data.mkdir()
    frame.iloc[:120].to_csv(data / "train.csv", index=False)
    frame.iloc[120:].drop(columns="y").to_csv(data / "test.csv", index=False)
    frame.iloc[120:][["id"]].assign(y=0.0).to_csv(data / "sample_submission.csv", index=False)
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "y", "--id", "id", "--metric", name,
                           "--recipe", "linear", "--folds", "3", "--out", tmp_path / "runs")
    assert rc == 0, err
    run_dir = Path(last_line(out))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv")
    name = name.lower()
    assert metrics["metric"] == name and metrics["cv"] == pytest.approx(get_metric(name)(oof["target"], oof["prediction"]))


# ------------------------------------------------------------------------------ label metrics (F1, MCC, QWK)
def test_label_metrics_match_scikit_learn_on_random_labels():
    from sklearn import metrics as sk

    from shared.metrics import f1, f1_macro, f1_micro, mcc, qwk

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    assert f1(y, p) == pytest.approx(sk.f1_score(y, p))
    assert mcc(y, p) == pytest.approx(sk.matthews_corrcoef(y, p))
    y3, p3 = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    assert f1_macro(y3, p3) == pytest.approx(sk.f1_score(y3, p3, average="macro"))
    assert f1_micro(y3, p3) == pytest.approx(sk.f1_score(y3, p3, average="micro")) == pytest.approx(accuracy(y3, p3))
    assert mcc(y3, p3) == pytest.approx(sk.matthews_corrcoef(y3, p3))
    assert qwk(y3, p3) == pytest.approx(sk.cohen_kappa_score(y3, p3, weights="quadratic"))
    names = ["cat", "dog", "emu"]
    text_y, text_p = np.array(names)[y3 % 3], np.array(names)[p3 % 3]
    assert f1_macro(text_y, text_p) == pytest.approx(sk.f1_score(text_y, text_p, average="macro"))


def test_label_metrics_by_hand_from_probabilities_and_text():
    from shared.metrics import f1, mcc

    # truth 1 1 0 0 1; P(1) .9 .4 .2 .6 .7 -> labels 1 0 0 1 1 (argmax, i.e. above 0.5): TP 2, FN 1, FP 1
    proba = np.column_stack([1 - np.array([0.9, 0.4, 0.2, 0.6, 0.7]), [0.9, 0.4, 0.2, 0.6, 0.7]])
    assert f1([1, 1, 0, 0, 1], proba) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # MCC = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert mcc([1, 1, 0, 0, 1], proba) == pytest.approx(1 / 6)
    # text labels: the positive class is the last in sorted order ('yes'): TP 1, FP 0, FN 1 -> 2/3
    assert f1(["yes", "yes", "no"], ["yes", "no", "no"]) == pytest.approx(2 / 3)


def test_label_metrics_edge_cases():
    from sklearn import metrics as sk

    from shared.metrics import f1, f1_macro, mcc, qwk

    # a class never predicted: its F1 is 0 and counts in the macro mean (scikit-learn, zero_division=0);
    # a: F1 1; b: precision 1/3, recall 1 -> F1 1/2; c: never predicted -> 0
    y, p = ["a", "b", "c", "c"], ["a", "b", "b", "b"]
    assert f1_macro(y, p) == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert f1_macro(y, p) == pytest.approx(sk.f1_score(y, p, average="macro", zero_division=0))
    # a label of the solution that the submission lacks: no positive predicted -> F1 0, not an error
    assert f1(["no", "yes", "yes"], ["no", "no", "no"]) == 0.0
    # all one class: MCC is undefined, scikit-learn's 0; QWK of one same rating on both sides is perfect agreement
    assert mcc([1, 1, 1], [1, 1, 1]) == 0.0 and mcc([0, 1, 1], [1, 1, 1]) == 0.0
    assert qwk([3, 3, 3], [3, 3, 3]) == 1.0
    assert f1([0, 0, 0], [0, 0, 0]) == 0.0  # 0/1 labels: the positive class is 1, never there
    with pytest.raises(UserError, match="f1_macro or f1_micro"):
        f1(["a", "b", "c"], ["a", "b", "c"])
    with pytest.raises(UserError, match="whole-number ratings.*'good'"):
        qwk(["good", "bad"], [1, 2])


def test_qwk_is_kaggles_formula_with_weights_over_every_rating():
    """Kaggle's QWK (ml_metrics.quadratic_weighted_kappa): the ratings run from the lowest to the highest given, a
    rating no one gave still counting in the distance: truth 1 2 4, predictions 1 4 4 weigh over ratings 1..4
    (w = (i - j)^2 / 9), kappa = 1 - sum(w O) / sum(w E), E the outer product of the two histograms / N."""
    from sklearn import metrics as sk

    from shared.metrics import qwk

    a, b = np.array([1, 2, 4]), np.array([1, 4, 4])
    ratings = np.arange(1, 5)
    w = (ratings[:, None] - ratings[None, :]) ** 2 / 9
    observed = np.zeros((4, 4))
    for i, j in zip(a - 1, b - 1):
        observed[i, j] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / 3
    kaggle = 1 - (w * observed).sum() / (w * expected).sum()
    assert qwk(a, b) == pytest.approx(kaggle)
    assert qwk(a, b) != pytest.approx(sk.cohen_kappa_score(a, b, weights="quadratic"))  # which skips rating 3
    assert qwk(["1", "2", "4"], ["1", "4", "4"]) == pytest.approx(kaggle)  # labels of a submission are text


def test_logloss_multiclass_rescales_and_clips_as_kaggle_does():
    from sklearn import metrics as sk

    # rows not summing to 1 are rescaled first: [2, 2] -> [.5, .5]; [1, 3] -> [.25, .75]; a row of zeros is the worst
    assert logloss([0, 1], [[2.0, 2.0], [1.0, 3.0]]) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)
    assert logloss([0], [[0.0, 0.0]]) == pytest.approx(-math.log(1e-15))
    # a 0 for the true class is clipped to 1e-15 (then rescaled with the rest, which sum to 1)
    assert logloss([0, 1, 2], [[0.0, 0.5, 0.5], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]]) == pytest.approx(
        -(math.log(1e-15) + math.log(0.7) + math.log(0.8)) / 3, rel=1e-9)
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(4), 200)
    y = rng.integers(0, 4, 200)
    assert logloss(y, proba) == pytest.approx(sk.log_loss(y, proba, labels=range(4)))
    # a class the truth never holds still has its column (the solution lacks it, the submission has it)
    assert logloss([0, 0], [[0.5, 0.25, 0.25], [0.8, 0.1, 0.1]]) == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)


def test_label_metrics_are_registered_with_their_direction_and_kind():
    for name in ("f1", "f1_macro", "f1_micro", "mcc", "qwk"):
        metric = get_metric(name)
        assert metric.greater_is_better and metric.takes == "labels" and metric.task == "classification"
        assert metric.better(0.9, 0.8) and metric.autogluon
    assert get_metric("f1").binary and get_metric("qwk").ordinal and not get_metric("mcc").binary


def test_hill_climbing_blends_by_the_label_metric_itself():
    """A blend climbs F1 on the OOF, towards the member whose labels are right (maximising, not minimising)."""
    from shared.ensemble import Blender

    y = np.array([0, 1] * 20)
    good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])  # right everywhere
    bad = good[:, ::-1]  # wrong everywhere
    weights = Blender("hill", get_metric("f1"), "classification").fit(np.stack([bad, good]), y).weights_
    assert weights[1] == 1.0 and weights[0] == 0.0


def _ratings_data(folder: Path) -> Path:
    """Ratings 8, 9, 10 (10 sorts before 8 as text), learnable from one column."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=240)
    rating = np.digitize(x, [-0.5, 0.5]) + 8
    frame = pd.DataFrame({"id": range(240), "x": x + 0.2 * rng.normal(size=240), "rating": rating})
    folder.mkdir(parents=True)
    frame.iloc[:180].to_csv(folder / "train.csv", index=False)
    frame.iloc[180:].drop(columns="rating").to_csv(folder / "test.csv", index=False)
    frame.iloc[180:][["id"]].assign(rating=8).to_csv(folder / "sample_submission.csv", index=False)
    frame.iloc[180:][["id", "rating"]].to_csv(folder / "solution.csv", index=False)
    return folder


@pytest.mark.parametrize("name", ["f1_macro", "mcc", "qwk"])
def test_a_generic_run_scores_label_metrics_on_the_oof_argmax_and_submits_labels(name, tmp_path):
    """``run.py tabular --metric f1_macro|mcc|qwk``: the CV is that metric of oof.csv's argmax labels (QWK by the
    ratings' value, 10 after 9), the submission holds labels, and its local holdout is score.py's."""
    from conftest import synthetic_classification

    data = _ratings_data(tmp_path / "data") if name == "qwk" else synthetic_classification(tmp_path / "data", 3)
    target, id_col = ("rating", "id") if name == "qwk" else ("target", "row_id")
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", target, "--id", id_col, "--metric", name,
                           "--recipe", "linear", "--folds", "3", "--out", tmp_path / "runs")
    assert rc == 0, err
    run_dir = Path(last_line(out))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv", dtype={"target": str})
    columns = [c for c in oof.columns if c.startswith("proba_")]
    if name == "qwk":
        assert columns == ["proba_8", "proba_9", "proba_10"]
    labels = np.array([c[len("proba_"):] for c in columns])[oof[columns].to_numpy().argmax(axis=1)]
    assert metrics["cv"] == pytest.approx(get_metric(name)(oof["target"].to_numpy(), labels))
    assert metrics["cv"] > 0.3
    submission = pd.read_csv(run_dir / "submission.csv", dtype=str)
    assert set(submission[target]) <= set(oof["target"])
    rc, out, err = run_cli("score", run_dir / "submission.csv", "--solution", data / "solution.csv",
                           "--metric", name)
    assert rc == 0, err
    assert last_line(out) == f"{name} {metrics['holdout']:.6f}"


def _refused_on_three_classes(tmp_path, metric: str) -> str:
    """``run.py tabular --metric METRIC`` on three text classes: the one error line; no run folder is left."""
    from conftest import assert_user_error, synthetic_classification

    data = synthetic_classification(tmp_path / "data", 3)
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row_id", "--metric", metric,
                           "--recipe", "linear", "--folds", "3", "--out", tmp_path / "runs")
    line = assert_user_error(rc, err)
    assert not list((tmp_path / "runs").rglob("linear-*"))
    return line


def test_f1_on_a_multiclass_target_is_one_line_naming_the_averaged_f1s(tmp_path):
    line = _refused_on_three_classes(tmp_path, "f1")
    assert "3 classes" in line and "f1_macro or f1_micro" in line


def test_qwk_refuses_labels_that_are_no_ratings(tmp_path):
    line = _refused_on_three_classes(tmp_path, "qwk")
    assert "whole-number ratings" in line and "'alpha'" in line


def test_binary_auc_is_scikit_learns_value_with_ties_and_any_label_dtype():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 300))
        y = rng.integers(0, 2, n)
        p = rng.normal(size=n).round(int(rng.integers(0, 3)))  # coarse scores: many ties
        if y.min() == y.max():
            continue
        assert auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert auc(y.astype(float), np.column_stack([1 - p, p])) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    with pytest.warns(Warning):  # one class only: scikit-learn's own answer (no score), as before
        assert np.isnan(auc(np.ones(5, int), np.arange(5.0)))
