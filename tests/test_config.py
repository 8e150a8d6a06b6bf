"""--set parsing (values read as YAML) and resolving overrides against a recipe's parameters."""
from __future__ import annotations

import pytest

from competitions.house_prices import RECIPES
from shared.config import parse_sets, resolve
from shared.errors import UserError
from shared.spec import Recipe


def _recipe():
    return Recipe("toy", "a toy recipe", lambda tr, te, p: (tr, te), object,
                  feature_params={"min_count": 3, "use_dates": True},
                  model_params={"lr": 0.1, "rounds": 100, "kind": "ridge", "hidden": [64], "flag": False,
                                "extra": None})


def test_parse_sets_reads_values_as_yaml():
    got = parse_sets(["lr=0.1", "hidden=[256,128]", "flag=true", "off=false", "n=3", "kind=lasso",
                      "none=null", "empty="])
    assert got == {"lr": 0.1, "hidden": [256, 128], "flag": True, "off": False, "n": 3, "kind": "lasso",
                   "none": None, "empty": ""}
    assert type(got["lr"]) is float and type(got["n"]) is int and type(got["flag"]) is bool


def test_parse_sets_splits_on_the_first_equals_and_strips_the_key():
    assert parse_sets([" a =b=c"]) == {"a": "b=c"}


def test_parse_sets_keeps_unparseable_yaml_as_text():
    assert parse_sets(["hidden=[256,128"]) == {"hidden": "[256,128"}


def test_parse_sets_none_or_empty():
    assert parse_sets(None) == {} and parse_sets([]) == {}


@pytest.mark.parametrize("pair", ["lr", "=0.1"])
def test_parse_sets_refuses_a_pair_without_key_or_equals(pair):
    with pytest.raises(UserError, match="key=value"):
        parse_sets([pair])


def test_resolve_defaults_and_overrides():
    recipe = _recipe()
    config = resolve(recipe, {"lr": 0.5, "hidden": [256, 128], "min_count": 5, "log_target": False})
    assert config["recipe"] == "toy"
    assert config["model"] == {"lr": 0.5, "rounds": 100, "kind": "ridge", "hidden": [256, 128], "flag": False,
                               "extra": None}
    assert config["features"] == {"min_count": 5, "use_dates": True}
    assert config["log_target"] is False and config["clean_train"] is True
    # the recipe's own parameters are untouched (a deep copy is resolved)
    assert recipe.model_params["lr"] == 0.1 and recipe.model_params["hidden"] == [64]
    config["model"]["hidden"].append(1)
    assert recipe.model_params["hidden"] == [64]


def test_resolve_without_overrides_is_the_recipe():
    config = resolve(RECIPES["gbm"], {})
    assert config["model"] == RECIPES["gbm"].model_params and config["log_target"] is None


def test_resolve_unknown_key_names_it_and_lists_the_known():
    with pytest.raises(UserError, match="--set max_depth: recipe 'toy' has no such key") as info:
        resolve(_recipe(), {"max_depth": 3})
    for known in ("lr", "rounds", "min_count", "log_target", "clean_train"):
        assert f"'{known}'" in str(info.value)


def test_resolve_coerces_numbers():
    config = resolve(_recipe(), {"lr": 1, "rounds": 300.0})
    assert config["model"]["lr"] == 1.0 and type(config["model"]["lr"]) is float
    assert config["model"]["rounds"] == 300 and type(config["model"]["rounds"]) is int


@pytest.mark.parametrize("key, value, message", [
    ("lr", "fast", "expected a number like 0.1"),
    ("rounds", "many", "expected a number like 100"),
    ("rounds", [1, 2], "expected a number"),
    ("lr", None, "expected a number"),
    ("flag", "yes please", "expected true or false"),
    ("flag", 1, "expected true or false"),
    ("use_dates", 0, "expected true or false"),
    ("clean_train", "no way", "expected true or false"),
    ("log_target", 1, "expected true or false"),
])
def test_resolve_type_errors(key, value, message):
    with pytest.raises(UserError, match=message):
        resolve(_recipe(), {key: value})


def test_resolve_through_parse_sets_end_to_end():
    config = resolve(RECIPES["gbm"], parse_sets(["learning_rate=0.05", "max_rounds=300", "linear_base=none",
                                                 "clean_train=false"]))
    assert config["model"]["learning_rate"] == 0.05 and config["model"]["max_rounds"] == 300
    assert config["model"]["linear_base"] == "none" and config["clean_train"] is False


def test_resolve_refuses_a_fraction_for_an_integer_parameter():
    with pytest.raises(UserError, match="max_rounds"):
        resolve(RECIPES["gbm"], {"max_rounds": 2.5})


def test_resolve_refuses_a_bool_for_an_integer_parameter():
    with pytest.raises(UserError, match="num_leaves"):
        resolve(RECIPES["gbm"], {"num_leaves": True})
