"""Typing and parsing of messy columns, and the fold-fitted feature steps: each learns only from the rows
it is fitted on (a fold's training rows), never from the rows it is later applied to."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.models import FoldPipeline, ModelContext
from shared.tabular.features import auto_features, date_parts, infer_types, parse_numbers
from shared.tabular.fold_features import MultiHot, TargetEncode, TextSVD, standard_steps
from shared.tabular.models import LinearModel

CTX = ModelContext("regression", "rmse", 0, 0, None, Path("."), 1)


def test_parse_numbers_units_separators_currency_and_junk():
    s = pd.Series(["$1,234.5", "0.25 Acres", "7,405 sqft", "3", "abc", "", None, "-2", ".5", "12 ac"])
    out = parse_numbers(s, {"acres": 43560.0, "ac": 43560.0})
    expected = [1234.5, 10890.0, 7405.0, 3.0, np.nan, np.nan, np.nan, -2.0, 0.5, 522720.0]
    np.testing.assert_allclose(out.to_numpy(), expected)
    assert list(out.index) == list(s.index)


def test_unparseable_dates_become_missing_features_not_errors():
    parts = date_parts(pd.Series(["2020-03-04", "not a date", "", None, "2020-13-45"]), "d")
    assert parts.loc[0, "d_year"] == 2020 and parts.loc[0, "d_month"] == 3
    assert parts.iloc[1:].isna().all().all()


def messy_frame(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    items = np.array(["Gas", "Forced air", "Central", "Heat pump", "Fireplace(s)", "Solar"])
    streets = np.array(["Oak St", "Pine Ave", "Elm Ct", "Main St #4", "Sunset Blvd Apt 2"])
    return pd.DataFrame({
        "Lot": [f"{v:,.0f}" if i % 10 else f"{v / 43560:.2f} Acres" for i, v in enumerate(rng.uniform(2e3, 2e4, n))],
        "Heating": [", ".join(sorted(rng.choice(items, rng.integers(1, 4), replace=False))) for _ in range(n)],
        "Address": [f"{rng.integers(1, 9999)} {rng.choice(streets)}" for _ in range(n)],
        "Summary": [f"A lovely home, built in {1950 + i % 60}, with \"views\" — near the café." for i in range(n)],
        "Zip": rng.choice(["02139", "02140", "10001"], n),
        "Listed On": pd.Series(pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"))
        .dt.strftime("%Y-%m-%d"),
    })


def test_infer_types_on_messy_columns():
    types = infer_types(messy_frame())
    assert types["numeric_text"] == ["Lot"] and types["list"] == ["Heating"]
    assert types["text"] == ["Address", "Summary"] and types["date"] == ["Listed On"]
    assert types["categorical"] == ["Zip"]  # digit codes with leading zeros are not quantities


def test_multi_hot_vocabulary_comes_from_fit_rows_only():
    train = pd.DataFrame({"h": ["Gas, Central", "Gas", "Central, Gas", None]})
    other = pd.DataFrame({"h": ["Solar, Gas", "", "Solar"]})  # Solar exists only outside the fit rows
    step = MultiHot(["h"], min_count=2)
    fitted = step.fit_transform(train)
    assert list(fitted.columns) == ["h=Central", "h=Gas"]
    assert fitted.to_numpy().tolist() == [[1, 1], [0, 1], [1, 1], [0, 0]]
    assert step.transform(other).to_numpy().tolist() == [[0, 1], [0, 0], [0, 0]]


def test_text_svd_learns_its_vocabulary_from_fit_rows_only():
    rng = np.random.default_rng(0)
    words = np.array("sunny quiet spacious remodeled garden pool view modern cozy bright".split())
    train = pd.DataFrame({"t": [" ".join(rng.choice(words, 6)) for _ in range(80)]})
    other = pd.DataFrame({"t": ["zebra zebra zebra sunny", "", None]})
    step = TextSVD(["t"], n_components=4, max_features=1000, seed=0)
    fitted = step.fit_transform(train)
    assert list(fitted.columns) == [f"t_svd{i}" for i in range(4)]
    tfidf, _ = step.models_["t"]
    assert "zebra" not in tfidf.vocabulary_ and "sunny" in tfidf.vocabulary_
    out = step.transform(other)
    assert out.shape == (3, 4) and np.isfinite(out.to_numpy()).all()
    np.testing.assert_allclose(out.iloc[1:].to_numpy(), 0.0)  # empty text -> the origin
    np.testing.assert_allclose(step.transform(train).to_numpy(), fitted.to_numpy(), atol=1e-5)


def test_target_encoding_uses_only_fit_rows_targets():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(60)], 600)})
    y = train["city"].str[1:].astype(float).to_numpy() + rng.normal(0, 0.1, 600)  # level mean = its number
    step = TargetEncode(["city"], "regression", seed=0)
    fitted = step.fit_transform(train, y)
    assert list(fitted.columns) == ["city_te"]  # replaces the raw levels by default
    applied = step.transform(pd.DataFrame({"city": ["c7", "c42", "never seen"]}))["city_te"].to_numpy()
    assert abs(applied[0] - 7) < 1.0 and abs(applied[1] - 42) < 1.5
    assert abs(applied[2] - y.mean()) < 1e-9  # an unseen level gets the training mean
    # Cross-fitted on the training rows: a row's own target does not set its own encoding.
    assert not np.allclose(fitted["city_te"].to_numpy(), step.transform(train)["city_te"].to_numpy())


def test_fold_pipeline_fits_steps_on_fit_rows_and_predicts_the_rest():
    df = messy_frame()
    X, _ = auto_features(df, df.iloc[:5], {})
    y = np.arange(len(X), dtype=float) % 7
    steps = standard_steps(X, {"text_svd_components": 3, "list_min_count": 5}, CTX)
    assert [type(s).__name__ for s in steps] == ["MultiHot", "TextSVD", "TargetEncode"]
    model = FoldPipeline(steps, LinearModel({"kind": "ridge", "alpha": 1.0, "l1_ratio": 0.5,
                                             "skew_threshold": 0.75, "min_frequency": 1}, CTX))
    model.fit(X.iloc[:300], y[:300])
    assert steps[0].vocabulary_["Heating"]  # fitted ...
    changed = X.iloc[300:].copy()
    changed["Heating"] = "Geothermal"  # ... and not refitted by what it predicts
    pred = model.predict(changed)
    assert pred.shape == (100,) and np.isfinite(pred).all()
    assert "Geothermal" not in steps[0].vocabulary_["Heating"]


@pytest.mark.parametrize("text", ['with, commas', 'with "quotes"', "two\nlines", "ünïcödé — café", "", "   "])
def test_awkward_text_survives_the_text_steps(text):
    X = pd.DataFrame({"t": pd.array([text, "plain words here", "plain words there", None] * 5, dtype="string")})
    step = TextSVD(["t"], n_components=2, max_features=100, seed=0)
    out = step.fit_transform(X)
    assert np.isfinite(out.to_numpy()).all() and len(out) == 20
