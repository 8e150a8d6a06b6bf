"""Adversarial validation: can a classifier tell training rows from test rows? An AUC near 0.5 means
the test set looks like the training set; well above 0.5 means a covariate shift, and the classifier's
most useful features say what shifted. Its out-of-fold test-likeness gives per-row weights
(``--set sample_weight=adversarial``) that make training look more like test.

Works for every tabular competition and the generic path: it uses the generic typed features of the raw
columns (``auto_features``), so the shifted features are named after the competition's own columns."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError, show
from shared.io import read_csv
from shared.spec import CompetitionSpec, Dataset

ROUNDS = 300  # boosting rounds of the train-vs-test classifier (lr 0.05): enough to find a real shift
WEIGHT_CLIP = (0.1, 10.0)  # test-likeness weights are clipped here before they are scaled to mean 1


@dataclass
class Report:
    auc: float  # out-of-fold ROC AUC of train-vs-test
    fold_aucs: list[float]
    features: pd.DataFrame  # feature, importance (share of gain), univariate_auc, train_mean, test_mean
    test_likeness: np.ndarray  # out-of-fold P(test) of every training row
    test_likeness_test: np.ndarray  # out-of-fold P(test) of every test row
    dropped: list[str]

    def weights(self, n_train: int, n_test: int) -> np.ndarray:
        """Density-ratio weights p/(1-p) * n_train/n_test for training rows, clipped, mean 1."""
        p = np.clip(self.test_likeness, 1e-6, 1 - 1e-6)
        w = np.clip(p / (1 - p) * n_train / n_test, *WEIGHT_CLIP)
        return w / w.mean()


def adversarial_validation(train: pd.DataFrame, test: pd.DataFrame, seed: int = 42, n_folds: int = 5,
                           drop: list[str] | None = None, n_jobs: int = 1) -> Report:
    """Train-vs-test classifier (LightGBM, stratified ``n_folds``) on the typed features of the raw
    columns; ``train`` and ``test`` hold features only (no id, no target)."""
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from shared.tabular.features import auto_features, infer_types
    from shared.tabular.fold_features import MultiHot, TextSVD
    from shared.threads import threads

    drop = [c for c in (drop or []) if c in train.columns]
    X, X_test = auto_features(train.drop(columns=drop), test.drop(columns=drop), {})
    both = pd.concat([X, X_test], ignore_index=True)
    types = infer_types(both)  # unsupervised steps fitted on all rows: here the rows are the data
    both = MultiHot(types["list"], min_count=20).fit_transform(both)
    both = TextSVD(types["text"], n_components=8, max_features=20000, seed=seed).fit_transform(both)
    is_test = np.r_[np.zeros(len(X)), np.ones(len(X_test))]
    if both.shape[1] == 0:
        raise UserError("no feature columns are left for adversarial validation; drop fewer columns.")

    params = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 20,
              "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "seed": seed,
              "deterministic": True, "force_row_wise": True, "num_threads": threads("lightgbm", *both.shape, n_jobs),
              "verbosity": -1}
    oof = np.zeros(len(both))
    gain = np.zeros(both.shape[1])
    fold_aucs = []
    for train_rows, valid_rows in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(both, is_test):
        booster = lgb.train(params, lgb.Dataset(both.iloc[train_rows], is_test[train_rows]), ROUNDS)
        oof[valid_rows] = booster.predict(both.iloc[valid_rows])
        fold_aucs.append(float(roc_auc_score(is_test[valid_rows], oof[valid_rows])))
        gain += booster.feature_importance("gain")
    features = pd.DataFrame({"feature": both.columns, "importance": gain / max(gain.sum(), 1e-12)})
    features["univariate_auc"] = [_univariate_auc(both[c], is_test) for c in both.columns]
    features["train_mean"] = [_mean(both[c].iloc[: len(X)]) for c in both.columns]
    features["test_mean"] = [_mean(both[c].iloc[len(X):]) for c in both.columns]
    features = features.sort_values("importance", ascending=False, ignore_index=True)
    return Report(float(roc_auc_score(is_test, oof)), fold_aucs, features, oof[: len(X)], oof[len(X):], drop)


def _univariate_auc(s: pd.Series, is_test: np.ndarray) -> float:
    """How well this feature alone separates the sets, as an AUC folded to [0.5, 1] (numbers only)."""
    from sklearn.metrics import roc_auc_score

    if not pd.api.types.is_numeric_dtype(s) or s.nunique() < 2:
        return float("nan")
    auc = roc_auc_score(is_test, s.fillna(s.median()).to_numpy(float))
    return float(max(auc, 1 - auc))


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if pd.api.types.is_numeric_dtype(s) else float("nan")


def for_spec(spec: CompetitionSpec, data: Dataset, seed: int, drop: list[str] | None = None,
             keep_time: bool = False, n_folds: int = 5) -> Report:
    """Adversarial validation of a competition's files. The id column is always left out (ids are
    usually ordered train-then-test); so is the competition's time column unless ``keep_time``: a
    temporal split is defined by it and it would separate the sets perfectly, hiding every other shift."""
    from shared.models import available_cores

    drop = list(drop or [])
    missing = [c for c in drop if c not in data.train.columns]
    if missing:
        raise UserError(f"--drop {missing}: no such column(s) in {spec.train_file}.")
    if spec.time_col and not keep_time and spec.time_col not in drop:
        drop.append(spec.time_col)
    train = data.train.drop(columns=[spec.id_col, spec.target_col])
    test = data.test.drop(columns=[spec.id_col])
    return adversarial_validation(train, test, seed=seed, n_folds=n_folds, drop=drop, n_jobs=available_cores())


def sample_weights(setting: str, spec: CompetitionSpec, data: Dataset, seed: int) -> np.ndarray:
    """Per-training-row weights for ``--set sample_weight=...``: ``adversarial`` (test-likeness, computed
    now with the defaults of ``scripts/adversarial.py``) or the path of a CSV with the id column and a
    ``weight`` column (e.g. the ``weights.csv`` that ``adversarial.py --weights`` writes)."""
    if setting == "adversarial":
        return for_spec(spec, data, seed).weights(len(data.train), len(data.test))
    path = Path(setting)
    if not path.is_file():
        raise UserError(f"--set sample_weight={setting!r}: expected none, adversarial, or an existing CSV file "
                        f"with columns {spec.id_col!r} and 'weight'.")
    table = read_csv(path, [spec.id_col, "weight"], "sample weights", dtype={spec.id_col: str})
    if table[spec.id_col].duplicated().any():
        raise UserError(f"{path}: id {show(table[spec.id_col][table[spec.id_col].duplicated()].iloc[0])} has more "
                        "than one weight; give each training id one row.")
    by_id = pd.Series(table["weight"].to_numpy(), index=table[spec.id_col].astype(str))
    ids = data.train[spec.id_col].astype(str)
    lacking = ids[~ids.isin(by_id.index)]
    if len(lacking):
        raise UserError(f"{path}: no weight for training id {lacking.iloc[0]!r} ({len(lacking)} ids lack one); "
                        "make the weights from these training files.")
    weights = pd.to_numeric(by_id.loc[ids], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise UserError(f"{path}: column 'weight' must hold finite non-negative numbers; training id "
                        f"{show(ids.iloc[int(np.argmax(bad))])} has {show(by_id.loc[ids].iloc[int(np.argmax(bad))])}.")
    with np.errstate(over="ignore"):
        total = weights.sum()
    if not 0 < total < np.finfo(float).max / len(weights):  # the fits sum and average them: no overflow, not all 0
        raise UserError(f"{path}: column 'weight' sums to {show(float(total))}: the weights must not be all zero, and "
                        "their sum must stay a finite number; scale them down.")
    return weights
