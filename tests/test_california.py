"""California House Prices through the shared engine: its features, a run with the time split recorded
beside shuffled CV, and messy input (text with commas/quotes/newlines/unicode, empty strings, numbers
with units and separators, unparseable dates, a column missing from test)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli, snapshot

from competitions.california_house_prices.features import gbm_features

FAST = ["--folds", "3", "--set", "max_rounds=150", "--set", "text_svd_components=4"]


@pytest.fixture(scope="module")
def tiny(demos) -> Path:
    return demos("california_house_prices", "tiny")


@pytest.fixture
def tiny_copy(tiny, tmp_path) -> Path:
    return Path(shutil.copytree(tiny, tmp_path / "california_house_prices"))


def test_features_parse_text_numbers_and_keep_lists_and_text_for_the_folds():
    raw = pd.DataFrame({
        "Lot": ["7,405", "0.5 Acres", None], "Bedrooms": ["3", "Walk-in Closet, Ground Floor Bedroom", ""],
        "Listed On": ["2020-03-01", "not a date", "2020-05-01"], "Last Sold On": ["2010-03-01", None, "2019-05-01"],
        "Address": ["1 Oak St", "2 Elm Ct Apt 4", "3 Pine #7"], "Summary": ["Nice, \"big\"\nhome — café", "", None],
        "Zip": [94022, 95014, 94022], "Total interior livable area": [1000.0, 0.0, 2000.0],
        "Listed Price": [1e6, 2e6, np.nan], "Year built": [1990.0, 2000.0, np.nan],
    })
    from competitions.california_house_prices import features as f

    for col in f.NUMERIC_FIELDS + f.LIST_FIELDS + f.CATEGORICAL_FIELDS:
        if col not in raw:
            raw[col] = np.nan
    X, _ = gbm_features(raw, raw, {})
    np.testing.assert_allclose(X["Lot"], [7405.0, 21780.0, np.nan])
    np.testing.assert_allclose(X["Bedrooms"], [3.0, np.nan, np.nan])
    assert X["Bedroom features"].tolist()[1] == "Walk-in Closet, Ground Floor Bedroom"
    assert X["Listed On_year"].tolist()[:2] == [2020.0, 2020.0] or np.isnan(X["Listed On_year"][1])
    assert np.isnan(X["Listed On_year"][1])  # the unparseable date is missing, not an error
    assert X["Listed On_minus_Last Sold On_days"][0] == (pd.Timestamp("2020-03-01") - pd.Timestamp("2010-03-01")).days
    assert X["address has unit"].tolist() == [0.0, 1.0, 1.0]
    assert X["listed price per sqft"][0] == 1000.0 and np.isnan(X["listed price per sqft"][1])  # area 0 -> unknown
    assert X["Summary"][0] == "Nice, \"big\"\nhome — café" and pd.isna(X["Summary"][1])  # empty -> missing
    assert isinstance(X["Zip code"].dtype, pd.CategoricalDtype)


def test_gbm_run_records_shuffled_and_time_split_scores(tiny, tmp_path):
    rc, out, err = run_cli("run", "california-house-prices", "--data", tiny, *FAST, "--out", tmp_path)
    assert rc == 0, err[-2000:]
    run_dir = Path(last_line(out))
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(tiny / "sample_submission.csv")
    assert list(sub.columns) == ["Id", "Sold Price"] and list(sub["Id"]) == list(sample["Id"])
    assert (sub["Sold Price"] > 0).all()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    split = metrics["time_split"]
    assert split["time_col"] == "Listed On" and split["valid_rows"] + split["train_rows"] == 600
    assert 90 <= split["valid_rows"] <= 150 and split["valid_from"] >= "2020-05-01"
    assert 0 < split["score"] < 0.4 and 0 < metrics["cv"] < 0.4 and metrics["holdout"] < 0.4
    rc, out, err = run_cli("run", "california-house-prices", "--data", tiny, *FAST, "--set", "time_col=''",
                           "--out", tmp_path)
    assert rc == 0, err[-2000:]
    assert "time_split" not in json.loads((Path(last_line(out)) / "metrics.json").read_text())


def test_messy_values_are_handled(tiny_copy, tmp_path):
    train = pd.read_csv(tiny_copy / "train.csv")
    test = pd.read_csv(tiny_copy / "test.csv")
    for df in (train, test):
        df.loc[0, "Summary"] = 'Line one, with "quotes"\nline two — ünïcödé, 🏠'
        df.loc[1, ["Summary", "Heating", "Flooring"]] = ""
        df.loc[2, "Lot"] = "7,405 sqft"
        df.loc[3, "Lot"] = "1.5 Acres"
        df.loc[4, "Listed On"] = "sometime in spring"
        df.loc[5, "Last Sold On"] = "31/31/2019"
        df["Listed Price"] = df["Listed Price"].map(lambda v: "" if pd.isna(v) else f"${v:,.0f}")
    train.to_csv(tiny_copy / "train.csv", index=False)
    test.to_csv(tiny_copy / "test.csv", index=False)
    rc, out, err = run_cli("run", "california_house_prices", "--data", tiny_copy, *FAST, "--out", tmp_path)
    assert rc == 0, err[-2000:]
    run_dir = Path(last_line(out))
    sub = pd.read_csv(run_dir / "submission.csv")
    assert np.isfinite(sub["Sold Price"]).all() and (sub["Sold Price"] > 0).all()
    assert json.loads((run_dir / "metrics.json").read_text())["cv"] < 0.4  # "$1,234" prices were still read


def test_column_missing_from_test_is_one_clear_error(tiny_copy, tmp_path):
    pd.read_csv(tiny_copy / "test.csv").drop(columns=["Summary"]).to_csv(tiny_copy / "test.csv", index=False)
    (tmp_path / "out").mkdir()
    rc, out, err = run_cli("run", "california_house_prices", "--data", tiny_copy, "--out", tmp_path / "out")
    line = assert_user_error(rc, err)
    assert "test.csv lacks column(s) ['Summary']" in line
    assert snapshot(tmp_path / "out") == {}


def test_unknown_time_column_is_one_clear_error(tiny, tmp_path):
    rc, out, err = run_cli("run", "california_house_prices", "--data", tiny, "--set", "time_col=Sold On",
                           "--out", tmp_path)
    assert "time column 'Sold On' is not in train.csv" in assert_user_error(rc, err)


def test_merged_partial_runs_keep_the_time_split(tiny, tmp_path):
    import competitions
    from shared.compare import table
    from shared.runs import load_run

    parts = []
    for folds in ("1,2", "0"):
        rc, out, err = run_cli("run", "california_house_prices", "--data", tiny, *FAST, "--only-folds", folds,
                               "--out", tmp_path)
        assert rc == 0, err[-2000:]
        parts.append(load_run(Path(last_line(out))))
    assert "time_split" not in parts[0].metrics and "time_split" in parts[1].metrics  # fold 0's run scores it
    merged = load_run(competitions.get("california_house_prices").outputs.merge([p.path for p in parts], tmp_path))
    assert merged.metrics["time_split"] == parts[1].metrics["time_split"]
    text = table([merged])
    assert "time split rmsle" in text.splitlines()[0]
    assert f"{merged.metrics['time_split']['score']:.4f}" in text.splitlines()[2]
