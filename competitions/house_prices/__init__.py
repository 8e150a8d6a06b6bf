"""Kaggle "House Prices - Advanced Regression Techniques": predict SalePrice, scored by log-RMSE."""
from __future__ import annotations

from competitions.house_prices import demo
from competitions.house_prices.features import NUMBERS, gbm_features, is_not_outlier, linear_features
from shared import auto
from shared.spec import CompetitionSpec, Recipe
from shared.tabular.features import d2l_features
from shared.tabular.generic import raw_features
from shared.tabular.models import (
    AUTOML_RANGES,
    D2L_MLP_PARAMS,
    D2L_MLP_RANGES,
    GBM_RANGES,
    LINEAR_RANGES,
    AutoGluonModel,
    D2LNet,
    LGBMModel,
    LinearModel,
)
from shared.tabular.zoo import (
    CATBOOST_PARAMS,
    CATBOOST_RANGES,
    MLP_PARAMS,
    MLP_RANGES,
    SVR_PARAMS,
    SVR_RANGES,
    CatBoostModel,
    MLPModel,
    SVRModel,
)

RECIPES = {
    "baseline": Recipe(
        "baseline", "the D2L course's linear net on raw prices (reference, kept faithful)",
        d2l_features, D2LNet,
        model_params={
            "hidden": [],  # [] = linear (the course notes' MLP variant is the baseline_mlp recipe)
            "dropout": [],
            "lr": 5.0,  # Adam, as taught (raw-price MSE needs large steps)
            "weight_decay": 0.0,
            "epochs": 100,
            "batch_size": 64,
            "clamp_min": 1.0,  # predictions clamped at 1 before logs, as in the course
        },
        ranges=D2L_MLP_RANGES,
        log_target=False,
    ),
    "baseline_mlp": Recipe(
        "baseline_mlp", "the D2L course notes' MLP variant: 256-128 ReLU, dropout 0.5/0.2, raw prices",
        d2l_features, D2LNet,
        model_params=dict(D2L_MLP_PARAMS), ranges=D2L_MLP_RANGES,
        log_target=False,
    ),
    "linear": Recipe(
        "linear", "Lasso on log price, skew-corrected numerics, one-hot categories",
        linear_features, LinearModel,
        model_params={
            "kind": "lasso",  # ridge | lasso | elasticnet
            "alpha": 0.0005,  # L1 strength on standardised features (log target)
            "l1_ratio": 0.5,  # elasticnet only
            "skew_threshold": 0.75,  # |skew| above this -> log1p
            "min_frequency": 3,  # rarer categories share one 'infrequent' column
            "clip_range": True,  # a house larger than any seen is priced as the largest, not by the slope
        },
        ranges=LINEAR_RANGES,
    ),
    "gbm": Recipe(
        "gbm", "LightGBM on log price, native categoricals, engineered features, inner early stopping",
        gbm_features, LGBMModel,
        model_params={
            "learning_rate": 0.02,
            "num_leaves": 8,  # shallow trees: 1460 rows
            "min_data_in_leaf": 8,
            "feature_fraction": 0.25,  # decorrelates trees on ~100 collinear features
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "extra_trees": False,  # True: a random threshold per column at each split (LightGBM's extra_trees)
            "max_bin": 255,
            "max_rounds": 6000,
            "early_stopping_rounds": 300,
            "early_stopping_fraction": 0.15,  # inner split of the training rows used to pick the rounds
            "linear_base": "lasso",  # boost from a Lasso fit (none | ridge | lasso | elasticnet)
            "linear_alpha": 0.0005,
            "clip_range": True,  # the Lasso base, as the linear recipe's
        },
        ranges=GBM_RANGES,
    ),
    "catboost": Recipe(
        "catboost", "CatBoost on log price, engineered features, its own category statistics, no linear base",
        gbm_features, CatBoostModel, model_params={
            **CATBOOST_PARAMS, "learning_rate": 0.05, "depth": 5, "one_hot_max_size": 2, "max_ctr_complexity": 4,
            "max_rounds": 2000, "early_stopping_rounds": 100},  # CatBoost's category statistics; early stopping
        ranges=CATBOOST_RANGES,
    ),
    "svr": Recipe(
        "svr", "support vector regression (RBF) on log price, skew-corrected numbers, one-hot categories",
        linear_features, SVRModel, model_params={**SVR_PARAMS, "C": 20.0, "epsilon": 0.008, "gamma": 0.0003,
                                          "clip_range": True},
        ranges=SVR_RANGES,
    ),
    "mlp": Recipe(
        "mlp", "a small MLP (torch) on log price, skew-corrected numbers, one-hot categories, early stopping",
        linear_features, MLPModel, model_params={**MLP_PARAMS, "dropout": 0.2, "weight_decay": 0.01, "min_frequency": 3,
                                         "clip_range": True},
        ranges=MLP_RANGES,
    ),
    "automl": Recipe(
        "automl", "AutoGluon TabularPredictor on log price, on the same folds",
        raw_features, AutoGluonModel,
        model_params={
            "presets": "medium_quality",
            "time_limit": 300.0,  # seconds for the whole run, split over folds (--time-limit sets it)
            "num_bag_folds": 0,  # 0 = AutoGluon's default for the preset
            "verbosity": 0,
            "keep_models": False,
        },
        ranges=AUTOML_RANGES,
    ),
}

# LightGBM from zero (no linear base): the trees' own view of the houses, a member unlike the line-based ones.
RECIPES["gbm_plain"] = Recipe(
    "gbm_plain", "LightGBM on log price, engineered features, boosted from zero (no Lasso base)",
    gbm_features, LGBMModel, model_params={**RECIPES["gbm"].model_params, "linear_base": "none"}, ranges=GBM_RANGES)
RECIPES["auto"] = auto.recipe({"any": ["linear", "svr", "gbm", "mlp", "gbm_plain"]},
                              "a blend of Lasso, SVR, LightGBM boosted from Lasso, an MLP and LightGBM from zero on "
                              "the same folds, hill-climbed weights fitted nested", time_limit=120.0)

SPEC = CompetitionSpec(
    name="house_prices",
    slug="house-prices-advanced-regression-techniques",
    title="House Prices - Advanced Regression Techniques",
    metric_name="rmsle",
    id_col="Id",
    target_col="SalePrice",
    recipes=RECIPES,
    default_recipe="gbm",
    make_demo=demo.build,
    clean_train=is_not_outlier,
    clean_train_about="dropped training houses over 4000 sq ft sold under $300k (De Cock 2011)",
    number_cols=NUMBERS,
)
