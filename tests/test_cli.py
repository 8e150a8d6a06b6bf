"""End to end through the scripts, as a user runs them: the run directory contract, determinism, scoring, the
generic tabular path, compare, and the one-line error contract through the real interpreter. One run is a real
command (``linear_run``); the others run in-process (``run_cli``)."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import FAST_GBM, FAST_LINEAR, ROOT, assert_user_error, last_line, run_cli, run_script

from shared import submission
from shared.metrics import get_metric, rmsle

PNG = b"\x89PNG\r\n\x1a\n"
RUN_FILES = ["config.yaml", "folds.csv", "oof.csv", "test_pred.csv", "test_folds.npy", "metrics.json",
             "submission.csv", "log.txt", "fold_scores.png", "oof.png"]


# --- the run directory -----------------------------------------------------------------------------

def test_run_prints_an_existing_run_dir_last(linear_run):
    out, run_dir, stdout, _ = linear_run
    assert run_dir.is_dir() and run_dir.parent == out / "house_prices"
    assert run_dir.name.startswith("linear-")
    assert stdout.strip().splitlines() == [str(run_dir)]  # stdout holds only the run path
    for name in RUN_FILES:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    for name in ("fold_scores.png", "oof.png"):
        assert (run_dir / name).read_bytes()[:8] == PNG


def test_run_metrics_json(linear_run, demo_dir):
    _, run_dir, _, _ = linear_run
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["metric"] == "rmsle" and m["greater_is_better"] is False and m["recipe"] == "linear"
    assert set(m["folds"]) == {"0", "1", "2"} and m["complete"] is True
    scores = list(m["folds"].values())
    assert m["cv_mean"] == pytest.approx(np.mean(scores)) and m["cv_std"] == pytest.approx(np.std(scores))
    assert 0.05 < m["cv"] < 0.3 and m["holdout"] is not None and 0.05 < m["holdout"] < 0.4
    # cv is the pooled OOF score, recomputable from oof.csv
    oof = pd.read_csv(run_dir / "oof.csv")
    assert m["cv"] == pytest.approx(rmsle(oof["target"], oof["prediction"]))
    for k, score in m["folds"].items():
        part = oof[oof["fold"] == int(k)]
        assert score == pytest.approx(rmsle(part["target"], part["prediction"]))
    # holdout is the submission scored against the hidden solution
    sub, sol = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(demo_dir / "solution.csv")
    assert m["holdout"] == pytest.approx(submission.score(sub, sol, "Id", get_metric("rmsle")))


def test_run_submission_is_valid_and_in_sample_order(linear_run, demo_dir):
    _, run_dir, _, _ = linear_run
    sub = pd.read_csv(run_dir / "submission.csv")
    sample = pd.read_csv(demo_dir / "sample_submission.csv")
    submission.validate(sub, sample, "Id", get_metric("rmsle"))
    assert sub["Id"].tolist() == sample["Id"].tolist()
    assert (sub["SalePrice"] > 10_000).all() and 100_000 < sub["SalePrice"].median() < 300_000
    # the submission is the fold-averaged test prediction (geometric mean over folds for rmsle)
    folds = np.load(run_dir / "test_folds.npy")
    assert folds.shape == (3, 500, 1)
    expected = np.expm1(np.log1p(folds[:, :, 0]).mean(axis=0))
    assert np.allclose(sub["SalePrice"], expected)
    assert np.allclose(pd.read_csv(run_dir / "test_pred.csv")["prediction"], expected)


def test_run_folds_config_and_log(linear_run, demo_dir):
    out, run_dir, _, _ = linear_run
    folds = pd.read_csv(run_dir / "folds.csv")
    train = pd.read_csv(demo_dir / "train.csv")
    assert list(folds.columns) == ["Id", "fold"] and set(folds["fold"]) == {0, 1, 2}
    assert set(folds["Id"]) <= set(train["Id"])  # clean_train may drop outliers, never adds rows
    cached = list((out / "house_prices" / "folds").glob("folds-kfold-k3-seed42-*.csv"))
    assert len(cached) == 1 and cached[0].read_bytes() == (run_dir / "folds.csv").read_bytes()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["recipe"] == "linear" and config["competition"] == "house_prices"
    assert config["n_folds"] == 3 and config["seed"] == 42 and config["metric"] == "rmsle"
    assert config["log_target"] is True and config["model"]["kind"] == "lasso"
    assert Path(config["data_dir"]) == demo_dir.resolve()
    log = (run_dir / "log.txt").read_text()
    assert "fold 0:" in log and "fold 2:" in log and "CV rmsle" in log and "local holdout" in log


def test_same_seed_gives_identical_results_and_another_seed_other_folds(demo_dir, tmp_path):
    """The same seed in two processes (a command, then this test's own) gives the same bytes."""
    dirs = []
    for name, seed, runner in (("a", 7, run_script), ("b", 7, run_cli), ("c", 8, run_cli)):
        rc, stdout, stderr = runner("run", "house_prices", "--data", demo_dir, *FAST_GBM, "--seed", seed,
                                    "--out", tmp_path / name)
        assert rc == 0, stderr
        dirs.append(Path(last_line(stdout)))
    a, b, c = ([json.loads((d / "metrics.json").read_text()) for d in dirs])
    assert a["cv"] == b["cv"] and a["folds"] == b["folds"] and a["holdout"] == b["holdout"]
    for name in ("oof.csv", "test_pred.csv", "submission.csv", "folds.csv"):
        assert (dirs[0] / name).read_bytes() == (dirs[1] / name).read_bytes(), name
    assert (dirs[0] / "folds.csv").read_bytes() != (dirs[2] / "folds.csv").read_bytes()
    assert a["cv"] != c["cv"]
    assert yaml.safe_load((dirs[0] / "config.yaml").read_text())["model"]["max_rounds"] == 300


def test_resume_keeps_finished_folds_and_redoes_the_rest(linear_run, demo_dir):
    """An interrupted run (here: the last fold's saved predictions and the results removed) resumes from
    its own config: finished folds are read back, not retrained, and the outputs equal the full run's."""
    _, run_dir, _, _ = linear_run
    copy = run_dir.parent / (run_dir.name + "-cut")
    shutil.copytree(run_dir, copy)
    for name in ("metrics.json", "oof.csv", "test_pred.csv", "submission.csv", "test_folds.npy"):
        (copy / name).unlink()
    (copy / "fold2" / "predictions.npz").unlink()
    rc, stdout, stderr = run_cli("run", "house_prices", "--resume", copy)
    assert rc == 0, stderr
    assert last_line(stdout) == str(copy)
    log = (copy / "log.txt").read_text()
    assert "fold 0: kept from" in log and "fold 1: kept from" in log and "fold 2: kept from" not in log
    for name in ("oof.csv", "test_pred.csv", "submission.csv"):
        assert (copy / name).read_bytes() == (run_dir / name).read_bytes(), name
    rc, stdout, stderr = run_cli("run", "house_prices", "--resume", copy)
    assert "already finished" in assert_user_error(rc, stderr)


def test_new_run_dir_never_reuses_a_folder(tmp_path, monkeypatch):
    from shared import runs

    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20260101-000000")
    first = runs.new_run_dir(tmp_path, "comp", "gbm")
    second = runs.new_run_dir(tmp_path, "comp", "gbm")
    assert first.name == "gbm-20260101-000000" and second.name == "gbm-20260101-000000-1"
    assert first.is_dir() and second.is_dir()


def test_new_run_dir_survives_a_concurrent_creation(tmp_path, monkeypatch):
    from shared import runs

    monkeypatch.setattr(runs.time, "strftime", lambda fmt: "20260101-000000")
    (tmp_path / "comp" / "gbm-20260101-000000").mkdir(parents=True)  # made by another process ...
    monkeypatch.setattr(runs.Path, "exists", lambda self: False)  # ... just after this one looked
    path = runs.new_run_dir(tmp_path, "comp", "gbm")
    assert path.name == "gbm-20260101-000000-1"


# --- the error contract ----------------------------------------------------------------------------

# The bad-input matrix of every command is tests/test_bad_inputs.py; the exit codes through the real
# interpreter are checked at the end of this file.

def test_kaggle_slug_is_accepted(linear_run, demo_dir, tmp_path):
    rc, stdout, stderr = run_cli("run", "house-prices-advanced-regression-techniques", "--data", demo_dir,
                                 *FAST_LINEAR, "--out", tmp_path)
    assert rc == 0, stderr
    assert (Path(last_line(stdout)) / "submission.csv").read_bytes() == (
        linear_run[1] / "submission.csv").read_bytes()  # same data, seed and folds: same submission


# --- score.py --------------------------------------------------------------------------------------

def test_score_matches_the_runs_holdout(linear_run, demo_dir):
    _, run_dir, _, _ = linear_run
    rc, stdout, stderr = run_cli("score", run_dir / "submission.csv", "--solution", demo_dir / "solution.csv",
                                    "--competition", "house_prices")
    assert rc == 0, stderr
    name, value = last_line(stdout).split()
    holdout = json.loads((run_dir / "metrics.json").read_text())["holdout"]
    assert name == "rmsle" and float(value) == pytest.approx(holdout, abs=1e-6)


def test_score_with_a_metric_and_a_shuffled_solution(tmp_path):
    pd.DataFrame({"Id": [1, 2, 3], "SalePrice": [1.0, 3.0, 7.0]}).to_csv(tmp_path / "sub.csv", index=False)
    pd.DataFrame({"Id": [3, 2, 1], "SalePrice": [7.0, 7.0, 1.0]}).to_csv(tmp_path / "sol.csv", index=False)
    rc, stdout, stderr = run_cli("score", tmp_path / "sub.csv", "--solution", tmp_path / "sol.csv",
                                    "--metric", "rmsle")
    assert rc == 0, stderr
    # only id 2 errs: log(1+3) - log(1+7) = -log 2, over 3 rows
    assert last_line(stdout) == f"rmsle {math.sqrt(math.log(2) ** 2 / 3):.6f}"


@pytest.mark.parametrize("price", [0.0, -100.0])
def test_score_refuses_a_non_positive_price(linear_run, demo_dir, tmp_path, price):
    _, run_dir, _, _ = linear_run
    sub = pd.read_csv(run_dir / "submission.csv")
    sub.loc[3, "SalePrice"] = price
    sub.to_csv(tmp_path / "sub.csv", index=False)
    rc, stdout, stderr = run_cli("score", tmp_path / "sub.csv", "--solution", demo_dir / "solution.csv",
                                    "--competition", "house_prices")
    line = assert_user_error(rc, stderr)
    assert "non-positive" in line and f"id {sub.loc[3, 'Id']}" in line and stdout == ""


def test_score_refuses_missing_rows_and_files(linear_run, demo_dir, tmp_path):
    _, run_dir, _, _ = linear_run
    pd.read_csv(run_dir / "submission.csv").iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    rc, _, stderr = run_cli("score", tmp_path / "short.csv", "--solution", demo_dir / "solution.csv",
                               "--competition", "house_prices")
    assert "no row for id '1000' of the sample submission" in assert_user_error(rc, stderr)
    rc, _, stderr = run_cli("score", tmp_path / "nope.csv", "--solution", demo_dir / "solution.csv",
                               "--competition", "house_prices")
    assert "missing file" in assert_user_error(rc, stderr)


def test_score_refuses_an_empty_prediction_for_rmse(tmp_path):
    pd.DataFrame({"Id": [1, 2, 3], "y": [1.0, None, 3.0]}).to_csv(tmp_path / "sub.csv", index=False)
    pd.DataFrame({"Id": [1, 2, 3], "y": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "sol.csv", index=False)
    rc, _, stderr = run_cli("score", tmp_path / "sub.csv", "--solution", tmp_path / "sol.csv", "--metric", "rmse")
    assert "empty" in assert_user_error(rc, stderr)


# --- the generic tabular path -----------------------------------------------------------------------

def test_generic_regression_on_the_demo(demo_copy, tmp_path):
    rc, stdout, stderr = run_cli("run", "tabular", "--data", demo_copy, "--target", "SalePrice", "--id", "Id",
                                    "--metric", "rmsle", "--folds", "3", "--recipe", "gbm", "--set", "max_rounds=200",
                                    "--out", tmp_path)
    assert rc == 0, stderr
    run_dir = Path(last_line(stdout))
    assert run_dir.parent == tmp_path / demo_copy.name and run_dir.name.startswith("gbm-")  # runs/<data folder>/
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["competition"] == "tabular" and m["metric"] == "rmsle"
    assert 0.05 < m["cv"] < 0.35 and m["holdout"] is not None
    sample = pd.read_csv(demo_copy / "sample_submission.csv")
    sub = pd.read_csv(run_dir / "submission.csv")
    submission.validate(sub, sample, "Id", get_metric("rmsle"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["task"] == "regression" and config["fold_kind"] == "kfold" and config["model"]["max_rounds"] == 200


def test_generic_path_needs_target_id_and_metric(demo_dir, tmp_path):
    rc, _, stderr = run_cli("run", "tabular", "--data", demo_dir, "--target", "SalePrice", "--out", tmp_path)
    line = assert_user_error(rc, stderr)
    assert "--id" in line and "--metric" in line
    rc, _, stderr = run_cli("run", "tabular", "--data", demo_dir, "--target", "SalePrice", "--id", "Id",
                               "--metric", "mean_squared_wobble", "--out", tmp_path)
    assert "unknown metric 'mean_squared_wobble'" in assert_user_error(rc, stderr)
    rc, _, stderr = run_cli("run", "tabular", "--data", demo_dir, "--target", "Price", "--id", "Id",
                               "--metric", "rmse", "--out", tmp_path)
    assert "missing column(s) ['Price']" in assert_user_error(rc, stderr)
    assert not any(tmp_path.rglob("*.csv"))


def make_classification_csvs(out: Path, kind: str, n_train: int = 240, n_test: int = 90, seed: int = 0) -> Path:
    """Numbers, a category, a date and free text; a binary yes/no or a 3-class string target."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, n)
    color = rng.choice(["red", "green", "blue"], n)
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    words = np.array("the quick brown fox jumps over lazy dog near river bank today".split())
    text = [" ".join(rng.choice(words, rng.integers(4, 12))) + f" item {i}" for i in range(n)]
    score = x1 + 0.3 * x2 + (color == "red") * 1.5
    if kind == "binary":
        y = np.where(score + rng.normal(0, 0.5, n) > np.median(score), "yes", "no")
    else:
        y = np.array(["cat", "dog", "bird"])[np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))]
    df = pd.DataFrame({"row_id": np.arange(1000, 1000 + n), "x1": x1, "x2": x2, "color": color,
                       "listed": dates.strftime("%Y-%m-%d"), "note": text, "label": y})
    out.mkdir(parents=True)
    train, test = df.iloc[:n_train], df.iloc[n_train:]
    train.to_csv(out / "train.csv", index=False)
    test.drop(columns="label").to_csv(out / "test.csv", index=False)
    fill = 0.5 if kind == "binary" else "cat"
    pd.DataFrame({"row_id": test["row_id"], "label": fill}).to_csv(out / "sample_submission.csv", index=False)
    test[["row_id", "label"]].to_csv(out / "solution.csv", index=False)
    return out


def test_generic_binary_auc(tmp_path):
    data = make_classification_csvs(tmp_path / "bin", "binary")
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "label", "--id", "row_id",
                                    "--metric", "auc", "--folds", "3", "--recipe", "gbm", "--set", "max_rounds=200",
                                    "--out", tmp_path / "runs")
    assert rc == 0, stderr
    run_dir = Path(last_line(stdout))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["task"] == "binary" and config["classes"] == ["no", "yes"] and config["fold_kind"] == "stratified"
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["cv"] > 0.8 and m["holdout"] > 0.8  # the signal is strong; chance is 0.5
    oof = pd.read_csv(run_dir / "oof.csv")
    assert list(oof.columns) == ["row_id", "fold", "target", "proba_no", "proba_yes"]
    assert np.allclose(oof["proba_no"] + oof["proba_yes"], 1)
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(data / "sample_submission.csv")
    submission.validate(sub, sample, "row_id", get_metric("auc"))
    assert sub["label"].between(0, 1).all()
    # the submitted value is P(yes), the later class: it ranks the true 'yes' rows high
    assert np.allclose(sub["label"], pd.read_csv(run_dir / "test_pred.csv")["proba_yes"])


def test_generic_multiclass_accuracy_writes_class_names(tmp_path):
    data = make_classification_csvs(tmp_path / "multi", "multiclass")
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "label", "--id", "row_id",
                                    "--metric", "accuracy", "--folds", "3", "--recipe", "gbm", "--set", "max_rounds=200",
                                    "--out", tmp_path / "runs")
    assert rc == 0, stderr
    run_dir = Path(last_line(stdout))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["task"] == "multiclass" and config["classes"] == ["bird", "cat", "dog"]
    sub, sample = pd.read_csv(run_dir / "submission.csv"), pd.read_csv(data / "sample_submission.csv")
    submission.validate(sub, sample, "row_id", get_metric("accuracy"), labels=["bird", "cat", "dog"])
    assert sub["row_id"].tolist() == sample["row_id"].tolist()
    assert set(sub["label"]) <= {"bird", "cat", "dog"} and len(set(sub["label"])) == 3
    # the label is the argmax of the averaged probabilities
    proba = pd.read_csv(run_dir / "test_pred.csv")[["proba_bird", "proba_cat", "proba_dog"]].to_numpy()
    assert sub["label"].tolist() == list(np.array(["bird", "cat", "dog"])[proba.argmax(axis=1)])
    m = json.loads((run_dir / "metrics.json").read_text())
    solution = pd.read_csv(data / "solution.csv")
    assert m["holdout"] == pytest.approx(np.mean(sub["label"].to_numpy() == solution["label"].to_numpy()))
    assert m["cv"] > 0.55 and m["holdout"] > 0.55  # chance is 1/3
    oof = pd.read_csv(run_dir / "oof.csv")
    picked = np.array(["bird", "cat", "dog"])[oof[["proba_bird", "proba_cat", "proba_dog"]].to_numpy().argmax(1)]
    assert m["cv"] == pytest.approx(np.mean(picked == oof["target"].to_numpy()))


def test_generic_multiclass_logloss_follows_the_samples_class_columns(tmp_path):
    data = make_classification_csvs(tmp_path / "mlog", "multiclass")
    sample = pd.read_csv(data / "sample_submission.csv")
    order = ["dog", "bird", "cat"]  # not the sorted class order
    pd.DataFrame({"row_id": sample["row_id"], **{c: 1 / 3 for c in order}}).to_csv(
        data / "sample_submission.csv", index=False)
    solution = pd.read_csv(data / "solution.csv")
    onehot = pd.get_dummies(solution["label"]).astype(int)[order]
    pd.concat([solution[["row_id"]], onehot], axis=1).to_csv(data / "solution.csv", index=False)
    rc, stdout, stderr = run_cli("run", "tabular", "--data", data, "--target", "label", "--id", "row_id",
                                    "--metric", "logloss", "--folds", "3", "--recipe", "gbm", "--set", "max_rounds=200",
                                    "--out", tmp_path / "runs")
    assert rc == 0, stderr
    run_dir = Path(last_line(stdout))
    sub = pd.read_csv(run_dir / "submission.csv")
    assert list(sub.columns) == ["row_id", *order]
    pred = pd.read_csv(run_dir / "test_pred.csv")
    for c in order:
        assert np.allclose(sub[c], pred[f"proba_{c}"]), c
    assert np.allclose(sub[order].sum(axis=1), 1)
    m = json.loads((run_dir / "metrics.json").read_text())
    truth = onehot.to_numpy().argmax(axis=1)
    p = np.clip(sub[order].to_numpy(), 1e-15, 1)
    assert m["holdout"] == pytest.approx(-np.mean(np.log(p[np.arange(len(p)), truth])))


# --- compare.py --------------------------------------------------------------------------------------

def test_compare_writes_report_in_the_printed_dir(demo_dir, tmp_path):
    rc, stdout, stderr = run_cli("compare", "house_prices", "--data", demo_dir, "--recipes", "linear,gbm",
                                    "--folds", "3", "--out", tmp_path)
    assert rc == 0, stderr
    out_dir = Path(last_line(stdout))
    assert out_dir.parent == tmp_path / "house_prices" and out_dir.name.startswith("compare-")
    assert (out_dir / "compare.png").read_bytes()[:8] == PNG
    report = json.loads((out_dir / "compare.json").read_text())
    assert [r["recipe"] for r in report] == ["linear", "gbm"]
    table = (out_dir / "compare.md").read_text()
    for r in report:
        run_metrics = json.loads((Path(r["run_dir"]) / "metrics.json").read_text())
        assert r["cv"] == run_metrics["cv"] and r["holdout"] == run_metrics["holdout"]
        assert f"| {r['recipe']} | {r['cv_mean']:.4f} ± {r['cv_std']:.4f} | {r['cv']:.4f} | {r['holdout']:.4f} |" in table
    # both recipes were scored on the same folds
    a, b = (Path(r["run_dir"]) / "folds.csv" for r in report)
    assert a.read_bytes() == b.read_bytes()


def test_compare_unknown_recipe_fails_before_running(demo_dir, tmp_path):
    rc, stdout, stderr = run_cli("compare", "house_prices", "--data", demo_dir, "--recipes", "linear,nope",
                                    "--folds", "3", "--out", tmp_path)
    assert "unknown recipe 'nope'" in assert_user_error(rc, stderr)
    assert stdout == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["house_prices", "--folds", "x"], []], ids=["bad-int", "no-competition"])
def test_malformed_arguments_follow_the_one_line_contract(args):
    rc, _, stderr = run_script("run", *args)
    assert_user_error(rc, stderr)


def test_a_warning_is_one_line_on_stderr():
    """A warning met during a command (a box dropped, an image replaced) reads as one ``warning:`` line, not
    Python's three (file, line number, source line)."""
    code = ("import warnings, sys; sys.path.insert(0, '.'); from shared.cli import main\n"
            "def entry(argv):\n"
            "    warnings.warn('data/x.json: 2 annotation(s) with zero\\n width dropped', stacklevel=1)\n"
            "    warnings.warn('a note', FutureWarning, stacklevel=1)\n"
            "sys.exit(main(entry))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["warning: data/x.json: 2 annotation(s) with zero width dropped",
                                        "warning: a note (FutureWarning)"]


@pytest.mark.parametrize("exc", [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                                              "not enough memory: you tried to allocate 2516582400 bytes."),
                                 RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")])
def test_an_allocation_that_fails_is_one_line_that_says_what_to_lower(exc, capsys):
    from shared.cli import main

    def entry(argv):
        raise exc

    assert main(entry) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out of memory") and "img_size" in err[0] and "--resume" in err[0]
