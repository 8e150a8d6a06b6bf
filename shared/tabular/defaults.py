"""The floor: each library of the zoo with its own default settings (``LibraryDefaults``), the reference that a tuned
member of ``auto`` must not fall below on the same folds. Only what a library needs to run here is set: the seed,
the threads (``shared.threads``), silence, the class labels, and for LightGBM its deterministic mode (the same
predictions at any thread count). No time limit, no early stopping: LightGBM 100 rounds at learning rate 0.1 with
31 leaves (on one-hot categories up to ``ONE_HOT_LEVELS`` levels), XGBoost's and CatBoost's defaults, scikit-learn's forests (100 trees) and ``LogisticRegression()`` /
``Ridge()`` on median-imputed standardised numbers and one-hot categories.

``FLOOR`` maps each tuned member recipe of the generic path to its library-default recipe."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from shared.config import Choice, settings
from shared.tabular.models import ONE_HOT_LEVELS, LinearModel
from shared.tabular.zoo import ForestModel, _categorical_columns
from shared.threads import fit_threads, trees_a_round

LIBRARIES = {  # library: what its defaults are, for the recipes' about texts
    "lightgbm": "LightGBM with its defaults (100 rounds, learning rate 0.1, 31 leaves) on one-hot categories (native "
                "beyond 16 levels)",
    "xgboost": "XGBoost with its defaults (100 rounds, learning rate 0.3, depth 6; hist trees, native categories)",
    "catboost": "CatBoost with its defaults (1,000 rounds, its own learning rate, depth 6, its category statistics)",
    "rf": "scikit-learn's RandomForest with its defaults (100 trees)",
    "extra_trees": "scikit-learn's ExtraTrees with its defaults (100 trees)",
    "linear": "scikit-learn's LogisticRegression() / Ridge() with their defaults (C = 1, alpha = 1) on "
              "standardised numbers and one-hot categories",
}
FLOOR = {"gbm": "lightgbm_defaults", "gbm_xt": "lightgbm_defaults", "xgboost": "xgboost_defaults",
         "catboost": "catboost_defaults", "rf": "rf_defaults", "extra_trees": "extra_trees_defaults",
         "linear": "linear_defaults"}
DEFAULTS_PARAMS, DEFAULTS_RANGES = settings({  # name: (default, what it accepts and what it is)
    "library": ("lightgbm", Choice(*LIBRARIES, doc="the library fitted with its own default settings")),
})
# The linear view as the defaults read: no log1p of skewed columns, every category its own column.
LINEAR_VIEW = {"kind": "ridge", "alpha": 1.0, "l1_ratio": 0.5, "skew_threshold": float("inf"), "min_frequency": 1,
               "clip_range": False}


class LibraryDefaults:
    """One library fitted with its own default settings (``library``), on the zoo's interface: values for
    regression, (n, C) probabilities over every class of the run otherwise (a class the fold's rows lack gets 0)."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = {**DEFAULTS_PARAMS, **params}, dataclasses.replace(ctx, time_limit=None)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        library, ctx = self.params["library"], self.ctx
        self.inner_ = None
        if library in ("rf", "extra_trees"):  # the zoo's forest with scikit-learn's defaults is scikit-learn's
            forest = {"kind": library, "n_estimators": 100, "max_features": "auto", "min_samples_leaf": 1,
                      "time_limit": None}
            self.inner_ = ForestModel(forest, ctx).fit(X, y, sample_weight)
            return self
        if library == "linear":
            self.inner_ = LinearModel(LINEAR_VIEW, ctx).fit(X, y, sample_weight)
            return self
        self.cats_ = _categorical_columns(X)
        self.levels_ = {c: (X[c].cat.categories if isinstance(X[c].dtype, pd.CategoricalDtype)
                            else pd.Index(sorted(X[c].dropna().astype(str).unique()))) for c in self.cats_}
        regression = ctx.task == "regression"
        self.classes_ = None if regression else np.unique(y)  # the fold's classes, fitted as 0..k-1
        target = y if regression else np.searchsorted(self.classes_, y)
        trees = trees_a_round(None if regression else len(self.classes_)) if library == "lightgbm" else 1
        self.model_ = self._estimator(library, fit_threads(library, *X.shape, ctx, trees=trees))
        self.model_.fit(self._frame(X), target, sample_weight=sample_weight)
        return self

    def _estimator(self, library: str, threads: int):
        seed, regression = self.ctx.seed, self.ctx.task == "regression"
        if library == "lightgbm":
            import lightgbm as lgb

            return (lgb.LGBMRegressor if regression else lgb.LGBMClassifier)(
                random_state=seed, n_jobs=threads, verbose=-1, deterministic=True, force_row_wise=True,
                max_cat_to_onehot=ONE_HOT_LEVELS)
        if library == "xgboost":
            import xgboost as xgb

            return (xgb.XGBRegressor if regression else xgb.XGBClassifier)(
                tree_method="hist", enable_categorical=True, random_state=seed, n_jobs=threads, verbosity=0)
        from catboost import CatBoostClassifier, CatBoostRegressor

        return (CatBoostRegressor if regression else CatBoostClassifier)(
            random_seed=seed, thread_count=threads, verbose=False, allow_writing_files=False, cat_features=self.cats_)

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """The columns as the library takes them: CatBoost categories as text (a gap its own level), the others
        pandas categoricals with the training rows' levels (a level they lacked is a gap)."""
        X = X.copy()
        for col in self.cats_:
            if self.params["library"] == "catboost":
                X[col] = X[col].astype(str).where(X[col].notna(), "__nan__")
            elif not isinstance(X[col].dtype, pd.CategoricalDtype):
                X[col] = pd.Categorical(X[col].astype(str).where(X[col].notna(), None), categories=self.levels_[col])
            elif not X[col].cat.categories.equals(self.levels_[col]):
                X[col] = pd.Categorical(X[col].astype(object), categories=self.levels_[col])
        return X

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.inner_ is not None:
            return self.inner_.predict(X)
        if self.ctx.task == "regression":
            return np.asarray(self.model_.predict(self._frame(X)), float)
        proba = np.zeros((len(X), self.ctx.n_classes))
        proba[:, self.classes_] = self.model_.predict_proba(self._frame(X))
        return proba

    def gain_importance(self) -> np.ndarray:
        """The library's own importance per input column: total split gain (LightGBM, XGBoost), CatBoost's
        PredictionValuesChange, the forests' impurity decrease, the linear model's |coefficients|."""
        if self.inner_ is not None:
            return self.inner_.gain_importance()
        library = self.params["library"]
        if library == "lightgbm":
            return self.model_.booster_.feature_importance(importance_type="gain").astype(float)
        if library == "xgboost":
            booster = self.model_.get_booster()
            gain = booster.get_score(importance_type="total_gain")
            return np.array([gain.get(name, 0.0) for name in booster.feature_names], float)
        return np.asarray(self.model_.get_feature_importance(), float)
