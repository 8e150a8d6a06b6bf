"""How ``auto`` spends its budget, on clocks that move only when told (no test here depends on the machine's speed):
a boosted fit that could not converge in its time boosts faster instead of stopping short; the floor's CV orders the
members, so one left out for time is never the one the CV would have picked first; a blend that does not beat its
best member gives way to it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared import auto, runner
from shared.models import ModelContext
from shared.runs import load_run
from shared.tabular import fitting, generic
from shared.tabular.fitting import MAX_RATE, Pace, faster_schedule
from shared.tabular.models import LGBMModel


def test_a_schedule_that_fits_its_time_is_kept():
    pace = Pace(rate=0.1, rounds=5000, patience=50, fraction=0.15, seconds=60.0)
    assert pace.factor(seconds_per_round=0.001) == 1.0  # 300 + 50 + 353 rounds in 60 s at 1 ms a round


def test_a_schedule_too_slow_for_its_time_learns_faster_in_steps_up_to_the_cap():
    pace = Pace(rate=0.03, rounds=5000, patience=200, fraction=0.15, seconds=10.0)
    factor = pace.factor(seconds_per_round=0.01)  # needs ~2,376 rounds, has time for 800
    assert factor > 1 and np.log2(factor) * 2 == pytest.approx(round(np.log2(factor) * 2))  # a step of sqrt(2)
    rate, rounds, patience = faster_schedule(0.03, 5000, 200, factor)
    assert rate == pytest.approx(0.03 * factor) and rate <= MAX_RATE
    work = (30 / rate) + patience + (30 / rate) / 0.85
    assert work <= 0.8 * 10 / 0.01 + 1e-9  # the faster schedule's rounds fit in the time
    assert Pace(0.03, 5000, 200, 0.15, 1.0).factor(1.0) == pytest.approx(MAX_RATE / 0.03)  # never past the cap
    assert Pace(MAX_RATE, 5000, 200, 0.15, 1.0).factor(1.0) == 1.0


def test_one_fit_of_all_its_rounds_is_paced_by_its_rounds_alone():
    pace = Pace(rate=None, rounds=1000, patience=0, fraction=0.0, seconds=10.0, refit=False)
    assert pace.factor(seconds_per_round=0.008) == 1.0  # 1,000 rounds in 8 of its 10 s
    # 9.5 of its 10 s: all its time is planned for (where it runs short it stops at its limit with most of its trees),
    # not the 80 % a probe and refit plan for
    assert pace.factor(seconds_per_round=0.0095) == 1.0
    # time for 71 % of its rounds (at least ONE_FIT_KEEP): it keeps its rate and stops at its limit; a new start
    # would lose the time spent and learn coarser
    assert pace.factor(seconds_per_round=0.014) == 1.0
    assert pace.factor(seconds_per_round=0.02) == 2.0  # twice too slow: twice the rate, half the rounds
    # judged 2 s into its 10: the rounds shrink to what the 8 s left hold, 20 s of work in 8: 2.5 times
    assert pace.factor(seconds_per_round=0.02, elapsed=2.0) == pytest.approx(2.5)
    assert pace.factor(seconds_per_round=0.02, elapsed=10.0) == 1.0  # its time gone: it keeps what it has
    assert Pace(rate=0.2, rounds=1000, patience=0, fraction=0.0, seconds=1.0, refit=False).factor(1.0) == \
        pytest.approx(MAX_RATE / 0.2)  # a known rate is capped


def test_a_pace_is_judged_on_a_second_of_rounds_not_on_its_first_few(monkeypatch):
    """Ten rounds of a few milliseconds say little (CatBoost on ames: 7 ms a round timed, 4 ms over the fit): a paced
    fit of 10 s times its rounds for a second before it plans. Its first ten rounds here run at a pace that would not
    fit 1,000 rounds in 10 s; over the second they average one that does, and it goes on at its own rate."""
    clock = _Clock()  # reads what the test sets
    monkeypatch.setattr(fitting, "time", clock)
    limit = fitting.TimeLimit(10.0, "catboost", 1000, 1, Pace(None, 1000, 0, 0.0, 10.0, refit=False))
    assert not limit.reached(0)
    for round_number in range(1, 11):  # 15 ms a round: 1,000 rounds would take 15 s
        clock.now = 0.015 * round_number
        assert not limit.reached(round_number)
    assert limit.pace is not None  # not judged yet
    clock.now = 1.0
    assert not limit.reached(200)  # 5 ms a round over the second: 1,000 rounds in 5 s
    assert limit.pace is None and limit.faster == 1.0 and limit.seconds_per_round == pytest.approx(0.005)


class _Ticks:
    """A clock for ``shared.tabular.fitting`` that moves ``step`` seconds each time it is read: every boosting round
    reads it twice, so a round takes 2 x step seconds whatever the machine."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


def _regression(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    return X, (X["a"] * 2 + np.sin(3 * X["b"]) + 0.1 * rng.normal(size=n)).to_numpy()


@pytest.mark.parametrize("pace", [True, False])
def test_a_booster_that_would_stop_early_gets_a_faster_schedule(pace, monkeypatch, tmp_path, log_lines):
    monkeypatch.setattr(fitting, "time", _Ticks(0.05))  # 0.1 s a round, 3 s for the fit: ~30 rounds in all
    X, y = _regression()
    ctx = ModelContext("regression", "rmse", 0, 0, 3.0, tmp_path, 1)
    model = LGBMModel({"learning_rate": 0.03, "linear_base": "none", "pace": pace}, ctx).fit(X, y)
    if pace:
        assert model.learning_rate_ == pytest.approx(MAX_RATE)  # 0.03 would need ~2,400 rounds
        assert any("lightgbm: at learning rate 0.03 it would not converge in its 3.0 s" in s and "learning rate 0.3"
                   in s for s in log_lines), log_lines
    else:
        assert model.learning_rate_ == pytest.approx(0.03)
        assert any("the fit's time limit" in s for s in log_lines), log_lines


@pytest.mark.parametrize("pace", [True, False])
def test_catboost_in_one_fit_learns_faster_rather_than_stopping_short(pace, monkeypatch, tmp_path, log_lines):
    """CatBoost's own way (its learning rate for the data, 1,000 rounds, no early stopping), paced: a fit whose rounds
    would not fit in its time starts again with the rate raised and the rounds cut by the same factor."""
    from shared.tabular.zoo import CATBOOST_PARAMS, CatBoostModel

    X, y = _regression()
    own = CatBoostModel(dict(CATBOOST_PARAMS), ModelContext("regression", "rmse", 0, 0, None, tmp_path, 1)).fit(X, y)
    rate = own.model_.get_all_params()["learning_rate"]
    assert own.best_rounds_ == 1000 and rate != pytest.approx(0.03)  # CatBoost's own rate, not its fixed 0.03
    # 0.01 s a round: 1,000 rounds take 10 s, it has 2.4: time for a quarter of them, less the time spent timing them
    monkeypatch.setattr(fitting, "time", _Ticks(0.005))
    ctx = ModelContext("regression", "rmse", 0, 0, 2.4, tmp_path, 1)
    model = CatBoostModel({**CATBOOST_PARAMS, "pace": pace}, ctx).fit(X, y)
    used = model.model_.get_all_params()["learning_rate"]
    if pace:
        factor = used / rate  # the rate raised and the rounds cut by the same factor, the rounds what the time left holds
        assert 10 / 2.4 < factor <= MAX_RATE / rate and model.best_rounds_ == int(1000 / factor)
        assert any(f"catboost: at learning rate {rate:.3g} it would not converge in its 2.4 s" in s
                   for s in log_lines), log_lines
    else:
        assert used == pytest.approx(rate, rel=1e-6) and model.best_rounds_ < 1000
        assert any("the fit's time limit" in s for s in log_lines), log_lines


def test_catboost_in_one_fit_leaves_its_metric_uncomputed_and_its_model_as_it_was(tmp_path):
    """With a time limit CatBoost calls back every round and, by default, computes its training metric for the call:
    a quarter of a small fit's time. A fit with no metric to watch computes it once, and the model is the same."""
    from shared.tabular.zoo import CATBOOST_PARAMS, CatBoostModel

    X, y = _regression(200)
    params = {**CATBOOST_PARAMS, "max_rounds": 300}
    own = CatBoostModel(params, ModelContext("regression", "rmse", 0, 0, None, tmp_path, 1)).fit(X, y)
    timed = CatBoostModel(params, ModelContext("regression", "rmse", 0, 0, 600.0, tmp_path, 1)).fit(X, y)
    assert timed.model_.get_params()["metric_period"] == 300 and timed.best_rounds_ == 300
    np.testing.assert_array_equal(timed.predict(X), own.predict(X))
    probe = CatBoostModel(params, ModelContext("regression", "rmse", 0, 0, 600.0, tmp_path, 1))
    probe.cats_, probe.threads_ = [], 1
    assert "metric_period" not in probe._estimator(300, True, 0.1, 20).get_params()  # early stopping watches it


def test_without_a_time_limit_nothing_is_paced(tmp_path):
    X, y = _regression()
    ctx = ModelContext("regression", "rmse", 0, 0, None, tmp_path, 1)
    assert LGBMModel({"learning_rate": 0.03, "linear_base": "none"}, ctx).fit(X, y).learning_rate_ == 0.03


def _run_dir(root: Path, name: str, cv: float, greater: bool = False) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"cv": cv, "greater_is_better": greater, "metric": "rmse"}))
    return folder


def test_a_blend_that_does_not_beat_its_best_member_gives_way_to_it(tmp_path, log_lines):
    blend = _run_dir(tmp_path, "auto-1", 1.00)
    (blend / "members.md").write_text("| table |\n")
    done = [("linear", _run_dir(tmp_path, "linear-1", 1.20)), ("gbm", _run_dir(tmp_path, "gbm-1", 0.99))]
    assert auto.best_or_blend(blend, done) == tmp_path / "gbm-1"  # rmse: 0.99 beats the blend's 1.00
    line = "the blend's nested CV rmse 1.00000 does not beat its best member, gbm at 0.99000: the result is gbm's run"
    assert any(line in s for s in log_lines)
    assert line in (blend / "members.md").read_text()
    better = _run_dir(tmp_path, "auto-2", 0.98)
    assert auto.best_or_blend(better, done) == better
    tie = _run_dir(tmp_path, "auto-3", 0.99)
    assert auto.best_or_blend(tie, done) == tmp_path / "gbm-1"  # a tie does not beat it


def step_competition(folder: Path, n: int = 240, seed: int = 0) -> Path:
    """A regression target that is a step of one column: trees find it, lines and neighbours blur it."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n + 60, 5))
    y = np.where(X[:, 0] > 0.1, 3.0, -3.0) * np.where(X[:, 1] > -0.3, 1.0, -1.0) + 0.1 * rng.normal(size=n + 60)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame.insert(0, "row", [f"{i:04d}" for i in range(n + 60)])
    frame["target"] = y
    folder.mkdir(parents=True)
    frame.iloc[:n].to_csv(folder / "train.csv", index=False)
    frame.iloc[n:].drop(columns="target").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"row": frame["row"].iloc[n:], "target": 0.0}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


class _Clock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        import time

        return time.time()


def test_the_member_left_out_for_time_is_never_the_one_the_cv_would_pick_first(tmp_path, monkeypatch):
    """Each library default takes 1 s and each member 10 s on auto's clock: after the floor there is time for one
    or two members of three. The floor's CV ranks the forest first on a step target, so it runs, and the member
    left out is one the CV ranks below it (listed first, linear would have run and the forest been left out)."""
    clock, ran, real_run = _Clock(), [], runner.run

    def run(spec, name, *args, **kwargs):
        path = real_run(spec, name, *args, **kwargs)
        ran.append(name)
        clock.now += 1.0 if name.endswith("_defaults") else 10.0
        return path

    monkeypatch.setattr(auto, "time", clock)
    monkeypatch.setattr(runner, "run", run)
    data = step_competition(tmp_path / "data")
    spec = generic.spec_for(data, "target", "row", "rmse")
    members = ["linear", "knn", "extra_trees"]
    result = auto.drive(spec, spec.recipes["auto"], data, n_folds=3, time_limit=15, out_root=tmp_path / "runs",
                        overrides={"members": members}, by_task=generic.AUTO_MEMBERS, floor=generic.AUTO_FLOOR)
    assert set(ran[:2]) == {"linear_defaults", "extra_trees_defaults"}  # the floor first
    assert ran[2] == "extra_trees"
    left_out = [m for m in members if m not in ran]
    assert left_out  # the budget bound
    everyone = {m: load_run(runner.run(spec, m, data, n_folds=3, out_root=tmp_path / "all")).metrics["cv"]
                for m in members}
    assert min(everyone, key=everyone.get) == "extra_trees"  # rmse: the one the CV picks first ran
    assert all(everyone[m] > everyone["extra_trees"] for m in left_out)
    assert Path(result).is_dir()


def test_a_member_leaves_the_rest_of_its_turn_the_least_each_needs(tmp_path, monkeypatch):
    """Where the budget binds, CatBoost (a family of its own, ranked by LightGBM's floor) does not take all that is
    left: the families after it in the same turn keep the least worth their runs; the next turn's member does not."""
    clock = _Clock()
    monkeypatch.setattr(auto, "time", clock)
    data = step_competition(tmp_path / "data")
    spec = generic.spec_for(data, "target", "row", "rmse")
    budget = auto.Budget(spec, data, 30.0, 0.0, lambda *_, **__: None, (240, 5, 0), n_folds=3, seed=0,
                         out_root=tmp_path, shared_settings={}, per_member={})
    budget.needs = generic.AUTO_FLOOR
    budget.cv = {"lightgbm_defaults": 1.0, "extra_trees_defaults": 1.5, "linear_defaults": 2.0}
    budget.fit_seconds = {"lightgbm_defaults": 1.0, "extra_trees_defaults": 2.0, "linear_defaults": 0.5}
    budget.seconds = {name: fits + 1.0 for name, fits in budget.fit_seconds.items()}  # a run's overhead: 1 s
    ranked = budget.ranked(["linear", "gbm", "catboost", "extra_trees", "xgboost"])
    assert ranked == ["gbm", "catboost", "extra_trees", "linear", "xgboost"]  # turns: one member a family first
    assert budget.need("catboost") == pytest.approx(1.0 + 30 * 1.0)  # overhead + its factor x LightGBM's fits
    kept = budget.least("extra_trees", budget.need("extra_trees")) + budget.least("linear", budget.need("linear"))
    assert budget.least("linear", budget.need("linear")) == budget.need("linear")  # it cannot stop: all of it
    assert budget.share("catboost", ranked[1:]) == pytest.approx(30.0 - kept)  # not xgboost's: the next turn
    assert budget.share("catboost", ["catboost", "xgboost"]) == pytest.approx(30.0)  # no one left in its turn
    # The runs before took a second more than planned: extra_trees (it stops at its share) gives it back, so linear
    # (it cannot stop) still has its whole need and a run's overhead (extra_trees' own may run over the mean);
    # extra_trees' least would have left linear a second short.
    short = budget.least("extra_trees", budget.need("extra_trees")) + budget.need("linear") - 1.0
    clock.now = 30.0 - short
    assert budget.share("extra_trees", ["extra_trees", "linear", "xgboost"]) == pytest.approx(
        short - budget.need("linear") - budget.overhead())
    assert budget.share("extra_trees", ["extra_trees", "linear", "xgboost"]) < budget.least(
        "extra_trees", budget.need("extra_trees"))


def test_a_need_may_differ_by_task(tmp_path):
    """linear's penalty search is one leave-one-out fit for a ridge but 15 logistic fits for classes: its need, from
    the same measured defaults, is larger for a classification target, and a factor without tasks serves every task."""
    numbers = step_competition(tmp_path / "numbers")
    classes = step_competition(tmp_path / "classes")
    frame = pd.read_csv(classes / "train.csv", dtype={"row": str})
    frame["target"] = (frame["target"] > 0).astype(int)
    frame.to_csv(classes / "train.csv", index=False)
    needs = {}
    for task, data, metric in (("regression", numbers, "rmse"), ("binary", classes, "auc")):
        spec = generic.spec_for(data, "target", "row", metric)
        assert spec.task == task
        budget = auto.Budget(spec, data, 30.0, 0.0, lambda *_, **__: None, (240, 5, 0), n_folds=3, seed=0,
                             out_root=tmp_path, shared_settings={}, per_member={})
        budget.needs = generic.AUTO_FLOOR
        budget.fit_seconds = {"linear_defaults": 0.5, "lightgbm_defaults": 1.0}
        budget.seconds = {name: fits + 1.0 for name, fits in budget.fit_seconds.items()}  # overhead: 1 s
        needs[task] = (budget.need("linear"), budget.need("gbm"))
    factors = generic.AUTO_FLOOR["linear"][1]
    assert needs["regression"][0] == pytest.approx(1.0 + factors["regression"] * 0.5)
    assert needs["binary"][0] == pytest.approx(1.0 + factors["binary"] * 0.5) and needs["binary"][0] > needs[
        "regression"][0]
    gbm = generic.AUTO_FLOOR["gbm"][1]  # its 0.03 rate converges in many more rounds on a number than on classes
    assert needs["regression"][1] == pytest.approx(1.0 + gbm["regression"] * 1.0)
    assert needs["binary"][1] == pytest.approx(1.0 + gbm["binary"] * 1.0) and needs["binary"][1] < needs[
        "regression"][1]
    assert budget.need("xgboost") == pytest.approx(1.0 + generic.AUTO_FLOOR["xgboost"][1] * 1.0)  # one for every task


def test_what_is_left_goes_to_a_member_that_boosted_faster_for_want_of_time(tmp_path, monkeypatch):
    """The floor takes 1 s a run on auto's clock and the members none; the budget binds when shares are made (each
    member gets its need), so time is left at the end: the booster, paced in its first run (its fits' own clock
    makes every round cost 0.1 s), runs again with all of it, and the better of its two runs is the one blended."""
    clock, real_run = _Clock(), runner.run

    def run(spec, name, *args, **kwargs):
        path = real_run(spec, name, *args, **kwargs)
        clock.now += 1.0 if name.endswith("_defaults") else 0.0
        return path

    monkeypatch.setattr(auto, "time", clock)
    monkeypatch.setattr(runner, "run", run)
    monkeypatch.setattr(fitting, "time", _Ticks(0.05))
    monkeypatch.setattr(auto.Budget, "need", lambda self, name: 4.0)  # 3 x 4 s: all the 12 s after the floor
    data = step_competition(tmp_path / "data")
    spec = generic.spec_for(data, "target", "row", "rmse")
    result = auto.drive(spec, spec.recipes["auto"], data, n_folds=3, time_limit=14, out_root=tmp_path / "runs",
                        overrides={"members": ["gbm", "knn", "linear"]}, by_task=generic.AUTO_MEMBERS,
                        floor=generic.AUTO_FLOOR, library_defaults={})
    gbm_runs = sorted((tmp_path / "runs" / "data").glob("gbm-*"))
    assert len(gbm_runs) == 2  # its first run, then one with what was left
    blend = load_run(sorted((tmp_path / "runs" / "data").glob("auto-*"))[-1])
    notes = " ".join(blend.metrics["auto"])
    assert "gbm: 12 s left over, run again with them (its first run, with 4 s" in notes
    kept = [p for p in blend.config["members"] if Path(p).name.startswith("gbm-")]
    assert len(kept) == 1  # the better of the two, not both
    cvs = {p: load_run(p).metrics["cv"] for p in gbm_runs}
    assert Path(kept[0]) == min(cvs, key=cvs.get)
    assert Path(result).is_dir()


def test_the_result_is_never_below_its_best_member_or_a_library_default(tmp_path):
    data = step_competition(tmp_path / "data")
    spec = generic.spec_for(data, "target", "row", "rmse")
    result = load_run(runner.run(spec, "auto", data, n_folds=3, out_root=tmp_path / "runs",
                                 overrides={"members": ["linear", "knn", "extra_trees"]}))
    blend = load_run(sorted((tmp_path / "runs" / "data").glob("auto-*"))[-1])
    cvs = {m["recipe"]: m["cv"] for m in blend.metrics["members"]}
    assert {"linear_defaults", "extra_trees_defaults"} <= set(cvs)  # the floor ran, on the same folds
    assert all(result.metrics["cv"] <= cv for cv in cvs.values())  # rmse: at most every member's and default's
    assert "The floor (the libraries' defaults, run first on the same folds): " in (blend.path / "members.md").read_text()


def test_a_costly_best_blend_chooses_on_one_split_then_gives_way_to_hill_climbing(tmp_path, monkeypatch):
    """``best`` (hill-climbing or a stacker, chosen on inner folds) makes ``NESTED_FITS`` times the fits of one on its
    three inner splits; where its probe prices it past ``BLEND_SHARE`` of the budget, auto's blend chooses on one
    split, and where even that is too costly, blends by hill-climbing alone, and says why."""
    from shared import tables
    from shared.ensemble import INNER_REPEATS, NESTED_FITS, nested_seconds

    fits = {"hill": 0.01, "stack": 0.2}
    three, one = NESTED_FITS * 0.21, NESTED_FITS * 0.21 * 11 / 31  # 31 fits a fold on three splits, 11 on one
    assert nested_seconds(fits, "best", 5) == pytest.approx(three)
    assert nested_seconds(fits, "best", 5, repeats=1) == pytest.approx(one)
    assert nested_seconds({"hill": 0.01}, "hill", 5) == pytest.approx(6 * 0.01)  # a fit a fold and one on all rows
    monkeypatch.setattr(tables, "blend_probe", lambda *args: fits)
    notes = []

    def method(budget: float, asked: str = "best"):
        return auto.blend_method(None, [tmp_path] * 3, asked, tmp_path, budget, 5, notes.append)

    assert method(three / auto.BLEND_SHARE + 1.0) == ("best", INNER_REPEATS)
    assert method(three / auto.BLEND_SHARE - 1.0) == ("best", 1)
    assert notes[-1].startswith(f"the blend chooses on one inner split, not 3: a best blend of 3 runs would take "
                                f"about {three:.0f} s by its probe, more than {auto.BLEND_SHARE:.0%} of the budget")
    assert method(one / auto.BLEND_SHARE - 1.0) == ("hill", INNER_REPEATS)
    assert notes[-1].startswith("the blend is by hill-climbing alone")
    assert method(1.0, "stack") == ("stack", INNER_REPEATS)  # not best: as asked


def test_best_on_one_inner_split_is_still_nested_and_scores_each_candidate(tmp_path):
    """``repeats=1``: the blend's choice is scored on one inner split, and the fitted blend predicts as one chosen on
    three does where both choose the same candidate."""
    from shared.ensemble import Blender
    from shared.metrics import get_metric

    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    preds = np.stack([(y + rng.normal(0, s, 300))[:, None] for s in (0.3, 0.5, 0.8)])
    one = Blender("best", get_metric("rmse"), "regression", repeats=1).fit(preds, y)
    three = Blender("best", get_metric("rmse"), "regression").fit(preds, y)
    assert set(one.scores_) == {"hill", "stack"} and one.inner_.repeats == 1
    if one.chosen_ == three.chosen_:
        assert np.allclose(one.predict(preds), three.predict(preds))


def test_the_blend_probe_times_each_candidate_on_the_runs(tmp_path):
    """``tables.blend_probe`` fits each candidate once on finished runs' OOF predictions: hill and the stacker for
    ``best``, the one method otherwise; each a positive number of seconds."""
    from shared import tables

    data = step_competition(tmp_path / "data")
    spec = generic.spec_for(data, "target", "row", "rmse")
    runs = [runner.run(spec, name, data, n_folds=3, out_root=tmp_path / "runs") for name in ("linear", "knn")]
    best = tables.blend_probe(spec, runs, "best", data)
    assert set(best) == {"hill", "stack"} and all(t > 0 for t in best.values())
    assert set(tables.blend_probe(spec, runs, "hill", data)) == {"hill"}


def test_the_floor_that_prices_the_most_members_time_runs_first(tmp_path, monkeypatch):
    """LightGBM's defaults price the boosters (their need is a multiple of its seconds): on many classes they cost
    the most of the floor, and run first, before the cheaper forest and linear defaults could use up the floor's
    part of the budget; without prices, the cheapest first."""
    ran = []

    def fake_run(self, name, share):
        ran.append(name)
        self.fit_seconds[name] = self.seconds[name] = 1.0
        return 1.0

    monkeypatch.setattr(auto.Budget, "_run", fake_run)
    floors = ["linear_defaults", "extra_trees_defaults", "lightgbm_defaults"]
    shape = (1_400, 58, 32)  # the leaves: 32 classes

    spec = generic.spec_for(step_competition(tmp_path / "data"), "target", "row", "rmse")

    def budget():
        return auto.Budget(spec, tmp_path, 1e6, time.monotonic(), lambda *_, **__: None, shape, n_folds=5, seed=0,
                           out_root=tmp_path, shared_settings={}, per_member={})

    costs = {f: auto.estimate(f, shape, 5) for f in floors}
    assert max(costs, key=costs.get) == "lightgbm_defaults"
    budget().floor(floors, {f: 1 for f in floors})
    assert ran == sorted(floors, key=costs.get)  # cheapest first
    ran.clear()
    budget().floor(floors, {f: 1 for f in floors}, {"lightgbm_defaults": 35.0, "linear_defaults": 30.0,
                                                    "extra_trees_defaults": 1.5})
    assert ran[0] == "lightgbm_defaults"
