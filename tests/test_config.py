"""--set parsing (values read as YAML), resolving overrides against a recipe's parameters, and the declared
range of every setting (checked before any work starts)."""
from __future__ import annotations

import math

import pytest
from conftest import all_recipes, assert_user_error, run_cli, snapshot

import competitions
from competitions.house_prices import RECIPES
from shared.config import (
    RUN_RANGES,
    RUN_SETTINGS,
    Choice,
    Either,
    Flag,
    Items,
    Range,
    Rule,
    Text,
    parse_sets,
    resolve,
)
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


# --- declared ranges: every setting says what it accepts, checked before any work ---------------------


@pytest.mark.parametrize("competition, recipe, pair, fragments", [
    ("house_prices", "linear", "alpha=-1", ["--set alpha=-1:", "alpha must be auto or a number > 0"]),
    ("house_prices", "linear", "alpha=.nan", ["--set alpha=nan:", "alpha must be auto or a number > 0"]),
    ("house_prices", "gbm", "learning_rate=-1", ["--set learning_rate=-1:", "learning_rate must be a number > 0"]),
    ("house_prices", "gbm", "max_rounds=0", ["--set max_rounds=0:", "max_rounds must be a whole number >= 1"]),
    ("house_prices", "baseline", "lr=-1", ["--set lr=-1:", "lr must be a number > 0"]),
    ("cifar10", "fast", "lr=-1", ["--set lr=-1:", "lr must be a number > 0"]),
    ("cifar10", "fast", "batch_size=0", ["--set batch_size=0:", "batch_size must be a whole number >= 1"]),
    ("cifar10", "fast", "epochs=0", ["--set epochs=0:", "epochs must be a whole number >= 1"]),
    ("cowboy_outfits", "mobile", "epochs=0", ["--set epochs=0:", "epochs must be a whole number >= 1"]),
    ("house_prices", "gbm", "feature_fraction=1.5", ["feature_fraction must be a number > 0 and <= 1"]),
    ("house_prices", "gbm", "linear_base=rige", ["--set linear_base='rige':", "one of none, auto, single, ridge"]),
    ("house_prices", "linear", "kind=lasoo", ["kind must be one of ridge, lasso, elasticnet"]),
    ("house_prices", "automl", "num_bag_folds=1", ["num_bag_folds must be 0 or a whole number >= 2"]),
    ("house_prices", "baseline_mlp", "hidden=[256,0]", ["hidden must be a list of at most 64 items, each a whole number >= 1"]),
    ("cifar10", "fast", "tta=flip,spin", ["tta must be comma-separated test-time views"]),
    ("classify_leaves", "timm", "pretrained=maybe", ["pretrained must be one of auto, true, false"]),
    ("house_prices", "linear", "time_valid_fraction=1", ["time_valid_fraction must be a number > 0 and < 1"]),
])
def test_an_out_of_range_setting_is_one_error_naming_setting_value_and_range(competition, recipe, pair, fragments):
    recipe = competitions.get(competition).recipe(recipe)
    with pytest.raises(UserError) as info:
        resolve(recipe, parse_sets([pair]), competition=competition)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert message.endswith(f"(recipe {recipe.name!r} of {competition}).") and "\n" not in message


def test_every_setting_of_every_recipe_declares_a_range_that_holds_its_default():
    seen = 0
    for where, recipe in all_recipes():
        params = {**recipe.feature_params, **recipe.model_params}
        names = [k for k in recipe.ranges if not isinstance(k, tuple)]
        assert sorted(params) == sorted(names), (where, recipe.name, set(params) ^ set(names))
        for key, default in params.items():
            declared = recipe.ranges[key]
            assert declared.problem(default) is None, (where, recipe.name, key, default, declared.describe())
            if isinstance(declared, Range):  # whole-number settings are exactly those with an int default
                assert declared.integer == (type(default) is int), (where, recipe.name, key, default)
        for names, rule in recipe.ranges.items():
            if isinstance(names, tuple):
                assert isinstance(rule, Rule) and set(names) <= set(params), (where, recipe.name, names)
                assert rule.holds(*(params[n] for n in names)), (where, recipe.name, names)
        assert not set(params) & set(RUN_SETTINGS), (where, recipe.name)  # a --set key means one thing
        resolve(recipe, {})  # the defaults resolve
        seen += 1
    assert seen >= 21  # 18 competition recipes + 3 generic


def test_every_run_setting_declares_a_range_that_holds_its_default():
    assert sorted(RUN_SETTINGS) == sorted(RUN_RANGES)
    for key, default in RUN_SETTINGS.items():
        assert RUN_RANGES[key].problem(default) is None, key
    for log_target in (None, True, False):
        assert RUN_RANGES["log_target"].problem(log_target) is None


def test_range_bounds_open_and_closed_finite_and_whole():
    positive, share = Range(low=0, low_open=True), Range(low=0, high=1, low_open=True)
    assert positive.problem(1e-9) is None and positive.problem(0) == "must be a number > 0"
    assert share.problem(1) is None and share.problem(0.0) is not None and share.problem(1.01) is not None
    assert Range(low=0, high=1, high_open=True).problem(1) == "must be a number >= 0 and < 1"
    for bad in (math.nan, math.inf, -math.inf):
        assert Range().problem(bad) == "must be a finite number"
        assert positive.problem(bad) == "must be a finite number > 0"
    count = Range(low=1, integer=True)
    assert count.problem(3) is None and count.problem(2.5) == "must be a whole number >= 1"
    assert count.problem(True) is not None and count.problem("3") is not None  # no bools or text for numbers


def test_choice_flag_text_items_either():
    pretrained = Choice("auto", "true", "false")
    assert pretrained.problem(False) is None and pretrained.problem("auto") is None  # booleans read as their text
    assert pretrained.problem("yes") == "must be one of auto, true, false"
    optional = Choice(None, True, False)
    assert optional.problem(None) is None and optional.problem(1) is not None  # 1 is not true
    assert Choice(0).problem(0.0) is not None and Choice(0).problem(False) is not None
    assert Flag().problem(True) is None and Flag().problem("true") == "must be true or false"
    device = Text("auto, cpu or cuda", pattern=r"auto|cpu|cuda")
    assert device.problem("cpu") is None and device.problem("gpu") == "must be auto, cpu or cuda"
    assert device.problem(3) is not None

    def no_spaces(value):
        if " " in value:
            raise UserError("spaces")
    assert Text("a word", check=no_spaces).problem("a b") == "must be a word"
    hidden = Items(Range(low=1, integer=True), 2)
    assert hidden.problem([]) is None and hidden.problem([256, 128]) is None
    assert hidden.problem([256, 0]) is not None and hidden.problem(256) is not None
    assert hidden.problem([1, 1, 1]) == "must be a list of at most 2 items, each a whole number >= 1"
    folds = Either(Choice(0), Range(low=2, integer=True))
    assert folds.problem(0) is None and folds.problem(5) is None and folds.problem(1) == "must be 0 or a whole number >= 2"


def _ranged_recipe():
    return Recipe("toy", "a toy recipe with ranges", lambda tr, te, p: (tr, te), object,
                  model_params={"lr": -1.0, "hidden": [64], "dropout": [0.5]},
                  ranges={"lr": Range(low=0, low_open=True), "hidden": Items(Range(low=1, integer=True), 8),
                          "dropout": Items(Range(low=0, high=1, high_open=True), 8),
                          ("hidden", "dropout"): Rule(lambda h, d: len(d) <= len(h), "one dropout per hidden layer")})


def test_a_default_out_of_range_is_named_as_the_default():
    with pytest.raises(UserError, match=r"^lr=-1.0 \(the default\): lr must be a number > 0 \(recipe 'toy'\)\.$"):
        resolve(_ranged_recipe(), {})
    assert resolve(_ranged_recipe(), {"lr": 0.1})["model"]["lr"] == 0.1


def test_a_cross_setting_rule_is_checked():
    with pytest.raises(UserError, match=r"--set dropout=\[0.5, 0.2\]: one dropout per hidden layer; "
                                        r"got hidden=\[64\], dropout=\[0.5, 0.2\]"):
        resolve(_ranged_recipe(), {"lr": 0.1, "dropout": [0.5, 0.2]})
    with pytest.raises(UserError, match="hidden must be a list of at most 8 items, each a whole number >= 1"):
        resolve(_ranged_recipe(), {"lr": 0.1, "hidden": [64, -1]})


def test_the_d2l_rule_refuses_more_dropouts_than_hidden_layers():
    with pytest.raises(UserError, match="dropout gives at most one rate per hidden layer"):
        resolve(RECIPES["baseline"], {"dropout": [0.5]})  # the linear baseline has no hidden layer


def test_run_refuses_an_out_of_range_set_in_one_line_and_writes_nothing(demo_dir, tmp_path):
    out = tmp_path / "runs"
    rc, stdout, stderr = run_cli("run", "house_prices", "--data", demo_dir, "--recipe", "linear",
                                 "--set", "alpha=-1", "--out", out)
    line = assert_user_error(rc, stderr)
    assert "--set alpha=-1: alpha must be auto or a number > 0" in line and "recipe 'linear'" in line
    assert stdout == "" and (not out.exists() or snapshot(out) == {})


def test_a_settings_table_gives_each_default_beside_its_declaration_once():
    """``settings({name: (default, declaration)})``: the defaults and the declarations, in the table's order; a
    Rule under a tuple of names is a declaration without a default."""
    from shared.config import settings

    rule = Rule(lambda hidden, dropout: len(dropout) <= len(hidden), "one dropout per hidden layer")
    defaults, declarations = settings({
        "hidden": ([64], Items(Range(low=1, integer=True), 8, doc="widths")),
        "lr": (0.1, Range(low=0, low_open=True, doc="learning rate")),
        ("hidden", "dropout"): rule,
    })
    assert defaults == {"hidden": [64], "lr": 0.1} and list(defaults) == ["hidden", "lr"]
    assert declarations["lr"].doc == "learning rate" and declarations[("hidden", "dropout")] is rule
    assert declarations["lr"].problem(0.1) is None and declarations["lr"].problem(-1.0)


def test_every_library_model_declares_each_default_once_with_its_meaning():
    """The library's settings tables: every default has a declaration with a one-line meaning, and the reverse."""
    from shared.detection.model import DETECTION_PARAMS, DETECTION_RANGES
    from shared.tabular import models, zoo
    from shared.vision.train import VISION_PARAMS, VISION_RANGES

    tables = [(VISION_PARAMS, VISION_RANGES), (DETECTION_PARAMS, DETECTION_RANGES),
              (models.LINEAR_PARAMS, models.LINEAR_RANGES), (models.D2L_MLP_PARAMS, models.D2L_MLP_RANGES),
              (models.GBM_PARAMS, {**models.GBM_RANGES, **models.GBM_CATEGORY_RANGES, **models.GBM_BUDGET_RANGES}),
              *[(getattr(zoo, f"{n}_PARAMS"), getattr(zoo, f"{n}_RANGES"))
                for n in ("CATBOOST", "XGBOOST", "KNN", "MLP", "PYTABKIT", "FOREST", "SVR")]]
    for defaults, declarations in tables:
        named = {key for key in declarations if isinstance(key, str)}
        assert set(defaults) == named
        assert all(declarations[key].doc and declarations[key].problem(defaults[key]) is None for key in defaults)


def test_on_off_yes_no_are_the_words_for_a_choice_and_booleans_for_a_flag():
    from competitions import get
    from shared.config import parse_sets, resolve

    recipe = get("classify_leaves").recipe("finetune")
    config = resolve(recipe, parse_sets(["channels_last=on", "freeze_bn=off", "ema=yes", "cifar_stem=no"]))
    model = config["model"]
    assert (model["channels_last"], model["freeze_bn"], model["ema"], model["cifar_stem"]) == ("on", "off", True, False)
    assert resolve(recipe, parse_sets(["pretrained=false"]))["model"]["pretrained"] == "false"
