"""House Prices specifics not covered by the engine's CLI tests: the demo holds the real Ames houses,
and an invalid prediction is refused before any submission is written. ``_synthetic_classification``
is shared with the ensemble tests."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.house_prices import demo

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return demo.build(tmp_path_factory.mktemp("small") / "house_prices", size="small")


def test_demo_holds_real_ames_houses(small_demo):
    train = pd.read_csv(small_demo / "train.csv")
    assert train["Neighborhood"].nunique() > 20 and train["SalePrice"].between(10_000, 800_000).all()
    assert set(train["MasVnrType"].dropna()) >= {"BrkFace", "Stone"}


def test_an_untrained_net_on_raw_prices_still_predicts_valid_prices(small_demo, tmp_path):
    # A linear net on raw prices after one tiny step predicts near zero or below, and its own clamp is off: the
    # runner's floor (the smallest training price, for a log metric) keeps every prediction a price.
    proc = cli("scripts/run.py", "house_prices", "--data", small_demo, "--recipe", "baseline", "--folds", "2",
               "--set", "epochs=1", "--set", "lr=0.001", "--set", "clamp_min=0", "--out", tmp_path)
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    lowest = pd.read_csv(small_demo / "train.csv")["SalePrice"].min()
    sub, oof = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(run_dir / "oof.csv")
    assert sub["SalePrice"].min() == pytest.approx(lowest) and oof["prediction"].min() == pytest.approx(lowest)


def _synthetic_classification(folder: Path, n_classes: int) -> Path:
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    labels = np.array(["alpha", "beta", "gamma"])[:n_classes]
    score = x + (colour == "red") * 1.5
    y = labels[np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))]
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    text = [f"a lovely, \"quiet\" place near {c}\nwith {t} trees é" for c, t in zip(colour, rng.integers(0, 10**6, n))]
    df = pd.DataFrame({"row_id": np.arange(n) + 1000, "x": x, "colour": colour, "when": dates.strftime("%Y-%m-%d"),
                       "notes": text, "target": y})
    folder.mkdir(parents=True)
    df.iloc[:300].to_csv(folder / "train.csv", index=False)
    df.iloc[300:].drop(columns="target").to_csv(folder / "test.csv", index=False)
    df.iloc[300:][["row_id"]].assign(target=labels[0]).to_csv(folder / "sample_submission.csv", index=False)
    df.iloc[300:][["row_id", "target"]].to_csv(folder / "solution.csv", index=False)
    return folder
