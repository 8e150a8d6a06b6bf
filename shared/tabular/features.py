"""Column typing and generic feature builders, shared by every tabular competition and by the generic
``run.py tabular`` path. Builders take (train, test, params) without id/target and return (X, X_test)."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

_DATE_HINT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def infer_types(df: pd.DataFrame) -> dict[str, list[str]]:
    """Split columns into numeric / date / text / categorical by dtype and content.

    Dates: most non-empty values look like dates and parse. Text: free prose (many words per value,
    mostly unique values). Everything else non-numeric is categorical.
    """
    types = {"numeric": [], "date": [], "text": [], "categorical": []}
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_bool_dtype(s):
            types["categorical"].append(col)
        elif pd.api.types.is_numeric_dtype(s):
            types["numeric"].append(col)
        elif pd.api.types.is_datetime64_any_dtype(s):
            types["date"].append(col)
        else:
            values = s.dropna().astype(str)
            if len(values) == 0:
                types["categorical"].append(col)
                continue
            sample = values.sample(min(len(values), 500), random_state=0)
            if sample.str.match(_DATE_HINT).mean() > 0.9 and _parse_dates(sample).notna().mean() > 0.9:
                types["date"].append(col)
            elif sample.str.split().str.len().mean() >= 4 and values.nunique() > 0.5 * len(values):
                types["text"].append(col)
            else:
                types["categorical"].append(col)
    return types


def _parse_dates(s: pd.Series) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.to_datetime(s, errors="coerce", format="mixed")


def date_parts(s: pd.Series, name: str) -> pd.DataFrame:
    d = _parse_dates(s)
    return pd.DataFrame({
        f"{name}_year": d.dt.year, f"{name}_month": d.dt.month, f"{name}_dayofweek": d.dt.dayofweek,
        f"{name}_days": (d - pd.Timestamp("1970-01-01")).dt.days,
    }, index=s.index).astype(float)


def text_stats(s: pd.Series, name: str) -> pd.DataFrame:
    s = s.fillna("").astype(str)
    return pd.DataFrame({f"{name}_chars": s.str.len(), f"{name}_words": s.str.split().str.len()},
                        index=s.index).astype(float)


def as_categories(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Object columns -> pandas ``category`` with one shared category list (native LightGBM categoricals)."""
    train, test = train.copy(), test.copy()
    for col in cols:
        cats = sorted(pd.concat([train[col], test[col]]).dropna().astype(str).unique())
        train[col], test[col] = _categorical(train[col], cats), _categorical(test[col], cats)
    return train, test


def _categorical(s: pd.Series, categories: list[str]) -> pd.Categorical:
    return pd.Categorical(s.astype(str).where(s.notna()), categories=categories)


def auto_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generic typed features: numbers as they are, dates to parts, text to length stats, the rest
    categorical. Works on any CSV competition with no code."""
    types = infer_types(pd.concat([train, test], ignore_index=True))
    parts_train, parts_test = [train[types["numeric"] + types["categorical"]]], [test[types["numeric"] + types["categorical"]]]
    for col in types["date"]:
        parts_train.append(date_parts(train[col], col))
        parts_test.append(date_parts(test[col], col))
    for col in types["text"]:
        parts_train.append(text_stats(train[col], col))
        parts_test.append(text_stats(test[col], col))
    X, X_test = pd.concat(parts_train, axis=1), pd.concat(parts_test, axis=1)
    return as_categories(X, X_test, types["categorical"])


def d2l_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The D2L course's preprocessing, as taught: standardise numeric columns over train+test, NaN -> 0,
    one-hot every object column with a NaN indicator (``pd.get_dummies(dummy_na=True)``)."""
    both = pd.concat([train, test], ignore_index=True)
    numeric = both.dtypes[both.dtypes != "object"].index
    both[numeric] = both[numeric].apply(lambda x: (x - x.mean()) / x.std())
    both[numeric] = both[numeric].fillna(0)
    both = pd.get_dummies(both, dummy_na=True).astype(np.float32)
    return both.iloc[: len(train)].reset_index(drop=True), both.iloc[len(train):].reset_index(drop=True)
