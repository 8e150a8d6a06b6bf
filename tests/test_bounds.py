"""Sizes and bounds: every whole-number or size-like setting of every recipe and every numeric flag of every script
has an upper bound, checked before anything is built from it; what --set accepts is bounded (length, nesting, no
YAML anchors); what an error prints is bounded (``shared.errors.show``). The cases that once exhausted memory run
under a memory cap and finish in seconds."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, all_recipes, assert_user_error, run_cli, snapshot

import competitions
from shared.config import RUN_RANGES, Either, Items, Range, parse_sets, resolve
from shared.cv import MAX_FOLDS, assign_folds
from shared.errors import SHOWN_CHARS, UserError, show

LINEAR = ["--recipe", "linear", "--folds", "3"]


def _unbounded(declaration, doc: str = "") -> str | None:
    """What in ``declaration`` could ask for unbounded memory or time: a whole number or a number of seconds with
    no upper bound, or a list with no most items; None when nothing."""
    if isinstance(declaration, Range):
        if declaration.high is None and (declaration.integer or "second" in (declaration.doc or doc)):
            return f"{declaration.describe()} has no upper bound"
        return None
    if isinstance(declaration, Items):
        if not isinstance(declaration.most, int):
            return "a list with no most items"
        return _unbounded(declaration.item, declaration.doc)
    if isinstance(declaration, Either):
        return next(filter(None, (_unbounded(a, declaration.doc) for a in declaration.alternatives)), None)
    return None


def test_every_whole_number_size_or_budget_setting_has_an_upper_bound():
    """A future setting cannot forget its bound: every recipe's declarations (competitions, the generic path, auto
    and its members, vision, detection) and the run settings are walked."""
    found = [f"{where}:{recipe.name}:{key}: {problem}"
             for where, recipe in all_recipes() for key, declared in recipe.ranges.items()
             if not isinstance(key, tuple) and (problem := _unbounded(declared))]
    found += [f"run setting {key}: {problem}" for key, declared in RUN_RANGES.items() if (problem := _unbounded(declared))]
    assert not found, "\n".join(found)


def _parsers():
    """(script, its ArgumentParser) for every script: each entry is stopped at parse_args, before it reads anything."""
    import argparse
    import importlib.util

    class Built(Exception):
        pass

    def stop(self, *args, **kwargs):
        raise Built(self)

    scripts = sorted(p for p in (ROOT / "scripts").glob("*.py") if not p.name.startswith("_"))
    if str(ROOT / "scripts") not in sys.path:  # their _bootstrap
        sys.path.insert(0, str(ROOT / "scripts"))
    original, argparse.ArgumentParser.parse_args = argparse.ArgumentParser.parse_args, stop
    try:
        for path in scripts:
            entry = re.search(r"sys\.exit\(main\((\w*)\)\)", path.read_text()).group(1)
            spec = importlib.util.spec_from_file_location(f"bounds_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            with pytest.raises(Built) as built:
                getattr(module, entry)([]) if entry else module.main()
            yield path.name, built.value.args[0]
    finally:
        argparse.ArgumentParser.parse_args = original


def test_every_numeric_flag_of_every_script_has_an_upper_bound():
    unbounded, seen = [], 0
    for script, parser in _parsers():
        for action in parser._actions:
            if action.type in (None, str, Path) or action.choices is not None:
                continue
            seen += 1
            if getattr(action.type, "high", None) is None:
                unbounded.append(f"{script} {action.option_strings}: {getattr(action.type, '__name__', action.type)}")
    assert not unbounded and seen >= 20, unbounded


# ------------------------------------------------------------------------------------------- folds
@pytest.mark.parametrize("argv, message", [
    (["--folds", "1000000000000"], r"--folds: 1000000000000 is out of range: a fold count from 2 to 100"),
    (["--only-folds", " "], r"--only-folds: expected 1 to 100 comma-separated whole numbers like 0,2, got ' '"),
    (["--only-folds", ""], r"--only-folds: expected 1 to 100 comma-separated whole numbers"),  # once: every fold
    (["--only-folds", "0,,1"], r"--only-folds: expected 1 to 100 comma-separated whole numbers"),
    (["--only-folds=-1"], r"--only-folds: -1 is out of range: a fold number from 0 to 99"),
    (["--only-folds", "99999999999999999999999"], r"--only-folds: 99999999999999999999999 is out of range"),
    (["--only-folds", "1,0,1"], r"--only-folds: '1,0,1' names 1 twice; name each once"),
    (["--only-folds", "two"], r"--only-folds: expected a fold number, got 'two'"),
    (["--threads", "1000000000000"], r"--threads: 1000000000000 is out of range: a thread count from 1 to 1024"),
    (["--parallel", "1000000000000"], r"--parallel: 1000000000000 is out of range: run 1 to 1024 at a time"),
    (["--memory", "1e300"], r"--memory: 1e300 is out of range: a positive number of gigabytes, at most 1048576"),
    (["--time-limit", "1e300"], r"--time-limit: 1e300 is out of range: a positive number of seconds, at most 2592000"),
    (["--time-limit", "nan"], r"--time-limit: nan is out of range"),
])
def test_a_flag_out_of_its_bounds_is_one_line_before_anything_is_read(argv, message, tmp_path):
    rc, out, err = run_cli("run", "house_prices", "--data", tmp_path / "absent", *LINEAR, *argv, "--out", tmp_path / "o")
    assert re.search(message, assert_user_error(rc, err)), err
    assert not (tmp_path / "o").exists()


def test_only_folds_beyond_the_run_s_folds_names_the_range(demo_dir, tmp_path):
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *LINEAR, "--only-folds", "0,7", "--out", tmp_path)
    assert "--only-folds [7]: folds run from 0 to 2" in assert_user_error(rc, err)


def test_more_folds_than_groups_is_one_line_and_writes_nothing(demos, tmp_path):
    data = demos("contraception", "tiny")  # 9 training districts
    before = snapshot(data)
    rc, out, err = run_cli("run", "contraception", "--data", data, "--recipe", "gbm", "--folds", "10", "--out", tmp_path)
    assert assert_user_error(rc, err) == ("error: --folds 10: the rows fall into 9 groups, and a group never spans two "
                                          "folds; use --folds 9 or fewer (at least 2).")
    assert snapshot(data) == before and not any(tmp_path.rglob("*.csv"))


@pytest.mark.parametrize("n_rows, n_folds, kwargs, message", [
    (10**6, 10**12, {}, "--folds 1000000000000: the folds must be a whole number from 2 to 100"),
    (50, MAX_FOLDS + 1, {}, "from 2 to 100"),
    (50, 2.5, {}, "--folds 2.5: the folds must be a whole number"),
    (5, 8, {}, "cannot make 8 folds from 5 rows of the training data; use --folds 5 or fewer"),
    (6, 4, {"kind": "group", "groups": list("aabbcc")}, "the rows fall into 3 groups"),
])
def test_fold_counts_are_checked_before_anything_is_built(n_rows, n_folds, kwargs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        assign_folds(n_rows, n_folds, seed=0, **kwargs)


# --------------------------------------------------------------------------------------- --set values
@pytest.mark.parametrize("recipe, pair, message", [
    ("mlp", "hidden=[1000000000000]", "--set hidden=[1000000000000]: hidden must be a list of at most 64 items, "
                                      "each a whole number >= 1 and <= 65_536 (recipe 'mlp' of house_prices)."),
    ("mlp", "hidden=[60000,60000]", "the hidden layers hold at most 2**28 weights between them"),
    ("baseline_mlp", f"hidden={[8] * 65}", "hidden must be a list of at most 64 items"),
    ("gbm", "max_rounds=99999999999999999999999", "--set max_rounds=99999999999999999999999: max_rounds must be a "
                                                   "whole number >= 1 and <= 1_000_000"),
    ("gbm", "max_rounds=1" + "0" * 400, "--set max_rounds=a number of about 400 digits: max_rounds must be"),
    ("linear", "alpha=1" + "0" * 400, "--set alpha=a number of about 400 digits: alpha must be auto or a number > 0"),
    ("linear", "alpha=" + "9" * 5000, "--set alpha=...: 5006 characters, more than the 2000 a setting takes"),
    ("linear", "k" * 300 + "=1", "--set " + "k" * 57 + "...: recipe 'linear' has no such key"),
    ("linear", "time_col=2020", """--set time_col=2020: expected text, and YAML reads 2020 as a number; quote it to """
                                """mean the text: --set time_col='"2020"'."""),
    ("linear", "time_col=2020-01-31", """YAML reads 2020-01-31 as a date; quote it to mean the text: """
                                      """--set time_col='"2020-01-31"'."""),
    ("linear", "time_col=null", "YAML reads null as null; quote it"),
    ("mlp", "hidden=&a [256, *a]", "--set hidden='&a [256, *a]': YAML anchors and aliases (&name, *name) are not "
                                   "accepted in a setting; write the value out in full."),
    ("mlp", "hidden=[[[[1]]]]", "nested more than 3 brackets deep"),
    ("mlp", "time_limit=1e300", "time_limit must be null or a number > 0 and <= 2_592_000"),
])
def test_a_set_value_out_of_bounds_is_one_line_before_the_data_is_read(recipe, pair, message, tmp_path):
    rc, out, err = run_cli("run", "house_prices", "--data", tmp_path / "absent", "--recipe", recipe, "--set", pair,
                           "--out", tmp_path / "o")
    line = assert_user_error(rc, err)
    assert message in line and len(line) < 600, line
    assert not (tmp_path / "o").exists()


def test_a_quoted_number_is_the_text_setting():
    assert parse_sets(['time_col="2020"', "time_col2='2020-01-31'"]) == {"time_col": "2020", "time_col2": "2020-01-31"}
    assert parse_sets(["max_rounds=1_000_000"]) == {"max_rounds": 1_000_000}  # the bounds' spelling in --list


def test_the_largest_values_real_use_asks_for_are_accepted():
    gbm = competitions.get("house_prices").recipe("gbm")
    config = resolve(gbm, parse_sets(["max_rounds=1000000", "early_stopping_rounds=1000000"]))
    assert config["model"]["max_rounds"] == 1_000_000
    mlp = competitions.get("house_prices").recipe("mlp")
    assert resolve(mlp, parse_sets(["hidden=[16384, 16384]"]))["model"]["hidden"] == [16384, 16384]
    fast = competitions.get("cifar10").recipe("fast")
    assert resolve(fast, parse_sets(["img_size=1024", "batch_size=4096", "workers=64"]))["model"]["img_size"] == 1024


def test_list_shows_every_bound():
    rc, out, err = run_cli("run", "house_prices", "--list", "--recipe", "gbm")
    assert rc == 0 and "accepts a whole number >= 1 and <= 1_000_000" in out
    assert max(map(len, out.splitlines())) <= 100


# ------------------------------------------------------------------------------------------- show
def _bomb(levels: int, width: int = 9) -> list:
    value = ["gbm"] * width
    for _ in range(levels):
        value = [value] * width  # the same list again and again, as YAML aliases make it
    return value


def test_show_is_bounded_whatever_it_is_given():
    recursive = [256]
    recursive.append(recursive)
    for value in (_bomb(30), recursive, "x" * 10**7, list(range(10**6)), {"a": _bomb(30)}):
        for setting in (False, True):
            text = show(value, setting=setting)
            assert len(text) <= SHOWN_CHARS and text.endswith("..."), text
    assert show(10**5000) == "a number of about 5000 digits"  # repr would refuse past 4300 digits
    assert show([1, "a", None, True], setting=True) == "[1, 'a', null, true]" and show((1,)) == "(1,)"


def test_an_error_about_a_huge_value_is_short():
    auto = competitions.get("house_prices").recipe("auto")
    with pytest.raises(UserError) as info:
        resolve(auto, {"members": _bomb(30)})  # as a notebook could pass it, past parse_sets
    assert len(str(info.value)) < 600 and "members must be a list of at most 64 items" in str(info.value)


MEMORY_CAP = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
sys.path[:0] = [sys.argv[1] + "/tests", sys.argv[1]]
from conftest import run_cli
import competitions
from shared import runner
from shared.errors import UserError
data, out = sys.argv[2], sys.argv[3]
levels = ", ".join(["&a [gbm, gbm, gbm, gbm, gbm, gbm, gbm, gbm, gbm]"]
                   + [f"&{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)])
results = []
for argv in (["--folds", "1000000000000"], ["--recipe", "auto", "--set", f"members=[{levels}]"],
             ["--recipe", "mlp", "--set", "hidden=&a [256, *a]"]):
    rc, _, err = run_cli("run", "house_prices", "--data", data, *argv, "--out", out)
    results.append([rc, err.strip().splitlines()])
try:
    runner.run(competitions.get("house_prices"), "linear", data, n_folds=10**12, out_root=out)
except UserError as exc:
    results.append([2, [str(exc)]])
print(json.dumps(results))
"""


def test_the_memory_cases_fail_in_seconds_under_a_memory_cap(demo_dir, tmp_path):
    """--folds 10**12 once built set(range(10**12)); a 9-level YAML alias bomb in --set members, expanded for its
    error message, took gigabytes; a self-holding alias a RecursionError. Under 3 GB each is one line at once."""
    proc = subprocess.run([sys.executable, "-c", MEMORY_CAP, str(ROOT), str(demo_dir), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folds, bomb, recursive, api) = json.loads(proc.stdout.strip().splitlines()[-1])
    assert folds[0] == 2 and "--folds: 1000000000000 is out of range" in folds[1][0]
    assert bomb[0] == 2 and bomb[1] == [bomb[1][0]] and "YAML anchors and aliases" in bomb[1][0]
    assert recursive[0] == 2 and "YAML anchors and aliases" in recursive[1][0]
    assert api[0] == 2 and "--folds 1000000000000: the folds must be a whole number from 2 to 100" in api[1][0]
    assert not (tmp_path / "o").exists()


TTA_UNDER_A_CAP = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))  # torch itself maps ~2-3 GB of address space
sys.path[:0] = [sys.argv[1] + "/tests", sys.argv[1]]
from conftest import run_cli
results = []
for tta in ("scale50", ",".join(f"scale1.{i:03d}" for i in range(100))):
    rc, _, err = run_cli("run", "classify_leaves", "--data", sys.argv[2], "--recipe", "baseline", "--folds", "2",
                         "--set", "model=airbench_small", "--set", "epochs=1", "--set", f"tta={tta}", "--out", sys.argv[3])
    results.append([rc, err.strip().splitlines()])
print(json.dumps(results))
"""


def test_a_tta_view_or_view_count_that_would_exhaust_memory_is_one_line_before_training(demos, tmp_path):
    """--set tta=scale50 once trained a fold, then asked for 2.5 GB per test batch (a traceback, a run folder left);
    a hundred scale views meant a hundred passes. Under a memory cap both are one line with the settings, at once."""
    proc = subprocess.run([sys.executable, "-c", TTA_UNDER_A_CAP, str(ROOT), str(demos("classify_leaves")),
                           str(tmp_path / "o")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rc, lines in json.loads(proc.stdout.strip().splitlines()[-1]):
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: --set tta="), lines
        assert "scale<f> for f from 0.25 to 4.0, at most 64 views" in lines[0]
    assert not (tmp_path / "o").exists()
    from shared.vision import tta

    with pytest.raises(UserError, match=r"view 'scale50' resizes by 50.0; a scale view resizes by 0.25 to 4.0"):
        tta.views("scale50")
    with pytest.raises(UserError, match="101 views .* use at most 64"):
        tta.views(",".join(f"scale1.{i:03d}" for i in range(100)))
    assert [name for name, _ in tta.views("scale0.25,scale4,dihedral")][:3] == ["identity", "scale0.25", "scale4"]
