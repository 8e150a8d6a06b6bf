"""The ``best`` blend: it chooses between hill-climbing and the level-2 stacker by an inner nested
CV on the rows it is given, so that inside the outer nested CV no row is scored by a blend that saw it; and the
stacker's own nesting."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import last_line, run_cli

import competitions
from shared import runner
from shared.ensemble import CANDIDATES, INNER_REPEATS, Blender, inner_folds, nested_oof
from shared.metrics import get_metric

RMSE, LOGLOSS = get_metric("rmse"), get_metric("logloss")


def _regression(seed: int = 0, n: int = 300, m: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 1, n)
    return np.stack([y + rng.normal(0, 0.3 + 0.2 * i, n) for i in range(m)])[:, :, None], y


def _classes(seed: int = 0, n: int = 300, k: int = 3, m: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    preds = rng.dirichlet(np.ones(k), (m, n)) + 0.8 * np.eye(k)[y] * rng.uniform(0, 1, (m, n, 1))
    return preds / preds.sum(axis=2, keepdims=True), y


@pytest.mark.parametrize("method", ["stack", "best"])
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_a_folds_nested_predictions_never_see_its_own_targets(method, task):
    """Other targets on fold 2's rows only: fold 2's nested predictions do not move at all (neither the blend nor,
    for best, its choice saw them); another fold's do (its blend was fitted on fold 2's rows)."""
    preds, y = _regression() if task == "regression" else _classes()
    fold_of = np.arange(len(y)) % 5
    args = {"method": method, "metric": RMSE if task == "regression" else LOGLOSS, "task": task}
    other = y.copy()
    if task == "regression":
        other[fold_of == 2] = 30 - other[fold_of == 2]  # the members now mislead there: a stacker would learn it
    else:
        other[fold_of == 2] = (other[fold_of == 2] + 1) % 3
    before, after = nested_oof(args, preds, y, fold_of), nested_oof(args, preds, other, fold_of)
    assert np.array_equal(before[fold_of == 2], after[fold_of == 2])
    assert not np.allclose(before[fold_of == 0], after[fold_of == 0])


def test_best_chooses_the_stacker_where_a_weighted_mean_cannot_fix_the_members():
    """A member on the wrong scale (2y): no non-negative mix of it and a good member undoes it; a linear stacker
    does."""
    rng = np.random.default_rng(1)
    y = rng.normal(10, 1, 400)
    preds = np.stack([y + rng.normal(0, 0.5, 400), 2 * (y + rng.normal(0, 0.3, 400))])[:, :, None]
    blender = Blender("best", RMSE, "regression").fit(preds, y)
    assert blender.chosen_ == "stack"
    assert list(blender.scores_) == list(CANDIDATES)
    assert blender.scores_["stack"] < 0.8 * blender.scores_["hill"]
    assert blender.member_weights is None  # a stacker's coefficients are no member weights
    stack = Blender("stack", RMSE, "regression").fit(preds, y)
    assert np.array_equal(blender.predict(preds), stack.predict(preds))  # refitted on all the rows


def test_best_chooses_hill_where_the_stacker_overfits():
    """Few rows, three useful members with independent errors (their mean halves the error) among thirty of pure
    noise: the stacker fits noise, hill-climbing finds the average."""
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 60)
    preds = np.concatenate([[y + rng.normal(0, 1, 60) for _ in range(3)], rng.normal(0, 1, (30, 60))])[:, :, None]
    blender = Blender("best", RMSE, "regression").fit(preds, y)
    assert blender.chosen_ == "hill"
    assert blender.scores_["hill"] < blender.scores_["stack"]
    hill = Blender("hill", RMSE, "regression").fit(preds, y)
    assert np.array_equal(blender.member_weights, hill.weights_)


def test_best_takes_the_stacker_only_where_it_is_better_by_more_than_a_standard_error():
    """The one-standard-error rule on the inner folds: a stacker better on every inner fold is taken; one better on
    average by a hair, worse on half the folds, is not (hill, the simpler, is kept); the means alone would take it."""
    rng = np.random.default_rng(0)
    y = rng.normal(10, 1, 300)
    splits = [inner_folds(y, "regression", seed) for seed in range(INNER_REPEATS)]
    simpler = [y + rng.normal(0, 0.5, 300) for _ in splits]
    blender = Blender("best", RMSE, "regression")
    steady = [y + 0.8 * (h - y) for h in simpler]  # its error 0.8 times hill's on every row
    assert blender._clearly_better(steady, simpler, y, splits)
    mixed = []  # on each split, better on folds 0-2 and worse on 3-4, a little better on average
    for h, fold_of in zip(simpler, splits):
        mixed.append(np.where(fold_of < 3, y + 0.9 * (h - y), y + 1.1 * (h - y)))
    assert np.mean([RMSE(y, m) for m in mixed]) < np.mean([RMSE(y, h) for h in simpler])  # the means would take it
    assert not blender._clearly_better(mixed, simpler, y, splits)


def test_best_keeps_a_best_member_alone_through_hill_and_scores_the_candidates_honestly():
    """One member is the target exactly: hill-climbing starts from it and keeps it alone (no mix scores better), so
    ``best`` needs no candidate of its own for the best member; and the stacker's ridge does not reach 0 exactly.
    The chosen candidate's inner CV is the best of them by construction."""
    rng = np.random.default_rng(2)
    y = rng.normal(0, 1, 100)
    preds = np.stack([y, y + rng.normal(0, 1, 100)])[:, :, None]
    blender = Blender("best", RMSE, "regression").fit(preds, y)
    assert list(blender.scores_) == ["hill", "stack"]
    assert blender.chosen_ == "hill" and blender.scores_["hill"] == 0.0 < blender.scores_["stack"]
    assert np.array_equal(blender.member_weights, [1.0, 0.0])
    assert np.array_equal(blender.predict(preds)[:, 0], y)
    preds, y = _regression(3)
    blender = Blender("best", RMSE, "regression").fit(preds, y)
    assert blender.scores_[blender.chosen_] == min(blender.scores_.values())


def test_best_is_deterministic_and_its_inner_folds_follow_the_seed():
    preds, y = _classes(4, n=200)
    fits = [Blender("best", LOGLOSS, "classification", seed=7).fit(preds, y) for _ in range(2)]
    assert fits[0].chosen_ == fits[1].chosen_ and fits[0].scores_ == fits[1].scores_
    assert np.array_equal(fits[0].predict(preds), fits[1].predict(preds))
    folds = inner_folds(y, "classification", seed=7)
    assert np.array_equal(folds, inner_folds(y, "classification", seed=7))
    assert not np.array_equal(folds, inner_folds(y, "classification", seed=8))
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]
    for label in range(3):  # stratified: each class spread evenly over the folds
        counts = np.bincount(folds[y == label], minlength=5)
        assert counts.max() - counts.min() <= 1


def test_best_scores_each_candidate_on_several_inner_splits_and_averages_them():
    """One inner split's luck decided the choice: each candidate's score is its nested CV averaged over
    ``INNER_REPEATS`` splits seeded from the blend's seed on (seed, seed + 1, ...)."""
    preds, y = _regression(3)
    blender = Blender("best", RMSE, "regression", seed=3).fit(preds, y)
    assert INNER_REPEATS >= 2
    for candidate in CANDIDATES:
        args = {"method": candidate, "metric": RMSE, "task": "regression", "seed": 3}
        each = [RMSE(y, nested_oof(args, preds, y, inner_folds(y, "regression", 3 + r))[:, 0])
                for r in range(INNER_REPEATS)]
        assert blender.scores_[candidate] == pytest.approx(np.mean(each))
        if candidate == "stack":  # fitted on other rows in each split, so scored differently
            assert len(set(np.round(each, 12))) == INNER_REPEATS


def test_best_on_few_rows_uses_fewer_inner_folds_or_takes_hill_unscored():
    preds, y = _regression(5, n=12)
    assert sorted(np.unique(inner_folds(y, "regression", 0))) == [0, 1]  # 5 rows a fold at least
    assert set(Blender("best", RMSE, "regression").fit(preds, y).scores_) == set(CANDIDATES)
    few = Blender("best", RMSE, "regression").fit(preds[:, :8], y[:8])
    assert few.chosen_ == "hill" and few.scores_ == {}
    assert few.predict(preds[:, :8]).shape == (8, 1)


def test_the_stacker_predicts_every_class_when_its_rows_lacked_one():
    """A rare class held by one fold's rows only: that fold's stacker never saw it, and still returns a column for
    it (probability 0), so the nested blend has every class's column."""
    preds, y = _classes(6, n=100, k=3)
    fold_of = np.arange(100) % 5
    y[y == 2] = 0
    y[[2, 7]] = 2  # both in fold 2
    out = nested_oof({"method": "stack", "metric": LOGLOSS, "task": "classification"}, preds, y, fold_of)
    assert out.shape == (100, 3) and np.allclose(out.sum(axis=1), 1)
    assert (out[fold_of == 2, 2] == 0).all() and (out[fold_of != 2, 2] > 0).all()


@pytest.fixture(scope="module")
def two_runs(linear_run, demo_dir, tmp_path_factory):
    """The session's linear run and a heavily regularised one of the same folds."""
    spec = competitions.get("house_prices")
    flat = runner.run(spec, "linear", demo_dir, n_folds=3, out_root=tmp_path_factory.mktemp("flat"),
                      overrides={"alpha": 1.0})
    return [linear_run[1], flat]


def test_ensemble_cli_best_names_what_it_chose(two_runs, tmp_path):
    rc, stdout, stderr = run_cli("ensemble", *two_runs, "--method", "best", "--out", tmp_path)
    assert rc == 0, stderr
    blend_dir = Path(last_line(stdout))
    assert blend_dir.name.startswith("ensemble-best-")
    metrics = json.loads((blend_dir / "metrics.json").read_text())
    chose = metrics["chose"]
    assert chose in CANDIDATES and list(metrics["inner_cv"]) == list(CANDIDATES)
    assert len(metrics["chose_by_fold"]) == 3 and set(metrics["chose_by_fold"]) <= set(CANDIDATES)
    config = yaml.safe_load((blend_dir / "config.yaml").read_text())
    assert config["method"] == "best"
    assert config["weights"] is None if chose == "stack" else sum(config["weights"]) == pytest.approx(1.0)
    members = (blend_dir / "members.md").read_text()
    assert f"ensemble (best, chose {chose}, nested CV)" in members
    assert f"best chose {chose} (inner nested CV rmsle: hill " in members
    assert f"best chose {chose}" in (blend_dir / "log.txt").read_text()


def test_the_class_stacker_is_not_thrown_by_a_forests_exact_zeros():
    """A forest-like member (the vote shares of 20 trees, each right 35 % of the time: many exact zeros, some on the
    true class) beside a soft one. On log(p) clipped at 1e-6 the zeros were extreme features: nested log loss 0.269,
    accuracy 0.930 here; on standardised log(p + 0.03) 0.181 and 0.953."""
    rng = np.random.default_rng(0)
    n, k = 400, 8
    y = rng.integers(0, k, n)
    votes = np.zeros((n, k))
    for _ in range(20):
        votes[np.arange(n), np.where(rng.random(n) < 0.35, y, rng.integers(0, k, n))] += 1
    soft = 0.5 * rng.dirichlet(np.ones(k), n) + 0.5 * np.eye(k)[np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))]
    out = nested_oof({"method": "stack", "metric": LOGLOSS, "task": "classification"}, np.stack([votes / 20, soft]),
                     y, np.arange(n) % 5)
    assert LOGLOSS(y, out) < 0.21
    assert (out.argmax(axis=1) == y).mean() > 0.94
