"""Any CSV competition (train.csv, test.csv and a sample submission, ``*submission*.csv``) with no new code: the task comes from
the metric and the target, the column types are inferred (``features.auto_features``)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from shared import auto
from shared.errors import UserError
from shared.io import read_csv
from shared.metrics import get_metric
from shared.spec import CompetitionSpec, Recipe, find_sample, sample_name
from shared.tabular.defaults import DEFAULTS_RANGES, FLOOR, LIBRARIES, LibraryDefaults
from shared.tabular.features import auto_features
from shared.tabular.fold_features import STEP_PARAMS, STEP_RANGES, standard_steps
from shared.tabular.models import (
    AUTOML_PARAMS,
    AUTOML_RANGES,
    GBM_BUDGET_RANGES,
    GBM_CATEGORY_RANGES,
    GBM_PARAMS,
    GBM_RANGES,
    LINEAR_PARAMS,
    LINEAR_RANGES,
    ONE_HOT_LEVELS,
    AutoGluonModel,
    LGBMModel,
    LinearModel,
)
from shared.tabular.zoo import (
    CATBOOST_PARAMS,
    CATBOOST_RANGES,
    FOREST_PARAMS,
    FOREST_RANGES,
    KNN_PARAMS,
    KNN_RANGES,
    MLP_PARAMS,
    MLP_RANGES,
    PYTABKIT_PARAMS,
    PYTABKIT_RANGES,
    SVR_PARAMS,
    SVR_RANGES,
    XGBOOST_PARAMS,
    XGBOOST_RANGES,
    CatBoostModel,
    ForestModel,
    KNNModel,
    MLPModel,
    PyTabKitModel,
    SVRModel,
    XGBoostModel,
    needs_pytabkit,
)


def raw_features(train, test, params):
    """The columns as they are (AutoGluon types and encodes them itself)."""
    return train, test


DEFAULT_RECIPE = "auto"
AUTO_MEMBERS = {  # the floor's CV orders them by family; the budget decides how far down each list a run gets
    "regression": ["linear", "gbm", "catboost", "gbm_xt", "mlp", "extra_trees", "knn", "xgboost"],
    "binary": ["linear", "gbm", "catboost", "gbm_xt", "extra_trees", "mlp", "knn", "xgboost"],
    # boosting grows a tree per class and round: forests, linear and nets first where there are many classes
    "multiclass": ["linear", "extra_trees", "rf", "mlp", "knn", "gbm", "catboost"],
}
GBM_NEED = {"regression": 16.0, "binary": 5.0, "multiclass": 5.0}  # gbm's and gbm_xt's, measured (below)
AUTO_FLOOR = {  # each member's library defaults, run first, and its need as a multiple of their fitting seconds (more
    # rounds, trees, a grid of penalties); boosting is measured by LightGBM's, the smooth models by the linear one's. A
    # third item: a family of its own, ranked by that floor (CatBoost: unlike LightGBM, its own defaults too slow to
    # run first; its 1,000 rounds take ~10-50 times LightGBM's 100). A factor may differ by task: ``linear``'s penalty
    # search is one leave-one-out fit for a ridge, but 15 logistic fits for classes (measured 6-8 times the defaults').
    # ``gbm`` at its learning rate 0.03, early stopping and a refit, unlimited, fitted for 16 times LightGBM's defaults'
    # seconds on ames and concrete (48 on diamonds), 5 on credit and hpc: at 3, ames' gbm got a second a fold, boosted
    # at 0.12 and scored 0.1238-0.1262 from run to run; at 16, 0.12228 in four runs (their blends 0.1187-0.1189)
    "linear": ("linear_defaults", {"regression": 3.0, "binary": 8.0, "multiclass": 8.0}),
    "knn": ("linear_defaults", 2.0), "mlp": ("linear_defaults", 20.0),
    "extra_trees": ("extra_trees_defaults", 1.5), "rf": ("rf_defaults", 1.5),
    "gbm": ("lightgbm_defaults", GBM_NEED), "gbm_xt": ("lightgbm_defaults", GBM_NEED, "gbm_xt"),
    "xgboost": ("lightgbm_defaults", 3.0),
    "catboost": ("lightgbm_defaults", 30.0, "catboost"),
}


def _gbm(name, about, **params):
    """A generic LightGBM recipe: ``GBM_PARAMS`` with categories of up to ``ONE_HOT_LEVELS`` levels split one against
    the rest, and ``params`` on top."""
    return Recipe(name, about, auto_features, LGBMModel, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                  model_params={**GBM_PARAMS, "max_cat_to_onehot": ONE_HOT_LEVELS, **params},
                  ranges={**GBM_RANGES, **GBM_CATEGORY_RANGES, **GBM_BUDGET_RANGES, **STEP_RANGES})


def _zoo(name, about, model, params, ranges, **kwargs):
    return Recipe(name, about, auto_features, model, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                  model_params=params, ranges={**ranges, **STEP_RANGES}, **kwargs)


RECIPES = {
    "gbm": _gbm("gbm", "LightGBM on inferred column types: numbers (also from text), dates, lists, text SVD, "
                "categories"),
    "linear": Recipe("linear", "regularised linear model, one-hot categories, skew-corrected numbers, text SVD",
                     auto_features, LinearModel, fold_features=standard_steps, feature_params=dict(STEP_PARAMS),
                     model_params=LINEAR_PARAMS, ranges={**LINEAR_RANGES, **STEP_RANGES}),
    "catboost": _zoo("catboost", "CatBoost: symmetric trees, its own target statistics for categories",
                     CatBoostModel, CATBOOST_PARAMS, CATBOOST_RANGES),
    "gbm_xt": _gbm("gbm_xt", "LightGBM's extremely randomised trees (a random threshold per column and split), "
                   "nine tenths of the columns a tree, no bagging", extra_trees=True, feature_fraction=0.9,
                   bagging_freq=0),
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
    **{f"{library}_defaults": _zoo(f"{library}_defaults", f"{about}: the floor auto's members are measured against",
                                   LibraryDefaults, {"library": library}, DEFAULTS_RANGES)
       for library, about in LIBRARIES.items()},
}
RECIPES["auto"] = auto.recipe(AUTO_MEMBERS, "the libraries' defaults first, then a blend of diverse members (linear, "
                              "boosted trees, forests, nets, neighbours) fitted within --time-limit on the same "
                              "folds, ordered by what the defaults scored, weights fitted nested",
                              blend="best", floor=AUTO_FLOOR, library_defaults=FLOOR)


def infer_task(metric_name: str, target: pd.Series) -> str:
    metric = get_metric(metric_name)
    if metric.task == "regression":
        return "regression"
    n = target.nunique()
    return "binary" if n == 2 else "multiclass"


def spec_for(data_dir: Path, target: str | None, id_col: str | None, metric_name: str | None,
             sample: str | Path | None = None) -> CompetitionSpec:
    """The generic path's spec for a data folder: train.csv, test.csv and its one ``*submission*.csv`` (or ``sample``,
    ``--sample FILE``); its runs go in ``runs/<data folder name>/``."""
    missing = [flag for flag, v in (("--target", target), ("--id", id_col), ("--metric", metric_name)) if not v]
    if missing:
        raise UserError(f"the generic tabular path needs {' '.join(missing)} (e.g. --target price --id Id --metric rmse).")
    if id_col == target:
        raise UserError(f"--id and --target are both {target!r}: the id column names the rows and the target column "
                        "holds the answers; pass two different columns of train.csv.")
    metric = get_metric(metric_name)
    labels = {} if metric.task == "regression" else {target: str}  # class labels are text, as in spec.load
    train = read_csv(Path(data_dir) / "train.csv", [id_col, target], "training data", dtype={id_col: str, **labels},
                     fix="Pass --target and --id the names of columns of train.csv.")
    task = infer_task(metric_name, train[target])
    sample_file = sample_name(Path(sample), Path(data_dir)) if sample is not None else find_sample(Path(data_dir))
    return CompetitionSpec(
        name="tabular", slug="tabular", title=f"generic tabular: {folder_name(data_dir)}", metric_name=metric.name,
        id_col=id_col, target_col=target, recipes=RECIPES, default_recipe=DEFAULT_RECIPE, task=task,
        fold_kind="kfold" if task == "regression" else "stratified", sample_submission_file=sample_file,
        runs_folder=folder_name(data_dir),
    )


def folder_name(data_dir: Path) -> str:
    """The data folder's own name (``.`` and ``..`` resolved) as a folder name that is safe everywhere (Windows,
    macOS): letters, digits, ``.``, ``_`` and ``-`` (others become ``_``), at most 60 characters; ``tabular`` for a
    folder without one (the root)."""
    name = Path(data_dir).resolve().name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60].strip("._-")
    return safe or "tabular"
