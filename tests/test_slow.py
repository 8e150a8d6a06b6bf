"""Long runs (`pytest -m slow`): the full-size demo with every fast recipe at 5 folds, and AutoML."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import last_line, run_script

from shared import submission
from shared.metrics import get_metric

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    from competitions.house_prices import demo

    return demo.build(tmp_path_factory.mktemp("full") / "house_prices", size="full")


def test_full_demo_compare_strong_recipes_beat_the_course_baseline(full_demo, tmp_path):
    """~25 s. Reference (competitions.md): the D2L linear net scores ~0.17 log-RMSE at 5-fold CV."""
    rc, stdout, stderr = run_script("compare", "house_prices", "--data", full_demo,
                                    "--recipes", "baseline,linear,gbm", "--out", tmp_path, timeout=600)
    assert rc == 0, stderr
    report = {r["recipe"]: r for r in json.loads((Path(last_line(stdout)) / "compare.json").read_text())}
    assert set(report) == {"baseline", "linear", "gbm"}
    assert 0.12 < report["baseline"]["cv"] < 0.25
    for name in ("linear", "gbm"):
        assert report[name]["cv"] < 0.12 and report[name]["holdout"] < 0.14, name
        assert report[name]["cv"] < report["baseline"]["cv"] and report[name]["holdout"] < report["baseline"]["holdout"]
        assert len(report[name]["folds"]) == 5


def test_automl_runs_on_the_same_folds_and_cleans_up(demo_dir, tmp_path):
    """~45 s: AutoGluon with a 40 s budget split over 2 folds."""
    rc, stdout, stderr = run_script("run", "house_prices", "--data", demo_dir, "--recipe", "automl", "--folds", "2",
                                    "--time-limit", "40", "--out", tmp_path, timeout=600)
    assert rc == 0, stderr
    run_dir = Path(last_line(stdout))
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["cv"] < 0.25 and m["holdout"] is not None
    assert not any(p.is_dir() for p in run_dir.iterdir())  # fold workdirs (saved models) removed
    sub = pd.read_csv(run_dir / "submission.csv")
    submission.validate(sub, pd.read_csv(demo_dir / "sample_submission.csv"), "Id", get_metric("rmsle"))
