"""House Prices end to end through the command line: the demo's exact Kaggle layout, every recipe's
run directory, the local holdout, bad input (one line, exit 2, earlier outputs untouched), the generic
tabular path and compare."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from competitions.house_prices import demo

ROOT = Path(__file__).resolve().parents[1]

KAGGLE_COLUMNS = (
    "Id, MSSubClass, MSZoning, LotFrontage, LotArea, Street, Alley, LotShape, LandContour, Utilities, LotConfig, "
    "LandSlope, Neighborhood, Condition1, Condition2, BldgType, HouseStyle, OverallQual, OverallCond, YearBuilt, "
    "YearRemodAdd, RoofStyle, RoofMatl, Exterior1st, Exterior2nd, MasVnrType, MasVnrArea, ExterQual, ExterCond, "
    "Foundation, BsmtQual, BsmtCond, BsmtExposure, BsmtFinType1, BsmtFinSF1, BsmtFinType2, BsmtFinSF2, BsmtUnfSF, "
    "TotalBsmtSF, Heating, HeatingQC, CentralAir, Electrical, 1stFlrSF, 2ndFlrSF, LowQualFinSF, GrLivArea, "
    "BsmtFullBath, BsmtHalfBath, FullBath, HalfBath, BedroomAbvGr, KitchenAbvGr, KitchenQual, TotRmsAbvGrd, "
    "Functional, Fireplaces, FireplaceQu, GarageType, GarageYrBlt, GarageFinish, GarageCars, GarageArea, GarageQual, "
    "GarageCond, PavedDrive, WoodDeckSF, OpenPorchSF, EnclosedPorch, 3SsnPorch, ScreenPorch, PoolArea, PoolQC, Fence, "
    "MiscFeature, MiscVal, MoSold, YrSold, SaleType, SaleCondition, SalePrice").split(", ")


def cli(*args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def last_line(proc) -> Path:
    return Path(proc.stdout.strip().splitlines()[-1])


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    return demo.build(tmp_path_factory.mktemp("full") / "house_prices", size="full")


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    return demo.build(tmp_path_factory.mktemp("small") / "house_prices", size="small")


@pytest.fixture(scope="module")
def linear_run(small_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    proc = cli("scripts/run.py", "house_prices", "--data", small_demo, "--recipe", "linear", "--folds", "3",
               "--out", out)
    return out, last_line(proc)


def test_demo_has_kaggles_exact_layout(full_demo):
    train, test = pd.read_csv(full_demo / "train.csv"), pd.read_csv(full_demo / "test.csv")
    sample, solution = pd.read_csv(full_demo / "sample_submission.csv"), pd.read_csv(full_demo / "solution.csv")
    assert list(train.columns) == KAGGLE_COLUMNS
    assert list(test.columns) == KAGGLE_COLUMNS[:-1]
    assert list(sample.columns) == ["Id", "SalePrice"]
    assert (len(train), len(test)) == (1460, 1459)
    assert list(train["Id"]) == list(range(1, 1461)) and list(test["Id"]) == list(range(1461, 2920))
    assert list(sample["Id"]) == list(test["Id"]) == list(solution["Id"])
    assert (solution["SalePrice"] > 0).all() and (full_demo / "data_description.txt").is_file()
    raw = (full_demo / "train.csv").read_text().splitlines()[1]
    assert ",NA," in raw and ".0," not in raw  # Kaggle writes missing values as NA and whole numbers bare


def test_demo_holds_real_ames_houses(full_demo):
    train = pd.read_csv(full_demo / "train.csv")
    assert train["Neighborhood"].nunique() > 20 and train["SalePrice"].between(10_000, 800_000).all()
    assert set(train["MasVnrType"].dropna()) >= {"BrkFace", "Stone"}


def test_run_writes_the_whole_run_directory(small_demo, linear_run):
    _, run_dir = linear_run
    for name in ["config.yaml", "folds.csv", "oof.csv", "test_pred.csv", "test_folds.npy", "metrics.json",
                 "submission.csv", "log.txt", "fold_scores.png", "oof.png"]:
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["folds"]) == {"0", "1", "2"} and metrics["complete"]
    assert metrics["cv_mean"] == pytest.approx(np.mean(list(metrics["folds"].values())))
    oof = pd.read_csv(run_dir / "oof.csv")
    assert metrics["cv"] == pytest.approx(np.sqrt(np.mean((np.log1p(oof["prediction"]) - np.log1p(oof["target"])) ** 2)))
    assert 0.05 < metrics["cv"] < 0.3 and 0.05 < metrics["holdout"] < 0.3
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(small_demo / "sample_submission.csv")
    assert list(sub.columns) == ["Id", "SalePrice"] and list(sub["Id"]) == list(sample["Id"])
    assert np.isfinite(sub["SalePrice"]).all() and (sub["SalePrice"] > 0).all()
    assert np.load(run_dir / "test_folds.npy").shape == (3, len(sample), 1)


def test_score_cli_matches_the_runs_holdout(small_demo, linear_run):
    _, run_dir = linear_run
    proc = cli("scripts/score.py", run_dir / "submission.csv", "--solution", small_demo / "solution.csv",
               "--competition", "house_prices")
    holdout = json.loads((run_dir / "metrics.json").read_text())["holdout"]
    assert float(proc.stdout.split()[-1]) == pytest.approx(holdout, abs=1e-6)
    bad = pd.read_csv(run_dir / "submission.csv")
    bad.loc[3, "SalePrice"] = -1
    bad_file = run_dir.parent / "bad.csv"
    bad.to_csv(bad_file, index=False)
    proc = cli("scripts/score.py", bad_file, "--solution", small_demo / "solution.csv", "--competition",
               "house_prices", check=False)
    assert proc.returncode == 2 and "non-positive" in proc.stderr


def test_same_seed_same_scores(small_demo, tmp_path):
    scores = []
    for _ in range(2):
        proc = cli("scripts/run.py", "house_prices", "--data", small_demo, "--folds", "3", "--set", "max_rounds=300",
                   "--out", tmp_path)
        scores.append(json.loads((last_line(proc) / "metrics.json").read_text()))
    assert scores[0]["folds"] == scores[1]["folds"] and scores[0]["holdout"] == scores[1]["holdout"]


def _broken_copies(small_demo: Path, tmp: Path) -> dict[str, list]:
    def copy(name):
        d = tmp / name
        shutil.copytree(small_demo, d)
        return d

    no_test = copy("no_test")
    (no_test / "test.csv").unlink()
    renamed = copy("renamed")
    train = pd.read_csv(renamed / "train.csv")
    train.rename(columns={"SalePrice": "Price"}).to_csv(renamed / "train.csv", index=False)
    other_ids = copy("other_ids")
    sample = pd.read_csv(other_ids / "sample_submission.csv")
    sample.loc[0, "Id"] = 99999
    sample.to_csv(other_ids / "sample_submission.csv", index=False)
    dup = copy("dup_ids")
    train = pd.read_csv(dup / "train.csv")
    train.loc[1, "Id"] = train.loc[0, "Id"]
    train.to_csv(dup / "train.csv", index=False)
    return {
        "missing data folder": (["house_prices", "--data", tmp / "nowhere"], "does not exist"),
        "missing test.csv": (["house_prices", "--data", no_test], "missing file .*test.csv"),
        "renamed target column": (["house_prices", "--data", renamed], "missing column.*SalePrice"),
        "test ids differ from sample": (["house_prices", "--data", other_ids], "test ids in test.csv differ"),
        "duplicated ids": (["house_prices", "--data", dup], "appears more than once"),
        "unknown competition": (["house_pricez", "--data", small_demo], "unknown competition"),
        "unknown recipe": (["house_prices", "--data", small_demo, "--recipe", "xgb"], "unknown recipe 'xgb'"),
        "unknown --set key": (["house_prices", "--data", small_demo, "--set", "depth=3"], "--set depth"),
        "bad --folds": (["house_prices", "--data", small_demo, "--folds", "1"], "at least 2"),
        "generic path without --target": (["tabular", "--data", small_demo, "--id", "Id", "--metric", "rmse"],
                                          "needs --target"),
    }


def test_bad_input_one_line_exit_2_and_earlier_outputs_untouched(small_demo, linear_run, tmp_path):
    out, _ = linear_run
    before = snapshot(out)
    for case, (args, message) in _broken_copies(small_demo, tmp_path).items():
        proc = cli("scripts/run.py", *args, "--out", out, check=False)
        assert proc.returncode == 2, (case, proc.stderr[-2000:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (case, proc.stderr)
        assert pd.Series([lines[0]]).str.contains(message).all(), (case, lines[0])
    assert snapshot(out) == before


def test_non_positive_predictions_are_refused_before_writing(small_demo, tmp_path):
    # A linear net on raw prices that is not clamped can predict below zero: the submission check stops it.
    proc = cli("scripts/run.py", "house_prices", "--data", small_demo, "--recipe", "baseline", "--folds", "2",
               "--set", "epochs=1", "--set", "lr=0.001", "--set", "clamp_min=-1e9", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "must be > 0" in proc.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.rglob("submission.csv"))


def test_generic_tabular_path_on_the_demo(small_demo, tmp_path):
    proc = cli("scripts/run.py", "tabular", "--data", small_demo, "--target", "SalePrice", "--id", "Id",
               "--metric", "rmsle", "--folds", "3", "--set", "max_rounds=300", "--out", tmp_path)
    metrics = json.loads((last_line(proc) / "metrics.json").read_text())
    assert metrics["competition"] == "tabular" and metrics["cv"] < 0.3 and metrics["holdout"] < 0.3


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


@pytest.mark.parametrize("n_classes, metric", [(2, "auc"), (3, "accuracy")])
def test_generic_tabular_classification(tmp_path, n_classes, metric):
    data = _synthetic_classification(tmp_path / "data", n_classes)
    from shared.tabular.features import infer_types

    types = infer_types(pd.read_csv(data / "train.csv").drop(columns=["row_id", "target"]))
    assert types == {"numeric": ["x"], "date": ["when"], "text": ["notes"], "categorical": ["colour"]}
    proc = cli("scripts/run.py", "tabular", "--data", data, "--target", "target", "--id", "row_id", "--metric",
               metric, "--folds", "3", "--set", "max_rounds=200", "--out", tmp_path / "runs")
    run_dir = last_line(proc)
    sub = pd.read_csv(run_dir / "submission.csv")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if metric == "accuracy":
        assert set(sub["target"]) <= {"alpha", "beta", "gamma"} and metrics["cv"] > 0.6
    else:
        assert sub["target"].between(0, 1).all() and metrics["cv"] > 0.8
    assert metrics["holdout"] is not None


def test_compare_writes_table_and_plot(small_demo, tmp_path):
    proc = cli("scripts/compare.py", "house_prices", "--data", small_demo, "--recipes", "linear,baseline",
               "--folds", "3", "--out", tmp_path)
    out = last_line(proc)
    table = (out / "compare.md").read_text()
    assert "| linear |" in table and "| baseline |" in table and "local holdout" in table
    assert (out / "compare.png").stat().st_size > 1000
    assert [row["recipe"] for row in json.loads((out / "compare.json").read_text())] == ["linear", "baseline"]


@pytest.mark.slow
def test_automl_recipe_runs_on_the_same_folds(small_demo, tmp_path):
    proc = cli("scripts/run.py", "house_prices", "--data", small_demo, "--recipe", "automl", "--folds", "2",
               "--time-limit", "40", "--out", tmp_path)
    run_dir = last_line(proc)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["cv"] < 0.3 and metrics["holdout"] < 0.3
    assert not (run_dir / "fold0").exists()  # models removed; predictions kept
