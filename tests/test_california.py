"""California House Prices through the shared engine: the demo runs end to end with the generic recipes."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from conftest import last_line, run_script

from competitions.california_house_prices.demo import build


def test_gbm_run_on_the_demo_writes_a_valid_submission(tmp_path):
    data = build(tmp_path / "california_house_prices", size="small")
    rc, out, err = run_script("run", "california-house-prices", "--data", data, "--folds", "3",
                              "--set", "max_rounds=200", "--out", tmp_path / "runs")
    assert rc == 0, err[-2000:]
    run_dir = Path(last_line(out))
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["Id", "Sold Price"] and list(sub["Id"]) == list(sample["Id"])
    assert (sub["Sold Price"] > 0).all()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["competition"] == "california_house_prices"
    assert metrics["cv"] < 0.25 and metrics["holdout"] < 0.3  # Listed Price alone carries most of the signal
