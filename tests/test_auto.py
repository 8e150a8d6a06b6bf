"""The ``auto`` recipe: members as ordinary runs on the same folds, blended nested (its CV never scores rows its
weights were fitted on), within its time budget, deterministic when the budget does not bind; every setting
checked before any work; and its place as the generic path's default."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli, snapshot

from shared import runner
from shared.ensemble import Blender, nested_oof
from shared.metrics import get_metric
from shared.runs import load_run
from shared.tabular import generic

QUICK = ["linear", "knn", "extra_trees"]


def noise_competition(folder: Path, n: int = 300, seed: int = 0, signal: float = 0.0) -> Path:
    """A regression competition whose target is noise (plus ``signal`` times a column): the best CV on noise is
    the target's standard deviation, so a blend that scores better than that has seen the rows it is scored on."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + 100, 6))
    y = signal * X[:, 0] + rng.normal(size=n + 100)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame.insert(0, "row", [f"{i:04d}" for i in range(n + 100)])
    frame["target"] = y
    folder.mkdir(parents=True, exist_ok=True)
    frame.iloc[:n].to_csv(folder / "train.csv", index=False)
    frame.iloc[n:].drop(columns="target").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"row": frame["row"].iloc[n:], "target": 0.0}).to_csv(folder / "sample_submission.csv", index=False)
    frame.iloc[n:][["row", "target"]].to_csv(folder / "solution.csv", index=False)
    return folder


def auto_run(data: Path, out: Path, members=QUICK, time_limit=None, **sets):
    """The blend's folder of an auto run (also where its result is the best member's run)."""
    spec = generic.spec_for(data, "target", "row", "rmse")
    overrides = {"members": list(members), "floor": False, **sets}
    return blend_of(runner.run(spec, "auto", data, n_folds=5, out_root=out, time_limit=time_limit,
                               overrides=overrides))


def blend_of(result: Path) -> Path:
    """The auto run's blend folder: the result itself, or beside the best member's run that is the result."""
    result = Path(result)
    if result.name.startswith("auto-"):
        return result
    blends = sorted(result.parent.glob("auto-*"))
    return blends[-1] if blends else result


def test_auto_is_the_generic_default_and_blends_its_members(tmp_path):
    data = noise_competition(tmp_path / "data", signal=2.0)
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row",
                                 "--metric", "rmse", "--set", f"members={QUICK}", "--set", "floor=false", "--out", tmp_path / "runs")
    assert rc == 0, stderr
    blend = load_run(blend_of(Path(last_line(stdout))))
    assert blend.path.name.startswith("auto-") and blend.config["recipe"] == "auto"
    members = [load_run(Path(p)) for p in blend.config["members"]]
    assert [m.config["recipe"] for m in members] == QUICK
    assert all((m.folds.values == blend.folds.values).all() for m in members)  # the same saved folds
    table = (blend.path / "members.md").read_text()
    for m in members:
        assert m.path.name in table and f"{m.metrics['cv']:.5f}" in table
    assert f"{blend.metrics['cv']:.5f}" in table and "nested CV" in table
    assert sum(blend.config["weights"]) == pytest.approx(1.0)
    assert (blend.path / "submission.csv").is_file() and blend.metrics["holdout"] is not None
    for run in [*members, blend]:  # the pictures drawn beside the next member's fits are all there, and the reports
        pictures = {"fold_scores.png", "oof.png", "residuals.png"} | (
            {"importance.png"} if (run.path / "importance.csv").is_file() else set())
        assert run is blend or run.config["recipe"] == "knn" or "importance.png" in pictures  # knn measures none
        assert pictures <= {p.name for p in run.path.glob("*.png")}, run.path
        assert all(name in (run.path / "report.html").read_text() for name in pictures), run.path


def test_the_auto_blends_cv_is_nested_and_does_not_leak(tmp_path):
    """Its CV is the nested blend of its members' OOF; on a noise target it is no better than the truth, while
    the same blend fitted and scored on all rows would look better."""
    data = noise_competition(tmp_path / "data", n=300)
    blend = load_run(auto_run(data, tmp_path / "runs", members=["linear", "knn", "extra_trees", "mlp"],
                              blend="stack"))
    members = [load_run(Path(p)) for p in blend.config["members"]]
    preds = np.stack([m.oof_in_fold_order() for m in members])
    y = blend.folds.merge(pd.read_csv(data / "train.csv", dtype={"row": str}), on="row")["target"].to_numpy()
    fold_of = blend.folds["fold"].to_numpy()
    rmse = get_metric("rmse")
    args = {"method": "stack", "metric": rmse, "task": "regression"}
    assert blend.metrics["cv"] == pytest.approx(rmse(y, nested_oof(args, preds, y, fold_of)[:, 0]), rel=1e-9)
    leaky = rmse(y, Blender(**args).fit(preds, y).predict(preds)[:, 0])
    assert leaky < blend.metrics["cv"]
    assert blend.metrics["cv"] > 0.98 * float(np.std(y))


class _Clock:
    """The auto recipe's clock in a test: it moves only when told, so the budget's decisions do not depend on how
    fast the machine fits the members."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


OVERHEAD = 0.5  # a run's seconds besides its fits, on the fake clock


def _members_take_their_whole_share(monkeypatch) -> list[tuple[str, float]]:
    """Each member run (a real one) then takes all the time its fits were given on the auto recipe's clock, as one
    that boosts for minutes and stops at its limit does, and ``OVERHEAD`` more (reading, writing); returns the
    (member, seconds given to its fits) list it fills."""
    from shared import auto

    clock, given, real_run = _Clock(), [], runner.run

    def run(spec, recipe_name, *args, time_limit=None, **kwargs):
        path = real_run(spec, recipe_name, *args, time_limit=time_limit, **kwargs)
        if recipe_name != "auto":
            given.append((recipe_name, time_limit))
            clock.now += time_limit + OVERHEAD
        return path

    monkeypatch.setattr(auto, "time", clock)
    monkeypatch.setattr(auto.Budget, "overhead", lambda self: OVERHEAD)
    monkeypatch.setattr(runner, "run", run)
    return given


def test_auto_keeps_to_its_time_budget(tmp_path, monkeypatch):
    """Members that use all the time they are given are given, together, the budget and no more: each its share by
    its expected cost of what the earlier ones left (the cheap linear model at least ``MIN_SECONDS``), its fits that
    share less the run's overhead, so that the run ends within its share."""
    from shared import auto

    given = _members_take_their_whole_share(monkeypatch)
    data = noise_competition(tmp_path / "data", signal=1.0)
    blend = load_run(auto_run(data, tmp_path / "runs", members=["linear", "gbm", "xgboost"], time_limit=14))
    assert [name for name, _ in given] == ["linear", "gbm", "xgboost"]
    assert given[0][1] == auto.MIN_SECONDS  # its share, 14 x 1/13 s less the overhead, is below the floor
    share = (14 - auto.MIN_SECONDS - OVERHEAD) * 6 / 12  # gbm: 6 of the 12 cost units left
    assert given[1][1] == pytest.approx(share - OVERHEAD)
    assert sum(seconds + OVERHEAD for _, seconds in given) <= 14 + 1e-9
    assert len(blend.config["members"]) == 3 and blend.metrics["time_limit_s"] == 14


def test_auto_leaves_out_a_member_its_budget_has_no_time_for(tmp_path, monkeypatch):
    given = _members_take_their_whole_share(monkeypatch)
    data = noise_competition(tmp_path / "data", signal=1.0)
    run = load_run(auto_run(data, tmp_path / "runs", members=["linear", "gbm"], time_limit=6))
    assert given == [("linear", 2.0)]  # 3.5 s left: gbm would get 0.7 s per fold, below MIN_FOLD_SECONDS
    assert run.config["recipe"] == "linear"  # the one member that ran is the result


def test_auto_is_deterministic_when_its_budget_does_not_bind(tmp_path):
    data = noise_competition(tmp_path / "data", signal=1.0)
    a = load_run(auto_run(data, tmp_path / "a", time_limit=300))
    b = load_run(auto_run(data, tmp_path / "b", time_limit=300))
    assert a.metrics["cv"] == b.metrics["cv"] and a.config["weights"] == b.config["weights"]
    assert a.test_pred.equals(b.test_pred)


def test_a_member_setting_goes_to_that_member_only(tmp_path):
    data = noise_competition(tmp_path / "data", signal=1.0)
    blend = load_run(auto_run(data, tmp_path / "runs", members=["linear", "knn"], **{"knn.n_neighbors": 3}))
    linear, knn = (load_run(Path(p)) for p in blend.config["members"])
    assert knn.config["model"]["n_neighbors"] == 3 and "n_neighbors" not in linear.config["model"]


@pytest.mark.parametrize("args, says", [
    (["--set", "members=[linear, nope]"], "['nope'] are not recipes of tabular"),
    (["--set", "members=linear"], "--set members"),
    (["--set", "members=[linear, auto]"], "['auto'] are not recipes of tabular"),
    (["--set", "blend=nope"], "--set blend"),
    (["--set", "floor=maybe"], "--set floor"),
    (["--set", "knn.n_neighbors=0"], "n_neighbors"),
    (["--set", "nope.alpha=1", "--set", "members=[linear]"], "'nope' is not a member"),
    (["--only-folds", "0"], "--only-folds with the auto recipe"),
    (["--time-limit", "0"], "--time-limit"),
    (["--set", "max_rounds=200"], "give it to a member as --set gbm.max_rounds=VALUE"),
])
def test_bad_auto_settings_are_one_line_before_any_work(args, says, tmp_path):
    data = noise_competition(tmp_path / "data")
    out = tmp_path / "runs"
    before = snapshot(tmp_path)
    rc, _, stderr = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row", "--metric", "rmse",
                            "--recipe", "auto", *args, "--out", out)
    assert says in assert_user_error(rc, stderr)
    assert snapshot(tmp_path) == before


def test_house_prices_auto_blends_its_own_recipes(demo_dir, tmp_path):
    import competitions

    spec = competitions.get("house_prices")
    blend = load_run(blend_of(runner.run(spec, "auto", demo_dir, n_folds=3, out_root=tmp_path,
                                         overrides={"members": ["linear", "svr"]})))
    assert [load_run(Path(p)).config["recipe"] for p in blend.config["members"]] == ["linear", "svr"]
    assert json.loads((blend.path / "metrics.json").read_text())["metric"] == "rmsle"


def test_a_member_that_cannot_run_is_left_out_and_the_others_blend(tmp_path):
    from conftest import synthetic_classification

    data = synthetic_classification(tmp_path / "data", 2)
    spec = generic.spec_for(data, "target", "row_id", "auc")
    blend = load_run(blend_of(runner.run(spec, "auto", data, n_folds=3, out_root=tmp_path / "runs",
                                         overrides={"members": ["linear", "svr", "knn"],
                                                    "floor": False})))  # svr: regression only
    assert [load_run(Path(p)).config["recipe"] for p in blend.config["members"]] == ["linear", "knn"]
    assert any("svr failed and is left out: the svr recipe is for regression" in n for n in blend.metrics["auto"])
    assert "svr failed and is left out" in (blend.path / "log.txt").read_text()


def test_members_that_take_no_sample_weights_are_left_out_of_a_weighted_auto(tmp_path):
    data = noise_competition(tmp_path / "data", signal=1.0)
    weights = tmp_path / "weights.csv"
    pd.DataFrame({"row": pd.read_csv(data / "train.csv", dtype={"row": str})["row"], "weight": 1.0}).to_csv(
        weights, index=False)
    blend = load_run(auto_run(data, tmp_path / "runs", members=["linear", "knn", "extra_trees"],
                              sample_weight=str(weights)))
    assert [load_run(Path(p)).config["recipe"] for p in blend.config["members"]] == ["linear", "extra_trees"]
    assert any("knn left out: it does not take sample weights" in n for n in blend.metrics["auto"])
