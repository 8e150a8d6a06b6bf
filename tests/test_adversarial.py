"""Adversarial validation (train vs test) and the time-ordered split: a planted shift is found and named,
no shift reads as chance, weights favour test-like rows, and the time split validates on later rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli, snapshot

from shared.adversarial import adversarial_validation
from shared.cv import time_holdout
from shared.errors import UserError


def frames(shift: float, n=600, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def make(offset, rows):
        return pd.DataFrame({"area": rng.normal(offset, 1, rows), "rooms": rng.integers(1, 6, rows),
                             "kind": rng.choice(["a", "b", "c"], rows),
                             "note": [f"nice house number {i % 17}, garden and {'pool' if i % 3 else 'view'}"
                                      for i in range(rows)]})
    return make(0.0, n), make(shift, n)


def test_planted_shift_is_found_and_named():
    train, test = frames(shift=1.5)
    report = adversarial_validation(train, test, seed=0)
    assert report.auc > 0.8
    assert report.features.loc[0, "feature"] == "area"
    assert report.features.loc[0, "univariate_auc"] > 0.8
    w = report.weights(len(train), len(test))
    assert w.shape == (len(train),) and abs(w.mean() - 1) < 1e-9
    # test-like rows (large area) get more weight than the rest
    assert w[train["area"] > 1].mean() > 2 * w[train["area"] < -1].mean()


def test_no_shift_reads_as_chance():
    train, test = frames(shift=0.0)
    report = adversarial_validation(train, test, seed=0)
    assert 0.4 < report.auc < 0.6


def test_time_holdout_validates_on_the_latest_rows():
    dates = pd.Series(pd.to_datetime(["2020-01-05", "2020-03-01", None, "2020-02-10", "2020-06-30",
                                      "2020-06-01", "2020-04-15", "2020-05-20", "2020-01-20", "2020-02-28",
                                      "2020-03-30", "2020-05-02"]))
    valid = time_holdout(dates, 0.25)
    assert valid.sum() == 3 and not valid[2]  # the undated row trains
    assert dates[valid].min() > dates[~valid].max()
    with pytest.raises(UserError, match="parse as dates"):
        time_holdout(pd.Series(pd.to_datetime([None] * 20)), 0.2, "Listed On")
    with pytest.raises(UserError, match="between 0 and 1"):
        time_holdout(dates, 1.5)


@pytest.fixture(scope="module")
def chp(demos) -> Path:
    return demos("california_house_prices")


def test_adversarial_script_on_a_competition(chp, tmp_path):
    rc, out, err = run_cli("adversarial", "california_house_prices", "--data", chp, "--weights",
                           "--out", tmp_path)
    assert rc == 0, err[-2000:]
    run_dir = Path(last_line(out))
    report = json.loads((run_dir / "report.json").read_text())
    assert report["dropped"] == ["Listed On"]  # the split's own time column, left out by default
    assert 0.5 <= report["auc"] <= 1 and len(report["top_features"]) == 10
    weights = pd.read_csv(run_dir / "weights.csv")
    assert list(weights.columns) == ["Id", "weight"]
    assert weights["Id"].tolist() == pd.read_csv(chp / "train.csv")["Id"].tolist()  # one weight per training row
    assert abs(weights["weight"].mean() - 1) < 1e-6
    assert (run_dir / "adversarial.png").stat().st_size > 10_000
    # the weights file feeds a run; a file missing an id is refused before anything is written
    rc, out, err = run_cli("run", "california_house_prices", "--data", chp, "--recipe", "linear", "--folds", "2",
                           "--set", f"sample_weight={run_dir / 'weights.csv'}", "--out", tmp_path)
    assert rc == 0, err[-2000:]
    assert "sample weights" in (Path(last_line(out)) / "log.txt").read_text()
    weights.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    before = snapshot(tmp_path / "california_house_prices")
    rc, out, err = run_cli("run", "california_house_prices", "--data", chp, "--recipe", "linear",
                           "--set", f"sample_weight={tmp_path / 'short.csv'}", "--out", tmp_path)
    assert "no weight for training id '0'" in assert_user_error(rc, err)
    assert snapshot(tmp_path / "california_house_prices") == before


def test_adversarial_script_generic_path_and_bad_drop(demo_dir, tmp_path):
    rc, out, err = run_cli("adversarial", "tabular", "--data", demo_dir, "--target", "SalePrice", "--id", "Id",
                           "--metric", "rmsle", "--out", tmp_path)
    assert rc == 0, err[-2000:]
    assert json.loads((Path(last_line(out)) / "report.json").read_text())["auc"] < 0.75  # Kaggle-like random split
    rc, out, err = run_cli("adversarial", "house_prices", "--data", demo_dir, "--drop", "NoSuchColumn",
                           "--out", tmp_path)
    assert "NoSuchColumn" in assert_user_error(rc, err)


def test_recipe_without_sample_weights_says_so(chp, tmp_path):
    rc, out, err = run_cli("run", "california_house_prices", "--data", chp, "--recipe", "baseline",
                           "--set", "sample_weight=adversarial", "--out", tmp_path)
    assert "does not take sample weights" in assert_user_error(rc, err)
