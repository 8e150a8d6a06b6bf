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

from shared.errors import UserError
from shared.log import get_log


def inner_split(y: np.ndarray, fraction: float, seed: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows to fit on, rows to stop early on) of a fold's training rows, stratified where every class can be on
    both sides."""
    from sklearn.model_selection import train_test_split

    from shared.tabular.models import _stratify

    rows = np.arange(len(y))
    return tuple(train_test_split(rows, test_size=fraction, random_state=seed, stratify=_stratify(y, fraction, task)))


def refit_rounds(best: int, fraction: float) -> int:
    """Rounds for the refit on all training rows: the inner split's best, scaled up for the extra rows."""
    return max(1, int(round(best / (1 - fraction))))


class Deadline:
    """``ctx.time_limit`` as a point in time: the probe of a boosted member may use ``probe_share`` of it, the refit
    the rest. None: no limit."""

    def __init__(self, seconds: float | None, probe_share: float = 0.6):
        self.start, self.seconds, self.probe_share = time.monotonic(), seconds, probe_share

    def probe_end(self) -> float | None:
        return None if self.seconds is None else self.start + self.probe_share * self.seconds

    def end(self) -> float | None:
        return None if self.seconds is None else self.start + self.seconds

    @staticmethod
    def passed(at: float | None) -> bool:
        return at is not None and time.monotonic() >= at


def _classes_out(task: str, pred: np.ndarray) -> np.ndarray:
    """A binary model's P(class 1) as the (n, 2) probabilities every classifier returns."""
    pred = np.asarray(pred, float)
    return np.column_stack([1 - pred, pred]) if task == "binary" and pred.ndim == 1 else pred


def class_probabilities(estimator, features, n_classes: int) -> np.ndarray:
    """A scikit-learn classifier's probabilities as (n, C) over every class of the run (a class the fold's rows
    lacked gets 0)."""
    proba = np.zeros((len(features), n_classes))
    proba[:, np.asarray(estimator.classes_, int)] = estimator.predict_proba(features)
    return proba


def _categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype) or X[c].dtype == object]


class CatBoostModel:
    """CatBoost (ordered boosting, symmetric trees, its own target statistics for categoricals)."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        X = X.copy()
        for col in self.cats_:
            X[col] = X[col].astype(str).where(X[col].notna(), "__nan__")
        return X

    def _estimator(self, rounds: int, stop_at: float | None, early: bool):
        from catboost import CatBoostClassifier, CatBoostRegressor

        p, ctx = self.params, self.ctx
        loss = {"regression": "RMSE", "binary": "Logloss", "multiclass": "MultiClass"}[ctx.task]
        kwargs = dict(iterations=rounds, learning_rate=p["learning_rate"], depth=p["depth"],
                      l2_leaf_reg=p["l2_leaf_reg"], loss_function=loss, random_seed=ctx.seed,
                      thread_count=ctx.n_jobs, verbose=False, allow_writing_files=False, cat_features=self.cats_)
        if ctx.task != "regression":  # every class of the run, also one the fold's rows (or its inner split) lack
            kwargs["class_names"] = list(range(ctx.n_classes))
        if early:
            kwargs.update(od_type="Iter", od_wait=p["early_stopping_rounds"], use_best_model=True)
        model = (CatBoostRegressor if ctx.task == "regression" else CatBoostClassifier)(**kwargs)
        return model, ([_StopAt(stop_at)] if stop_at is not None else None)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        p = self.params
        self.cats_ = _categorical_columns(X)
        X = self._frame(X)
        deadline = Deadline(self.ctx.time_limit)
        inner, early = inner_split(y, p["early_stopping_fraction"], self.ctx.seed, self.ctx.task)
        w = (lambda rows: None) if sample_weight is None else (lambda rows: sample_weight[rows])
        probe, stop = self._estimator(p["max_rounds"], deadline.probe_end(), early=True)
        probe.fit(X.iloc[inner], y[inner], sample_weight=w(inner), eval_set=(X.iloc[early], y[early]),
                  callbacks=stop)
        self.best_rounds_ = int(probe.get_best_iteration() or 0) + 1
        if stop and stop[0].stopped:  # no time for a refit that would be cut short: the probe (shrunk to its best)
            self.model_ = probe
            return self
        self.model_, stop = self._estimator(refit_rounds(self.best_rounds_, p["early_stopping_fraction"]),
                                            deadline.end(), early=False)
        self.model_.fit(X, y, sample_weight=w(slice(None)), callbacks=stop)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        X = self._frame(X)
        if self.ctx.task == "regression":
            return self.model_.predict(X).astype(float)
        return self.model_.predict_proba(X).astype(float)


class _StopAt:
    """A CatBoost callback: stop boosting at a point in time (the model keeps the trees it has)."""

    def __init__(self, at: float):
        self.at, self.stopped = at, False

    def after_iteration(self, info) -> bool:
        self.stopped = time.monotonic() >= self.at
        if self.stopped:
            get_log().info(f"catboost: stopped at round {info.iteration}, the fit's time limit")
        return not self.stopped


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
                "max_cat_to_onehot": 4, "nthread": ctx.n_jobs, "seed": ctx.seed, "verbosity": 0}

    @staticmethod
    def _matrix(X: pd.DataFrame, y=None, weight=None):
        import xgboost as xgb

        return xgb.DMatrix(X, label=y, weight=weight, enable_categorical=True)

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        import xgboost as xgb

        p = self.params
        deadline = Deadline(self.ctx.time_limit)
        inner, early = inner_split(y, p["early_stopping_fraction"], self.ctx.seed, self.ctx.task)
        w = (lambda rows: None) if sample_weight is None else (lambda rows: sample_weight[rows])
        params = self._booster_params()
        stop = [_XGBStopAt(deadline.probe_end(), "xgboost")] if self.ctx.time_limit else []
        probe = xgb.train(params, self._matrix(X.iloc[inner], y[inner], w(inner)), num_boost_round=p["max_rounds"],
                          evals=[(self._matrix(X.iloc[early], y[early], w(early)), "valid")],
                          early_stopping_rounds=p["early_stopping_rounds"], verbose_eval=False, callbacks=stop)
        self.best_rounds_ = int(getattr(probe, "best_iteration", probe.num_boosted_rounds() - 1)) + 1
        if stop and stop[0].stopped:  # no time for a refit that would be cut short: the probe, at its best round
            self.booster_, self.use_rounds_ = probe, self.best_rounds_
            return self
        self.use_rounds_ = 0  # all of the refit's
        stop = [_XGBStopAt(deadline.end(), "xgboost, refit")] if self.ctx.time_limit else []
        self.booster_ = xgb.train(params, self._matrix(X, y, w(slice(None))),
                                  num_boost_round=refit_rounds(self.best_rounds_, p["early_stopping_fraction"]),
                                  verbose_eval=False, callbacks=stop)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return _classes_out(self.ctx.task, self.booster_.predict(self._matrix(X), iteration_range=(0, self.use_rounds_)))


def _XGBStopAt(at: float, label: str):  # noqa: N802 - a class made on first use: xgboost is imported lazily
    import xgboost as xgb

    class StopAt(xgb.callback.TrainingCallback):
        stopped = False

        def after_iteration(self, model, epoch, evals_log) -> bool:
            self.stopped = time.monotonic() >= at
            if self.stopped:
                get_log().info(f"{label}: stopped at round {epoch + 1}, the fit's time limit")
            return self.stopped

    return StopAt()


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
            n_neighbors=k, weights=p["weights"], n_jobs=self.ctx.n_jobs)
        self.pipeline_ = make_pipeline(_linear_preprocessor(X, p), estimator)
        self.pipeline_.fit(X, y)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return self.pipeline_.predict(X).astype(float)
        return class_probabilities(self.pipeline_, X, self.ctx.n_classes)


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
        torch.set_num_threads(ctx.n_jobs)
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
        best, best_state, waited = np.inf, None, 0
        inner_t, early_t = torch.tensor(inner), torch.tensor(early)
        for _ in range(p["max_epochs"]):
            self.net_.train()
            order = inner_t[torch.randperm(len(inner_t), generator=generator)]
            for start in range(0, len(order), p["batch_size"]):
                batch = order[start:start + p["batch_size"]]
                if len(batch) < 2:
                    continue
                optimizer.zero_grad()
                loss_fn(self.net_(xs[batch]), target[batch]).backward()
                optimizer.step()
            self.net_.eval()
            with torch.no_grad():
                valid_loss = float(loss_fn(self.net_(xs[early_t]), target[early_t]))
            if valid_loss < best - 1e-6:
                best, waited = valid_loss, 0
                best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
            else:
                waited += 1
            if waited >= p["patience"] or Deadline.passed(deadline.end()):
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        self.net_.eval()
        with torch.no_grad():
            out = self.net_(torch.tensor(self.prep_.transform(X).astype(np.float32)))
        if self.ctx.task == "regression":
            return out[:, 0].numpy().astype(float) * self.std_ + self.mean_
        return torch.softmax(out, dim=1).numpy().astype(float)


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
        torch.set_num_threads(ctx.n_jobs)
        kwargs = {"n_epochs": p["n_epochs"]} if p["n_epochs"] else {}
        self.model_ = cls(device="cpu" if not torch.cuda.is_available() else None, random_state=ctx.seed,
                          n_threads=ctx.n_jobs, verbosity=0, val_fraction=p["early_stopping_fraction"],
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
            n_estimators=0, max_features=features, min_samples_leaf=p["min_samples_leaf"], n_jobs=ctx.n_jobs,
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
                get_log().info(f"{p['kind']}: stopped at {self.model_.n_estimators} trees, the fit's time limit")
                break
        self.model_.n_jobs = 1  # threads would sum the trees' votes in a varying order: not bit-reproducible
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return self.model_.predict(self._matrix(X)).astype(float)
        return class_probabilities(self.model_, self._matrix(X), self.ctx.n_classes)


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
