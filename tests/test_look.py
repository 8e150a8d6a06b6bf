"""The first look at a competition's data that each notebook opens with: facts as a table and one picture."""
from __future__ import annotations

import pytest

import competitions
from shared.look import look
from shared.notebook import settings


@pytest.mark.parametrize("name, size, expect", [
    ("house_prices", "small", {"test rows": "500", "metric": "rmsle"}),  # training rows: after clean_train
    ("classify_leaves", "tiny", {"metric": "accuracy"}),
    ("cowboy_outfits", "tiny", {"metric": "COCO mAP@[.5:.95]"}),
])
def test_look_gives_facts_and_a_picture(name, size, expect, demos, tmp_path):
    data = demos(name, size)
    facts = look(competitions.get(name), data, out=tmp_path, show=False)
    assert (tmp_path / "look.png").stat().st_size > 10_000
    for key, value in expect.items():
        assert facts.loc[key, "value"] == value
    if name == "house_prices":
        assert facts.loc["columns with missing values", "value"] != "0"  # Ames has missing values (LotFrontage)
        assert facts.loc["test rows", "value"] == "500"


def test_the_settings_table_holds_every_setting_with_its_default_and_range():
    spec = competitions.get("house_prices")
    table = settings(spec, "gbm")
    assert set(table.index) == set(spec.recipe("gbm").model_params) | set(spec.recipe("gbm").feature_params)
    assert table.loc["learning_rate", "default"] == "0.02" and table.loc["learning_rate", "accepts"] == "a number > 0"
    assert table["what it is"].str.len().min() > 10
