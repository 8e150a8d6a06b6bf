"""Features of the contraception data: the woman's own columns (livch, age, urban), never ``district``.

``district`` is the grouping of the folds and of the test split: every test district is unseen, so a model
that learnt district numbers would learn nothing it could use. Summaries of the woman's district (its number of
women surveyed, its urban share, mean children and age, from feature columns only) were tried for the gbm and
left out: nearly unique per district, they act as district numbers and cost CV (full data, 5 folds, mean of
fold seeds 42, 1, 2, 3: CV Gini 0.132 with them, 0.240 without), whatever they did on the holdout."""
from __future__ import annotations

import pandas as pd

from shared.tabular.features import auto_features

GROUP = "district"


def without_district(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The columns as they are, less the district (the linear model and AutoGluon encode them)."""
    return train.drop(columns=[GROUP]), test.drop(columns=[GROUP])


def gbm_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The shared typed features without the district: age a number, livch and urban native categories."""
    return auto_features(*without_district(train, test, params), params)
