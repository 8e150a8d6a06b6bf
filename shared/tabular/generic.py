"""Any CSV competition (train.csv, test.csv, sample_submission.csv) with no new code: the task comes from
the metric and the target, the column types are inferred (``features.auto_features``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from shared.config import (
    COUNT,
    FLAG,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    SHARE,
    WHOLE,
    Choice,
    Either,
    Range,
)
from shared.errors import UserError
from shared.io import read_csv
from shared.metrics import get_metric
from shared.spec import CompetitionSpec, Recipe
from shared.tabular.features import auto_features
from shared.tabular.fold_features import STEP_PARAMS, STEP_RANGES, standard_steps
from shared.tabular.models import AutoGluonModel, LGBMModel, LinearModel

GBM_PARAMS = {
    "learning_rate": 0.03, "num_leaves": 31, "min_data_in_leaf": 20, "feature_fraction": 0.5,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "max_bin": 255, "max_rounds": 5000,
    "early_stopping_rounds": 200, "early_stopping_fraction": 0.15, "linear_base": "auto", "linear_alpha": 1.0,
}
LINEAR_PARAMS = {"kind": "ridge", "alpha": 10.0, "l1_ratio": 0.5, "skew_threshold": 0.75, "min_frequency": 5}
AUTOML_PARAMS = {"presets": "medium_quality", "time_limit": 300.0, "num_bag_folds": 0, "verbosity": 0,
                 "keep_models": False}

# What each setting accepts (checked by shared.config.resolve before any work), and is; LightGBM's own constraints
# where it has them (num_leaves > 1, max_bin > 1, fractions in (0, 1]).
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
}
LINEAR_RANGES = {
    "kind": Choice("ridge", "lasso", "elasticnet", doc="the regression model (classification: logistic regression)"),
    "alpha": POSITIVE.with_doc("regularisation strength on standardised columns (classification: C = 1 / alpha)"),
    "l1_ratio": Range(low=0, high=1, doc="elasticnet: the L1 share of the penalty"),
    "skew_threshold": NON_NEGATIVE.with_doc("non-negative numeric columns with |skew| above this are log1p'd"),
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


DEFAULT_RECIPE = "gbm"
RECIPES = {
    "gbm": Recipe("gbm", "LightGBM on inferred column types: numbers (also from text), dates, lists, "
                  "text SVD, categories", auto_features, LGBMModel, fold_features=standard_steps,
                  feature_params=dict(STEP_PARAMS), model_params=GBM_PARAMS, ranges={**GBM_RANGES, **STEP_RANGES}),
    "linear": Recipe("linear", "regularised linear model, one-hot categories, skew-corrected numbers, text SVD",
                     auto_features, LinearModel, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                     model_params=LINEAR_PARAMS, ranges={**LINEAR_RANGES, **STEP_RANGES}),
    "automl": Recipe("automl", "AutoGluon TabularPredictor on the same folds", raw_features, AutoGluonModel,
                     model_params=AUTOML_PARAMS, ranges=AUTOML_RANGES),
}


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
