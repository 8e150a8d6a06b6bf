"""Column typing, generic features, the tabular models' interface, and the runner's fold discipline
(no model ever trains or early-stops on the rows it is scored on)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.house_prices.features import gbm_features
from shared import runner
from shared.models import ModelContext
from shared.spec import CompetitionSpec, Recipe
from shared.tabular.features import as_categories, auto_features, infer_types
from shared.tabular.models import LGBMModel, LinearModel, SingleFeatureLine

FAST_LGBM = {"learning_rate": 0.1, "num_leaves": 8, "min_data_in_leaf": 5, "feature_fraction": 1.0,
             "bagging_fraction": 1.0, "bagging_freq": 0, "lambda_l2": 0.0, "max_bin": 63, "max_rounds": 100,
             "early_stopping_rounds": 20, "early_stopping_fraction": 0.2, "linear_base": "none",
             "linear_alpha": 1.0}
LINEAR = {"kind": "ridge", "alpha": 1.0, "l1_ratio": 0.5, "skew_threshold": 0.75, "min_frequency": 1}


def ctx(task, n_classes=0, tmp=Path(".")):
    return ModelContext(task, "rmse", n_classes, 0, None, tmp, 1)


def mixed_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    words = np.array("alpha beta gamma delta epsilon zeta eta theta iota kappa".split())
    return pd.DataFrame({
        "count": rng.integers(0, 10, n),
        "price": rng.normal(100, 10, n),
        "flag": rng.random(n) > 0.5,
        "color": rng.choice(["red", "green", "blue"], n),
        "zip": rng.choice(["02139", "10001"], n),
        "listed": pd.Series(pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D"))
        .dt.strftime("%Y-%m-%d"),
        "stamp": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), unit="h"),
        "summary": [" ".join(rng.choice(words, 6)) + f" number {i}" for i in range(n)],
        "empty": [None] * n,
    })


def test_infer_types():
    types = infer_types(mixed_frame())
    assert types == {
        "numeric": ["count", "price"],
        "numeric_text": [],
        "date": ["listed", "stamp"],
        "list": [],
        "text": ["summary"],
        "categorical": ["flag", "color", "zip", "empty"],
    }


def test_infer_types_short_repeated_strings_are_categorical_not_text():
    df = pd.DataFrame({"phrase": ["a b c d e"] * 30 + ["f g h i j"] * 30})  # many words, few distinct values
    assert infer_types(df)["categorical"] == ["phrase"]


def test_auto_features_dates_text_and_shared_categories():
    df = mixed_frame()
    train, test = df.iloc[:40].reset_index(drop=True), df.iloc[40:].reset_index(drop=True)
    test.loc[0, "color"] = "purple"  # a category only the test set has
    X, X_test = auto_features(train, test, {})
    assert list(X.columns) == list(X_test.columns)
    for col in ("listed_year", "listed_month", "listed_dayofweek", "listed_days", "summary_chars",
                "summary_words", "count", "price"):
        assert col in X.columns
    assert "listed" not in X.columns and "listed_minus_stamp_days" in X.columns
    assert isinstance(X["summary"].dtype, pd.StringDtype)  # kept raw for the fold-fitted TF-IDF step
    assert X.loc[0, "listed_year"] == int(train.loc[0, "listed"][:4])
    assert X.loc[0, "summary_words"] == 8 and X.loc[0, "summary_chars"] == len(train.loc[0, "summary"])
    assert isinstance(X["color"].dtype, pd.CategoricalDtype)
    assert list(X["color"].cat.categories) == list(X_test["color"].cat.categories) == [
        "blue", "green", "purple", "red"]
    assert X_test.loc[0, "color"] == "purple"


def test_within_same_data_features_are_made_once_for_the_same_tables_and_anew_for_changed_ones():
    """The members of an auto run (runs within ``runner.same_data()``) make the same features once; a copy changed
    by one run is not what the next gets; a changed value or setting makes them anew; outside, every run makes its
    own, and what was kept is let go."""
    df = mixed_frame()
    train, test = df.iloc[:40].reset_index(drop=True), df.iloc[40:].reset_index(drop=True)
    made = []

    def features(tr, te, params):
        made.append(len(tr))
        return auto_features(tr, te, params)

    recipe = Recipe("r", "a recipe", features, LinearModel)
    with runner.same_data():
        X, X_test = runner.made_features(recipe, train, test, {})
        X.loc[0, "price"] = -1.0  # a run that changes its copy
        again, again_test = runner.made_features(recipe, train.copy(), test.copy(), {})
        assert len(made) == 1 and again.loc[0, "price"] != -1.0
        pd.testing.assert_frame_equal(again_test, X_test)
        changed = train.copy()
        changed.loc[1, "color"] = "purple"
        other, _ = runner.made_features(recipe, changed, test, {})
        assert len(made) == 2 and other.loc[1, "color"] == "purple"
        runner.made_features(recipe, train, test, {"svd_components": 3})
        assert len(made) == 3
    runner.made_features(recipe, train, test, {})
    assert len(made) == 4 and runner._SAME_DATA is None


def test_as_categories_keeps_missing_as_missing():
    a = pd.DataFrame({"c": ["x", None, "y"]})
    b = pd.DataFrame({"c": ["y", "z", None]})
    A, B = as_categories(a, b, ["c"])
    assert A["c"].isna().tolist() == [False, True, False] and B["c"].isna().tolist() == [False, False, True]
    assert list(A["c"].cat.categories) == ["x", "y", "z"]


def numeric_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": pd.Categorical(rng.choice(["u", "v", "w"], n))})
    score = 2 * X["a"] - X["b"] + (X["c"] == "u") * 1.5
    return X, score.to_numpy()


@pytest.mark.parametrize("Model, params", [(LGBMModel, FAST_LGBM), (LinearModel, LINEAR)])
def test_regression_predicts_one_value_per_row(Model, params, tmp_path):
    X, score = numeric_data()
    model = Model(params, ctx("regression", tmp=tmp_path)).fit(X.iloc[:200], score[:200])
    pred = np.asarray(model.predict(X.iloc[200:]))
    assert pred.shape == (100,)
    assert np.corrcoef(pred, score[200:])[0, 1] > 0.8  # it learned something


@pytest.mark.parametrize("Model, params", [(LGBMModel, FAST_LGBM), (LinearModel, LINEAR)])
def test_binary_predicts_two_probability_columns(Model, params, tmp_path):
    X, score = numeric_data()
    y = (score > np.median(score)).astype(int)
    model = Model(params, ctx("binary", 2, tmp_path)).fit(X.iloc[:200], y[:200])
    proba = np.asarray(model.predict(X.iloc[200:]))
    assert proba.shape == (100, 2)
    assert np.allclose(proba.sum(axis=1), 1) and (proba >= 0).all() and (proba <= 1).all()
    assert np.mean(proba.argmax(axis=1) == y[200:]) > 0.75


@pytest.mark.parametrize("Model, params", [(LGBMModel, FAST_LGBM), (LinearModel, LINEAR)])
def test_multiclass_predicts_class_probabilities(Model, params, tmp_path):
    X, score = numeric_data()
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))  # classes 0, 1, 2
    model = Model(params, ctx("multiclass", 3, tmp_path)).fit(X.iloc[:200], y[:200])
    proba = np.asarray(model.predict(X.iloc[200:]))
    assert proba.shape == (100, 3)
    assert np.allclose(proba.sum(axis=1), 1)
    assert np.mean(proba.argmax(axis=1) == y[200:]) > 0.6  # chance is 1/3


def test_lgbm_linear_base_extrapolates_a_trend(tmp_path):
    x = np.linspace(0, 10, 200)
    X, y = pd.DataFrame({"x": x}), 3 * x
    far = pd.DataFrame({"x": [20.0]})
    trees = LGBMModel(FAST_LGBM, ctx("regression", tmp=tmp_path)).fit(X, y)
    based = LGBMModel({**FAST_LGBM, "linear_base": "ridge", "linear_alpha": 0.01},
                      ctx("regression", tmp=tmp_path)).fit(X, y)
    assert trees.predict(far)[0] <= 31  # trees stop at the edge of the training range (y <= 30)
    assert based.predict(far)[0] == pytest.approx(60, abs=2)


def test_single_feature_line_follows_the_most_predictive_column_when_the_market_moves(tmp_path):
    rng = np.random.default_rng(0)
    listed = np.exp(rng.normal(13, 0.8, 500))  # skewed prices: the line is on log1p(listed)
    X = pd.DataFrame({"listed": listed, "noise": rng.normal(size=500), "rooms": rng.integers(1, 6, 500).astype(float)})
    X.loc[:9, "listed"] = np.nan
    y = np.log1p(listed) + rng.normal(0, 0.05, 500)
    line = SingleFeatureLine().fit(X, y)
    assert line.column_ == "listed" and line.log_ and line.slope_ == pytest.approx(1, abs=0.05)
    assert np.allclose(line.predict(X.iloc[:10]), line.mean_)  # no listing price: the training mean
    later = X.iloc[10:20].assign(listed=lambda d: d["listed"] * 1.3)  # test period: prices 30% higher
    trees = LGBMModel(FAST_LGBM, ctx("regression", tmp=tmp_path)).fit(X, y)
    based = LGBMModel({**FAST_LGBM, "linear_base": "single"}, ctx("regression", tmp=tmp_path)).fit(X, y)
    truth = np.log1p(later["listed"].to_numpy())
    assert np.abs(based.predict(later) - truth).mean() < 0.06
    assert np.abs(based.predict(later) - truth).mean() < np.abs(trees.predict(later) - truth).mean()
    # auto: the line only where one column carries the target (|r| >= 0.98)
    auto = {**FAST_LGBM, "linear_base": "auto"}
    assert LGBMModel(auto, ctx("regression", tmp=tmp_path)).fit(X, y).linear_.column_ == "listed"
    assert LGBMModel(auto, ctx("regression", tmp=tmp_path)).fit(X[["noise", "rooms"]], y).linear_ is None
    size = np.log1p(listed) + rng.normal(0, 0.25, 500)  # a size that tracks the price (|r| about 0.95), no line
    assert 0.9 < abs(np.corrcoef(size, y)[0, 1]) < 0.98
    assert LGBMModel(auto, ctx("regression", tmp=tmp_path)).fit(X.assign(listed=size), y).linear_ is None


def test_lgbm_early_stopping_refits_with_more_rounds(tmp_path):
    X, score = numeric_data()
    model = LGBMModel(FAST_LGBM, ctx("regression", tmp=tmp_path)).fit(X, score)
    assert 1 <= model.best_rounds_ <= FAST_LGBM["max_rounds"]
    expected = max(1, round(model.best_rounds_ / (1 - FAST_LGBM["early_stopping_fraction"])))
    assert model.booster_.num_trees() == expected


def test_gbm_xt_splits_at_random_thresholds_and_still_learns(tmp_path):
    """``extra_trees`` reaches LightGBM (a random threshold per column at each split): the trees differ from the
    best-threshold ones on the same rows and seed, and the model still learns the trend. The generic ``gbm_xt``
    recipe is ``gbm`` with it on."""
    from shared.tabular import generic

    X, score = numeric_data()
    plain = LGBMModel(FAST_LGBM, ctx("regression", tmp=tmp_path)).fit(X, score)
    extra = LGBMModel({**FAST_LGBM, "extra_trees": True}, ctx("regression", tmp=tmp_path)).fit(X, score)
    assert extra.booster_.params["extra_trees"] is True and not plain.booster_.params["extra_trees"]
    assert not np.allclose(plain.predict(X), extra.predict(X))
    assert np.corrcoef(extra.predict(X), score)[0, 1] > 0.9
    xt, gbm = generic.RECIPES["gbm_xt"].model_params, generic.RECIPES["gbm"].model_params
    assert xt["extra_trees"] and not gbm["extra_trees"]
    assert {k for k in gbm if gbm[k] != xt[k]} == {"extra_trees", "feature_fraction", "bagging_freq"}


def test_linear_model_rejects_an_unknown_kind(tmp_path):
    from shared.errors import UserError

    X, score = numeric_data(50)
    with pytest.raises(UserError, match="ridge, lasso or elasticnet"):
        LinearModel({**LINEAR, "kind": "ols"}, ctx("regression", tmp=tmp_path)).fit(X, score)


# --- the runner's fold discipline --------------------------------------------------------------------

class Spy:
    """Records what every fold's model and LightGBM dataset were given."""

    fits: list = []
    features_seen: list = []


class SpyLGBM(LGBMModel):
    def fit(self, X, y):
        Spy.fits.append({"fold": int(self.ctx.workdir.name.removeprefix("fold")), "fit_rows": set(X.index),
                         "datasets": [], "predicted": []})
        return super().fit(X, y)

    def predict(self, X):
        Spy.fits[-1]["predicted"].append(set(X.index))
        return super().predict(X)


def spy_features(train, test, params):
    Spy.features_seen.append((list(train.columns), list(test.columns), len(train), len(test)))
    return gbm_features(train, test, params)


@pytest.fixture
def spied_run(demo_dir, tmp_path, monkeypatch):
    import lightgbm

    class RecordingDataset(lightgbm.Dataset):
        def __init__(self, data, *args, **kwargs):
            Spy.fits[-1]["datasets"].append(set(data.index))
            super().__init__(data, *args, **kwargs)

    monkeypatch.setattr(lightgbm, "Dataset", RecordingDataset)
    monkeypatch.setattr(Spy, "fits", [])
    monkeypatch.setattr(Spy, "features_seen", [])
    params = {**FAST_LGBM, "linear_base": "lasso", "linear_alpha": 0.001}
    spec = CompetitionSpec(name="spy", slug="spy", metric_name="rmsle", id_col="Id", target_col="SalePrice",
                           recipes={"spy": Recipe("spy", "records its inputs", spy_features, SpyLGBM,
                                                  model_params=params)},
                           default_recipe="spy")
    run_dir = runner.run(spec, "spy", demo_dir, n_folds=3, seed=0, out_root=tmp_path)
    return run_dir, pd.read_csv(demo_dir / "train.csv")


def test_no_model_trains_or_early_stops_on_its_validation_fold(spied_run):
    run_dir, train = spied_run
    folds = pd.read_csv(run_dir / "folds.csv")
    assert folds["Id"].tolist() == train["Id"].tolist()  # folds.csv rows align with the training rows
    fold_of = folds["fold"].to_numpy()
    assert [f["fold"] for f in Spy.fits] == [0, 1, 2]
    all_rows = set(range(len(train)))
    for fit in Spy.fits:
        valid = set(np.flatnonzero(fold_of == fit["fold"]))
        assert fit["fit_rows"].isdisjoint(valid)
        assert fit["fit_rows"] | valid == all_rows
        # the inner early-stopping split, the probe and the refit all stay inside the training rows
        assert len(fit["datasets"]) == 3
        inner, early, refit = fit["datasets"]
        assert inner | early | refit <= fit["fit_rows"]
        assert inner.isdisjoint(early) and inner | early == fit["fit_rows"] and refit == fit["fit_rows"]
        assert len(early) == pytest.approx(0.2 * len(fit["fit_rows"]), abs=1)
        # and the fold's model predicts exactly its validation rows (then the test set)
        assert fit["predicted"][0] == valid and len(fit["predicted"][1]) == 500


def test_features_never_see_the_target_or_the_id(spied_run):
    (train_cols, test_cols, n_train, n_test), = Spy.features_seen
    assert "SalePrice" not in train_cols and "Id" not in train_cols and "Id" not in test_cols
    assert train_cols == test_cols and n_train == 500 and n_test == 500


def test_oof_rows_are_predicted_by_their_own_folds_model(spied_run):
    run_dir, train = spied_run
    oof = pd.read_csv(run_dir / "oof.csv")
    folds = pd.read_csv(run_dir / "folds.csv")
    assert oof["Id"].tolist() == train["Id"].tolist()
    assert oof["fold"].tolist() == folds["fold"].tolist()
    assert np.array_equal(oof["target"], train["SalePrice"])
    assert np.load(run_dir / "test_folds.npy").shape == (3, 500, 1)
