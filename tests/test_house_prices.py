"""House Prices specifics not covered by the engine's CLI tests: the demo holds the real Ames houses,
and an invalid prediction is refused before any submission is written."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import last_line, run_cli


def test_demo_holds_real_ames_houses(demo_dir):
    train = pd.read_csv(demo_dir / "train.csv")
    assert train["Neighborhood"].nunique() > 20 and train["SalePrice"].between(10_000, 800_000).all()
    assert set(train["MasVnrType"].dropna()) >= {"BrkFace", "Stone"}


def test_an_untrained_net_on_raw_prices_still_predicts_valid_prices(demo_dir, tmp_path):
    # A linear net on raw prices after one tiny step predicts near zero or below, and its own clamp is off: the
    # runner's floor (the smallest training price, for a log metric) keeps every prediction a price.
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, "--recipe", "baseline", "--folds", "2",
                           "--set", "epochs=1", "--set", "lr=0.001", "--set", "clamp_min=0", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    lowest = pd.read_csv(demo_dir / "train.csv")["SalePrice"].min()
    sub, oof = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(run_dir / "oof.csv")
    assert sub["SalePrice"].min() == pytest.approx(lowest) and oof["prediction"].min() == pytest.approx(lowest)
