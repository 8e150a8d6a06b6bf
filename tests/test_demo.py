"""The House Prices demo is the real Ames data in Kaggle's exact layout."""
from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import last_line, run_cli

from competitions.house_prices import demo

# The competition's facts, from its data page: the columns in order; train.csv 1460 x 81, test.csv 1459 x 80,
# test Ids from 1461.
KAGGLE_TRAIN_COLUMNS = [
    "Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley", "LotShape",
    "LandContour", "Utilities", "LotConfig", "LandSlope", "Neighborhood", "Condition1", "Condition2", "BldgType",
    "HouseStyle", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd", "RoofStyle", "RoofMatl", "Exterior1st",
    "Exterior2nd", "MasVnrType", "MasVnrArea", "ExterQual", "ExterCond", "Foundation", "BsmtQual", "BsmtCond",
    "BsmtExposure", "BsmtFinType1", "BsmtFinSF1", "BsmtFinType2", "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF", "Heating",
    "HeatingQC", "CentralAir", "Electrical", "1stFlrSF", "2ndFlrSF", "LowQualFinSF", "GrLivArea", "BsmtFullBath",
    "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr", "KitchenAbvGr", "KitchenQual", "TotRmsAbvGrd", "Functional",
    "Fireplaces", "FireplaceQu", "GarageType", "GarageYrBlt", "GarageFinish", "GarageCars", "GarageArea", "GarageQual",
    "GarageCond", "PavedDrive", "WoodDeckSF", "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea",
    "PoolQC", "Fence", "MiscFeature", "MiscVal", "MoSold", "YrSold", "SaleType", "SaleCondition", "SalePrice",
]


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    return demo.build(tmp_path_factory.mktemp("full") / "house_prices", size="full")


def _header(path):
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\n").split(",")


def test_files_of_the_kaggle_layout(demo_dir):
    names = {p.name for p in demo_dir.iterdir()}
    assert {"train.csv", "test.csv", "sample_submission.csv", "data_description.txt", "solution.csv"} <= names


def test_train_columns_are_exactly_kaggles(demo_dir):
    header = _header(demo_dir / "train.csv")
    assert header == KAGGLE_TRAIN_COLUMNS and len(set(header)) == 81


def test_test_columns_are_train_minus_saleprice(demo_dir):
    assert _header(demo_dir / "test.csv") == KAGGLE_TRAIN_COLUMNS[:-1]
    assert "SalePrice" not in pd.read_csv(demo_dir / "test.csv").columns


def test_sample_submission_layout(demo_dir):
    assert _header(demo_dir / "sample_submission.csv") == ["Id", "SalePrice"]
    sample = pd.read_csv(demo_dir / "sample_submission.csv")
    test = pd.read_csv(demo_dir / "test.csv")
    assert sample["Id"].tolist() == test["Id"].tolist()
    assert (sample["SalePrice"] > 0).all()


def test_small_sizes_keep_kaggles_id_convention(demo_dir):
    train, test = pd.read_csv(demo_dir / "train.csv"), pd.read_csv(demo_dir / "test.csv")
    assert 0 < len(train) < 1460 and 0 < len(test) < 1459  # a sample of the competition's houses
    assert train["Id"].tolist() == list(range(1, len(train) + 1))  # Ids from 1, as Kaggle's
    assert test["Id"].tolist() == list(range(len(train) + 1, len(train) + len(test) + 1))  # test ids continue


def test_full_size_is_kaggles(full_demo):
    train, test = pd.read_csv(full_demo / "train.csv"), pd.read_csv(full_demo / "test.csv")
    assert train.shape == (1460, 81) and test.shape == (1459, 80)
    assert train["Id"].tolist() == list(range(1, 1461))
    assert test["Id"].iloc[0] == 1461 and test["Id"].tolist() == list(range(1461, 2920))
    assert _header(full_demo / "train.csv") == KAGGLE_TRAIN_COLUMNS


def test_solution_ids_equal_test_ids_and_hold_real_prices(demo_dir):
    solution, test = pd.read_csv(demo_dir / "solution.csv"), pd.read_csv(demo_dir / "test.csv")
    assert list(solution.columns) == ["Id", "SalePrice"]
    assert solution["Id"].tolist() == test["Id"].tolist()
    assert solution["SalePrice"].notna().all() and (solution["SalePrice"] > 1000).all()


def test_missing_values_are_written_as_NA(demo_dir):
    text = (demo_dir / "train.csv").read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines()[1:]]
    alley = KAGGLE_TRAIN_COLUMNS.index("Alley")
    assert sum(r[alley] == "NA" for r in rows) > 100  # most houses have no alley access
    assert all(len(r) == 81 for r in rows)  # no quoted commas breaking the simple split
    assert ",," not in text and not text.splitlines()[1].endswith(",")  # no empty fields
    # whole-number columns with NA print as integers ("65"), like Kaggle's, not "65.0"
    for col in ("LotFrontage", "GarageYrBlt", "MasVnrArea", "BsmtFullBath"):
        i = KAGGLE_TRAIN_COLUMNS.index(col)
        assert all(re.fullmatch(r"\d+|NA", r[i]) for r in rows), col
    assert pd.read_csv(demo_dir / "train.csv")["Alley"].isna().sum() > 100  # NA reads back as missing


def test_target_and_basic_types(demo_dir):
    train = pd.read_csv(demo_dir / "train.csv")
    assert train["SalePrice"].dtype.kind == "i" and train["SalePrice"].notna().all()
    assert (train["SalePrice"] > 10_000).all()
    assert train["GrLivArea"].dtype.kind == "i" and train["Neighborhood"].dtype == object


def test_build_is_deterministic_and_seeded(tmp_path):
    a = demo.build(tmp_path / "a", size="small")
    b = demo.build(tmp_path / "b", size="small")
    c = demo.build(tmp_path / "c", size="small", seed=1)
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.csv").read_bytes() != (c / "train.csv").read_bytes()


def test_category_values_have_no_stray_whitespace(demo_dir):
    train = pd.read_csv(demo_dir / "train.csv")
    assert "WD" in set(train["SaleType"])
    for col in train.select_dtypes(include="object").columns:
        values = train[col].dropna()
        assert (values == values.str.strip()).all(), (col, sorted(set(values[values != values.str.strip()])))


def test_make_demo_script_writes_the_builders_demo(demo_dir, tmp_path):
    out = tmp_path / "hp"
    rc, stdout, stderr = run_cli("make_demo", "house_prices", "--size", "small", "--out", out)
    assert rc == 0, stderr
    assert last_line(stdout) == str(out)
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv", "data_description.txt"):
        assert (out / name).read_bytes() == (demo_dir / name).read_bytes(), name
