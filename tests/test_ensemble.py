"""Blending and merging: each method on synthetic OOF with a known answer, nested CV without leakage,
refusals, and merge of partial runs equal to one full run."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli, snapshot, synthetic_classification

import competitions
from competitions.house_prices import demo
from shared import runner
from shared.ensemble import Blender, nested_oof, not_better
from shared.errors import UserError
from shared.metrics import get_metric, rmse

ROOT = Path(__file__).resolve().parents[1]
RMSE, RMSLE, LOGLOSS = get_metric("rmse"), get_metric("rmsle"), get_metric("logloss")


def blend(run_dirs, method, out, data_dir=None):
    """scripts/ensemble.py's call: the runs' spec blends them."""
    return competitions.of_runs(run_dirs).outputs.ensemble(run_dirs, method, out, data_dir)


def merge(run_dirs, out, data_dir=None):
    return competitions.of_runs(run_dirs).outputs.merge(run_dirs, out, data_dir)


def _members(y, sigmas, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([y + rng.normal(0, s, len(y)) for s in sigmas])[:, :, None]


def test_weights_recover_inverse_variance_blend():
    y = np.random.default_rng(1).normal(0, 1, 20000)
    preds = _members(y, [1.0, 2.0])  # optimum for independent errors: w ∝ 1/σ² -> (0.8, 0.2)
    blender = Blender("weights", RMSE, "regression").fit(preds, y)
    assert np.allclose(blender.weights_, [0.8, 0.2], atol=0.03)
    assert blender.weights_.sum() == pytest.approx(1.0)
    assert rmse(y, blender.predict(preds)[:, 0]) < rmse(y, preds[0, :, 0])


def test_weights_drop_a_useless_member():
    y = np.random.default_rng(2).normal(0, 1, 5000)
    good = _members(y, [0.5])
    noise = np.random.default_rng(3).normal(0, 3, (1, 5000, 1))
    w = Blender("weights", RMSE, "regression").fit(np.concatenate([good, noise]), y).weights_
    assert w[0] > 0.95 and w[1] >= 0


def test_mean_averages_in_log_space_for_rmsle():
    preds = np.array([[[100.0], [1000.0]], [[10000.0], [10.0]]])
    blended = Blender("mean", RMSLE, "regression").fit(preds, np.array([1.0, 1.0])).predict(preds)
    expected = np.expm1((np.log1p(preds[0]) + np.log1p(preds[1])) / 2)
    assert np.allclose(blended, expected)


def test_rank_keeps_the_mean_blend_values_in_rank_order():
    y = np.random.default_rng(4).normal(0, 1, 500)
    preds = _members(y, [0.3, 0.6])
    out = Blender("rank", RMSE, "regression").fit(preds, y).predict(preds)[:, 0]
    mean = preds.mean(axis=0)[:, 0]
    assert np.allclose(np.sort(out), np.sort(mean))  # same values, re-ordered by average rank
    avg_rank = (pd.Series(preds[0, :, 0]).rank() + pd.Series(preds[1, :, 0]).rank()).to_numpy()
    groups = pd.DataFrame({"rank": avg_rank, "out": out}).groupby("rank")["out"].agg(["min", "max"])
    assert (groups["max"].to_numpy()[:-1] <= groups["min"].to_numpy()[1:]).all()  # monotone in average rank


def test_stack_corrects_a_biased_member():
    y = np.random.default_rng(5).normal(10, 1, 4000)
    preds = _members(y, [0.3, 0.3])
    preds[1] = 2 * preds[1]  # a member on the wrong scale: the mean suffers, a level-2 ridge does not
    mean_score = rmse(y, Blender("mean", RMSE, "regression").fit(preds, y).predict(preds)[:, 0])
    stack_score = rmse(y, Blender("stack", RMSE, "regression").fit(preds, y).predict(preds)[:, 0])
    assert stack_score < 0.35 < mean_score


def test_weights_for_class_probabilities_minimise_logloss():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 3000)
    onehot = np.eye(3)[y]
    sharp = 0.7 * onehot + 0.1  # rows sum to 1
    flat = np.full((3000, 3), 1 / 3)
    blender = Blender("weights", LOGLOSS, "classification").fit(np.stack([flat, sharp]), y)
    assert blender.weights_[1] > 0.99
    assert np.allclose(blender.predict(np.stack([flat, sharp])).sum(axis=1), 1)


def test_nested_blend_does_not_leak():
    """Pure-noise members: a stack fitted and scored on the same rows looks better than the truth
    (predicting the mean); the nested blend must not."""
    rng = np.random.default_rng(7)
    n, m = 300, 40
    y = rng.normal(0, 1, n)
    preds = rng.normal(0, 1, (m, n, 1))
    fold_of = np.arange(n) % 5
    args = {"method": "stack", "metric": RMSE, "task": "regression"}
    leaky = rmse(y, Blender(**args).fit(preds, y).predict(preds)[:, 0])
    nested = rmse(y, nested_oof(args, preds, y, fold_of)[:, 0])
    truth = float(np.std(y))  # the best any model can do on noise
    assert leaky < truth < nested + 1e-9 or leaky < truth <= nested * 1.02
    assert nested > leaky


@pytest.fixture(scope="module")
def house_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ens")
    data = demo.build(base / "data", size="small")
    spec = competitions.get("house_prices")
    out = base / "runs"
    fast = {"max_rounds": 200, "learning_rate": 0.05}
    runs = {
        "linear": runner.run(spec, "linear", data, n_folds=3, out_root=out),
        "gbm": runner.run(spec, "gbm", data, n_folds=3, out_root=out, overrides=fast),
        "gbm_part_a": runner.run(spec, "gbm", data, n_folds=3, out_root=out, overrides=fast, only_folds=[0]),
        "gbm_part_b": runner.run(spec, "gbm", data, n_folds=3, out_root=out, overrides=fast, only_folds=[1, 2]),
        "linear_4folds": runner.run(spec, "linear", data, n_folds=4, out_root=out),
        "flat": runner.run(spec, "linear", data, n_folds=3, out_root=out, overrides={"alpha": 1.0}),  # ~ constant
    }
    return data, out, runs


@pytest.mark.parametrize("method", ["mean", "rank", "weights", "stack"])
def test_ensemble_writes_a_complete_run(house_runs, method):
    data, out, runs = house_runs
    run_dir = blend([runs["linear"], runs["gbm"]], method, out)
    for name in ["config.yaml", "folds.csv", "oof.csv", "test_pred.csv", "metrics.json", "submission.csv",
                 "members.md", "fold_scores.png"]:
        assert (run_dir / name).is_file(), name
    import json

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["kind"] == "ensemble" and len(metrics["members"]) == 2 and metrics["holdout"] is not None
    oof = pd.read_csv(run_dir / "oof.csv")
    recomputed = rmse(np.log1p(oof["target"]), np.log1p(oof["prediction"]))
    assert metrics["cv"] == pytest.approx(recomputed)
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(data / "sample_submission.csv")
    assert list(sub["Id"]) == list(sample["Id"]) and (sub["SalePrice"] > 0).all()
    # an ensemble is itself a run: it can be blended again
    again = blend([run_dir, runs["gbm"]], "mean", out)
    assert (again / "submission.csv").is_file()


def test_ensemble_refusals(house_runs, tmp_path):
    data, out, runs = house_runs
    with pytest.raises(UserError, match="folds.csv differs"):
        blend([runs["linear"], runs["linear_4folds"]], "mean", out)
    with pytest.raises(UserError, match="only some folds"):
        blend([runs["linear"], runs["gbm_part_a"]], "mean", out)
    with pytest.raises(UserError, match="at least two"):
        blend([runs["linear"]], "mean", out)
    broken = tmp_path / "no_oof"
    shutil.copytree(runs["gbm"], broken)
    (broken / "oof.csv").unlink()
    with pytest.raises(UserError, match="missing .*oof.csv"):
        blend([runs["linear"], broken], "mean", out)
    other_ids = tmp_path / "other_ids"
    shutil.copytree(runs["gbm"], other_ids)
    pred = pd.read_csv(other_ids / "test_pred.csv")
    pred.loc[0, "Id"] = 999999
    pred.to_csv(other_ids / "test_pred.csv", index=False)
    with pytest.raises(UserError, match="other test ids"):
        blend([runs["linear"], other_ids], "mean", out)
    other_comp = tmp_path / "other_comp"
    shutil.copytree(runs["gbm"], other_comp)
    cfg = (other_comp / "config.yaml").read_text().replace("competition: house_prices", "competition: tabular")
    (other_comp / "config.yaml").write_text(cfg)
    with pytest.raises(UserError, match="one competition only"):
        blend([runs["linear"], other_comp], "mean", out)


def test_merge_of_partial_runs_equals_the_full_run(house_runs):
    data, out, runs = house_runs
    merged = merge([runs["gbm_part_b"], runs["gbm_part_a"]], out)
    for name in ["oof.csv", "test_pred.csv", "submission.csv", "folds.csv"]:
        assert pd.read_csv(merged / name).equals(pd.read_csv(runs["gbm"] / name)), name
    assert np.array_equal(np.load(merged / "test_folds.npy"), np.load(runs["gbm"] / "test_folds.npy"))
    import json

    a, b = (json.loads((d / "metrics.json").read_text()) for d in (merged, runs["gbm"]))
    assert a["cv"] == b["cv"] and a["folds"] == b["folds"] and a["holdout"] == b["holdout"]


def test_merge_refusals(house_runs):
    data, out, runs = house_runs
    with pytest.raises(UserError, match="fold 0 is in both"):
        merge([runs["gbm_part_a"], runs["gbm"]], out)
    with pytest.raises(UserError, match=r"fold\(s\) \[1, 2\] are in none"):
        merge([runs["gbm_part_a"]], out)
    with pytest.raises(UserError, match="differs from"):
        merge([runs["gbm_part_a"], runs["linear"]], out)


def test_ensemble_cli_prints_the_run_dir_last(house_runs):
    data, out, runs = house_runs
    proc = subprocess.run([sys.executable, "scripts/ensemble.py", str(runs["linear"]), str(runs["gbm"]),
                           "--method", "weights", "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (Path(proc.stdout.strip().splitlines()[-1]) / "submission.csv").is_file()
    bad = subprocess.run([sys.executable, "scripts/ensemble.py", str(runs["linear"]), str(runs["linear_4folds"]),
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("error:")


def test_ensemble_of_classification_runs(tmp_path):
    """Probabilities blend like values: the blend's submission holds class names, its CV is nested."""
    data = synthetic_classification(tmp_path / "data", 3)
    from shared.tabular import generic

    spec = generic.spec_for(data, "target", "row_id", "accuracy")
    out = tmp_path / "runs"
    a = runner.run(spec, "gbm", data, n_folds=3, out_root=out, overrides={"max_rounds": 100})
    b = runner.run(spec, "linear", data, n_folds=3, out_root=out)
    for method in ("weights", "stack", "rank"):
        run_dir = blend([a, b], method, out)
        sub = pd.read_csv(run_dir / "submission.csv")
        assert set(sub["target"]) <= {"alpha", "beta", "gamma"}
        oof = pd.read_csv(run_dir / "oof.csv")
        proba = oof[["proba_alpha", "proba_beta", "proba_gamma"]].to_numpy()
        assert np.allclose(proba.sum(axis=1), 1)
        table = (run_dir / "members.md").read_text()
        rows = [line for line in table.splitlines() if line.startswith("|")]
        assert len(rows) == 5 and "nested CV" in table  # header, rule, two members, the blend


# --- what the ensemble reports -----------------------------------------------------------------------

def _json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def _table_rows(text: str, names: list[str]) -> dict[str, list[str]]:
    """The cells of the plain-text member table's rows, by run folder name."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0] in names:
            rows[cells[0]] = cells
    return rows


def test_ensemble_prints_members_weights_and_scores(house_runs, tmp_path):
    data, out, runs = house_runs
    members = [runs["linear"], runs["gbm"]]
    rc, stdout, stderr = run_cli("ensemble", *members, "--method", "weights", "--out", tmp_path)
    assert rc == 0, stderr
    blend_dir = Path(last_line(stdout))
    log = (blend_dir / "log.txt").read_text()  # the log: what stderr showed
    import yaml

    weights = yaml.safe_load((blend_dir / "config.yaml").read_text())["weights"]
    blend = _json(blend_dir / "metrics.json")
    rows = _table_rows(log, [m.name for m in members] + [blend_dir.name])
    assert "CV rmsle" in log and "holdout rmsle" in log and "weight" in log
    for member, weight in zip(members, weights):
        m = _json(member / "metrics.json")
        cells = rows[member.name]
        assert cells[1] == m["recipe"]
        assert cells[2:5] == [f"{m['cv']:.5f}", f"{m['holdout']:.5f}", f"{weight:.5f}"]
    assert rows[blend_dir.name][5:8] == [f"{blend['cv']:.5f}", f"{blend['holdout']:.5f}", "—"]
    assert "(weights, nested CV)" in log
    assert sum(weights) == pytest.approx(1.0)
    # members.md holds the same numbers
    table = (blend_dir / "members.md").read_text()
    for member, weight in zip(members, weights):
        m = _json(member / "metrics.json")
        assert f"| {member.name} | {m['recipe']} | {m['cv']:.5f} | {m['holdout']:.5f} | {weight:.5f} |" in table


def test_ensemble_warns_when_the_blend_is_worse_than_its_best_member(house_runs, tmp_path):
    data, out, runs = house_runs
    good, bad = _json(runs["gbm"] / "metrics.json"), _json(runs["flat"] / "metrics.json")
    assert good["cv"] * 2 < bad["cv"]  # a near-constant model: the mean can only spoil gbm
    rc, stdout, stderr = run_cli("ensemble", runs["gbm"], runs["flat"], "--method", "mean", "--out", tmp_path)
    assert rc == 0, stderr
    blend_dir = Path(last_line(stdout))
    blend = _json(blend_dir / "metrics.json")
    assert blend["cv"] > good["cv"]
    warnings = [line for line in (blend_dir / "log.txt").read_text().splitlines() if "warning:" in line]
    assert len(warnings) == 1
    line = warnings[0]
    assert f"the blend's CV rmsle {blend['cv']:.5f} does not beat its best member {runs['gbm'].name} (gbm) at " \
           f"{good['cv']:.5f}: submit {runs['gbm'].name} alone, or try --method weights, rank, hill, stack or best." in line
    assert line[line.index("warning:"):] in (blend_dir / "members.md").read_text()
    # mean weights are equal, and printed
    assert blend["members"][0]["weight"] == blend["members"][1]["weight"] == 0.5


def test_the_warning_compares_in_the_metric_direction():
    members = [{"run": "a", "recipe": "gbm", "cv": 0.10}, {"run": "b", "recipe": "linear", "cv": 0.20}]
    lower = {"metric": "rmse", "greater_is_better": False}
    assert not_better(members, {**lower, "cv": 0.09}, "mean", ("mean", "weights")) is None
    tie = not_better(members, {**lower, "cv": 0.10}, "mean", ("mean", "weights"))  # a tie does not beat it
    assert tie == ("warning: the blend's CV rmse 0.10000 does not beat its best member a (gbm) at 0.10000: submit a "
                   "alone, or try --method weights.")
    higher = {"metric": "accuracy", "greater_is_better": True}
    assert "best member b (linear) at 0.20000" in not_better(members, {**higher, "cv": 0.15}, "weights", ("weights",))
    assert not_better(members, {**higher, "cv": 0.21}, "weights", ("weights",)) is None


def test_the_same_run_twice_is_refused_and_nothing_is_written(house_runs, tmp_path):
    data, out, runs = house_runs
    run = runs["gbm"]
    (tmp_path / "link").symlink_to(run, target_is_directory=True)
    copy = Path(shutil.copytree(run, tmp_path / "copy"))
    before = {"runs": snapshot(out), "tmp": snapshot(tmp_path)}
    same_folder = [[run, run], [run, run.parent / ".." / run.parent.name / run.name], [run, tmp_path / "link"]]
    for pair in same_folder:
        line = assert_user_error(*run_cli("ensemble", *pair, "--out", tmp_path / "blends")[::2])
        assert "pass each run once" in line, line
    assert f"{run} is passed twice" in assert_user_error(*run_cli("ensemble", run, run, "--out", tmp_path)[::2])
    line = assert_user_error(*run_cli("ensemble", runs["linear"], run, tmp_path / "link", "--out", tmp_path)[::2])
    assert f"{run} and {tmp_path / 'link'} are the same run folder ({run.resolve()})" in line
    line = assert_user_error(*run_cli("ensemble", run, copy, "--method", "weights", "--out", tmp_path)[::2])
    assert f"{copy} and {run} have identical out-of-fold predictions" in line
    assert {"runs": snapshot(out), "tmp": snapshot(tmp_path)} == before


def _fake_detection_dir(folder: Path, oof: np.ndarray) -> Path:
    """The files a detection blend reads first (no data needed to reach the refusals)."""
    import json

    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("competition: cowboy_outfits\nrecipe: frcnn\nid_col: id\ndata_dir: /nowhere\n"
                                        "n_folds: 2\nseed: 42\npredict: valid\noutputs: detection\n")
    (folder / "metrics.json").write_text(json.dumps({"metric": "map", "cv": 0.1, "folds": {"0": 0.1, "1": 0.1}}))
    pd.DataFrame({"id": ["1", "2"], "fold": [0, 1]}).to_csv(folder / "folds.csv", index=False)
    np.save(folder / "oof_table.npy", oof)
    np.save(folder / "test_folds.npy", np.zeros((2, 1, 1, 6)))
    return folder


def test_detection_blend_refuses_the_same_run_twice(tmp_path):
    from shared.detection.blend import ensemble as blend_boxes

    boxes = np.array([[[10, 10, 5, 5, 0.9, 1]], [[np.nan] * 6]])  # padded rows are NaN
    a = _fake_detection_dir(tmp_path / "a", boxes)
    copy = _fake_detection_dir(tmp_path / "copy", boxes.copy())
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="is passed twice: pass each run once"):
        blend_boxes(None, [a, a], tmp_path / "out")
    with pytest.raises(UserError, match="are the same run folder"):
        blend_boxes(None, [a, tmp_path / "copy" / ".." / "a"], tmp_path / "out")
    with pytest.raises(UserError, match="have identical out-of-fold predictions"):
        blend_boxes(None, [a, copy], tmp_path / "out")
    assert snapshot(tmp_path) == before


def test_hill_climbing_weights_independent_members_and_drops_a_useless_one():
    y = np.random.default_rng(8).normal(0, 1, 5000)
    preds = np.concatenate([_members(y, [1.0, 1.0], seed=9), np.random.default_rng(10).normal(0, 3, (1, 5000, 1))])
    blender = Blender("hill", RMSE, "regression").fit(preds, y)
    assert blender.weights_.sum() == pytest.approx(1.0)
    assert blender.weights_[2] < 0.1 and abs(blender.weights_[0] - blender.weights_[1]) <= 0.1  # equal errors: halves
    assert rmse(y, blender.predict(preds)[:, 0]) < min(rmse(y, preds[m, :, 0]) for m in range(2))


def test_hill_climbing_climbs_accuracy_itself():
    """Accuracy is flat in the weights; greedy selection still finds the mix that makes the most right labels."""
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 4000)
    right = lambda p: np.where(rng.random(4000) < p, y, 1 - y)  # noqa: E731 - labels right with probability p
    preds = np.stack([np.eye(2)[right(0.7)] * 0.6 + 0.2 for _ in range(3)])  # three independent 70% members
    accuracy = get_metric("accuracy")
    blender = Blender("hill", accuracy, "classification").fit(preds, y)
    blended = accuracy(y, blender.predict(preds))
    assert blended > max(accuracy(y, preds[m]) for m in range(3)) + 0.05  # a majority vote of three: ~78%


def test_hill_climbing_in_the_metric_s_space_picks_what_climbing_the_metric_itself_picks():
    """A number's members are put into the metric's space once (RMSLE: their logs) and scored there by the metric
    that ranks as it does (the RMSE of the logs), not taken back out at each step: the same weights as climbing RMSLE
    on the predictions themselves."""
    from shared.ensemble import hill_climb

    rng = np.random.default_rng(3)
    y = np.exp(rng.normal(11, 0.4, 400))
    preds = np.stack([np.expm1(np.log1p(y) + rng.normal(bias, sd, 400))[:, None]
                      for bias, sd in [(0.0, 0.1), (0.05, 0.12), (-0.1, 0.2), (0.0, 0.3)]])
    metric = get_metric("rmsle")
    blender = Blender("hill", metric, "regression").fit(preds, y)
    direct = hill_climb(preds, y, metric, blender._combine_weighted)
    assert np.array_equal(blender.weights_, direct)
    assert len(np.unique(direct)) > 1  # a real mix, not the equal start
    assert metric(y, blender.predict(preds)[:, 0]) <= min(metric(y, p[:, 0]) for p in preds)
