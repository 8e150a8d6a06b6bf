"""Tabular models behind one interface: ``Model(params, ctx)``, ``fit(X, y)``, ``predict(X)``.
Regression predicts values; classification predicts class probabilities (n, C). Any preprocessing that
learns from data is fitted inside ``fit``, i.e. on the fold's training rows only."""
from __future__ import annotations

import importlib.util
import shutil
import time

import numpy as np
import pandas as pd

from shared.config import (
    BELOW_ONE,
    FLAG,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    ROWS,
    SECONDS,
    SHARE,
    Choice,
    Either,
    Items,
    Range,
    Rule,
    count,
    settings,
)
from shared.divergence import LossWatch
from shared.errors import UserError
from shared.log import get_log
from shared.tabular.fitting import TimeLimit, faster_schedule, probe_then_refit, train_net
from shared.threads import fit_threads, trees_a_round


def _objective(task: str, n_classes: int) -> dict:
    if task == "regression":
        return {"objective": "regression", "metric": "rmse"}
    if task == "binary":
        return {"objective": "binary", "metric": "binary_logloss"}
    return {"objective": "multiclass", "metric": "multi_logloss", "num_class": n_classes}


class _BoostingLog:
    """A LightGBM callback: a line in the run log every ``every`` seconds of a long boosting, with the round and,
    where there is a validation set, its score and the best round so far. Short fits stay silent."""

    order = 40  # after the early-stopping callback (30), whose stop ends the fit before a line about it

    def __init__(self, label: str, every: float):
        self.label, self.every = label, every
        self.started = self.spoke = time.monotonic()
        self.lines, self.best = 0, None  # (score, round)

    def __call__(self, env) -> None:
        rounds = env.iteration + 1
        score = None
        if env.evaluation_result_list:
            _, name, score, higher_is_better = env.evaluation_result_list[0][:4]
            if self.best is None or (score > self.best[0] if higher_is_better else score < self.best[0]):
                self.best = (score, rounds)
        now = time.monotonic()
        if now - self.spoke < self.every:
            return
        self.spoke, self.lines = now, self.lines + 1
        valid = "" if score is None else (f", valid {name} {score:.5g} (best {self.best[0]:.5g} at round "
                                          f"{self.best[1]})")
        get_log().info(f"{self.label}: round {rounds}/{env.end_iteration}{valid}, {now - self.started:.0f} s")


class _LightGBMStop:
    """A LightGBM callback: end the boosting at its ``TimeLimit``. With a validation set the fit keeps its best round
    so far (as early stopping would), without one every round."""

    order = 35  # after early stopping (30): a round that is both the best and the last is kept as the best

    def __init__(self, limit: TimeLimit):
        self.limit = limit
        self.best = None  # (score, iteration, evaluation_result_list)

    def __call__(self, env) -> None:
        import lightgbm as lgb

        if env.evaluation_result_list:
            _, _, score, higher_is_better = env.evaluation_result_list[0][:4]
            if self.best is None or (score > self.best[0] if higher_is_better else score < self.best[0]):
                self.best = (score, env.iteration, env.evaluation_result_list)
        if self.limit.reached(env.iteration + 1):
            iteration, scores = (env.iteration, env.evaluation_result_list) if self.best is None else self.best[1:]
            raise lgb.callback.EarlyStopException(iteration, scores)

    @classmethod
    def callbacks(cls, limit: TimeLimit) -> list:
        """The callback of a fit with a time limit, none without one."""
        return [] if limit.at is None else [cls(limit)]


# LightGBM's settings: each default beside what it accepts (checked by shared.config.resolve before any work) and
# is; LightGBM's own constraints where it has them (num_leaves > 1, max_bin > 1, fractions in (0, 1]). GBM_PARAMS are
# the generic gbm recipe's defaults (all three groups), and the model's for a setting that a recipe leaves out.
CLIP_RANGE = FLAG.with_doc("numbers beyond the training rows' range are clipped to it in the linear view (a "
                           "slope is not extrapolated past the data)")
TIME_LIMIT = Either(Choice(None), SECONDS, doc="seconds for the whole run, split over the folds (--time-limit "
                                                "sets it); a fit that reaches its share stops with what it has; "
                                                "null: no limit")
PACE = FLAG.with_doc("with a time limit, time the first rounds and, where the learning rate could not converge "
                     "within it, boost faster (a larger learning rate, fewer rounds) instead of stopping short; "
                     "false: keep the schedule and stop at the limit")
ONE_HOT_LEVELS = 16  # LightGBM's baseline as Kagglers run it, on one-hot categories: a category column of up to this
# many levels splits one level against the rest (as its one-hot columns would); LightGBM's own many-against-many
# category splits (max_cat_to_onehot=4) score far below it on the suite's 32-class leaves (CV 0.968 against 0.998)
MAX_ROUNDS = 1_000_000  # boosting rounds (and patience) at most: hours of boosting even on small data
GBM_DEFAULTS, GBM_RANGES = settings({  # name: (default, what it accepts and what it is)
    "learning_rate": (0.03, POSITIVE.with_doc("the boosting learning rate (shrinkage of each tree)")),
    "num_leaves": (31, Range(low=2, high=131072, integer=True, doc="leaves per tree at most")),
    "min_data_in_leaf": (20, count(ROWS).with_doc("training rows a leaf holds at least")),
    "feature_fraction": (0.5, SHARE.with_doc("share of the columns each tree may use (sampled per tree)")),
    "bagging_fraction": (0.8, SHARE.with_doc("share of the rows each bagging round samples")),
    "bagging_freq": (1, count(MAX_ROUNDS, low=0).with_doc("re-sample the rows every this many rounds; 0 = no bagging")),
    "lambda_l2": (1.0, NON_NEGATIVE.with_doc("L2 penalty on the leaf values")),
    "extra_trees": (False, FLAG.with_doc("LightGBM's extremely randomised trees: each split weighs one random threshold "
                                         "per column, not the best one")),
    "max_bin": (255, count(65535, low=2).with_doc("histogram bins per numeric column at most (memory grows with it)")),
    "max_rounds": (5000, count(MAX_ROUNDS).with_doc("boosting rounds at most (early stopping picks how many)")),
    "early_stopping_rounds": (200, count(MAX_ROUNDS).with_doc("stop when the inner validation score has not improved for this "
                                                  "many rounds")),
    "early_stopping_fraction": (0.15, OPEN_FRACTION.with_doc(  # the refit scales rounds by 1 / (1 - it)
        "share of the fold's training rows held out to pick the rounds, before the refit on all of them")),
    "linear_base": ("auto", Choice("none", "auto", "single", "ridge", "lasso", "elasticnet",
                                   doc="regression: boost from a linear fit; single: a line on the best column, auto: "
                                       "that line where it correlates strongly")),
    "linear_alpha": (1.0, POSITIVE.with_doc("regularisation strength of a ridge / lasso / elasticnet linear_base")),
    "clip_range": (False, CLIP_RANGE),
})
# LightGBM's splits on native categories (its own defaults), declared by the generic gbm
GBM_CATEGORY_DEFAULTS, GBM_CATEGORY_RANGES = settings({
    "min_data_per_group": (20, count(ROWS).with_doc("training rows a group of categories holds at least (a categorical "
                                              "split)")),
    "cat_smooth": (10.0, NON_NEGATIVE.with_doc("smoothing of the categories' target statistics (fewer rows: more)")),
    "max_cat_to_onehot": (4, count(ROWS).with_doc("a column with at most this many categories splits one category against "
                                            "the rest")),
})
# the generic gbm's: sized for many classes, and a time limit (an auto member's share)
GBM_BUDGET_DEFAULTS, GBM_BUDGET_RANGES = settings({
    "max_trees": (20000, count(10 * MAX_ROUNDS).with_doc("more than two classes: trees per fit at most (rounds x classes); the rounds "
                                        "shrink to it and the learning rate grows with sqrt(classes / 2)")),
    "time_limit": (None, TIME_LIMIT),
    "pace": (True, PACE),
})
GBM_PARAMS = {**GBM_DEFAULTS, **GBM_CATEGORY_DEFAULTS, **GBM_BUDGET_DEFAULTS}


def sized_for_classes(params: dict, n_classes: int) -> tuple[float, int, int]:
    """(learning rate, rounds at most, early-stopping patience) of a fit over ``n_classes`` classes: softmax
    boosting grows one tree per class and round, so with more than two classes the rounds shrink to keep the
    trees at most ``max_trees`` (the time grows with rows x classes, no faster), and the learning rate and patience
    scale with sqrt(classes / 2) so that those rounds still reach the optimum."""
    lr, rounds, patience = params["learning_rate"], params["max_rounds"], params["early_stopping_rounds"]
    if n_classes <= 2:
        return lr, rounds, patience
    scale = (n_classes / 2) ** 0.5
    return (min(0.3, lr * scale), min(rounds, max(50, params["max_trees"] // n_classes)),
            max(10, int(round(patience / scale))))


class LGBMModel:
    """LightGBM with native categoricals. Early stopping happens *inside* the training rows: an inner
    split finds the number of rounds, then the model is refit on all training rows with that many
    (scaled up for the extra data). The CV fold being scored is never seen.

    ``linear_base`` (regression): boost from a regularised linear fit (LightGBM ``init_score``) so the
    trees model what the line misses; trees alone cannot extrapolate trends such as price per area.
    ``single`` boosts from a line on the one most predictive column (``SingleFeatureLine``); ``auto``
    does so when that column correlates strongly with the target, and boosts from zero otherwise.

    A fit that boosts for long writes a line to the run log every ``LOG_SECONDS``."""

    LOG_SECONDS = 30.0

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = {**GBM_PARAMS, **params}, ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        import lightgbm as lgb

        p = self.params
        learning_rate, max_rounds, patience = sized_for_classes(p, self.ctx.n_classes)
        if (learning_rate, max_rounds) != (p["learning_rate"], p["max_rounds"]) and self.ctx.progress.name in ("",
                                                                                                        "fold 0"):
            get_log().info(f"lightgbm: {self.ctx.n_classes} classes: learning rate {learning_rate:.3g}, at most "
                           f"{max_rounds} rounds (max_trees={p['max_trees']}, one tree per class and round)")
        trees = trees_a_round(self.ctx.n_classes)
        threads = self.threads_ = fit_threads("lightgbm", *X.shape, self.ctx, trees=trees)
        booster_params = {
            **_objective(self.ctx.task, self.ctx.n_classes),
            "learning_rate": learning_rate, "num_leaves": p["num_leaves"],
            "min_data_in_leaf": p["min_data_in_leaf"], "feature_fraction": p["feature_fraction"],
            "bagging_fraction": p["bagging_fraction"], "bagging_freq": p["bagging_freq"],
            "lambda_l2": p["lambda_l2"], "extra_trees": p["extra_trees"], "max_bin": p["max_bin"],
            "min_data_per_group": p["min_data_per_group"],
            "cat_smooth": p["cat_smooth"], "max_cat_to_onehot": p["max_cat_to_onehot"],
            "seed": self.ctx.seed, "deterministic": True, "force_row_wise": True,
            "num_threads": threads, "verbosity": -1,
        }
        self.linear_ = None
        base = np.zeros(len(X))
        kind = p["linear_base"]
        if kind in ("single", "auto") and self.ctx.task == "regression":
            min_r = SingleFeatureLine.AUTO_MIN_R if kind == "auto" else 0.0
            line = SingleFeatureLine(LGBMModel({**p, "linear_base": "none"}, self.ctx)).fit(X, y, sample_weight, min_r)
            if line.column_ is not None:
                self.linear_ = line
                base = line.predict(X)
        elif kind != "none" and self.ctx.task == "regression":
            linear_params = {"kind": p["linear_base"], "alpha": p["linear_alpha"], "l1_ratio": 0.5,
                             "skew_threshold": 0.75, "min_frequency": 3, "clip_range": p["clip_range"]}
            self.linear_ = LinearModel(linear_params, self.ctx).fit(X, y, sample_weight)
            base = self.linear_.predict(X)
        w = sample_weight
        probing = _BoostingLog("lightgbm, finding the rounds on an inner split", self.LOG_SECONDS)
        probed = None

        def probe(inner, early, limit, faster):
            nonlocal probed
            rate, rounds, wait = faster_schedule(learning_rate, max_rounds, patience, faster)
            booster_params["learning_rate"] = rate  # the refit boosts as the probe did
            probed = lgb.train(booster_params, self._dataset(X, y, base, w, inner), num_boost_round=rounds,
                               valid_sets=[self._dataset(X, y, base, w, early)],
                               callbacks=[lgb.early_stopping(wait, verbose=False), probing,
                                          *_LightGBMStop.callbacks(limit)])
            return probed, int(probed.best_iteration or rounds)

        def refit(rounds, limit):
            if probing.lines:
                get_log().info(f"lightgbm: best round {int(probed.best_iteration or max_rounds)} of "
                               f"{probed.current_iteration()}; refitting on all {len(X)} training rows for {rounds} "
                               "rounds")
            return lgb.train(booster_params, self._dataset(X, y, base, w, np.arange(len(X))), num_boost_round=rounds,
                             callbacks=[_BoostingLog("lightgbm, refit", self.LOG_SECONDS),
                                        *_LightGBMStop.callbacks(limit)])

        self.booster_, self.best_rounds_, _ = probe_then_refit(probe, refit, y, p["early_stopping_fraction"],
                                                               self.ctx, "lightgbm", max_rounds, threads,
                                                               learning_rate if p["pace"] else None, patience)
        self.learning_rate_ = booster_params["learning_rate"]
        return self

    @staticmethod
    def _dataset(X, y, base, weights, rows):
        import lightgbm as lgb

        init = None if not base.any() else base[rows]
        return lgb.Dataset(X.iloc[rows], y[rows], init_score=init, weight=None if weights is None else weights[rows])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        pred = self.booster_.predict(X, num_iteration=self.booster_.best_iteration or None)
        if self.linear_ is not None:
            return pred + self.linear_.predict(X)
        if self.ctx.task == "binary":
            return np.column_stack([1 - pred, pred])
        return pred

    def gain_importance(self) -> np.ndarray:
        """Each input column's total split gain over the trees (a linear base's column is the permutation's to
        measure)."""
        return self.booster_.feature_importance("gain")

    def shap_values(self, X: pd.DataFrame) -> np.ndarray:
        """TreeSHAP of the trees on the rows ``X`` (LightGBM's ``pred_contrib``): (rows, outputs, input columns + 1),
        the bias last; a row's values sum to the trees' raw prediction (a linear base's part is the line's, outside
        the trees: its column gets only what the trees add)."""
        values = self.booster_.predict(X, num_iteration=self.booster_.best_iteration or None, pred_contrib=True,
                                       num_threads=getattr(self, "threads_", 0))
        return np.asarray(values, float).reshape(len(X), -1, X.shape[1] + 1)


class SingleFeatureLine:
    """y ≈ a + b·f(x) on the one numeric column that predicts the target best on the training rows
    (f = log1p for skewed non-negative columns): e.g. a listing price for a sale price. Boosting from
    it keeps the trees to small corrections of that column, which they cannot approximate well with
    steps, and keeps predictions tied to it when the market moves. Rows without the column get the
    ``fallback`` model, fitted on the columns those rows have (without one: the target's mean)."""

    # linear_base=auto uses the line only when |correlation| reaches this: a listing price for a sale price (0.998
    # on California's log prices), not a size that merely tracks the price (a diamond's length, 0.958 on log
    # prices: its zero-length stones, boosted from the line's far end, cost 0.146 CV RMSLE against 0.086 without)
    AUTO_MIN_R = 0.98

    def __init__(self, fallback=None):
        self.fallback = fallback

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None, min_r: float = 0.0):
        """``min_r``: no column correlating at least this well -> no line (``column_`` None), and no
        fallback fitted for nothing."""
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        self.mean_ = float(np.average(y, weights=w))
        self.column_, self.log_, self.r_ = None, False, 0.0
        for col in X.columns:
            if not pd.api.types.is_numeric_dtype(X[col]) or isinstance(X[col].dtype, pd.CategoricalDtype):
                continue
            x = X[col].to_numpy(float)
            for use_log in (False, True) if np.nanmin(x, initial=np.inf) >= 0 else (False,):
                v = np.log1p(x) if use_log else x
                ok = np.isfinite(v)
                if ok.mean() < 0.5 or np.std(v[ok]) == 0:
                    continue
                r = abs(np.corrcoef(v[ok], y[ok])[0, 1])
                if r > self.r_:
                    self.column_, self.log_, self.r_ = col, use_log, float(r)
        self.fallback_ = None
        if self.r_ < min_r:
            self.column_ = None
        if self.column_ is not None:
            v = self._values(X)
            ok = np.isfinite(v)
            self.slope_, self.intercept_ = np.polyfit(v[ok], y[ok], 1, w=np.sqrt(w[ok]))
            if self.fallback is not None and (~ok).any():
                # The fallback serves rows lacking the column: it uses only columns such rows have (which
                # also leaves out columns derived from this one, e.g. a price per square foot).
                lacking = X.iloc[np.flatnonzero(~ok)]
                self.fallback_columns_ = [c for c in X.columns if c != self.column_ and lacking[c].notna().any()]
                self.fallback_ = self.fallback.fit(X[self.fallback_columns_], y, sample_weight)
        return self

    def _values(self, X: pd.DataFrame) -> np.ndarray:
        x = X[self.column_].to_numpy(float)
        return np.log1p(x) if self.log_ else x

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.column_ is None:
            return np.full(len(X), self.mean_)
        v = self._values(X)
        ok = np.isfinite(v)
        out = np.full(len(X), self.mean_)
        out[ok] = self.intercept_ + self.slope_ * v[ok]
        if self.fallback_ is not None and (~ok).any():
            out[~ok] = self.fallback_.predict(X[self.fallback_columns_].iloc[np.flatnonzero(~ok)])
        return out


class ClipToRange:
    """Numbers clipped to the range the training rows span (fitted per column): a linear model, an RBF kernel or a
    ReLU net then predicts a value beyond that range as it would its edge, as trees do, instead of extrapolating a
    slope. On House Prices a partial sale of a 5,642 sq ft house, larger than any training house, was priced at
    $1.7M by the Lasso (sold: $160k); clipped, its area counts as the largest seen."""

    def fit(self, X, y=None):
        values = np.asarray(X, dtype=float)
        self.low_, self.high_ = values.min(axis=0), values.max(axis=0)  # after imputation: no NaN
        return self

    def transform(self, X):
        return np.clip(np.asarray(X, dtype=float), self.low_, self.high_)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def get_feature_names_out(self, input_features=None):
        return input_features

    def get_params(self, deep=True):  # a scikit-learn transformer without settings (clone, repr)
        return {}

    def set_params(self, **params):
        return self


# The linear models' settings: each default beside what it accepts and is; LINEAR_PARAMS are the generic linear
# recipe's defaults, and the model's for a setting that a recipe leaves out.
LINEAR_PARAMS, LINEAR_RANGES = settings({  # name: (default, what it accepts and what it is)
    "kind": ("ridge", Choice("ridge", "lasso", "elasticnet", doc="the regression model (classification: logistic regression)")),
    "alpha": ("auto", Either(Choice("auto"), POSITIVE, doc=(
              "regularisation strength on standardised columns (classification: C = 1 / alpha); auto: the best of a "
              "small grid around the library default on 3 inner folds of the fold's training rows (ridge: exact "
              "leave-one-out) (ridge and classes 0.01, 0.1, 1, 10, 100; lasso / elasticnet 1 and 1e-4 to 0.1 x the target's spread), by the "
              "held rows' loss; the default 1 unless another clearly beats it"))),
    "l1_ratio": (0.5, Range(low=0, high=1, doc="elasticnet: the L1 share of the penalty")),
    "skew_threshold": (0.75, NON_NEGATIVE.with_doc("non-negative numeric columns with |skew| above this are log1p'd")),
    "min_frequency": (5, count(ROWS).with_doc(  # scikit-learn OneHotEncoder: a whole count >= 1
            "categories in fewer training rows share one 'infrequent' column")),
    "clip_range": (False, CLIP_RANGE),
})
SCALING_RANGES = {  # the one-hot / scaled view of the nets and neighbours (as the linear models')
    "clip_range": CLIP_RANGE,
    "skew_threshold": NON_NEGATIVE.with_doc("non-negative numeric columns with |skew| above this are log1p'd"),
    "min_frequency": count(ROWS).with_doc("categories in fewer training rows share one 'infrequent' column"),
}


def _linear_preprocessor(X: pd.DataFrame, params: dict):
    """The one-hot / scaled view of the linear models, kernels, nets and neighbours: median-imputed numbers,
    clipped to the training range when ``clip_range`` is set, log1p'd when skewed (``skew_threshold``) and
    standardised; categories one-hot, rare ones (``min_frequency``) pooled."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not isinstance(X[c].dtype, pd.CategoricalDtype)]
    categorical = [c for c in X.columns if c not in numeric]
    values = X[numeric]
    skewed = [c for c in numeric if values[c].min() >= 0 and abs(values[c].skew()) > params["skew_threshold"]]
    plain = [c for c in numeric if c not in skewed]
    to_str = FunctionTransformer(lambda d: d.astype(str).where(d.notna(), "__nan__").astype(object),
                                 feature_names_out="one-to-one")
    clip = [ClipToRange()] if params["clip_range"] else []
    return ColumnTransformer([
        ("skewed", make_pipeline(SimpleImputer(strategy="median"), *clip, FunctionTransformer(np.log1p),
                                 StandardScaler()), skewed),
        ("plain", make_pipeline(SimpleImputer(strategy="median"), *clip, StandardScaler()), plain),
        ("categorical", make_pipeline(to_str, OneHotEncoder(handle_unknown="infrequent_if_exist",
                                                            min_frequency=params["min_frequency"],
                                                            sparse_output=False)), categorical),
    ])


# alpha=auto: the grid it picks from (scikit-learn's default strength, 1, and two decades either side; the L1
# penalties' alphas scale with the target, so theirs are also multiples of its spread) and the inner folds of a
# fold's training rows they are compared on.
AUTO_ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0)
AUTO_L1_ALPHAS = (1e-4, 1e-3, 1e-2, 0.1)
AUTO_ALPHA_FOLDS = 3
ANCHOR_ERRORS = 2.0  # standard errors by which a setting must beat the default to replace it


class LinearModel:
    """Regularised linear model on standardised, skew-corrected (log1p) numerics and one-hot categories.
    ``kind``: ridge | lasso | elasticnet (regression); classification always uses logistic regression.
    ``alpha=auto`` picks the strength on inner folds of the fold's training rows (``choose_alpha``), then fits
    all of them with it; the choice is ``alpha_``."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = {**LINEAR_PARAMS, **params}, ctx

    def _estimator(self, alpha: float, warm_start: bool = False):
        from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge

        p = self.params
        if self.ctx.task != "regression":
            return LogisticRegression(C=1.0 / alpha, max_iter=2000, warm_start=warm_start)
        if p["kind"] == "ridge":
            return Ridge(alpha=alpha)
        if p["kind"] == "lasso":
            return Lasso(alpha=alpha, max_iter=50000, random_state=self.ctx.seed, warm_start=warm_start)
        if p["kind"] == "elasticnet":
            return ElasticNet(alpha=alpha, l1_ratio=p["l1_ratio"], max_iter=50000, random_state=self.ctx.seed,
                              warm_start=warm_start)
        raise UserError(f"--set kind={p['kind']!r}: choose ridge, lasso or elasticnet.")

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        from sklearn.pipeline import make_pipeline

        p = self.params
        self.alpha_ = self.choose_alpha(X, y, sample_weight) if p["alpha"] == "auto" else float(p["alpha"])
        self.pipeline_ = make_pipeline(_linear_preprocessor(X, p), self._estimator(self.alpha_))
        weight = {} if sample_weight is None else {f"{self.pipeline_.steps[-1][0]}__sample_weight": sample_weight}
        self.pipeline_.fit(X, y, **weight)
        return self

    def alpha_grid(self, y: np.ndarray) -> list[float]:
        """The strengths ``alpha=auto`` compares, weakest first."""
        if self.ctx.task != "regression" or self.params["kind"] == "ridge":
            return list(AUTO_ALPHAS)
        spread = float(np.std(y)) or 1.0
        return sorted({*(a * spread for a in AUTO_L1_ALPHAS), 1.0})

    def choose_alpha(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None) -> float:
        """``alpha=auto``: each strength of ``alpha_grid`` fitted on ``AUTO_ALPHA_FOLDS`` inner folds of these rows
        (strongest first, each fit starting from the last one's weights) and scored on the rows each held out, so
        every row is scored once; the choice is ``anchored_best``'s, and the first fold's log says it. The library
        default, 1, where too few rows or classes are there to compare on."""
        grid, losses = self.alpha_grid(y), {}
        loo = self.ctx.task == "regression" and self.params["kind"] == "ridge" and sample_weight is None
        if loo:  # exact, and as cheap as one fit
            losses = self._ridge_leave_one_out(X, y, grid)
        for inner, held in [] if losses else self._inner_folds(y):
            prep = _linear_preprocessor(X.iloc[inner], self.params)
            train, valid = prep.fit_transform(X.iloc[inner]), prep.transform(X.iloc[held])
            weights = (None, None) if sample_weight is None else (sample_weight[inner], sample_weight[held])
            estimator = self._estimator(grid[-1], warm_start=True)
            for alpha in reversed(grid):
                estimator.set_params(**({"alpha": alpha} if self.ctx.task == "regression" else {"C": 1.0 / alpha}))
                estimator.fit(train, y[inner], sample_weight=weights[0])
                losses.setdefault(alpha, []).append(self._held_losses(estimator, valid, y[held], weights[1]))
        if not losses:
            return 1.0
        losses = {alpha: np.concatenate(parts) for alpha, parts in losses.items()}
        best = anchored_best(losses, 1.0)
        c = "" if self.ctx.task == "regression" else f" (C {1 / best:.3g})"
        mean = {a: float(np.mean(losses[a])) for a in grid}
        how = "leave-one-out" if loo else f"{AUTO_ALPHA_FOLDS} inner folds"
        line = (f"linear: alpha {best:.3g}{c} by the held-out loss on the training rows ({how}; "
                f"{', '.join(f'{a:.3g}: {mean[a]:.4g}' for a in grid)})")
        (get_log().info if self.ctx.progress.name in ("", "fold 0") else get_log().debug)(line)
        return best

    def _ridge_leave_one_out(self, X: pd.DataFrame, y: np.ndarray, grid: list[float]) -> dict[float, list]:
        """Ridge's exact leave-one-out squared errors for every strength of ``grid`` at the cost of one fit
        (scikit-learn's ``RidgeCV``), on the view fitted to these rows: {alpha: [each row's error]}."""
        from sklearn.linear_model import RidgeCV

        features = _linear_preprocessor(X, self.params).fit_transform(X)
        ridge = RidgeCV(alphas=grid, store_cv_results=True).fit(features, y)
        return {alpha: [np.asarray(ridge.cv_results_[:, i], float)] for i, alpha in enumerate(grid)}

    def _inner_folds(self, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(fit rows, held rows) of each inner fold, stratified where every class has a row in each; none where a
        fold would be left with one class or too few rows."""
        from sklearn.model_selection import KFold, StratifiedKFold

        if len(y) < 2 * AUTO_ALPHA_FOLDS:
            return []
        classes = self.ctx.task != "regression"
        stratify = classes and np.unique(y, return_counts=True)[1].min() >= AUTO_ALPHA_FOLDS
        splitter = (StratifiedKFold if stratify else KFold)(AUTO_ALPHA_FOLDS, shuffle=True, random_state=self.ctx.seed)
        folds = list(splitter.split(np.zeros(len(y)), y))
        return [] if classes and any(len(np.unique(y[inner])) < 2 for inner, _ in folds) else folds

    def _held_losses(self, estimator, features: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
        """Each held-out row's loss under a fitted estimator, times its weight (weights scaled to a mean of 1): the
        squared error (values, in the fitted space), the error of the most likely class (a metric scored on labels:
        accuracy, F1, ...) or the log loss (one scored on probabilities)."""
        from shared.metrics import get_metric

        if self.ctx.task == "regression":
            errors = (estimator.predict(features) - y) ** 2
        elif get_metric(self.ctx.metric).takes == "labels":  # accuracy, F1, ...: scored on the most likely class
            errors = (class_probabilities(estimator, features, self.ctx.n_classes).argmax(axis=1) != y).astype(float)
        else:
            proba = class_probabilities(estimator, features, self.ctx.n_classes)
            errors = -np.log(np.clip(proba[np.arange(len(y)), np.asarray(y, int)], 1e-15, None))
        return errors if weight is None else errors * weight / np.mean(weight)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task != "regression":
            return class_probabilities(self.pipeline_, X, self.ctx.n_classes)
        return self.pipeline_.predict(X)

    def gain_importance(self) -> np.ndarray:
        """|coefficient| per input column on the standardised view (several classes: the mean over them; a category
        column: the sum over its one-hot columns)."""
        return input_column_weights(self.pipeline_[0], np.abs(np.atleast_2d(self.pipeline_[-1].coef_)).mean(axis=0))


def class_probabilities(estimator, features, n_classes: int) -> np.ndarray:
    """A scikit-learn classifier's probabilities as (n, C) over every class of the run (a class the fold's rows
    lacked gets 0)."""
    proba = np.zeros((len(features), n_classes))
    proba[:, np.asarray(estimator.classes_, int)] = estimator.predict_proba(features)
    return proba


def anchored_best(losses: dict[float, np.ndarray], default: float) -> float:
    """The setting of ``losses`` (setting: each held-out row's loss) with the least mean loss among those that beat
    ``default`` by more than the noise of the held rows (the paired difference's mean plus ``ANCHOR_ERRORS``
    standard errors below 0); ``default`` where none does. Held rows are few, and the default is the floor not to
    fall below (on the Flavia leaves a one-error margin picked C = 10 in a fold, and the CV fell below C = 1's)."""
    def beats(setting: float) -> bool:
        diff = losses[setting] - losses[default]
        return len(diff) > 1 and diff.mean() + ANCHOR_ERRORS * diff.std(ddof=1) / np.sqrt(len(diff)) < 0

    better = [s for s in losses if s != default and beats(s)]
    return min(better, key=lambda s: losses[s].mean()) if better else default


def input_column_weights(prep, weights: np.ndarray) -> np.ndarray:
    """Weights of ``_linear_preprocessor``'s output columns summed per input column (in its input order)."""
    owners = []
    for name, step, columns in prep.transformers_:
        if isinstance(step, str) or not len(columns):  # "drop", or a group without columns
            continue
        if name == "categorical":  # a column's one-hot columns: its categories, its infrequent ones as one
            encoder = step[-1]
            rares = getattr(encoder, "infrequent_categories_", [None] * len(columns))  # none without min_frequency
            for column, levels, rare in zip(columns, encoder.categories_, rares):
                owners += [column] * (len(levels) - (0 if rare is None else len(rare) - 1))
        else:
            owners += list(columns)
    summed = pd.Series(np.asarray(weights, float), index=owners).groupby(level=0, sort=False).sum()
    return summed.reindex(prep.feature_names_in_, fill_value=0.0).to_numpy(float)


# The nets' sizes at most: a width or a batch beyond these asks for more memory than a machine has, an epoch count
# for more time than a run takes; and all hidden layers together at most 2**28 weights (1 GiB in float32).
MAX_WIDTH, MAX_LAYERS, MAX_BATCH, MAX_EPOCHS = 65536, 64, 2**20, 100_000
LAYER_WEIGHTS = Rule(lambda hidden: sum(a * b for a, b in zip(hidden, hidden[1:])) <= 2**28,
                     "the hidden layers hold at most 2**28 weights between them (1 GiB in float32): narrow or drop some")

# The D2L course notes' MLP variant of the house-price net, shared by the course baselines.
D2L_MLP_PARAMS, D2L_MLP_RANGES = settings({  # name: (default, what it accepts and what it is)
    "hidden": ([256, 128], Items(count(MAX_WIDTH), MAX_LAYERS, doc="widths of the hidden ReLU layers; []: a linear net")),
    "dropout": ([0.5, 0.2], Items(BELOW_ONE, MAX_LAYERS, doc="dropout after each hidden layer, one rate per layer at most")),
    # lr 5 (the linear net's) diverges with hidden layers, 1.0 is still unstable (measured)
    "lr": (0.3, POSITIVE.with_doc("Adam's learning rate")),
    "weight_decay": (0.0, NON_NEGATIVE.with_doc("Adam's weight decay")),
    "epochs": (100, count(MAX_EPOCHS).with_doc("passes over the training rows")),
    "batch_size": (64, count(MAX_BATCH).with_doc("rows per batch")),
    "clamp_min": (1.0, Range(  # any finite floor for the predictions (0 or below switches the course's clamp off)
        doc="predictions are clamped at this floor before logs are taken, as in the course")),
    ("hidden", "dropout"): Rule(lambda hidden, dropout: len(dropout) <= len(hidden),
                                "dropout gives at most one rate per hidden layer"),
    ("hidden",): LAYER_WEIGHTS,
})


class D2LNet:
    """The D2L course's net: linear (or an MLP with ``hidden``/``dropout``), Adam on MSE of the raw target,
    predictions clamped at ``clamp_min`` as the course does before taking logs."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def _net(self, n_in: int):
        import torch.nn as nn

        layers, width = [], n_in
        dropouts = list(self.params["dropout"]) + [0.0] * len(self.params["hidden"])
        for h, d in zip(self.params["hidden"], dropouts):
            layers += [nn.Linear(width, h), nn.ReLU()] + ([nn.Dropout(d)] if d else [])
            width = h
        return nn.Sequential(*layers, nn.Linear(width, 1))

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        import torch
        from torch.utils.data import DataLoader, TensorDataset

        if self.ctx.task != "regression":
            raise UserError("the D2L baseline net is a regression recipe.")
        p = self.params
        torch.manual_seed(self.ctx.seed)
        torch.set_num_threads(fit_threads("torch", *X.shape, self.ctx))
        features = torch.tensor(X.to_numpy(np.float32))
        labels = torch.tensor(np.asarray(y, np.float32).reshape(-1, 1))
        loader = DataLoader(TensorDataset(features, labels), batch_size=p["batch_size"], shuffle=True,
                            generator=torch.Generator().manual_seed(self.ctx.seed))
        self.net_ = self._net(features.shape[1])
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        watch = LossWatch(self.ctx.progress.name, p)
        train_net(self.net_, optimizer, torch.nn.MSELoss(), lambda: loader, p["epochs"], watch)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import torch

        self.net_.eval()
        with torch.no_grad():
            pred = self.net_(torch.tensor(X.to_numpy(np.float32)))[:, 0].numpy().astype(float)
        return np.clip(pred, self.params["clamp_min"], None)


_AG_METRICS = {"rmsle": "root_mean_squared_error", "rmse": "root_mean_squared_error", "accuracy": "accuracy",
               "logloss": "log_loss", "auc": "roc_auc"}


def autogluon_metric(name: str) -> str | None:
    """AutoGluon's name for a metric: a registered metric may say which of AutoGluon's ranks models as it does;
    otherwise AutoGluon's default for the problem type (None)."""
    from shared.metrics import get_metric

    return _AG_METRICS.get(name) or get_metric(name).autogluon


# AutoGluon's settings (the generic automl recipe's defaults), beside what each accepts and is.
AUTOML_PARAMS, AUTOML_RANGES = settings({  # name: (default, what it accepts and what it is)
    "presets": ("medium_quality", Choice("medium_quality", "good_quality", "high_quality", "best_quality", "extreme_quality",
                                         "optimize_for_deployment", "interpretable", "ignore_text",
                                         doc="AutoGluon's presets: more quality, more time (best_quality stacks and bags)")),
    "time_limit": (300.0, SECONDS.with_doc("seconds for the whole run, split evenly over the folds (--time-limit sets it)")),
    "num_bag_folds": (0, Either(Choice(0), count(20, low=2),  # AutoGluon refuses 1
                                doc="AutoGluon's own bagging folds inside each fold; 0: the preset's choice")),
    "verbosity": (0, Range(low=0, high=4, integer=True, doc="AutoGluon's log detail, 0 (silent) to 4")),
    "keep_models": (False, FLAG.with_doc("keep each fold's AutoGluon models in the run folder (large)")),
})


class AutoGluonModel:
    """AutoGluon ``TabularPredictor`` as one fold's model: the same saved folds as every other recipe,
    so its OOF predictions compare and blend honestly. The time budget is split evenly over folds."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = dict(params), ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None):
        try:
            from autogluon.tabular import TabularPredictor
        except ImportError as exc:
            raise UserError("the automl recipe needs autogluon.tabular: pip install -r requirements.txt") from exc
        p = self.params
        problem = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}[self.ctx.task]
        # AutoGluon's fastai extra pins an older torch than ours: without fastai, skip that one model quietly.
        excluded = [] if importlib.util.find_spec("fastai") else ["FASTAI"]
        train = X.copy()
        train["__target__"] = y
        if sample_weight is not None:
            train["__weight__"] = sample_weight
        budget, started = self.ctx.time_limit or p["time_limit"], time.monotonic()
        log = get_log()
        log.info(f"autogluon: presets {p['presets']}, {budget:.0f} s budget, {self.ctx.n_jobs} "
                 f"{'core' if self.ctx.n_jobs == 1 else 'cores'}, "
                 f"{len(X)} rows x {X.shape[1]} columns (its own log: --set verbosity=2)")
        self.predictor_ = TabularPredictor(
            label="__target__", problem_type=problem, eval_metric=autogluon_metric(self.ctx.metric),
            path=str(self.ctx.workdir), verbosity=p["verbosity"],
            sample_weight=None if sample_weight is None else "__weight__",
        ).fit(train, presets=p["presets"], time_limit=budget, num_cpus=self.ctx.n_jobs,
              excluded_model_types=excluded, **({"num_bag_folds": p["num_bag_folds"]} if p["num_bag_folds"] else {}))
        log.info(f"autogluon: chose {self.predictor_.model_best} of {len(self.predictor_.model_names())} models "
                 f"in {time.monotonic() - started:.0f} s")
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.ctx.task == "regression":
            return self.predictor_.predict(X).to_numpy(float)
        proba = self.predictor_.predict_proba(X)
        return proba[list(range(self.ctx.n_classes))].to_numpy(float)

    def cleanup(self) -> None:
        """Saved AutoGluon models are large; the run keeps predictions, not models, unless asked."""
        if not self.params["keep_models"]:
            shutil.rmtree(self.ctx.workdir, ignore_errors=True)
