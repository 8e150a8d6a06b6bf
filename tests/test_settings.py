"""Discoverable settings: ``run.py COMPETITION --list`` (every recipe's settings with default, range and meaning),
"did you mean" for a mistyped competition, recipe, --set key or choice."""
from __future__ import annotations

import re

import pytest
from conftest import assert_user_error, run_cli

import competitions
from shared import settings
from shared.config import RUN_RANGES, RUN_SETTINGS, Choice, Range, count, parse_sets, resolve
from shared.errors import UserError
from shared.tabular import generic


def _sources():
    """(name, recipes) of every competition and of the generic tabular path."""
    for name in competitions.names():
        yield name, competitions.get(name).recipes
    yield "tabular", generic.RECIPES


def _sections(text: str) -> dict[str, list[str]]:
    """The lines of each ``recipe NAME`` block of a listing, and of ``run settings``."""
    out, current = {}, None
    for line in text.splitlines():
        head = re.match(r"recipe (\S+) \(--set KEY=VALUE\):$", line)
        if head or line.startswith("run settings"):
            current = head.group(1) if head else "run settings"
            out[current] = []
        elif current is not None and line.strip():
            out[current].append(line)
    return out


def _row(lines: list[str], key: str) -> list[str]:
    """A setting's lines in a listing block: its first line and the continuation lines under it."""
    start = next(i for i, line in enumerate(lines) if line.split()[0] == key)
    rest = lines[start + 1:]
    end = next((i for i, line in enumerate(rest) if not line.startswith(" " * 4)), len(rest))
    return [lines[start], *rest[:end]]


# --- --list ------------------------------------------------------------------------------------------------
def test_list_shows_the_recipes_with_the_default_marked_and_a_setting_with_default_range_and_meaning():
    rc, out, err = run_cli("run", "house_prices", "--list")
    assert rc == 0, err
    assert out.startswith("house_prices: House Prices - Advanced Regression Techniques\n")
    recipes = [line for line in out.splitlines() if re.match(r"[* ] (baseline|baseline_mlp|linear|gbm|automl) ", line)]
    assert [line[:1] for line in recipes] == [" ", " ", " ", "*", " "]  # gbm is the default
    gbm = _sections(out)["gbm"]
    assert gbm[0].split() == ["setting", "default", "what", "it", "is", "/", "what", "it", "accepts"]
    row = " ".join(" ".join(_row(gbm, "learning_rate")).split())
    assert row == "learning_rate 0.02 the boosting learning rate (shrinkage of each tree) accepts a number > 0"
    automl = " ".join(" ".join(_row(_sections(out)["automl"], "presets")).split())
    assert automl.startswith("presets medium_quality AutoGluon's presets") and "best_quality" in automl
    keep = " ".join(" ".join(_row(_sections(out)["automl"], "keep_models")).split())
    assert keep.startswith("keep_models false keep each fold's AutoGluon models") and keep.endswith("true or false")
    run = " ".join(" ".join(_row(_sections(out)["run settings"], "clean_train")).split())
    assert run.startswith("clean_train true drop the competition's known-bad training rows")
    assert "baseline log_target=false, baseline_mlp log_target=false" in out  # the recipes' own run defaults


@pytest.mark.parametrize("name, recipes", list(_sources()), ids=[n for n, _ in _sources()])
def test_list_shows_every_setting_of_every_recipe_with_its_default(name, recipes):
    rc, out, err = run_cli("run", name, "--list")
    assert rc == 0, err
    sections = _sections(out)
    assert list(sections) == [*recipes, "run settings"]
    for recipe in recipes.values():
        lines = sections[recipe.name]
        for key, default in {**recipe.feature_params, **recipe.model_params}.items():
            first = _row(lines, key)[0]
            assert re.match(rf" +{re.escape(key)} +{re.escape(settings.shown(default))}(  |$)", first), first
            assert " ".join(recipe.ranges[key].describe().split()[:2]) in " ".join(" ".join(_row(lines, key)).split())
    for key in RUN_SETTINGS:
        assert _row(sections["run settings"], key)
    assert max(map(len, out.splitlines())) <= settings.WIDTH  # fits a terminal or a notebook cell


def test_the_competitions_run_defaults_are_listed():
    rc, out, _ = run_cli("run", "california_house_prices", "--list", "--recipe", "gbm")
    assert rc == 0
    assert _row(_sections(out)["run settings"], "time_col")[0].split()[:3] == ["time_col", "Listed", "On"]


def test_tabular_list_needs_no_data_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ folder here
    rc, out, err = run_cli("run", "tabular", "--list", "--out", tmp_path / "runs")
    assert rc == 0, err
    assert out.startswith("tabular: any CSV competition") and "* auto" in out
    assert list(_sections(out)) == [*generic.RECIPES, "run settings"]
    assert list(generic.RECIPES)[:3] == ["gbm", "linear", "catboost"] and "auto" in generic.RECIPES
    assert list(tmp_path.iterdir()) == []


def test_list_of_one_recipe_shows_only_it_with_its_own_log_target():
    rc, out, _ = run_cli("run", "house_prices", "--list", "--recipe", "baseline")
    assert rc == 0
    sections = _sections(out)
    assert list(sections) == ["baseline", "run settings"]
    assert _row(sections["run settings"], "log_target")[0].split()[:2] == ["log_target", "false"]


def test_list_of_an_unknown_recipe_is_one_error_with_the_closest_name():
    line = assert_user_error(*run_cli("run", "cifar10", "--list", "--recipe", "fsat")[::2])
    assert "unknown recipe 'fsat' for cifar10; did you mean 'fast'?" in line
    line = assert_user_error(*run_cli("run", "tabular", "--list", "--recipe", "lineer")[::2])
    assert "unknown recipe 'lineer' for tabular; did you mean 'linear'?" in line


def test_shown_is_what_one_types_after_set():
    assert [settings.shown(v) for v in (True, None, [256, 128], "", "resnet18", 0.0005, 3)] == \
        ["true", "null", "[256, 128]", "''", "resnet18", "0.0005", "3"]


# --- every setting says what it is ----------------------------------------------------------------------------
def test_every_setting_of_every_recipe_and_every_run_setting_has_its_one_line():
    for name, recipes in _sources():
        for recipe in recipes.values():
            for key in {**recipe.feature_params, **recipe.model_params}:
                doc = recipe.ranges[key].doc
                assert doc and "\n" not in doc, (name, recipe.name, key, doc)
                assert doc.endswith("...") or not doc.endswith("."), doc  # a line, not a sentence
    for key in RUN_SETTINGS:
        assert RUN_RANGES[key].doc, key


def test_with_doc_is_a_copy_and_leaves_the_shared_declaration_alone():
    shared = Range(low=1, high=100, integer=True)
    epochs = shared.with_doc("passes over the data")
    assert epochs.doc == "passes over the data" and shared.doc == ""
    assert epochs.problem(0) == shared.problem(0) and epochs.describe() == shared.describe()
    assert epochs == shared  # a doc does not change what a range accepts
    assert Range(low=1, high=100, integer=True, doc="x") == shared == count(100)
    assert Choice("a", "b", doc="letters").doc == "letters"


# --- did you mean -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, closest", [("house_price", "house_prices"), ("Cifar-10x", "cifar10"),
                                            ("house-prices-advanced-regression", "house_prices"),
                                            ("tabluar", "tabular")])
def test_an_unknown_competition_names_the_closest(typed, closest):
    with pytest.raises(UserError) as info:
        competitions.get(typed)
    message = str(info.value)
    assert f"unknown competition {typed!r}; did you mean {closest!r}?" in message and "\n" not in message
    assert "choose one of" in message


def test_an_unknown_competition_far_from_any_is_told_the_choices_only():
    with pytest.raises(UserError) as info:
        competitions.get("zzzz")
    assert "did you mean" not in str(info.value) and "choose one of" in str(info.value)


def test_run_of_an_unknown_competition_is_one_line_with_the_closest():
    line = assert_user_error(*run_cli("run", "cowboy", "--list")[::2])
    assert "did you mean 'cowboy_outfits'?" in line


@pytest.mark.parametrize("typed, closest", [("gmb", "gbm"), ("GBM", "gbm"), ("baseline-mlp", "baseline_mlp"),
                                            ("automl2", "automl")])
def test_an_unknown_recipe_names_the_closest(typed, closest):
    with pytest.raises(UserError) as info:
        competitions.get("house_prices").recipe(typed)
    message = str(info.value)
    assert message.startswith(f"unknown recipe {typed!r} for house_prices; did you mean {closest!r}? choose one of")


def test_an_unknown_set_key_names_the_closest_and_where_to_list_them():
    recipe = competitions.get("house_prices").recipe("gbm")
    with pytest.raises(UserError) as info:
        resolve(recipe, parse_sets(["learnig_rate=0.1"]), competition="house_prices")
    message = str(info.value)
    assert message.startswith("--set learnig_rate: recipe 'gbm' has no such key; did you mean 'learning_rate'? "
                              "known keys: [")
    assert message.endswith("(`python scripts/run.py house_prices --list` says what each is).")
    with pytest.raises(UserError, match="did you mean 'clean_train'"):  # a run setting too
        resolve(recipe, {"clean_trian": False})
    with pytest.raises(UserError) as info:
        resolve(recipe, {"qqq": 1})
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("competition, recipe, pair, fragment", [
    ("house_prices", "linear", "kind=lasoo", "kind must be one of ridge, lasso, elasticnet; did you mean 'lasso'?"),
    ("house_prices", "linear", "kind=Ridge", "did you mean 'ridge'?"),
    ("house_prices", "automl", "presets=best", "did you mean 'best_quality'?"),
    ("cifar10", "fast", "augment=flip_translation", "did you mean 'flip_translate'?"),
    ("cowboy_outfits", "mobile", "tta=hflp", "tta must be one of none, hflip; did you mean 'hflip'?"),
    ("house_prices", "gbm", "fold_average=logit", "did you mean 'logits'?"),
])
def test_a_bad_choice_names_the_closest_option_in_one_line(competition, recipe, pair, fragment):
    with pytest.raises(UserError) as info:
        resolve(competitions.get(competition).recipe(recipe), parse_sets([pair]), competition=competition)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert message.endswith(f"(recipe {recipe!r} of {competition}).")


def test_a_bad_choice_far_from_any_option_names_the_options_only():
    assert Choice("ridge", "lasso").problem("xgboost") == "must be one of ridge, lasso"
    assert Choice(None, True, False).problem(3) == "must be one of null, true, false"


def test_run_with_a_mistyped_choice_is_one_error_line(tmp_path):
    line = assert_user_error(*run_cli("run", "house_prices", "--data", tmp_path, "--recipe", "linear",
                                      "--set", "kind=elasticnett", "--out", tmp_path / "runs")[::2])
    assert "did you mean 'elasticnet'?" in line
