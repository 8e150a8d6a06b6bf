"""compare.py: `--set` reaches every recipe that has the key, and a leaderboard of run folders that exist (ranked
by CV, with the settings that differ, a CV-against-holdout plot), skipping what is not a finished run of the
competition with one note each."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import assert_user_error, last_line, run_cli, snapshot

import competitions
from shared import runner
from shared.compare import differences

PNG = b"\x89PNG\r\n\x1a\n"


def _json(path: Path):
    return json.loads(path.read_text())


def _config(run_dir: Path) -> dict:
    return yaml.safe_load((run_dir / "config.yaml").read_text())


# --- --set ---------------------------------------------------------------------------------------------

def test_set_reaches_every_recipe_that_has_the_key(demo_dir, tmp_path):
    rc, out, err = run_cli("compare", "house_prices", "--data", demo_dir, "--recipes", "linear,gbm", "--folds", "2",
                           "--set", "max_rounds=40", "--set", "alpha=0.001", "--set", "clean_train=false",
                           "--out", tmp_path)
    assert rc == 0, err
    out_dir = Path(last_line(out))
    report = {r["recipe"]: Path(r["run_dir"]) for r in _json(out_dir / "compare.json")}
    gbm, linear = _config(report["gbm"]), _config(report["linear"])
    assert gbm["model"]["max_rounds"] == 40 and "alpha" not in gbm["model"]
    assert linear["model"]["alpha"] == 0.001 and "max_rounds" not in linear["model"]
    assert gbm["clean_train"] is False and linear["clean_train"] is False  # a run setting: every recipe has it
    assert "note: recipe 'linear' has no max_rounds: it runs without that setting." in err
    assert "note: recipe 'gbm' has no alpha: it runs without that setting." in err
    header = (out_dir / "compare.md").read_text().splitlines()[0]
    assert ("Settings: --set max_rounds=40 --set alpha=0.001 --set clean_train=false (linear without max_rounds; "
            "gbm without alpha)") in header


@pytest.mark.parametrize("setting, message", [
    ("max_rounds_typo=3", "--set max_rounds_typo: none of the recipes to compare (linear, gbm) has such a key"),
    ("max_rounds=0", "--set max_rounds=0: max_rounds must be a whole number >= 1 and <= 1_000_000 (recipe 'gbm' of house_prices)"),
], ids=["no recipe has the key", "a value out of range for the second recipe"])
def test_a_bad_set_is_refused_before_any_recipe_runs(demo_dir, tmp_path, setting, message):
    rc, out, err = run_cli("compare", "house_prices", "--data", demo_dir, "--recipes", "linear,gbm", "--folds", "2",
                           "--set", setting, "--out", tmp_path)
    assert message in assert_user_error(rc, err)
    assert out == "" and snapshot(tmp_path) == {}


# --- leaderboard of existing runs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def board(demo_dir, tmp_path_factory):
    """A runs folder as a user's fills up: two linear and two gbm runs, an unfinished one, a partial one and a
    run of another competition."""
    root = tmp_path_factory.mktemp("board") / "runs"
    spec = competitions.get("house_prices")
    fast = {"max_rounds": 60}

    def run(recipe, **overrides):
        return runner.run(spec, recipe, demo_dir, n_folds=3, out_root=root, overrides=overrides)

    runs = {"linear": run("linear"), "linear_alpha": run("linear", alpha=0.005),
            "gbm": run("gbm", **fast), "gbm_fast_rate": run("gbm", **fast, learning_rate=0.1),
            "partial": runner.run(spec, "gbm", demo_dir, n_folds=3, out_root=root, overrides=fast, only_folds=[0])}
    unfinished = root / "house_prices" / "gbm-unfinished"
    unfinished.mkdir()
    shutil.copy(runs["gbm"] / "config.yaml", unfinished / "config.yaml")
    others = []  # runs of other competitions, as a shared runs/ folder holds them
    for competition, copies in (("california_house_prices", 3), ("cifar10", 2)):
        for n in range(copies):
            other = Path(shutil.copytree(runs["linear"], root / competition / f"{runs['linear'].name}-{n}"))
            config = (other / "config.yaml").read_text()
            (other / "config.yaml").write_text(config.replace("competition: house_prices", f"competition: {competition}"))
            others.append(other)
    return root, {**runs, "unfinished": unfinished, "other": others[0], "others": others}


FINISHED = ("linear", "linear_alpha", "gbm", "gbm_fast_rate")


def test_leaderboard_of_a_runs_folder(board, tmp_path):
    root, runs = board
    before = snapshot(root)
    rc, out, err = run_cli("compare", "house_prices", "--from", root, "--out", tmp_path)
    assert rc == 0, err
    out_dir = Path(last_line(out))
    assert out_dir.parent == tmp_path / "house_prices" and out_dir.name.startswith("compare-")
    assert snapshot(root) == before  # nothing written among the runs
    metrics = {name: _json(runs[name] / "metrics.json") for name in FINISHED}
    ranked = sorted(FINISHED, key=lambda name: metrics[name]["cv"])  # rmsle: lower is better
    report = _json(out_dir / "compare.json")
    assert [Path(r["run_dir"]) for r in report] == [runs[name] for name in ranked]
    for r, name in zip(report, ranked):
        for key in ("cv", "cv_mean", "cv_std", "holdout", "wall_time_s", "recipe"):
            assert r[key] == metrics[name][key]
    differs = {name: r["differs"] for r, name in zip(report, ranked)}
    assert differs == {"linear": {}, "linear_alpha": {"alpha": 0.005}, "gbm": {}, "gbm_fast_rate": {"learning_rate": 0.1}}
    shown = {"linear": "—", "linear_alpha": "alpha=0.005", "gbm": "—", "gbm_fast_rate": "learning_rate=0.1"}
    table = (out_dir / "compare.md").read_text()
    for i, name in enumerate(ranked, 1):
        m = metrics[name]
        assert (f"| {i} | {runs[name].name} | {m['recipe']} | {m['cv']:.5f} | {m['cv_mean']:.5f} ± {m['cv_std']:.5f} "
                f"| {m['holdout']:.5f} | {m['wall_time_s']:.1f} s | {shown[name]} |") in table
        assert [f"{i}", runs[name].name, m["recipe"], f"{m['cv']:.5f}"] == _text_row(err, runs[name].name)[:4]
        assert _text_row(err, runs[name].name)[-1] == shown[name].split()[-1]
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 3
    assert f"note: {runs['partial']} skipped: it holds only some folds" in err
    assert f"note: {runs['unfinished']} skipped: unfinished (no metrics.json yet)" in err
    # the runs of other competitions: one line in all, none naming a run (there were 5 lines, one per run)
    assert "note: 5 run(s) of other competitions left out (california_house_prices: 3, cifar10: 2)" in err
    assert not any(str(other) in err for other in runs["others"])
    assert table.count(" skipped: ") == 2 and "- 5 run(s) of other competitions left out" in table
    assert "(7 folder(s) skipped)" in table.splitlines()[0]
    assert (out_dir / "compare.png").read_bytes()[:8] == PNG


def _text_row(text: str, run_name: str) -> list[str]:
    rows = [line.split() for line in text.splitlines() if f" {run_name} " in line]
    assert len(rows) == 1, text
    return rows[0]


def test_leaderboard_of_named_runs_compares_to_the_most_common_then_the_earliest(board, tmp_path):
    root, runs = board
    rc, out, err = run_cli("compare", "house_prices", "--runs", runs["linear_alpha"], runs["linear"],
                           runs["unfinished"], root / "house_prices" / "folds", "--out", tmp_path)
    assert rc == 0, err
    report = {Path(r["run_dir"]): r["differs"] for r in _json(Path(last_line(out)) / "compare.json")}
    assert report == {runs["linear_alpha"]: {}, runs["linear"]: {"alpha": 0.0005}}  # a tie: the first given wins
    assert f"note: {root / 'house_prices' / 'folds'} skipped: not a run folder (no config.yaml)" in err
    assert (Path(last_line(out)) / "compare.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize("args, message", [
    (["--from", "ROOT", "--set", "alpha=1"], "--set alpha=1 is for running recipes; --runs and --from tabulate runs"),
    (["--runs", "ROOT/nowhere"], "--runs ROOT/nowhere: no such folder."),
    (["--runs", "ROOT/california_house_prices"], "no finished run of house_prices in 1 folder(s) given (1 skipped"),
    (["--from", "ROOT/california_house_prices"], "no finished run of house_prices in ROOT/california_house_prices "
                                                 "(3 skipped; 3 run(s) of other competitions left out "
                                                 "(california_house_prices: 3))"),
], ids=["with --set", "missing folder", "no run folder", "no run of the competition"])
def test_leaderboard_refusals_are_one_line(board, tmp_path, args, message):
    root, _ = board
    rc, out, err = run_cli("compare", "house_prices", *[a.replace("ROOT", str(root)) for a in args],
                           "--out", tmp_path)
    assert message.replace("ROOT", str(root)) in assert_user_error(rc, err)
    assert snapshot(tmp_path) == {}


def test_differences_compare_recipe_settings_within_a_recipe_and_run_settings_across_all():
    def config(recipe, seed=42, data="fp1", **model):
        return {"recipe": recipe, "competition": "c", "seed": seed, "model": model, "data_dir": f"/data/{data}",
                "data_fingerprint": {"train": data}, "command": f"run {recipe}", "code_version": recipe}

    configs = [config("gbm", lr=0.1), config("gbm", lr=0.1), config("gbm", lr=0.3),
               config("mlp", lr=0.001),  # another recipe's lr is no difference
               config("mlp", lr=0.001, seed=7, data="fp2")]
    assert differences(configs) == [{}, {}, {"lr": 0.3}, {"code": "mlp"}, {"seed": 7, "data": "/data/fp2", "code": "mlp"}]


def test_differs_names_edited_code_and_another_feature_count(board, tmp_path):
    """A run made from edited code (another feature count, code_version ...-dirty) showed "—" in "differs"."""
    root, runs = board
    edited = Path(shutil.copytree(runs["linear"], tmp_path / "runs" / "house_prices" / "linear-edited"))
    config = _config(edited)
    (edited / "config.yaml").write_text(yaml.safe_dump({**config, "code_version": "544546a-dirty-67d33805"}))
    metrics = _json(edited / "metrics.json")
    columns = metrics.pop("n_features")  # an older run records its feature count in its log only
    (edited / "metrics.json").write_text(json.dumps(metrics))
    log = (edited / "log.txt").read_text()
    assert f"features: {columns} columns" in log
    (edited / "log.txt").write_text(log.replace(f"features: {columns} columns", f"features: {columns + 3} columns"))
    rc, out, err = run_cli("compare", "house_prices", "--runs", runs["linear"], runs["gbm"], edited,
                           "--out", tmp_path / "out")
    assert rc == 0, err
    report = {Path(r["run_dir"]): r["differs"] for r in _json(Path(last_line(out)) / "compare.json")}
    assert report[edited] == {"code": "544546a-dirty-67d33805", "columns": columns + 3}
    assert report[runs["linear"]] == {} and report[runs["gbm"]] == {}  # gbm's own feature count is no difference
    assert f"code=544546a-dirty-67d33805, columns={columns + 3}" in (Path(last_line(out)) / "compare.md").read_text()
