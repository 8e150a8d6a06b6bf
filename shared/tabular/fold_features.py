"""Feature steps that learn from rows — vocabularies, TF-IDF + SVD, target encodings — fitted inside
each fold on its training rows only, then applied to that fold's validation rows and to the test set.

A step has ``fit_transform(X, y)`` (training rows; may differ from ``transform`` on them, e.g. target
encoding is cross-fitted there) and ``transform(X)``. ``shared.models.FoldPipeline`` chains steps before a
model, so the runner treats the whole as one model, and ``standard_steps`` picks steps from the column types."""
from __future__ import annotations

import numpy as np
import pandas as pd

from shared.config import FLAG, ROWS, count, settings
from shared.tabular.features import LIST_SEPARATOR, infer_types

STEP_PARAMS, STEP_RANGES = settings({  # name: (default, what it accepts and what it is)
    "text_svd_components": (16, count(10_000, low=0).with_doc("SVD dimensions per text column; 0: text length stats only")),
    "text_max_features": (20000, count(10_000_000).with_doc("TF-IDF vocabulary size at most (word 1-2 grams)")),
    "list_min_count": (10, count(ROWS).with_doc("a list item becomes a 0/1 column when this many training rows have it")),
    "target_encode_min_unique": (50, count(ROWS).with_doc("categoricals with this many levels get an out-of-fold target mean")),
    # LightGBM overfits and slows on many raw levels: by default they give way to the target mean
    "target_encode_keep": (False, FLAG.with_doc("keep such categoricals' raw levels beside their target mean")),
})


class MultiHot:
    """Comma-separated fields -> one 0/1 column per item seen in at least ``min_count`` training rows."""

    def __init__(self, cols: list[str], min_count: int):
        self.cols, self.min_count = cols, min_count

    @staticmethod
    def _items(s: pd.Series) -> pd.Series:
        return s.astype("string").fillna("").str.split(LIST_SEPARATOR).map(
            lambda items: {i.strip() for i in items if i.strip()})

    def fit_transform(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        self.vocabulary_ = {}
        for col in self.cols:
            counts = self._items(X[col]).explode().value_counts()
            self.vocabulary_[col] = sorted(counts[counts >= self.min_count].index)
        return self.transform(X)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = [X.drop(columns=self.cols)]
        for col in self.cols:
            items = self._items(X[col])
            out.append(pd.DataFrame({f"{col}={item}": items.map(lambda s, i=item: i in s).astype(np.uint8)
                                     for item in self.vocabulary_[col]}, index=X.index))
        return pd.concat(out, axis=1)


class TextSVD:
    """Free text -> TF-IDF (word 1-2 grams, sublinear tf) -> truncated SVD, per column. With
    ``n_components=0`` the text column is only dropped (its length stats stay)."""

    def __init__(self, cols: list[str], n_components: int, max_features: int, seed: int):
        self.cols, self.n_components, self.max_features, self.seed = cols, n_components, max_features, seed

    def fit_transform(self, X: pd.DataFrame, y=None) -> pd.DataFrame:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.models_ = {}
        for col in self.cols if self.n_components > 0 else []:
            tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=self.max_features,
                                    sublinear_tf=True, dtype=np.float32)
            try:
                matrix = tfidf.fit_transform(_text(X[col]))
            except ValueError:  # no word occurs twice: nothing to learn from this column here
                continue
            k = min(self.n_components, matrix.shape[1] - 1)
            if k >= 1:
                self.models_[col] = (tfidf, TruncatedSVD(k, random_state=self.seed).fit(matrix))
        return self.transform(X)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = [X.drop(columns=self.cols)]
        for col, (tfidf, svd) in self.models_.items():
            values = svd.transform(tfidf.transform(_text(X[col])))
            out.append(pd.DataFrame(values, index=X.index, columns=[f"{col}_svd{i}" for i in range(values.shape[1])]))
        return pd.concat(out, axis=1)


def _text(s: pd.Series) -> list[str]:
    return s.astype("string").fillna("").tolist()


class TargetEncode:
    """High-cardinality categoricals -> the target's mean per level (scikit-learn ``TargetEncoder``:
    shrunk towards the global mean; on the training rows cross-fitted over 5 inner folds, so a row's
    own target never feeds its own encoding). Classification gets one column per class."""

    def __init__(self, cols: list[str], task: str, seed: int, keep: bool = False):
        self.cols, self.task, self.seed, self.keep = cols, task, seed, keep

    def fit_transform(self, X: pd.DataFrame, y) -> pd.DataFrame:
        from sklearn.model_selection import KFold, StratifiedKFold
        from sklearn.preprocessing import TargetEncoder

        if not self.cols:
            return X
        target_type = {"regression": "continuous", "binary": "binary", "multiclass": "multiclass"}[self.task]
        splitter = KFold if self.task == "regression" else StratifiedKFold
        self.encoder_ = TargetEncoder(target_type=target_type, cv=splitter(5, shuffle=True, random_state=self.seed))
        return self._join(X, self.encoder_.fit_transform(self._levels(X), y))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if not self.cols else self._join(X, self.encoder_.transform(self._levels(X)))

    def _levels(self, X: pd.DataFrame) -> np.ndarray:
        return X[self.cols].astype("string").fillna("__missing__").to_numpy(object)

    def _join(self, X: pd.DataFrame, encoded: np.ndarray) -> pd.DataFrame:
        per_col = encoded.shape[1] // len(self.cols)
        names = [f"{c}_te" if per_col == 1 else f"{c}_te{k}" for c in self.cols for k in range(per_col)]
        kept = X if self.keep else X.drop(columns=self.cols)
        return pd.concat([kept, pd.DataFrame(encoded, index=X.index, columns=names)], axis=1)


def standard_steps(X: pd.DataFrame, params: dict, ctx, types: dict[str, list[str]] | None = None) -> list:
    """Steps for the column types of the stateless features ``X`` (inferred unless a competition names
    them in ``types``): list fields -> multi-hot, text -> TF-IDF + SVD, categoricals with many levels ->
    target encoding (replacing the raw levels unless ``target_encode_keep``)."""
    p = {**STEP_PARAMS, **{k: v for k, v in params.items() if k in STEP_PARAMS}}
    types = types or infer_types(X)
    many = [c for c in types["categorical"] if X[c].nunique() >= p["target_encode_min_unique"]]
    return [MultiHot(types["list"], p["list_min_count"]),
            TextSVD(types["text"], p["text_svd_components"], p["text_max_features"], ctx.seed),
            TargetEncode(many, ctx.task, ctx.seed, p["target_encode_keep"])]
