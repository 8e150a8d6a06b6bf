"""The positive class of a binary target: the last of the sorted labels unless ``--set positive_class`` chooses,
said in the run log, recorded in config.yaml, and what the submitted probability (and F1) is of; ``score.py
--positive-class`` for a file against a solution."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import assert_user_error, last_line, run_cli, synthetic_classification
from sklearn.metrics import f1_score, roc_auc_score

LINEAR = ["--recipe", "linear", "--folds", "3"]


@pytest.fixture(scope="module")
def yes_no(tmp_path_factory) -> Path:
    """A binary target written yes/no ('no' the rarer class, learnable from column a), with a solution file."""
    rng = np.random.default_rng(0)
    n = 240
    a = rng.normal(size=n)
    frame = pd.DataFrame({"id": range(n), "a": a, "b": rng.normal(size=n),
                          "y": np.where(a + 0.5 * rng.normal(size=n) > -0.3, "yes", "no")})
    folder = tmp_path_factory.mktemp("yes_no") / "data"
    folder.mkdir()
    frame.iloc[:180].to_csv(folder / "train.csv", index=False)
    frame.iloc[180:].drop(columns="y").to_csv(folder / "test.csv", index=False)
    frame.iloc[180:][["id"]].assign(y="yes").to_csv(folder / "sample_submission.csv", index=False)
    frame.iloc[180:][["id", "y"]].to_csv(folder / "solution.csv", index=False)
    return folder


def _run(data: Path, out: Path, metric: str, *sets: str) -> Path:
    rc, stdout, err = run_cli("run", "tabular", "--data", data, "--target", "y", "--id", "id", "--metric", metric,
                              *LINEAR, "--out", out, *[arg for s in sets for arg in ("--set", s)])
    assert rc == 0, err
    return Path(last_line(stdout))


def _joined(run_dir: Path, data: Path) -> pd.DataFrame:
    solution = pd.read_csv(data / "solution.csv", dtype={"y": str})
    return pd.read_csv(run_dir / "submission.csv").merge(solution, on="id", suffixes=("_pred", "_true"))


def test_auc_of_the_chosen_class_no(yes_no, tmp_path):
    """``--set positive_class=no`` (which YAML reads as false): the log says so, config.yaml records 'no', the
    submission is P(no), and the CV and local holdout are the AUC of 'no' being positive."""
    run_dir = _run(yes_no, tmp_path, "auc", "positive_class=no")
    log = (run_dir / "log.txt").read_text()
    assert "positive class: 'no' (chosen with --set positive_class)" in log
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["positive_class"] == "no"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv")
    assert list(oof.columns[-2:]) == ["proba_yes", "proba_no"]
    assert metrics["cv"] == pytest.approx(roc_auc_score(oof["target"] == "no", oof["proba_no"]))
    test_pred = pd.read_csv(run_dir / "test_pred.csv")
    joined = _joined(run_dir, yes_no)
    assert np.allclose(pd.read_csv(run_dir / "submission.csv")["y"], test_pred["proba_no"])
    assert metrics["holdout"] == pytest.approx(roc_auc_score(joined["y_true"] == "no", joined["y_pred"]))
    assert metrics["holdout"] > 0.8  # P(no) scored as P(no): a flipped one would be near 0.1
    rc, out, err = run_cli("score", run_dir / "submission.csv", "--solution", yes_no / "solution.csv",
                           "--metric", "auc", "--positive-class", "no")
    assert rc == 0, err
    assert last_line(out) == f"auc {metrics['holdout']:.6f}"
    rc, out, err = run_cli("score", run_dir / "submission.csv", "--solution", yes_no / "solution.csv",
                           "--metric", "auc")  # by default 'yes', the last of the sorted labels: the flipped AUC
    assert rc == 0, err
    assert float(last_line(out).split()[1]) == pytest.approx(1 - metrics["holdout"], abs=1e-6)


def test_by_default_the_last_of_the_sorted_labels_is_said_in_the_log(yes_no, tmp_path):
    run_dir = _run(yes_no, tmp_path, "logloss")
    assert ("positive class: 'yes' (the last of the sorted labels; --set positive_class=... to choose)"
            in (run_dir / "log.txt").read_text())
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["positive_class"] is None
    joined = _joined(run_dir, yes_no)
    p = np.clip(joined["y_pred"], 1e-15, 1 - 1e-15)
    truth = joined["y_true"] == "yes"
    expected = -np.mean(np.where(truth, np.log(p), np.log(1 - p)))
    assert json.loads((run_dir / "metrics.json").read_text())["holdout"] == pytest.approx(expected)


def test_f1_of_the_chosen_class_on_labels(yes_no, tmp_path):
    """F1 scores the chosen class: CV from the OOF argmax, the submission holds labels, the holdout is
    scikit-learn's f1_score with pos_label='no' (a different number from 'yes')."""
    run_dir = _run(yes_no, tmp_path, "f1", "positive_class=no")
    assert "f1 takes labels: the positive class where its probability is above 0.5" in (run_dir / "log.txt").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    oof = pd.read_csv(run_dir / "oof.csv")
    predicted = np.where(oof["proba_no"] > oof["proba_yes"], "no", "yes")
    assert metrics["cv"] == pytest.approx(f1_score(oof["target"], predicted, pos_label="no"))
    joined = _joined(run_dir, yes_no)
    assert set(joined["y_pred"]) <= {"no", "yes"}
    assert metrics["holdout"] == pytest.approx(f1_score(joined["y_true"], joined["y_pred"], pos_label="no"))
    assert metrics["holdout"] != pytest.approx(f1_score(joined["y_true"], joined["y_pred"], pos_label="yes"))
    rc, out, err = run_cli("score", run_dir / "submission.csv", "--solution", yes_no / "solution.csv",
                           "--metric", "f1", "--positive-class", "no")
    assert rc == 0, err
    assert last_line(out) == f"f1 {metrics['holdout']:.6f}"


def test_an_unknown_positive_class_is_one_line_listing_the_labels(yes_no, tmp_path):
    rc, out, err = run_cli("run", "tabular", "--data", yes_no, "--target", "y", "--id", "id", "--metric", "auc",
                           *LINEAR, "--out", tmp_path, "--set", "positive_class=maybe")
    line = assert_user_error(rc, err)
    assert "positive_class='maybe'" in line and "'no' and 'yes'" in line
    assert not list(tmp_path.rglob("config.yaml"))  # refused before a run folder was written


def test_a_positive_class_of_a_multiclass_target_is_refused(tmp_path):
    data = synthetic_classification(tmp_path / "data", 3)
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row_id", "--metric",
                           "logloss", *LINEAR, "--out", tmp_path / "runs", "--set", "positive_class=alpha")
    line = assert_user_error(rc, err)
    assert "binary target" in line and "has 3" in line


def test_score_py_positive_class_must_be_a_label_of_the_solution(yes_no, tmp_path):
    sub = tmp_path / "sub.csv"
    pd.read_csv(yes_no / "sample_submission.csv").assign(y=0.5).to_csv(sub, index=False)
    rc, out, err = run_cli("score", sub, "--solution", yes_no / "solution.csv", "--metric", "auc",
                           "--positive-class", "maybe")
    line = assert_user_error(rc, err)
    assert "'maybe' is not a label" in line and "'no', 'yes'" in line
    one_label = tmp_path / "solution.csv"
    pd.read_csv(yes_no / "solution.csv").assign(y="no").to_csv(one_label, index=False)
    rc, out, err = run_cli("score", sub, "--solution", one_label, "--metric", "logloss")
    assert "--positive-class" in assert_user_error(rc, err)
    rc, out, err = run_cli("score", sub, "--solution", one_label, "--metric", "logloss", "--positive-class", "yes")
    assert rc == 0 and last_line(out) == f"logloss {np.log(2):.6f}"


def test_resume_with_the_same_positive_class_and_a_blend_of_opposite_ones(yes_no, tmp_path):
    """``--resume RUN --set positive_class=no`` on a run made with it goes on (it was refused: 'no' is recorded as
    the label, YAML reads the flag as false); a blend of runs whose positive classes differ says so in one line."""
    no = _run(yes_no, tmp_path / "a", "auc", "positive_class=no")
    (no / "metrics.json").unlink()  # as if stopped before its end
    rc, out, err = run_cli("run", "tabular", "--resume", no, "--set", "positive_class=no")
    assert rc == 0, err
    assert (no / "metrics.json").is_file()
    rc, out, err = run_cli("run", "tabular", "--resume", no, "--set", "positive_class=yes")
    assert "was made with positive_class=no" in assert_user_error(rc, err)
    yes = _run(yes_no, tmp_path / "b", "auc", "positive_class=yes")
    rc, out, err = run_cli("ensemble", no, yes, "--out", tmp_path / "blend")
    line = assert_user_error(rc, err)
    assert "has positive class 'yes' but" in line and "has 'no'" in line and "one --set positive_class" in line
