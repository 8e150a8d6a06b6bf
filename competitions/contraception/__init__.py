"""Contraception use in Bangladesh (1988 Fertility Survey): predict whether a woman uses contraception, for
women of districts that no training row comes from, scored by the normalized Gini coefficient (2 AUC - 1).

Not a Kaggle competition: the data are the real survey sample shipped offline (see ``demo``), laid out as
Kaggle lays out a competition, so ``make_demo --size full`` *is* the full data. Folds are grouped by district
(a district never spans two folds), so CV measures what the test set asks: prediction for unseen districts.
"""
from __future__ import annotations

from competitions.contraception import demo
from competitions.contraception.features import GROUP, gbm_features, without_district
from competitions.contraception.metric import GINI
from shared.spec import CompetitionSpec, Recipe
from shared.tabular.models import (
    AUTOML_PARAMS,
    AUTOML_RANGES,
    GBM_RANGES,
    LINEAR_RANGES,
    AutoGluonModel,
    LGBMModel,
    LinearModel,
)

LINEAR_PARAMS = {
    "alpha": 1.0,  # logistic regression with C = 1 / alpha: scikit-learn's default strength
    "skew_threshold": 0.75,  # |skew| above this -> log1p (non-negative columns only: age is centred, so none)
    "min_frequency": 1,  # every category its own column (livch has 4, urban 2)
}
GBM_PARAMS = {
    # Stumps: an additive model of age (any shape), children and urban. Deeper trees add interactions that
    # ~1,100 training rows per fold cannot support (full data, 5 folds, mean over fold seeds 42, 1, 2, 3:
    # CV Gini 0.240 with 2 leaves, 0.232 with 3, 0.228 with 4, 0.223 with 8).
    "num_leaves": 2,
    "learning_rate": 0.02,
    "min_data_in_leaf": 40,
    "feature_fraction": 1.0,  # three features: each tree may use any
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "extra_trees": False,
    "max_bin": 63,
    "max_rounds": 3000,
    "early_stopping_rounds": 200,
    "early_stopping_fraction": 0.2,  # inner split of the training rows that picks the number of rounds
}

RECIPES = {
    "baseline": Recipe(
        "baseline", "logistic regression on the woman's own columns (children, age, urban), as a course would start",
        without_district, LinearModel, model_params=dict(LINEAR_PARAMS),
        ranges={k: LINEAR_RANGES[k] for k in LINEAR_PARAMS},
    ),
    "gbm": Recipe(
        "gbm", "LightGBM stumps on age, living children and urban (shared typed features, no district)",
        gbm_features, LGBMModel, model_params=dict(GBM_PARAMS), ranges={k: GBM_RANGES[k] for k in GBM_PARAMS},
    ),
    "automl": Recipe(
        "automl", "AutoGluon TabularPredictor on the woman's own columns, on the same grouped folds",
        without_district, AutoGluonModel, model_params=dict(AUTOML_PARAMS), ranges=AUTOML_RANGES,
    ),
}

SPEC = CompetitionSpec(
    name="contraception",
    slug="bangladesh-contraception",
    title="Contraception use in Bangladesh (1988 Fertility Survey)",
    metric_name=GINI.name,
    id_col="id",
    target_col="use",
    task="binary",
    recipes=RECIPES,
    default_recipe="gbm",
    fold_kind="group",
    fold_col=GROUP,
    make_demo=demo.build,
    on_kaggle=False,
    submit_note=("This is not a Kaggle competition, so there is nothing to upload: score the file locally with "
                 "`python scripts/score.py FILE --solution data/contraception/solution.csv --competition "
                 "contraception`."),
)
