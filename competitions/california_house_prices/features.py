"""California House Prices features: the shared typed features with this schema's column roles, plus
the handful of ratios a Kaggler adds for house prices. Stateless (nothing learnt from rows); the
fold-fitted parts — multi-hot of the list fields, TF-IDF + SVD of Summary and Address, target encoding
of cities, zips and schools — are ``shared.tabular.fold_features.standard_steps``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from shared.tabular.features import (
    as_categories,
    as_text,
    d2l_features,
    date_differences,
    date_parts,
    list_count,
    parse_numbers,
    text_stats,
)
from shared.tabular.fold_features import standard_steps

LIST_FIELDS = ["Heating", "Cooling", "Parking", "Flooring", "Heating features", "Cooling features",
               "Appliances included", "Laundry features", "Parking features"]
TEXT_FIELDS = ["Summary", "Address"]
DATE_FIELDS = ["Listed On", "Last Sold On"]
CATEGORICAL_FIELDS = ["Type", "Region", "Elementary School", "Middle School", "High School", "City", "State"]
NUMBER_AS_TEXT = {"Lot": {"acre": 43560.0, "acres": 43560.0, "ac": 43560.0}, "Bedrooms": None}
# The course's baseline reads only the columns that are numbers in the file (the rest would need encoding).
NUMERIC_FIELDS = ["Year built", "Bathrooms", "Full bathrooms", "Total interior livable area", "Total spaces",
                  "Garage spaces", "Elementary School Score", "Elementary School Distance", "Middle School Score",
                  "Middle School Distance", "High School Score", "High School Distance", "Tax assessed value",
                  "Annual tax amount", "Listed Price", "Last Sold Price", "Zip"]
_UNIT = r"(?i)(?:#|\b(?:apt|unit|ste|suite|spc|space)\b)"


def _numbers(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns as numbers, even where a file stores them as text ("1,234", "$500,000")."""
    return pd.DataFrame({col: parse_numbers(df[col]) for col in NUMERIC_FIELDS}, index=df.index)


def _one(df: pd.DataFrame) -> pd.DataFrame:
    numbers = {col: parse_numbers(df[col], units) for col, units in NUMBER_AS_TEXT.items()}
    bedroom_notes = df["Bedrooms"].where(numbers["Bedrooms"].isna())  # "Walk-in Closet, ..." (no count)
    plain = _numbers(df)
    area = plain["Total interior livable area"].where(plain["Total interior livable area"] > 0)
    listed = plain["Listed Price"].where(plain["Listed Price"] > 0)
    tax_value = plain["Tax assessed value"].where(plain["Tax assessed value"] > 0)
    listed_on = date_parts(df["Listed On"], "Listed On")
    extra = pd.DataFrame({
        "Lot": numbers["Lot"],
        "Bedrooms": numbers["Bedrooms"],
        "log listed price": np.log1p(listed),
        "log tax assessed value": np.log1p(tax_value),
        "log last sold price": np.log1p(plain["Last Sold Price"].clip(lower=0)),
        "listed price per sqft": listed / area,
        "tax value / listed price": tax_value / listed,
        "last sold price / listed price": plain["Last Sold Price"] / listed,
        "annual tax / tax value": plain["Annual tax amount"] / tax_value,
        "age when listed": listed_on["Listed On_year"] - plain["Year built"],
        "sqft per bedroom": area / numbers["Bedrooms"].where(numbers["Bedrooms"] > 0),
        "address has unit": as_text(df["Address"]).str.contains(_UNIT).astype(float),
        "Zip code": plain["Zip"].astype("Int64").astype("string"),  # the zip as a category too (target-encoded)
    }, index=df.index)
    parts = [plain, extra, listed_on, date_parts(df["Last Sold On"], "Last Sold On"),
             date_differences(df, DATE_FIELDS), as_text(bedroom_notes).to_frame("Bedroom features")]
    for col in TEXT_FIELDS:
        parts += [as_text(df[col]).to_frame(col), text_stats(df[col], col)]
    for col in LIST_FIELDS:
        parts += [as_text(df[col]).to_frame(col), list_count(df[col], col)]
    parts.append(df[CATEGORICAL_FIELDS])
    return pd.concat(parts, axis=1)


def gbm_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed and engineered columns; list and text fields stay raw for the fold-fitted steps."""
    X, X_test = _one(train), _one(test)
    return as_categories(X, X_test, CATEGORICAL_FIELDS + ["Zip code"])


def fold_steps(X: pd.DataFrame, params: dict, ctx) -> list:
    """Multi-hot of the list fields (and of the room descriptions found in Bedrooms), TF-IDF + SVD of
    Summary and Address, target encoding of the many-level categoricals: columns named, not guessed."""
    types = {"list": LIST_FIELDS + ["Bedroom features"], "text": TEXT_FIELDS,
             "categorical": CATEGORICAL_FIELDS + ["Zip code"]}
    return standard_steps(X, params, ctx, types)


def numeric_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The course baseline's input: the numeric columns only, standardised over train+test, NaN -> 0."""
    return d2l_features(_numbers(train), _numbers(test), params)
