"""Feature importance of table runs (``shared.importance``): each fold's gain and permutation saved in its folder,
the run's importance.csv and importance.png from them (the same for the same seed, for a merge of partial runs and
for a resumed run), shown in report.html; and each fit's and prediction's seconds, which an ``auto`` blend's
members.md lists per member."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli

from shared.importance import Plan, combine
from shared.metrics import get_metric

PERMUTATION = ["--set", "importance=permutation"]


def signal_and_noise(folder: Path, n: int = 300, seed: int = 0) -> Path:
    """A regression competition: the target is 3 x ``strong`` + ``weak`` + 1.5 where ``colour`` is red, plus a
    little noise; ``noise`` is pure noise."""
    rng = np.random.default_rng(seed)
    m = n + 100
    frame = pd.DataFrame({"row": [f"r{i:04d}" for i in range(m)], "strong": rng.normal(size=m),
                          "weak": rng.normal(size=m), "colour": rng.choice(["red", "green", "blue"], m),
                          "noise": rng.normal(size=m)})
    frame["target"] = (3 * frame["strong"] + frame["weak"] + 1.5 * (frame["colour"] == "red")
                       + 0.1 * rng.normal(size=m))
    folder.mkdir(parents=True)
    frame.iloc[:n].to_csv(folder / "train.csv", index=False)
    frame.iloc[n:].drop(columns="target").to_csv(folder / "test.csv", index=False)
    pd.DataFrame({"row": frame["row"].iloc[n:], "target": 0.0}).to_csv(folder / "sample_submission.csv", index=False)
    return folder


def run(data: Path, out: Path, *more, recipe: str = "gbm") -> Path:
    quick = ["--set", "max_rounds=200"] if recipe == "gbm" else []
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row",
                                 "--metric", "rmse", "--recipe", recipe, "--folds", "3", *quick, "--out", out, *more)
    assert rc == 0, stderr[-3000:]
    return Path(last_line(stdout))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return signal_and_noise(tmp_path_factory.mktemp("importance") / "data")


@pytest.fixture(scope="module")
def full(data, tmp_path_factory) -> Path:
    return run(data, tmp_path_factory.mktemp("runs"), *PERMUTATION)


def test_importance_csv_ranks_the_signal_above_the_noise(full):
    table = pd.read_csv(full / "importance.csv")
    assert sorted(table["feature"]) == ["colour", "noise", "strong", "weak"]
    assert list(table.columns[:5]) == ["feature", "gain_mean", "gain_std", "permutation_mean", "permutation_std"]
    assert {f"{m}_fold{k}" for m in ("gain", "permutation") for k in range(3)} <= set(table.columns)
    assert table["feature"].iloc[0] == "strong"  # sorted by the permutation mean, most important first
    rank = table.set_index("feature")
    for measure in ("gain_mean", "permutation_mean"):
        assert rank.loc["noise", measure] < rank.loc["weak", measure] < rank.loc["strong", measure], measure
    assert rank["gain_mean"].sum() == pytest.approx(1.0)  # shares of each fold's total
    assert np.isfinite(table.filter(like="_").to_numpy()).all()
    for k in range(3):  # each fold's own numbers, saved in its folder
        assert (full / f"fold{k}" / "importance.csv").is_file()


def test_importance_is_in_the_report_and_the_metrics(full):
    page = (full / "report.html").read_text()
    assert '<img src="importance.png"' in page and "Feature importance" in page and 'href="importance.csv"' in page
    assert page.count('src="importance.png"') == 1  # in its own section, not again under Pictures
    assert (full / "importance.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((full / "metrics.json").read_text())
    for key in ("fit_times_s", "predict_times_s", "importance_times_s"):
        assert sorted(metrics[key]) == ["0", "1", "2"] and all(v >= 0 for v in metrics[key].values()), key
    assert "fit (s)" in page and "predict (s)" in page
    assert "importance (permutation and gain):" in (full / "log.txt").read_text()


def test_importance_is_the_same_for_the_same_seed(data, full, tmp_path):
    again = run(data, tmp_path, *PERMUTATION)
    assert (again / "importance.csv").read_bytes() == (full / "importance.csv").read_bytes()


def test_a_merge_of_partial_runs_has_the_full_runs_importance(data, full, tmp_path):
    parts = [run(data, tmp_path / "parts", *PERMUTATION, "--only-folds", folds) for folds in ("0", "1,2")]
    assert sorted(pd.read_csv(parts[0] / "importance.csv").filter(like="_fold").columns) == [
        "gain_fold0", "permutation_fold0"]
    rc, stdout, stderr = run_cli("merge", *parts, "--out", tmp_path / "merged")
    assert rc == 0, stderr[-3000:]
    merged = Path(last_line(stdout))
    assert (merged / "importance.csv").read_bytes() == (full / "importance.csv").read_bytes()
    metrics = json.loads((merged / "metrics.json").read_text())
    assert sorted(metrics["fit_times_s"]) == ["0", "1", "2"]


def test_a_resumed_run_keeps_its_finished_folds_importance(data, full, tmp_path):
    import shutil

    copy = Path(shutil.copytree(full, tmp_path / "runs" / full.parent.name / full.name))
    for name in ("metrics.json", "importance.csv", "fold2/predictions.npz", "fold2/importance.csv"):
        (copy / name).unlink()  # interrupted during fold 2
    rc, stdout, stderr = run_cli("run", "tabular", "--resume", copy)
    assert rc == 0, stderr[-3000:]
    assert (copy / "importance.csv").read_bytes() == (full / "importance.csv").read_bytes()


def test_gain_only_is_the_default_and_none_writes_nothing(data, tmp_path):
    gain = run(data, tmp_path / "gain")
    table = pd.read_csv(gain / "importance.csv")
    assert "permutation_mean" not in table and table["feature"].iloc[0] == "strong"
    assert "importance_times_s" in json.loads((gain / "metrics.json").read_text())
    none = run(data, tmp_path / "none", "--set", "importance=none")
    assert not (none / "importance.csv").exists() and not (none / "fold0" / "importance.csv").exists()
    assert (none / "submission.csv").read_bytes() == (gain / "submission.csv").read_bytes()  # the same models


class FirstColumnModel:
    """Predicts from column ``a`` alone: it cannot see ``b``."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return 2.0 * X["a"].to_numpy(float)


def test_permutation_of_a_column_the_model_cannot_see_is_zero():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50),
                      "c": pd.Categorical(rng.choice(["x", "y"], 50))})
    y = 2.0 * X["a"].to_numpy()
    plan = Plan("permutation", repeats=3, columns=10, rows=40, metric=get_metric("rmse"), y=y, seed=0)
    table = plan.of_fold(FirstColumnModel(), X, np.arange(50), FirstColumnModel().predict, fold=0)
    values = table.set_index("feature")["permutation"]
    assert values["b"] == 0.0 and values["c"] == 0.0 and values["a"] > 0
    assert "gain" not in table  # a model without gain_importance has no gain column
    again = plan.of_fold(FirstColumnModel(), X, np.arange(50), FirstColumnModel().predict, fold=0)
    assert again.equals(table)


def test_the_linear_models_gain_is_per_input_column(data, tmp_path):
    linear = run(data, tmp_path, recipe="linear")
    table = pd.read_csv(linear / "importance.csv").set_index("feature")
    assert sorted(table.index) == ["colour", "noise", "strong", "weak"]  # one-hot columns summed per colour
    assert table["gain_mean"].idxmax() == "strong" and table["gain_mean"].idxmin() == "noise"


def test_combine_says_nothing_without_fold_tables(tmp_path):
    assert combine(tmp_path, [0, 1]) is None


def test_auto_members_md_has_each_members_times_and_top_features(tmp_path):
    data = signal_and_noise(tmp_path / "data")
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row",
                                 "--metric", "rmse", "--folds", "3", "--set", "members=[linear, extra_trees]",
                                 "--out", tmp_path / "runs")
    assert rc == 0, stderr[-3000:]
    blend = next(Path(last_line(stdout)).parent.glob("auto-*"))  # the result may be its best member's run
    text = (blend / "members.md").read_text()
    header, _, *rows = text.splitlines()
    assert "fit (s)" in header and "predict (s)" in header and "top features" in header
    metrics = json.loads((blend / "metrics.json").read_text())
    for member in metrics["members"]:
        run_dir = blend.parent / member["run"]
        own = json.loads((run_dir / "metrics.json").read_text())
        assert member["fit_s"] == pytest.approx(sum(own["fit_times_s"].values()))
        assert member["predict_s"] == pytest.approx(sum(own["predict_times_s"].values()))
        assert member["top_features"].split(", ")[0] == "strong"
        assert (run_dir / "importance.csv").is_file()
        row = next(r for r in rows if member["run"] in r)
        assert f"{member['fit_s']:.2f}" in row and "strong" in row
