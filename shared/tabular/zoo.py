"""The tabular model zoo beside LightGBM (``shared.tabular.models``), on the same interface: ``Model(params, ctx)``,
``fit(X, y)``, ``predict(X)`` (values for regression, class probabilities (n, C) otherwise). Each member takes the
columns the feature code makes (numbers, pandas categoricals) and fits what it needs of them on the fold's
training rows: CatBoost and XGBoost their native categoricals, k-nearest neighbours and the MLPs scaled
numbers and one-hot categories. Boosted members find their rounds by early stopping on an inner split of the
training rows, then refit on all of them; the nets stop early on an inner split. The boosted members, the forests
and the MLP honour ``ctx.time_limit`` (seconds for the fold's fit) where one is given: a fit that reaches it stops
with what it has (a probe stopped by it is the model, at its best round; there is no time for a refit)."""
from __future__ import annotations

import importlib.util
import time

import numpy as np
import pandas as pd

from shared.config import (
    BELOW_ONE,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    ROWS,
    SHARE,
    Choice,
    Either,
    Items,
    Range,
    count,
    settings,
)
from shared.divergence import LossWatch
from shared.errors import UserError
from shared.log import get_log
from shared.tabular.fitting import (
    Deadline,
    TimeLimit,
    faster_schedule,
    inner_split,
    one_fit,
    probe_then_refit,
    say_stopped,
    train_net,
)
from shared.tabular.models import (
    GBM_RANGES,
    LAYER_WEIGHTS,
    MAX_BATCH,
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_ROUNDS,
    MAX_WIDTH,
    ONE_HOT_LEVELS,
    PACE,
    SCALING_RANGES,
    TIME_LIMIT,
    class_probabilities,
)
from shared.threads import fit_threads


def _classes_out(task: str, pred: np.ndarray) -> np.ndarray:
    """A binary model's P(class 1) as the (n, 2) probabilities every classifier returns."""
    pred = np.asarray(pred, float)
    return np.column_stack([1 - pred, pred]) if task == "binary" and pred.ndim == 1 else pred


def _categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype) or X[c].dtype == object]


BOOSTING_RANGES = {  # shared by CatBoost and XGBoost
    "learning_rate": POSITIVE.with_doc("the boosting learning rate (shrinkage of each tree)"),
    "max_rounds": count(MAX_ROUNDS).with_doc("boosting rounds at most (early stopping picks how many)"),
    "early_stopping_rounds": count(MAX_ROUNDS).with_doc("stop when the inner validation score has not improved for this "
                                            "many rounds"),
    "early_stopping_fraction": GBM_RANGES["early_stopping_fraction"],
    "time_limit": TIME_LIMIT,
    "pace": PACE,
}
CATBOOST_L2 = 3.0  # CatBoost's default L2 penalty
CATBOOST_PARAMS, CATBOOST_RANGES = settings({  # name: (default, what it accepts and what it is)
    "learning_rate": ("auto", Either(Choice("auto"), POSITIVE, doc=(
        "the boosting learning rate (shrinkage of each tree); auto: CatBoost's own for the rows and rounds"))),
    "depth": (6, Range(low=1, high=16, integer=True, doc="depth of each symmetric tree")),
    "l2_leaf_reg": (CATBOOST_L2, NON_NEGATIVE.with_doc("L2 penalty on the leaf values")),
    "one_hot_max_size": (ONE_HOT_LEVELS, Range(low=1, high=255, integer=True, doc=(
        "a category of up to this many levels is split one level against the rest, as one-hot columns would be "
        "(CatBoost's default: 2); more levels: CatBoost's target statistics"))),
    "max_ctr_complexity": (1, Range(low=1, high=4, integer=True, doc=(
        "categories whose target statistics are combined at most (CatBoost's default: 4, several times slower on "
        "many categories)"))),
    "rsm": (1.0, SHARE.with_doc("share of the columns each split weighs (random subspace)")),
    "max_rounds": (1000, BOOSTING_RANGES["max_rounds"]),
    "early_stopping_rounds": (0, count(MAX_ROUNDS, low=0).with_doc(
        "stop when the inner validation score has not improved for this many rounds, then refit on all rows; 0: "
        "no early stopping, one fit of max_rounds on all the training rows (CatBoost's own way)")),
    "early_stopping_fraction": (0.15, BOOSTING_RANGES["early_stopping_fraction"]),
    "time_limit": (None, BOOSTING_RANGES["time_limit"]),
    "pace": (True, BOOSTING_RANGES["pace"]),
})

class CatBoostModel:
    """CatBoost (ordered boosting, symmetric trees, its own target statistics for categoricals)."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        for col in self.cats_:
            X[col] = X[col].astype(str).where(X[col].notna(), "__nan__")
        return X

    def _estimator(self, rounds: int, early: bool, rate: float, patience: int = 0):
        from catboost import CatBoostClassifier, CatBoostRegressor

        p, ctx = self.params, self.ctx
        loss = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}[ctx.task]
        kwargs = dict(iterations=rounds, learning_rate=rate, depth=p["depth"], one_hot_max_size=p["one_hot_max_size"],
                      max_ctr_complexity=p["max_ctr_complexity"], rsm=p["rsm"], loss_function=loss,
                      random_seed=ctx.seed, thread_count=self.threads_, verbose=False, allow_writing_files=False,
                      cat_features=self.cats_)
        if p["l2_leaf_reg"] != CATBOOST_L2:  # given at all, even as 3, it turns off CatBoost's own learning rate
            kwargs["l2_leaf_reg"] = p["l2_leaf_reg"]
        if ctx.task != "regression":  # every class of the run, also one the fold's rows (or its inner split) lack
            kwargs["class_names"] = list(range(ctx.n_classes))
        if early:
            kwargs.update(od_type="Iter", od_wait=patience, use_best_model=True)
        else:  # no metric to watch: computed every round (as with a time limit's callback), it costs a quarter of a
            kwargs["metric_period"] = rounds  # small fit's time (concrete: 1.45 s against 1.1 s), the model the same
        return (CatBoostRegressor if ctx.task == "regression" else CatBoostClassifier)(**kwargs)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        """One fit of ``max_rounds`` on all the rows (``early_stopping_rounds`` 0, the default), or the rounds found
        by early stopping on an inner split, then a refit; paced into a time limit either way."""
        p = self.params
        self.cats_ = _categorical_columns(X)
        self.threads_ = fit_threads("catboost", *X.shape, self.ctx)
        X = self._frame(X)
        w = (lambda rows: None) if sample_weight is None else (lambda rows: sample_weight[rows])
        rate = None if p["learning_rate"] == "auto" else p["learning_rate"]  # None: CatBoost's own

        if not p["early_stopping_rounds"]:
            def fit_all(rounds, rate, limit):
                model = self._estimator(rounds, False, rate)
                model.fit(X, y, sample_weight=w(slice(None)), callbacks=_CatBoostStop.callbacks(limit))
                return model, _learning_rate(model)

            self.model_ = one_fit(fit_all, self.ctx, "catboost", p["max_rounds"], self.threads_, rate, p["pace"])
            self.best_rounds_ = self.model_.tree_count_
            return self

        def probe(inner, early, limit, faster):
            nonlocal rate
            rate, rounds, wait = faster_schedule(rate, p["max_rounds"], p["early_stopping_rounds"], faster)
            model = self._estimator(rounds, True, rate, wait)
            model.fit(X.iloc[inner], y[inner], sample_weight=w(inner), eval_set=(X.iloc[early], y[early]),
                      callbacks=_CatBoostStop.callbacks(limit))
            rate = _learning_rate(model)  # CatBoost's own, where it chose
            return model, int(model.get_best_iteration() or 0) + 1  # a probe stopped early is shrunk to its best

        def refit(rounds, limit):
            model = self._estimator(rounds, False, rate)  # as fast as the probe
            model.fit(X, y, sample_weight=w(slice(None)), callbacks=_CatBoostStop.callbacks(limit))
            return model

        self.model_, self.best_rounds_, _ = probe_then_refit(probe, refit, y, p["early_stopping_fraction"], self.ctx,
                                                             "catboost", p["max_rounds"], self.threads_,
                                                             rate if p["pace"] else None, p["early_stopping_rounds"])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        X = self._frame(X)
        if self.ctx.task == "regression":
            return self.model_.predict(X).astype(float)
        return self.model_.predict_proba(X).astype(float)

    def gain_importance(self) -> np.ndarray:
        """CatBoost's own importance per input column (PredictionValuesChange)."""
        return self.model_.get_feature_importance()

    def shap_values(self, X: pd.DataFrame) -> np.ndarray:
        """CatBoost's TreeSHAP (``ShapValues``) on the rows ``X``: (rows, outputs, input columns + 1), the bias last;
        a row's values sum to its raw prediction."""
        from catboost import Pool

        values = self.model_.get_feature_importance(Pool(self._frame(X), cat_features=self.cats_), type="ShapValues",
                                                    thread_count=self.threads_)
        return np.asarray(values, float).reshape(len(X), -1, X.shape[1] + 1)


def _learning_rate(model) -> float:
    """The learning rate a fitted CatBoost model used (its own where it chose one)."""
    return float(model.get_all_params()["learning_rate"])


class _CatBoostStop:
    """A CatBoost callback: stop boosting at its ``TimeLimit`` (the model keeps the trees it has)."""

    def __init__(self, limit: TimeLimit):
        self.limit = limit

    def after_iteration(self, info) -> bool:
        return not self.limit.reached(info.iteration)

    @classmethod
    def callbacks(cls, limit: TimeLimit) -> list | None:
        """The callback of a fit with a time limit, none without one."""
        return None if limit.at is None else [cls(limit)]


XGBOOST_PARAMS, XGBOOST_RANGES = settings({  # name: (default, what it accepts and what it is)
    "learning_rate": (0.05, BOOSTING_RANGES["learning_rate"]),
    "max_depth": (6, Range(low=1, high=32, integer=True, doc="depth of each tree at most")),
    "min_child_weight": (1.0, NON_NEGATIVE.with_doc("hessian a child holds at least")),
    "subsample": (0.8, SHARE.with_doc("share of the rows each tree samples")),
    "colsample_bytree": (0.8, SHARE.with_doc("share of the columns each tree may use")),
    "reg_lambda": (1.0, NON_NEGATIVE.with_doc("L2 penalty on the leaf values")),
    "max_rounds": (3000, BOOSTING_RANGES["max_rounds"]),
    "early_stopping_rounds": (100, BOOSTING_RANGES["early_stopping_rounds"]),
    "early_stopping_fraction": (0.15, BOOSTING_RANGES["early_stopping_fraction"]),
    "time_limit": (None, BOOSTING_RANGES["time_limit"]),
    "pace": (True, BOOSTING_RANGES["pace"]),
})

class XGBoostModel:
    """XGBoost (histogram trees, native categoricals)."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _booster_params(self) -> dict:
        p, ctx = self.params, self.ctx
        objective = {"regression": {"objective": "reg:squarederror"},
                     "binary": {"objective": "binary:logistic"},
                     "multiclass": {"objective": "multi:softprob", "num_class": ctx.n_classes}}[ctx.task]
        return {**objective, "eta": p["learning_rate"], "max_depth": p["max_depth"],
                "min_child_weight": p["min_child_weight"], "subsample": p["subsample"],
                "colsample_bytree": p["colsample_bytree"], "lambda": p["reg_lambda"], "tree_method": "hist",
                "max_cat_to_onehot": ONE_HOT_LEVELS, "nthread": self.threads_, "seed": ctx.seed, "verbosity": 0}

    @staticmethod
    def _matrix(X: pd.DataFrame, y=None, weight=None):
        import xgboost as xgb

        return xgb.DMatrix(X, label=y, weight=weight, enable_categorical=True)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        import xgboost as xgb

        p = self.params
        w = (lambda rows: None) if sample_weight is None else (lambda rows: sample_weight[rows])
        self.threads_ = fit_threads("xgboost", *X.shape, self.ctx)
        params = self._booster_params()

        def probe(inner, early, limit, faster):
            params["eta"], rounds, wait = faster_schedule(p["learning_rate"], p["max_rounds"],
                                                          p["early_stopping_rounds"], faster)  # the refit's too
            booster = xgb.train(params, self._matrix(X.iloc[inner], y[inner], w(inner)), num_boost_round=rounds,
                                evals=[(self._matrix(X.iloc[early], y[early], w(early)), "valid")],
                                early_stopping_rounds=wait, verbose_eval=False, callbacks=_xgboost_stop(limit))
            return booster, int(getattr(booster, "best_iteration", booster.num_boosted_rounds() - 1)) + 1

        def refit(rounds, limit):
            return xgb.train(params, self._matrix(X, y, w(slice(None))), num_boost_round=rounds, verbose_eval=False,
                             callbacks=_xgboost_stop(limit))

        self.booster_, self.best_rounds_, refitted = probe_then_refit(probe, refit, y, p["early_stopping_fraction"],
                                                                      self.ctx, "xgboost", p["max_rounds"],
                                                                      self.threads_,
                                                                      p["learning_rate"] if p["pace"] else None,
                                                                      p["early_stopping_rounds"])
        self.use_rounds_ = 0 if refitted else self.best_rounds_  # all of the refit's; the probe's up to its best
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return _classes_out(self.ctx.task, self.booster_.predict(self._matrix(X), iteration_range=(0, self.use_rounds_)))

    def gain_importance(self) -> np.ndarray:
        """Each input column's total split gain over the trees (0 for a column no tree splits on)."""
        gain = self.booster_.get_score(importance_type="total_gain")
        return np.array([gain.get(name, 0.0) for name in self.booster_.feature_names], float)

    def shap_values(self, X: pd.DataFrame) -> np.ndarray:
        """XGBoost's TreeSHAP (``pred_contribs``) on the rows ``X``: (rows, outputs, input columns + 1), the bias last;
        a row's values sum to its raw prediction (the margin)."""
        values = self.booster_.predict(self._matrix(X), iteration_range=(0, self.use_rounds_), pred_contribs=True)
        return np.asarray(values, float).reshape(len(X), -1, X.shape[1] + 1)


def _xgboost_stop(limit: TimeLimit) -> list:
    """The XGBoost callback of a fit with a time limit (none without one): stop boosting at its ``TimeLimit``. The
    class is made on first use: xgboost is imported lazily."""
    import xgboost as xgb

    class Stop(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return limit.reached(epoch + 1)

    return [] if limit.at is None else [Stop()]


KNN_PARAMS, KNN_RANGES = settings({  # name: (default, what it accepts and what it is)
    "n_neighbors": (10, count(10_000).with_doc("neighbours that vote (at most the training rows)")),
    "weights": ("distance", Choice("distance", "uniform", doc="neighbours' votes weighted by closeness, or equal")),
    "skew_threshold": (0.75, SCALING_RANGES["skew_threshold"]),
    "min_frequency": (5, SCALING_RANGES["min_frequency"]),
    "clip_range": (False, SCALING_RANGES["clip_range"]),
})

class KNNModel:
    """k-nearest neighbours on scaled, skew-corrected numbers and one-hot categories, distance-weighted: a very
    different model from trees (smooth in the features), often strong on continuous measurements."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
        from sklearn.pipeline import make_pipeline

        from shared.tabular.models import _linear_preprocessor

        p = self.params
        k = min(p["n_neighbors"], len(X))
        estimator = (KNeighborsRegressor if self.ctx.task == "regression" else KNeighborsClassifier)(
            n_neighbors=k, weights=p["weights"], n_jobs=fit_threads("knn", *X.shape, self.ctx))
        self.pipeline_ = make_pipeline(_linear_preprocessor(X, p), estimator)
        self.pipeline_.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return self.pipeline_.predict(X).astype(float)
        return class_probabilities(self.pipeline_, X, self.ctx.n_classes)


MLP_PARAMS, MLP_RANGES = settings({  # name: (default, what it accepts and what it is)
    "hidden": ([256, 256], Items(count(MAX_WIDTH), MAX_LAYERS, doc="widths of the hidden ReLU layers")),
    "dropout": (0.1, BELOW_ONE.with_doc("dropout after each hidden layer")),
    "lr": (1e-3, POSITIVE.with_doc("AdamW's learning rate")),
    "weight_decay": (1e-4, NON_NEGATIVE.with_doc("AdamW's weight decay")),
    "batch_size": (128, count(MAX_BATCH).with_doc("rows per batch")),
    "max_epochs": (300, count(MAX_EPOCHS).with_doc("passes over the training rows at most (early stopping picks how many)")),
    "patience": (20, count(MAX_EPOCHS).with_doc("stop when the inner validation loss has not improved for this many epochs")),
    "early_stopping_fraction": (0.15, GBM_RANGES["early_stopping_fraction"]),
    "skew_threshold": (0.75, SCALING_RANGES["skew_threshold"]),
    "min_frequency": (5, SCALING_RANGES["min_frequency"]),
    "time_limit": (None, TIME_LIMIT),
    "clip_range": (False, SCALING_RANGES["clip_range"]),
    ("hidden",): LAYER_WEIGHTS,
})

class MLPModel:
    """A small MLP in torch on scaled, skew-corrected numbers and one-hot categories: AdamW, a regression target
    standardised, early stopping on an inner split of the training rows (the best epoch's weights kept)."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _net(self, n_in: int, n_out: int):
        import torch.nn as nn

        layers, width = [], n_in
        for h in self.params["hidden"]:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(self.params["dropout"])]
            width = h
        return nn.Sequential(*layers, nn.Linear(width, n_out))

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        import torch

        from shared.tabular.models import _linear_preprocessor

        p, ctx = self.params, self.ctx
        deadline = Deadline(ctx.time_limit)
        torch.manual_seed(ctx.seed)
        torch.set_num_threads(fit_threads("torch", *X.shape, ctx))
        self.prep_ = _linear_preprocessor(X, p)
        features = self.prep_.fit_transform(X).astype(np.float32)
        regression = ctx.task == "regression"
        if regression:
            self.mean_, self.std_ = float(np.mean(y)), float(np.std(y) or 1.0)
            target = torch.tensor(((y - self.mean_) / self.std_).astype(np.float32))[:, None]
            loss_fn = torch.nn.MSELoss()
        else:
            target = torch.tensor(np.asarray(y, np.int64))
            loss_fn = torch.nn.CrossEntropyLoss()
        inner, early = inner_split(y, p["early_stopping_fraction"], ctx.seed, ctx.task)
        xs = torch.tensor(features)
        self.net_ = self._net(xs.shape[1], 1 if regression else ctx.n_classes)
        optimizer = torch.optim.AdamW(self.net_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        generator = torch.Generator().manual_seed(ctx.seed)
        inner_t, early_t = torch.tensor(inner), torch.tensor(early)

        def batches():  # the inner rows shuffled, a lone last row left out (one row cannot train a batch)
            order = inner_t[torch.randperm(len(inner_t), generator=generator)]
            for start in range(0, len(order), p["batch_size"]):
                batch = order[start:start + p["batch_size"]]
                if len(batch) >= 2:
                    yield xs[batch], target[batch]

        train_net(self.net_, optimizer, loss_fn, batches, p["max_epochs"], LossWatch(ctx.progress.name, p),
                  valid=(xs[early_t], target[early_t]), patience=p["patience"], stop_at=deadline.end())
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        self.net_.eval()
        with torch.no_grad():
            out = self.net_(torch.tensor(self.prep_.transform(X).astype(np.float32)))
        if self.ctx.task == "regression":
            return out[:, 0].numpy().astype(float) * self.std_ + self.mean_
        return torch.softmax(out, dim=1).numpy().astype(float)


PYTABKIT_PARAMS, PYTABKIT_RANGES = settings({  # name: (default, what it accepts and what it is)
    "kind": ("realmlp", Choice("realmlp", "tabm", doc="RealMLP (tuned defaults, 2024) or TabM (ICLR 2025)")),
    "n_epochs": (0, count(MAX_EPOCHS, low=0).with_doc("training epochs; 0: the model's tuned default")),
    "early_stopping_fraction": (0.2, OPEN_FRACTION.with_doc(
              "share of the fold's training rows held out to pick the best epoch")),
})

def needs_pytabkit() -> None:
    """``Recipe.requires`` of the pytabkit members: a one-line error saying what to install."""
    if importlib.util.find_spec("pytabkit") is None:
        raise UserError("this recipe needs pytabkit: pip install -r requirements.txt (or pip install pytabkit==1.7.3).")


class PyTabKitModel:
    """A model of ``pytabkit`` (Holzmüller et al. 2024, "Better by Default"): RealMLP with its tuned defaults
    (``RealMLP_TD``) or TabM (Gorishniy et al., ICLR 2025, ``TabM_D``), on the columns as they are (they encode
    numbers and categories themselves); early stopping on an inner split of the fold's training rows."""

    KINDS = {"realmlp": ("RealMLP_TD_Regressor", "RealMLP_TD_Classifier"),
             "tabm": ("TabM_D_Regressor", "TabM_D_Classifier")}

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        import pytabkit
        import torch

        p, ctx = self.params, self.ctx
        regressor, classifier = self.KINDS[p["kind"]]
        cls = getattr(pytabkit, regressor if ctx.task == "regression" else classifier)
        threads = fit_threads("torch", *X.shape, ctx)
        torch.set_num_threads(threads)
        kwargs = {"n_epochs": p["n_epochs"]} if p["n_epochs"] else {}
        self.model_ = cls(device="cpu" if not torch.cuda.is_available() else None, random_state=ctx.seed,
                          n_threads=threads, verbosity=0, val_fraction=p["early_stopping_fraction"],
                          tmp_folder=str(ctx.workdir / "pytabkit"), **kwargs)
        started = time.monotonic()
        self.categories_ = {c: (X[c].cat.categories if isinstance(X[c].dtype, pd.CategoricalDtype)
                                else pd.Index(sorted(X[c].dropna().astype(str).unique())))
                            for c in _categorical_columns(X)}
        numbers = [c for c in X.columns if c not in self.categories_]
        self.medians_ = {c: float(np.nanmedian(X[c].to_numpy(float))) if X[c].notna().any() else 0.0
                         for c in numbers if X[c].isna().any()}
        self.model_.fit(self._frame(X), y)
        get_log().debug(f"{p['kind']}: fitted in {time.monotonic() - started:.1f} s")
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Categories as the training rows had them (codes mean the same levels in every frame); numbers without
        gaps (pytabkit takes none): the training median, and a 0/1 column saying where one was filled."""
        X = X.copy()
        for col, median in self.medians_.items():
            X[f"{col}__missing"] = X[col].isna().astype(np.float32)
            X[col] = X[col].astype(float).fillna(median)
        for col, levels in self.categories_.items():
            values = X[col] if isinstance(X[col].dtype, pd.CategoricalDtype) else X[col].astype("string")
            X[col] = pd.Categorical(values.astype(object).where(values.notna(), None), categories=levels)
        return X

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return np.asarray(self.model_.predict(self._frame(X)), float).reshape(-1)
        return np.asarray(self.model_.predict_proba(self._frame(X)), float)

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.ctx.workdir / "pytabkit", ignore_errors=True)


FOREST_PARAMS, FOREST_RANGES = settings({  # name: (default, what it accepts and what it is)
    "kind": ("extra_trees", Choice("rf", "extra_trees", doc="random forest, or extremely randomised trees")),
    "n_estimators": (300, count(100_000).with_doc("trees")),
    "max_features": ("auto", Either(Choice("auto", "sqrt", "log2"), SHARE,
                                    doc="columns each split considers: a share, sqrt, log2; auto: all for "
                                        "regression, sqrt for classes")),
    "min_samples_leaf": (1, count(ROWS).with_doc("training rows a leaf holds at least")),
    "time_limit": (None, TIME_LIMIT),
})

class ForestModel:
    """A random forest or extremely randomised trees (scikit-learn): many deep trees on bootstrap samples, one
    tree for all classes at once, so cheap where boosting builds one tree per class and round. Categories are
    their level codes; missing values go to the side of each split that suits them (scikit-learn's own)."""

    FIRST, CHUNK = 10, 50  # trees added at a time (at first, then at most), between looks at the time limit

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        columns = []
        for col in X.columns:
            if col in self.levels_:
                codes = pd.Categorical(X[col].astype(object).where(X[col].notna(), None),
                                       categories=self.levels_[col]).codes.astype(float)
                columns.append(np.where(codes < 0, np.nan, codes))
            else:
                columns.append(X[col].to_numpy(float))
        return np.column_stack(columns) if columns else np.zeros((len(X), 0))

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        from sklearn.ensemble import (
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            RandomForestClassifier,
            RandomForestRegressor,
        )

        p, ctx = self.params, self.ctx
        self.levels_ = {c: (X[c].cat.categories if isinstance(X[c].dtype, pd.CategoricalDtype)
                            else pd.Index(sorted(X[c].dropna().astype(str).unique())))
                        for c in _categorical_columns(X)}
        regression = ctx.task == "regression"
        kind = {("rf", True): RandomForestRegressor, ("rf", False): RandomForestClassifier,
                ("extra_trees", True): ExtraTreesRegressor, ("extra_trees", False): ExtraTreesClassifier}
        features = p["max_features"] if p["max_features"] != "auto" else (1.0 if regression else "sqrt")
        deadline = Deadline(ctx.time_limit).end()
        self.model_ = kind[(p["kind"], regression)](
            n_estimators=0, max_features=features, min_samples_leaf=p["min_samples_leaf"],
            n_jobs=fit_threads(p["kind"], *X.shape, ctx),
            random_state=ctx.seed, warm_start=True)
        features = self._matrix(X)
        chunk, started = (self.FIRST if deadline else p["n_estimators"]), time.monotonic()
        while self.model_.n_estimators < p["n_estimators"]:  # the same trees as one fit of them all
            self.model_.n_estimators = min(p["n_estimators"], self.model_.n_estimators + chunk)
            self.model_.fit(features, y, sample_weight=sample_weight)
            if deadline is None:
                continue
            per_tree = (time.monotonic() - started) / self.model_.n_estimators
            chunk = int(min(self.CHUNK, (deadline - time.monotonic()) / per_tree))  # as many as still fit
            if chunk < 1 and self.model_.n_estimators < p["n_estimators"]:
                say_stopped(f"{p['kind']}: stopped at {self.model_.n_estimators} trees, the fit's time limit",
                            self.model_.n_estimators, p["n_estimators"], "tree", time.monotonic() - started,
                            self.model_.n_jobs)
                break
        self.model_.n_jobs = 1  # threads would sum the trees' votes in a varying order: not bit-reproducible
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return self.model_.predict(self._matrix(X)).astype(float)
        return class_probabilities(self.model_, self._matrix(X), self.ctx.n_classes)

    def gain_importance(self) -> np.ndarray:
        """The trees' mean impurity decrease per input column (scikit-learn's ``feature_importances_``)."""
        return self.model_.feature_importances_


SVR_PARAMS, SVR_RANGES = settings({  # name: (default, what it accepts and what it is)
    "C": (20.0, POSITIVE.with_doc("penalty on errors beyond epsilon (larger: a closer fit)")),
    "epsilon": (0.008, NON_NEGATIVE.with_doc("errors up to this (in the target's space, log for RMSLE) cost nothing")),
    "gamma": ("scale", Either(Choice("scale", "auto"), POSITIVE, doc="RBF kernel width: scale (1 / (columns x "
                                                                      "variance)), auto (1 / columns) or a number")),
    "skew_threshold": (0.75, SCALING_RANGES["skew_threshold"]),
    "min_frequency": (3, SCALING_RANGES["min_frequency"]),
    "clip_range": (False, SCALING_RANGES["clip_range"]),
})

class SVRModel:
    """Support vector regression (RBF kernel) on scaled, skew-corrected numbers and one-hot categories: smooth in
    every feature, unlike trees, and robust to a few odd rows (the epsilon-insensitive loss); a classic member of
    house-price blends. Regression only."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import SVR

        from shared.tabular.models import _linear_preprocessor

        if self.ctx.task != "regression":
            raise UserError("the svr recipe is for regression; for classes use linear, knn or mlp.")
        p = self.params
        self.pipeline_ = make_pipeline(_linear_preprocessor(X, p),
                                       SVR(C=p["C"], epsilon=p["epsilon"], gamma=p["gamma"]))
        weight = {} if sample_weight is None else {"svr__sample_weight": sample_weight}
        self.pipeline_.fit(X, y, **weight)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict(X).astype(float)
