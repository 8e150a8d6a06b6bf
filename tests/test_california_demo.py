"""The California House Prices demo: synthetic houses in the D2L Kaggle competition's exact layout."""
from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pandas as pd
import pytest

from competitions.california_house_prices.demo import build

# The competition's facts, from its data page: the columns in order; train.csv 47439 x 41 with Ids 0-47438,
# test.csv 31626 x 40 with Ids 47439-79064.
TRAIN_COLUMNS = [
    "Id", "Address", "Sold Price", "Summary", "Type", "Year built", "Heating", "Cooling", "Parking",
    "Lot", "Bedrooms", "Bathrooms", "Full bathrooms", "Total interior livable area", "Total spaces", "Garage spaces",
    "Region", "Elementary School", "Elementary School Score", "Elementary School Distance", "Middle School",
    "Middle School Score", "Middle School Distance", "High School", "High School Score", "High School Distance",
    "Flooring", "Heating features", "Cooling features", "Appliances included", "Laundry features",
    "Parking features", "Tax assessed value", "Annual tax amount", "Listed On", "Listed Price", "Last Sold On",
    "Last Sold Price", "City", "Zip", "State",
]
TEST_COLUMNS = [c for c in TRAIN_COLUMNS if c != "Sold Price"]
KAGGLE_ROWS = (47439, 31626)
MULTI_VALUE = ["Heating", "Cooling", "Parking", "Flooring", "Heating features", "Cooling features",
               "Appliances included", "Laundry features", "Parking features"]
FILES = ["train.csv", "test.csv", "sample_submission.csv", "solution.csv"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The small demo with the default seed."""
    return build(tmp_path_factory.mktemp("chp") / "california_house_prices", size="small")


@pytest.fixture(scope="module")
def frames(small):
    return {name: pd.read_csv(small / name) for name in FILES}


def _header(path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as f:
        return next(csv.reader(f))


def _digest(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def test_full_size_is_the_competitions(tmp_path):
    full = build(tmp_path / "full", size="full")
    train, test = pd.read_csv(full / "train.csv"), pd.read_csv(full / "test.csv")
    assert train.shape == (KAGGLE_ROWS[0], 41) and test.shape == (KAGGLE_ROWS[1], 40)
    assert train["Id"].tolist() == list(range(47439)) and test["Id"].tolist() == list(range(47439, 79065))
    assert _header(full / "train.csv") == TRAIN_COLUMNS and _header(full / "test.csv") == TEST_COLUMNS


def test_headers_are_exactly_kaggles(small, frames):
    d = small
    assert len(set(_header(d / "train.csv"))) == 41 and len(set(_header(d / "test.csv"))) == 40
    assert _header(d / "train.csv") == TRAIN_COLUMNS
    assert _header(d / "test.csv") == TEST_COLUMNS
    assert _header(d / "sample_submission.csv") == ["Id", "Sold Price"]
    assert _header(d / "solution.csv") == ["Id", "Sold Price"]
    assert list(frames["train.csv"].columns) == TRAIN_COLUMNS
    assert list(frames["test.csv"].columns) == TEST_COLUMNS


def test_ids_rows_and_submission_files(small, frames):
    train, test = frames["train.csv"], frames["test.csv"]
    n_train, n_test = len(train), len(test)
    assert 0 < n_train < KAGGLE_ROWS[0] and 0 < n_test < KAGGLE_ROWS[1]  # a sample of the competition's size
    # one row per record: the newlines inside quoted Summary fields do not split rows
    with open(small / "train.csv", encoding="utf-8", newline="") as f:
        assert sum(1 for _ in csv.reader(f)) == n_train + 1
    assert train["Id"].tolist() == list(range(n_train))  # the competition's convention: train from 0, test next
    assert test["Id"].tolist() == list(range(n_train, n_train + n_test))
    for name in ("sample_submission.csv", "solution.csv"):
        assert frames[name]["Id"].tolist() == test["Id"].tolist()
        assert frames[name]["Sold Price"].notna().all() and (frames[name]["Sold Price"] > 0).all()
    assert frames["sample_submission.csv"]["Sold Price"].nunique() == 1
    assert frames["sample_submission.csv"]["Sold Price"].iloc[0] == train["Sold Price"].median()
    assert frames["solution.csv"]["Sold Price"].nunique() > 100


def test_temporal_split(frames):
    train, test = frames["train.csv"], frames["test.csv"]
    tr = pd.to_datetime(train["Listed On"], format="%Y-%m-%d")
    te = pd.to_datetime(test["Listed On"], format="%Y-%m-%d")
    assert tr.notna().all() and te.notna().all()
    assert tr.max() < te.min()
    assert tr.min() >= pd.Timestamp("2020-01-01") and tr.max() <= pd.Timestamp("2020-06-30")
    assert te.min() >= pd.Timestamp("2020-07-01") and te.max() <= pd.Timestamp("2020-12-31")
    # Prices drift up: the hidden test prices are dearer than the training ones.
    assert frames["solution.csv"]["Sold Price"].median() > train["Sold Price"].median()


def test_prices_span_orders_of_magnitude(frames):
    price = frames["train.csv"]["Sold Price"]
    assert price.notna().all() and (price > 0).all()
    assert math.log10(price.max() / price.min()) > 2
    assert price.min() < 100_000 and price.max() > 5_000_000
    listed = frames["train.csv"]["Listed Price"]
    known = listed.notna()
    assert np.corrcoef(np.log(price[known]), np.log(listed[known]))[0, 1] > 0.95


def test_value_formats(frames):
    train = frames["train.csv"]
    assert set(train["Type"]) <= {"SingleFamily", "Condo", "Townhouse", "MultiFamily", "VacantLand",
                                  "MobileManufactured", "Unknown"}
    assert train["Type"].value_counts().index[0] == "SingleFamily"
    assert (train["State"] == "CA").all()
    zips = frames["train.csv"]["Zip"]
    assert zips.between(90000, 96999).all() and zips.nunique() > 100
    assert train["City"].nunique() >= 100 and train["Elementary School"].nunique() > 100
    for col in ("Elementary School Score", "Middle School Score", "High School Score"):
        assert train[col].dropna().between(1, 10).all() and train[col].isna().any()
    assert train["Address"].str.contains(r"^\d+ \w", regex=True).mean() > 0.9
    assert train["Address"].str.contains("Apt ").any()
    # Bedrooms is text: counts and descriptions; Lot is square feet with a few values in acres.
    assert train["Bedrooms"].dtype == object
    assert train["Bedrooms"].str.fullmatch(r"\d+").mean() > 0.7
    assert train["Bedrooms"].str.contains("Closet|Bedroom", regex=True).any()
    lot = train["Lot"].dropna().astype(str)
    assert lot.str.endswith(" Acres").any() and lot.str.endswith(" Acres").mean() < 0.05
    assert pd.to_numeric(lot, errors="coerce").max() > 1_000_000
    assert train["Last Sold On"].isna().mean() > 0.2
    assert (pd.to_datetime(train["Last Sold On"], format="%Y-%m-%d").dropna() < pd.Timestamp("2020-01-01")).all()
    rate = (train["Annual tax amount"] / train["Tax assessed value"]).dropna()
    assert rate.between(0.0105, 0.0135).all()


def test_multi_value_fields_hold_commas(frames):
    train = frames["train.csv"]
    for col in MULTI_VALUE:
        assert train[col].dropna().str.contains(", ").any(), col
    assert train["Appliances included"].str.contains("Dishwasher").any()


def test_summary_is_messy_free_text(small, frames):
    summary = frames["train.csv"]["Summary"]
    assert summary.isna().any()
    text = summary.dropna()
    assert text.str.contains(",").any()
    assert text.str.contains('"').any()
    assert text.str.contains("\n").any()
    assert text.map(lambda s: not s.isascii()).any()
    counts = text.map(lambda s: s.count(".") + s.count("!")).clip(upper=10)
    assert counts.min() >= 1
    raw = (small / "train.csv").read_text(encoding="utf-8")
    assert '""' in raw  # quotes inside a quoted field are doubled


def test_deterministic_for_a_seed(small, tmp_path):
    again = build(tmp_path / "again", size="small")
    other = build(tmp_path / "other", size="small", seed=7)
    assert _digest(again) == _digest(small)
    assert all(_digest(other)[name] != digest for name, digest in _digest(small).items())
