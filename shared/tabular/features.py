"""Column typing and the stateless feature builders, shared by every tabular competition and by the
generic ``run.py tabular`` path. Builders take (train, test, params) without id/target and return
(X, X_test). Nothing here learns from rows: what learns (vocabularies, TF-IDF, target encodings) lives
in ``fold_features`` and is fitted on each fold's training rows only."""
from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pandas as pd

from shared.cv import parse_dates

_DATE_HINT = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
# A number as people write it: optional currency sign, thousands separators, decimals, then maybe a unit.
_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+"
_NUMBER_TEXT = re.compile(rf"^\s*[$€£]?\s*(?:{_NUMBER})\s*(?:[A-Za-z%][A-Za-z.%]{{0,11}})?\s*$")
_FIRST_NUMBER = re.compile(rf"[$€£]?\s*(?P<number>{_NUMBER})\s*(?P<unit>[A-Za-z%]+)?")
LIST_SEPARATOR = ","
TYPES = ("numeric", "numeric_text", "date", "list", "text", "categorical")


def infer_types(df: pd.DataFrame) -> dict[str, list[str]]:
    """Split columns by dtype and content into

    * ``numeric``; ``numeric_text``: text that is mostly numbers ("1,234", "$500", "0.25 Acres");
    * ``date``: most non-empty values look like dates and parse;
    * ``list``: comma-separated values drawn from a small vocabulary ("Gas, Forced air");
    * ``text``: free text or addresses (several words, mostly distinct values);
    * ``categorical``: everything else (pandas ``category`` columns always).
    """
    types = {t: [] for t in TYPES}
    for col in df.columns:
        types[_column_type(df[col])].append(col)
    return types


def _column_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(s):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    values = s.dropna().astype(str)
    values = values[values.str.strip() != ""]
    if len(values) == 0:
        return "categorical"
    sample = values.sample(min(len(values), 1000), random_state=0)
    if sample.str.match(_DATE_HINT).mean() > 0.9 and parse_dates(sample).notna().mean() > 0.9:
        return "date"
    if sample.str.match(_NUMBER_TEXT).mean() >= 0.8 and not sample.str.match(r"^\s*0\d+\s*$").mean() > 0.1:
        return "numeric_text"  # (digit strings with leading zeros are codes, such as zips: categorical)
    words = sample.str.split().str.len().mean()
    distinct = values.nunique() / len(values)
    if _is_list(sample):
        return "list"
    if (distinct > 0.5 and words >= 2) or words >= 8:
        return "text"
    return "categorical"


def _is_list(sample: pd.Series) -> bool:
    """Comma-separated multi-value field: many values hold several items, and the items repeat (a small
    vocabulary), unlike prose whose comma-separated pieces are mostly unique."""
    items = sample.str.split(LIST_SEPARATOR)
    if (items.str.len() > 1).mean() < 0.2:
        return False
    tokens = items.explode().str.strip()
    return tokens.nunique() <= max(20, 0.05 * len(tokens)) and tokens.str.split().str.len().mean() <= 4


def parse_numbers(s: pd.Series, units: dict[str, float] | None = None) -> pd.Series:
    """The first number in each value as float: currency signs and thousands separators dropped,
    ``units`` (lower-case unit word -> factor, e.g. {"acres": 43560}) applied. No number -> NaN."""
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float)
    found = s.astype("string").str.extract(_FIRST_NUMBER)
    numbers = pd.to_numeric(found["number"].str.replace(",", "", regex=False), errors="coerce").astype(float)
    if units:
        factor = found["unit"].str.lower().map(units).astype(float).fillna(1.0)
        numbers = numbers * factor
    return pd.Series(numbers.to_numpy(float), index=s.index, name=s.name)


def date_parts(s: pd.Series, name: str) -> pd.DataFrame:
    d = parse_dates(s)
    return pd.DataFrame({
        f"{name}_year": d.dt.year, f"{name}_month": d.dt.month, f"{name}_dayofweek": d.dt.dayofweek,
        f"{name}_days": (d - pd.Timestamp("1970-01-01")).dt.days,
    }, index=s.index).astype(float)


def date_differences(df: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Days between every pair of date columns (e.g. listed - last sold = how long the owner held it)."""
    days = {c: (parse_dates(df[c]) - pd.Timestamp("1970-01-01")).dt.days.astype(float) for c in cols}
    return pd.DataFrame({f"{a}_minus_{b}_days": days[a] - days[b] for a, b in combinations(cols, 2)},
                        index=df.index)


def text_stats(s: pd.Series, name: str) -> pd.DataFrame:
    s = s.astype("string").fillna("")
    return pd.DataFrame({f"{name}_chars": s.str.len(), f"{name}_words": s.str.split().str.len()},
                        index=s.index).astype(float)


def list_count(s: pd.Series, name: str) -> pd.DataFrame:
    """How many items a comma-separated field holds (NaN when the field is empty)."""
    counts = as_text(s).str.split(LIST_SEPARATOR).str.len()
    return pd.DataFrame({f"{name}_count": counts.to_numpy(float, na_value=np.nan)}, index=s.index)


def as_categories(train: pd.DataFrame, test: pd.DataFrame, cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Object columns -> pandas ``category`` with one shared category list (native LightGBM categoricals)."""
    train, test = train.copy(), test.copy()
    for col in cols:
        cats = sorted(pd.concat([train[col], test[col]]).dropna().astype(str).unique())
        train[col], test[col] = _categorical(train[col], cats), _categorical(test[col], cats)
    return train, test


def _categorical(s: pd.Series, categories: list[str]) -> pd.Categorical:
    return pd.Categorical(s.astype(str).where(s.notna()), categories=categories)


def as_text(s: pd.Series) -> pd.Series:
    """Raw text kept for the fold-fitted steps (TF-IDF, multi-hot), as pandas ``string`` so that the
    model-side typing (``infer_types``) recognises it again. Empty strings count as missing."""
    s = s.astype("string")
    return s.where(s.str.strip() != "")


def typed_features(df: pd.DataFrame, types: dict[str, list[str]]) -> pd.DataFrame:
    """One frame of stateless features from typed columns: numbers as they are, numbers parsed from
    text, date parts and differences, text and list columns kept raw (plus length / item counts) for the
    fold-fitted steps, categoricals as they are (``as_categories`` makes them pandas categories)."""
    parts = [df[types["numeric"]]]
    parts += [parse_numbers(df[c]).to_frame(c) for c in types["numeric_text"]]
    parts += [date_parts(df[c], c) for c in types["date"]]
    if len(types["date"]) > 1:
        parts.append(date_differences(df, types["date"][:5]))
    for col in types["text"]:
        parts += [as_text(df[col]).to_frame(col), text_stats(df[col], col)]
    for col in types["list"]:
        parts += [as_text(df[col]).to_frame(col), list_count(df[col], col)]
    parts.append(df[types["categorical"]])
    return pd.concat(parts, axis=1)


def auto_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generic typed features for any CSV competition, with no code: see ``typed_features``. Types are
    inferred on train and test together, so both get the same columns."""
    types = infer_types(pd.concat([train, test], ignore_index=True))
    X, X_test = typed_features(train, types), typed_features(test, types)
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
