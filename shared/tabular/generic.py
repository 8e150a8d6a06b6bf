"""Any CSV competition (train.csv, test.csv, sample_submission.csv) with no new code: the task comes from
the metric and the target, the column types are inferred (``features.auto_features``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from shared import auto
from shared.config import (
    BELOW_ONE,
    COUNT,
    FLAG,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    SHARE,
    WHOLE,
    Choice,
    Either,
    Items,
    Range,
)
from shared.errors import UserError
from shared.io import read_csv
from shared.metrics import get_metric
from shared.spec import CompetitionSpec, Recipe
from shared.tabular.features import auto_features
from shared.tabular.fold_features import STEP_PARAMS, STEP_RANGES, standard_steps
from shared.tabular.models import AutoGluonModel, LGBMModel, LinearModel
from shared.tabular.zoo import (
    CatBoostModel,
    ForestModel,
    KNNModel,
    MLPModel,
    PyTabKitModel,
    SVRModel,
    XGBoostModel,
    needs_pytabkit,
)

GBM_PARAMS = {
    "learning_rate": 0.03, "num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.5,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 255, "max_rounds": 5000,
    "early_stopping_rounds": 200, "early_stopping_fraction": 0.15, "linear_base": "auto", "linear_alpha": 1.0,
    "max_trees": 20000, "time_limit": None, "clip_range": False,
}
LINEAR_PARAMS = {"kind": "ridge", "alpha": 10.0, "l1_ratio": 0.5, "skew_threshold": 0.75, "min_frequency": 5,
                 "clip_range": False}
AUTOML_PARAMS = {"presets": "medium_quality", "time_limit": 300.0, "num_bag_folds": 0, "verbosity": 0,
                 "keep_models": False}

# What each setting accepts (checked by shared.config.resolve before any work), and is; LightGBM's own constraints
# where it has them (num_leaves > 1, max_bin > 1, fractions in (0, 1]).
CLIP_RANGE = FLAG.with_doc("numbers beyond the training rows' range are clipped to it in the linear view (a "
                           "slope is not extrapolated past the data)")
GBM_RANGES = {
    "learning_rate": POSITIVE.with_doc("the boosting learning rate (shrinkage of each tree)"),
    "num_leaves": Range(low=2, high=131072, integer=True, doc="leaves per tree at most"),
    "min_data_in_leaf": COUNT.with_doc("training rows a leaf holds at least"),
    "feature_fraction": SHARE.with_doc("share of the columns each tree may use (sampled per tree)"),
    "bagging_fraction": SHARE.with_doc("share of the rows each bagging round samples"),
    "bagging_freq": WHOLE.with_doc("re-sample the rows every this many rounds; 0 = no bagging"),
    "lambda_l2": NON_NEGATIVE.with_doc("L2 penalty on the leaf values"),
    "max_bin": Range(low=2, integer=True, doc="histogram bins per numeric column at most"),
    "max_rounds": COUNT.with_doc("boosting rounds at most (early stopping picks how many)"),
    "early_stopping_rounds": COUNT.with_doc("stop when the inner validation score has not improved for this "
                                            "many rounds"),
    "early_stopping_fraction": OPEN_FRACTION.with_doc(  # the refit scales rounds by 1 / (1 - it)
        "share of the fold's training rows held out to pick the rounds, before the refit on all of them"),
    "linear_base": Choice("none", "auto", "single", "ridge", "lasso", "elasticnet",
                          doc="regression: boost from a linear fit; single: a line on the best column, auto: that "
                              "line where it correlates strongly"),
    "linear_alpha": POSITIVE.with_doc("regularisation strength of a ridge / lasso / elasticnet linear_base"),
    "clip_range": CLIP_RANGE,
}
TIME_LIMIT = Either(Choice(None), POSITIVE, doc="seconds for the whole run, split over the folds (--time-limit "
                                                "sets it); a fit that reaches its share stops with what it has; "
                                                "null: no limit")
GBM_BUDGET_RANGES = {  # the generic gbm's: sized for many classes, and a time limit (an auto member's share)
    "max_trees": COUNT.with_doc("more than two classes: trees per fit at most (rounds x classes); the rounds shrink "
                                "to it and the learning rate grows with sqrt(classes / 2)"),
    "time_limit": TIME_LIMIT,
}
BOOSTING_RANGES = {  # shared by CatBoost and XGBoost
    "learning_rate": POSITIVE.with_doc("the boosting learning rate (shrinkage of each tree)"),
    "max_rounds": COUNT.with_doc("boosting rounds at most (early stopping picks how many)"),
    "early_stopping_rounds": COUNT.with_doc("stop when the inner validation score has not improved for this "
                                            "many rounds"),
    "early_stopping_fraction": GBM_RANGES["early_stopping_fraction"],
    "time_limit": TIME_LIMIT,
}
CATBOOST_PARAMS = {"learning_rate": 0.08, "depth": 6, "l2_leaf_reg": 3.0, "max_rounds": 2000,
                   "early_stopping_rounds": 100, "early_stopping_fraction": 0.15, "time_limit": None}
CATBOOST_RANGES = {**BOOSTING_RANGES,
                   "depth": Range(low=1, high=16, integer=True, doc="depth of each symmetric tree"),
                   "l2_leaf_reg": NON_NEGATIVE.with_doc("L2 penalty on the leaf values")}
XGBOOST_PARAMS = {"learning_rate": 0.05, "max_depth": 6, "min_child_weight": 1.0, "subsample": 0.8,
                  "colsample_bytree": 0.8, "reg_lambda": 1.0, "max_rounds": 3000, "early_stopping_rounds": 100,
                  "early_stopping_fraction": 0.15, "time_limit": None}
XGBOOST_RANGES = {**BOOSTING_RANGES,
                  "max_depth": Range(low=1, high=32, integer=True, doc="depth of each tree at most"),
                  "min_child_weight": NON_NEGATIVE.with_doc("hessian a child holds at least"),
                  "subsample": SHARE.with_doc("share of the rows each tree samples"),
                  "colsample_bytree": SHARE.with_doc("share of the columns each tree may use"),
                  "reg_lambda": NON_NEGATIVE.with_doc("L2 penalty on the leaf values")}
SCALING_RANGES = {  # the one-hot / scaled view of the nets and neighbours (as the linear models')
    "clip_range": CLIP_RANGE,
    "skew_threshold": NON_NEGATIVE.with_doc("non-negative numeric columns with |skew| above this are log1p'd"),
    "min_frequency": COUNT.with_doc("categories in fewer training rows share one 'infrequent' column"),
}
KNN_PARAMS = {"n_neighbors": 10, "weights": "distance", "skew_threshold": 0.75, "min_frequency": 5,
              "clip_range": False}
KNN_RANGES = {"n_neighbors": COUNT.with_doc("neighbours that vote (at most the training rows)"),
              "weights": Choice("distance", "uniform", doc="neighbours' votes weighted by closeness, or equal"),
              **SCALING_RANGES}
MLP_PARAMS = {"hidden": [256, 256], "dropout": 0.1, "lr": 1e-3, "weight_decay": 1e-4, "batch_size": 128,
              "max_epochs": 300, "patience": 20, "early_stopping_fraction": 0.15, "skew_threshold": 0.75,
              "min_frequency": 5, "time_limit": None, "clip_range": False}
MLP_RANGES = {"hidden": Items(COUNT, doc="widths of the hidden ReLU layers"),
              "dropout": BELOW_ONE.with_doc("dropout after each hidden layer"),
              "lr": POSITIVE.with_doc("AdamW's learning rate"),
              "weight_decay": NON_NEGATIVE.with_doc("AdamW's weight decay"),
              "batch_size": COUNT.with_doc("rows per batch"),
              "max_epochs": COUNT.with_doc("passes over the training rows at most (early stopping picks how many)"),
              "patience": COUNT.with_doc("stop when the inner validation loss has not improved for this many epochs"),
              "early_stopping_fraction": GBM_RANGES["early_stopping_fraction"], "time_limit": TIME_LIMIT,
              **SCALING_RANGES}
FOREST_PARAMS = {"kind": "extra_trees", "n_estimators": 300, "max_features": "auto", "min_samples_leaf": 1,
                 "time_limit": None}
FOREST_RANGES = {"kind": Choice("rf", "extra_trees", doc="random forest, or extremely randomised trees"),
                 "n_estimators": COUNT.with_doc("trees"),
                 "max_features": Either(Choice("auto", "sqrt", "log2"), SHARE,
                                        doc="columns each split considers: a share, sqrt, log2; auto: all for "
                                            "regression, sqrt for classes"),
                 "min_samples_leaf": COUNT.with_doc("training rows a leaf holds at least"), "time_limit": TIME_LIMIT}
SVR_PARAMS = {"C": 20.0, "epsilon": 0.008, "gamma": "scale", "skew_threshold": 0.75, "min_frequency": 3,
              "clip_range": False}
SVR_RANGES = {"C": POSITIVE.with_doc("penalty on errors beyond epsilon (larger: a closer fit)"),
              "epsilon": NON_NEGATIVE.with_doc("errors up to this (in the target's space, log for RMSLE) cost nothing"),
              "gamma": Either(Choice("scale", "auto"), POSITIVE, doc="RBF kernel width: scale (1 / (columns x "
                                                                      "variance)), auto (1 / columns) or a number"),
              **SCALING_RANGES}
PYTABKIT_PARAMS = {"kind": "realmlp", "n_epochs": 0, "early_stopping_fraction": 0.2}
PYTABKIT_RANGES = {"kind": Choice("realmlp", "tabm", doc="RealMLP (tuned defaults, 2024) or TabM (ICLR 2025)"),
                   "n_epochs": WHOLE.with_doc("training epochs; 0: the model's tuned default"),
                   "early_stopping_fraction": OPEN_FRACTION.with_doc(
                       "share of the fold's training rows held out to pick the best epoch")}
LINEAR_RANGES = {
    "kind": Choice("ridge", "lasso", "elasticnet", doc="the regression model (classification: logistic regression)"),
    "alpha": POSITIVE.with_doc("regularisation strength on standardised columns (classification: C = 1 / alpha)"),
    "l1_ratio": Range(low=0, high=1, doc="elasticnet: the L1 share of the penalty"),
    "skew_threshold": NON_NEGATIVE.with_doc("non-negative numeric columns with |skew| above this are log1p'd"),
    "clip_range": CLIP_RANGE,
    "min_frequency": COUNT.with_doc(  # scikit-learn OneHotEncoder: a whole count >= 1
        "categories in fewer training rows share one 'infrequent' column"),
}
AUTOML_RANGES = {
    "presets": Choice("medium_quality", "good_quality", "high_quality", "best_quality", "extreme_quality",
                      "optimize_for_deployment", "interpretable", "ignore_text",
                      doc="AutoGluon's presets: more quality, more time (best_quality stacks and bags)"),
    "time_limit": POSITIVE.with_doc("seconds for the whole run, split evenly over the folds (--time-limit sets it)"),
    "num_bag_folds": Either(Choice(0), Range(low=2, integer=True),  # AutoGluon refuses 1
                            doc="AutoGluon's own bagging folds inside each fold; 0: the preset's choice"),
    "verbosity": Range(low=0, high=4, integer=True, doc="AutoGluon's log detail, 0 (silent) to 4"),
    "keep_models": FLAG.with_doc("keep each fold's AutoGluon models in the run folder (large)"),
}


def raw_features(train, test, params):
    """The columns as they are (AutoGluon types and encodes them itself)."""
    return train, test


DEFAULT_RECIPE = "auto"
AUTO_MEMBERS = {  # cheap and different first; the budget decides how far down each list a run gets
    "regression": ["linear", "gbm", "catboost", "mlp", "extra_trees", "knn", "xgboost"],
    "binary": ["linear", "gbm", "catboost", "extra_trees", "mlp", "knn", "xgboost"],
    # boosting grows a tree per class and round: forests, linear and nets first where there are many classes
    "multiclass": ["linear", "extra_trees", "rf", "mlp", "knn", "catboost", "gbm"],
}


def _zoo(name, about, model, params, ranges, **kwargs):
    return Recipe(name, about, auto_features, model, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                  model_params=params, ranges={**ranges, **STEP_RANGES}, **kwargs)


RECIPES = {
    "gbm": Recipe("gbm", "LightGBM on inferred column types: numbers (also from text), dates, lists, "
                  "text SVD, categories", auto_features, LGBMModel, fold_features=standard_steps,
                  feature_params=dict(STEP_PARAMS), model_params=GBM_PARAMS,
                  ranges={**GBM_RANGES, **GBM_BUDGET_RANGES, **STEP_RANGES}),
    "linear": Recipe("linear", "regularised linear model, one-hot categories, skew-corrected numbers, text SVD",
                     auto_features, LinearModel, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                     model_params=LINEAR_PARAMS, ranges={**LINEAR_RANGES, **STEP_RANGES}),
    "catboost": _zoo("catboost", "CatBoost: symmetric trees, its own target statistics for categories",
                     CatBoostModel, CATBOOST_PARAMS, CATBOOST_RANGES),
    "xgboost": _zoo("xgboost", "XGBoost: histogram trees, native categories", XGBoostModel, XGBOOST_PARAMS,
                    XGBOOST_RANGES),
    "extra_trees": _zoo("extra_trees", "extremely randomised trees (one tree for all classes)", ForestModel,
                        FOREST_PARAMS, FOREST_RANGES),
    "rf": _zoo("rf", "random forest (one tree for all classes)", ForestModel, {**FOREST_PARAMS, "kind": "rf"},
               FOREST_RANGES),
    "knn": _zoo("knn", "k-nearest neighbours on scaled numbers and one-hot categories", KNNModel, KNN_PARAMS,
                KNN_RANGES),
    "mlp": _zoo("mlp", "a small MLP (torch) on scaled numbers and one-hot categories, early stopping", MLPModel,
                MLP_PARAMS, MLP_RANGES),
    "svr": _zoo("svr", "support vector regression (RBF) on scaled numbers and one-hot categories (regression only)",
                SVRModel, SVR_PARAMS, SVR_RANGES),
    "realmlp": _zoo("realmlp", "RealMLP with tuned defaults (pytabkit, 2024)", PyTabKitModel, PYTABKIT_PARAMS,
                    PYTABKIT_RANGES, requires=needs_pytabkit),
    "tabm": _zoo("tabm", "TabM, parameter-efficient MLP ensembles (pytabkit, ICLR 2025)", PyTabKitModel,
                 {**PYTABKIT_PARAMS, "kind": "tabm"}, PYTABKIT_RANGES, requires=needs_pytabkit),
    "automl": Recipe("automl", "AutoGluon TabularPredictor on the same folds", raw_features, AutoGluonModel,
                     model_params=AUTOML_PARAMS, ranges=AUTOML_RANGES),
}
RECIPES["auto"] = auto.recipe(AUTO_MEMBERS, "a blend of diverse members (linear, boosted trees, forests, nets, "
                              "neighbours) fitted within --time-limit on the same folds, weights fitted nested")


def infer_task(metric_name: str, target: pd.Series) -> str:
    metric = get_metric(metric_name)
    if metric.task == "regression":
        return "regression"
    n = target.nunique()
    return "binary" if n == 2 else "multiclass"


def spec_for(data_dir: Path, target: str | None, id_col: str | None, metric_name: str | None) -> CompetitionSpec:
    missing = [flag for flag, v in (("--target", target), ("--id", id_col), ("--metric", metric_name)) if not v]
    if missing:
        raise UserError(f"the generic tabular path needs {' '.join(missing)} (e.g. --target price --id Id --metric rmse).")
    if id_col == target:
        raise UserError(f"--id and --target are both {target!r}: the id column names the rows and the target column "
                        "holds the answers; pass two different columns of train.csv.")
    metric = get_metric(metric_name)
    train = read_csv(Path(data_dir) / "train.csv", [id_col, target], "training data", dtype={id_col: str},
                     fix="Pass --target and --id the names of columns of train.csv.")
    task = infer_task(metric_name, train[target])
    return CompetitionSpec(
        name="tabular", slug="tabular", title=f"generic tabular: {Path(data_dir).name}", metric_name=metric.name,
        id_col=id_col, target_col=target, recipes=RECIPES, default_recipe=DEFAULT_RECIPE, task=task,
        fold_kind="kfold" if task == "regression" else "stratified",
    )
