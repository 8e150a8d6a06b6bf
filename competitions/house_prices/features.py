"""House Prices feature engineering: ordinal quality scales, totals, ages, quality x area."""
from __future__ import annotations

import numpy as np
import pandas as pd

from shared.tabular.features import as_categories

QUALITY = {"Ex": 5, "Gd": 4, "TA": 3, "Fa": 2, "Po": 1}
ORDINALS = {
    **{c: QUALITY for c in ["ExterQual", "ExterCond", "BsmtQual", "BsmtCond", "HeatingQC", "KitchenQual",
                            "FireplaceQu", "GarageQual", "GarageCond", "PoolQC"]},
    "BsmtExposure": {"Gd": 4, "Av": 3, "Mn": 2, "No": 1},
    "BsmtFinType1": {"GLQ": 6, "ALQ": 5, "BLQ": 4, "Rec": 3, "LwQ": 2, "Unf": 1},
    "BsmtFinType2": {"GLQ": 6, "ALQ": 5, "BLQ": 4, "Rec": 3, "LwQ": 2, "Unf": 1},
    "GarageFinish": {"Fin": 3, "RFn": 2, "Unf": 1},
    "Functional": {"Typ": 7, "Min1": 6, "Min2": 5, "Mod": 4, "Maj1": 3, "Maj2": 2, "Sev": 1, "Sal": 0},
    "LotShape": {"Reg": 3, "IR1": 2, "IR2": 1, "IR3": 0},
    "LandSlope": {"Gtl": 2, "Mod": 1, "Sev": 0},
    "PavedDrive": {"Y": 2, "P": 1, "N": 0},
    "CentralAir": {"Y": 1, "N": 0},
}
# Kaggle's numeric columns, which the features below compute with (a cell of text in one is refused at load).
NUMBERS = ("MSSubClass", "LotFrontage", "LotArea", "OverallQual", "OverallCond", "YearBuilt", "YearRemodAdd",
           "MasVnrArea", "BsmtFinSF1", "BsmtFinSF2", "BsmtUnfSF", "TotalBsmtSF", "1stFlrSF", "2ndFlrSF",
           "LowQualFinSF", "GrLivArea", "BsmtFullBath", "BsmtHalfBath", "FullBath", "HalfBath", "BedroomAbvGr",
           "KitchenAbvGr", "TotRmsAbvGrd", "Fireplaces", "GarageYrBlt", "GarageCars", "GarageArea", "WoodDeckSF",
           "OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "PoolArea", "MiscVal", "MoSold", "YrSold")
AREA_ZERO_WHEN_MISSING = ["TotalBsmtSF", "BsmtFinSF1", "BsmtFinSF2", "BsmtUnfSF", "BsmtFullBath", "BsmtHalfBath",
                          "GarageCars", "GarageArea", "MasVnrArea"]


def engineer(df: pd.DataFrame, lot_frontage_by_neighborhood: pd.Series) -> pd.DataFrame:
    """Domain features; NaN in an ordinal means 'no such thing' (no basement, no pool) and becomes 0."""
    out = df.copy()
    for col in AREA_ZERO_WHEN_MISSING:
        out[col] = out[col].astype(float).fillna(0)
    out["LotFrontage"] = out["LotFrontage"].astype(float).fillna(out["Neighborhood"].map(lot_frontage_by_neighborhood))
    out["GarageYrBlt"] = out["GarageYrBlt"].astype(float).fillna(out["YearBuilt"])
    for col, scale in ORDINALS.items():
        out[f"{col}_ord"] = out[col].map(scale).astype(float).fillna(0)
    out["TotalSF"] = out["TotalBsmtSF"] + out["1stFlrSF"] + out["2ndFlrSF"]
    out["TotalBath"] = out["FullBath"] + 0.5 * out["HalfBath"] + out["BsmtFullBath"] + 0.5 * out["BsmtHalfBath"]
    out["PorchSF"] = out[["OpenPorchSF", "EnclosedPorch", "3SsnPorch", "ScreenPorch", "WoodDeckSF"]].sum(axis=1)
    out["Age"] = out["YrSold"] - out["YearBuilt"]
    out["RemodAge"] = out["YrSold"] - out["YearRemodAdd"]
    out["QualLivArea"] = out["OverallQual"] * out["GrLivArea"]
    out["QualTotalSF"] = out["OverallQual"] * out["TotalSF"]
    out["QualScore"] = out["OverallQual"] + out["ExterQual_ord"] + out["KitchenQual_ord"] + out["BsmtQual_ord"]
    out["MSSubClass"] = "C" + out["MSSubClass"].astype(str)  # a code, not a quantity
    return out


def _engineered(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    # Lot frontage imputed by neighbourhood median over train+test features (no target involved).
    frontage = pd.concat([train, test])[["Neighborhood", "LotFrontage"]].astype({"LotFrontage": float})
    by_hood = frontage.groupby("Neighborhood")["LotFrontage"].median()
    return engineer(train, by_hood), engineer(test, by_hood)


def gbm_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Engineered numbers + native LightGBM categories (ordinal columns kept only as numbers)."""
    X, X_test = _engineered(train, test)
    X, X_test = X.drop(columns=list(ORDINALS)), X_test.drop(columns=list(ORDINALS))
    categorical = [c for c in X.columns if X[c].dtype == object]
    return as_categories(X, X_test, categorical)


def linear_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Engineered numbers; sale month/year as categories; the linear model one-hots and log-scales."""
    X, X_test = _engineered(train, test)
    for df in (X, X_test):
        df["MoSold"] = df["MoSold"].astype(str)
        df["YrSold"] = df["YrSold"].astype(str)
        df.drop(columns=["Utilities", "Street", "PoolQC"], inplace=True)
    return X, X_test


def is_not_outlier(train: pd.DataFrame) -> np.ndarray:
    """De Cock's advice: houses over 4000 sq ft are unusual sales; the cheap ones (partial sales of huge
    houses) teach every model the wrong price per area and dominate any CV score they are in."""
    return ~((train["GrLivArea"].to_numpy() > 4000) & (train["SalePrice"].to_numpy() < 300_000))
