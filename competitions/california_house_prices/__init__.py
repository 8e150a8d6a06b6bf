"""D2L course competition "California House Prices": predict Sold Price, scored by log-RMSE.

First step: the exact-layout demo and the generic tabular recipes (typed columns: numbers, categories,
dates to parts, free text to length statistics). Competition-specific features (numbers parsed from
text, multi-hot lists, text SVD), the time-ordered validation and the course baseline come next.
"""
from __future__ import annotations

from competitions.california_house_prices import demo
from shared.spec import CompetitionSpec
from shared.tabular.generic import RECIPES

SPEC = CompetitionSpec(
    name="california_house_prices",
    slug="california-house-prices",
    title="California House Prices (D2L)",
    metric_name="rmsle",
    id_col="Id",
    target_col="Sold Price",
    recipes=dict(RECIPES),
    default_recipe="gbm",
    make_demo=demo.build,
)
