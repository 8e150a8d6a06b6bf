"""The contraception competition, a sixth one built as one folder on the engine's extension points: the real
survey data in a Kaggle layout split by district, its own registered metric (the normalized Gini, 2 AUC - 1),
folds grouped by district, and every entry point (run, ensemble, merge, score, submit, kernel) on it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli
from sklearn.metrics import roc_auc_score

import competitions
from competitions.contraception import SPEC, demo
from competitions.contraception.metric import GINI, normalized_gini
from shared.metrics import Metric, get_metric, register

FAST = {"gbm": ["--folds", "3", "--set", "max_rounds=300"], "baseline": ["--folds", "3"]}  # about a second each


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype={"id": str})


def _ids(path: Path) -> list[bytes]:
    """The id column of a CSV file exactly as written (header included)."""
    return [line.split(b",", 1)[0] for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return demo.build(tmp_path_factory.mktemp("contraception") / "data", size="tiny")


@pytest.fixture(scope="module")
def runs(tiny, tmp_path_factory) -> dict[str, Path]:
    """A finished 3-fold run of the gbm and of the baseline on the tiny demo, and their root folder."""
    out = tmp_path_factory.mktemp("runs")
    made = {"root": out}
    for recipe in ("gbm", "baseline"):
        rc, stdout, err = run_cli("run", "contraception", "--data", tiny, "--recipe", recipe, *FAST[recipe], "--out", out)
        assert rc == 0, err[-3000:]
        made[recipe] = Path(last_line(stdout))
    return made


# ------------------------------------------------------------------------------------------------ the data

def test_full_size_is_the_whole_survey_split_by_district(tmp_path):
    folder = demo.build(tmp_path / "full", size="full")
    train, test = _read(folder, "train.csv"), _read(folder, "test.csv")
    assert list(train.columns) == ["id", "district", "livch", "age", "urban", "use"]
    assert list(test.columns) == ["id", "district", "livch", "age", "urban"]
    assert len(train) + len(test) == 1934 and (train["district"].nunique(), test["district"].nunique()) == (45, 15)
    assert not set(train["district"]) & set(test["district"])  # whole districts: none in both files
    assert set(train["livch"]) == {"0", "1", "2", "3+"} and set(train["use"]) == set(train["urban"]) == {"N", "Y"}
    everyone = pd.concat([train, test]).sort_values("id")
    survey = demo.load_survey()
    assert everyone["id"].tolist() == survey["id"].tolist() and everyone["use"].notna().sum() == len(train)


def test_ids_are_text_with_leading_zeros_and_the_answers_are_kept_apart(tiny):
    test = _read(tiny, "test.csv")
    sample, solution = _read(tiny, "sample_submission.csv"), _read(tiny, "solution.csv")
    assert all(len(i) == 5 and i.isdigit() for i in test["id"])
    assert any(i.startswith(b"0") for i in _ids(tiny / "train.csv")[1:])  # an id read as a number would change
    assert _ids(tiny / "sample_submission.csv") == _ids(tiny / "solution.csv") == _ids(tiny / "test.csv")
    assert list(sample.columns) == ["id", "use"] and (sample["use"] == 0.5).all()
    assert list(solution.columns) == ["id", "use"] and set(solution["use"]) == {"N", "Y"}


def test_the_district_split_is_seeded(tmp_path):
    a, b = demo.build(tmp_path / "a", size="tiny"), demo.build(tmp_path / "b", size="tiny")
    c = demo.build(tmp_path / "c", size="tiny", seed=7)
    assert (a / "train.csv").read_bytes() == (b / "train.csv").read_bytes()
    assert set(_read(a, "test.csv")["district"]) != set(_read(c, "test.csv")["district"])


# ---------------------------------------------------------------------------------------------- the metric

def test_gini_is_two_auc_minus_one():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    assert normalized_gini(y, p) == pytest.approx(2 * roc_auc_score(y, p) - 1, abs=1e-12)
    assert normalized_gini(y, np.column_stack([1 - p, p])) == pytest.approx(normalized_gini(y, p))
    labels = np.where(y == 1, "Y", "N")  # as solution.csv holds them: Y, the later label, is the positive class
    assert normalized_gini(labels, p) == pytest.approx(normalized_gini(y, p))
    # by hand: 4 positive-negative pairs, 3 ordered right -> AUC 3/4, Gini 1/2; perfect 1, reversed -1
    assert normalized_gini([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.5)
    assert normalized_gini([0, 1], [0.2, 0.9]) == 1.0 and normalized_gini([0, 1], [0.9, 0.2]) == -1.0


def test_gini_equals_kaggles_cumulative_sum_formula_without_ties():
    def gini(actual, pred):  # Porto Seguro's normalized Gini as Kaggle's kernels wrote it
        order = np.lexsort((np.arange(len(actual)), -np.asarray(pred)))
        a = np.asarray(actual, float)[order]
        return (np.cumsum(a).sum() / a.sum() - (len(a) + 1) / 2) / len(a)

    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 2, 300), rng.uniform(size=300)
    assert normalized_gini(y, p) == pytest.approx(gini(y, p) / gini(y, y), abs=1e-12)


def test_the_metric_is_registered_from_the_competition_folder():
    assert SPEC.metric is get_metric("gini") is GINI
    assert GINI.greater_is_better and GINI.task == "classification" and GINI.takes == "probabilities"
    assert register(GINI) is GINI  # the same definition again is a no-op
    with pytest.raises(ValueError, match="different metric named 'gini'"):
        register(Metric("gini", lambda y, p: 0.0, True, "classification", takes="probabilities"))


# ---------------------------------------------------------------------------------------- spec and recipes

def test_the_spec_groups_folds_by_district_and_is_found_by_its_slug():
    assert competitions.get("bangladesh-contraception") is SPEC is competitions.get("contraception")
    assert (SPEC.task, SPEC.fold_kind, SPEC.fold_col, SPEC.id_col, SPEC.target_col) == (
        "binary", "group", "district", "id", "use")
    assert sorted(SPEC.recipes) == ["automl", "baseline", "gbm"] and "not a Kaggle competition" in SPEC.submit_note


@pytest.mark.parametrize("recipe", sorted(SPEC.recipes))
def test_no_recipe_sees_the_district(tiny, recipe):
    train, test = _read(tiny, "train.csv"), _read(tiny, "test.csv")
    X, X_test = SPEC.recipes[recipe].features(train.drop(columns=["id", "use"]), test.drop(columns=["id"]),
                                              SPEC.recipes[recipe].feature_params)
    assert list(X.columns) == list(X_test.columns) and set(X.columns) == {"livch", "age", "urban"}


def test_automl_chooses_models_by_auc_which_ranks_them_as_the_gini_does():
    from shared.tabular.models import autogluon_metric

    assert autogluon_metric("gini") == "roc_auc" and autogluon_metric("rmse") == "root_mean_squared_error"


# --------------------------------------------------------------------------------------------- the scripts

def test_folds_keep_each_district_in_one_fold(tiny, runs):
    folds = _read(runs["gbm"], "folds.csv").merge(_read(tiny, "train.csv"), on="id", validate="one_to_one")
    assert len(folds) == len(_read(tiny, "train.csv"))
    assert (folds.groupby("district")["fold"].nunique() == 1).all()
    assert sorted(folds["fold"].unique()) == [0, 1, 2] and folds.groupby("fold")["district"].nunique().min() >= 2
    assert (runs["baseline"] / "folds.csv").read_bytes() == (runs["gbm"] / "folds.csv").read_bytes()


@pytest.mark.parametrize("recipe", ["gbm", "baseline"])
def test_a_run_scores_gini_and_submits_the_samples_ids(tiny, runs, recipe):
    run_dir = runs[recipe]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    oof = _read(run_dir, "oof.csv")
    assert metrics["metric"] == "gini" and metrics["greater_is_better"] and metrics["complete"]
    assert metrics["cv"] == pytest.approx(2 * roc_auc_score(oof["target"] == "Y", oof["proba_Y"]) - 1)
    assert _ids(run_dir / "submission.csv") == _ids(tiny / "sample_submission.csv")
    sub, solution = _read(run_dir, "submission.csv"), _read(tiny, "solution.csv")
    assert list(sub.columns) == ["id", "use"] and sub["use"].between(0, 1).all() and sub["use"].nunique() > 1
    assert metrics["holdout"] == pytest.approx(2 * roc_auc_score(solution["use"] == "Y", sub["use"]) - 1)
    rc, out, err = run_cli("score", run_dir / "submission.csv", "--solution", tiny / "solution.csv",
                           "--competition", "contraception")
    assert rc == 0 and out.split() == ["gini", f"{metrics['holdout']:.6f}"], err


def test_ensemble_of_the_two_runs(runs):
    rc, out, err = run_cli("ensemble", runs["gbm"], runs["baseline"], "--method", "mean", "--out", runs["root"])
    assert rc == 0, err[-3000:]
    blend = Path(last_line(out))
    metrics = json.loads((blend / "metrics.json").read_text())
    members = [_read(runs[r], "test_pred.csv")["proba_Y"] for r in ("gbm", "baseline")]
    assert np.allclose(_read(blend, "test_pred.csv")["proba_Y"], (members[0] + members[1]) / 2)
    assert metrics["metric"] == "gini" and -1 <= metrics["cv"] <= 1 and metrics["holdout"] is not None


def test_merged_partial_runs_are_the_full_run(tiny, runs, tmp_path):
    parts = []
    for folds in ("0", "1,2"):
        rc, out, err = run_cli("run", "contraception", "--data", tiny, "--recipe", "gbm", *FAST["gbm"],
                               "--only-folds", folds, "--out", runs["root"])
        assert rc == 0, err[-3000:]
        parts.append(last_line(out))
    rc, out, err = run_cli("merge", *parts, "--out", tmp_path)
    assert rc == 0, err[-3000:]
    merged = Path(last_line(out))
    for name in ("submission.csv", "oof.csv", "folds.csv"):
        assert (merged / name).read_bytes() == (runs["gbm"] / name).read_bytes(), name


def test_submit_validates_and_says_there_is_nothing_to_upload(tiny, runs):
    rc, out, err = run_cli("submit", "contraception", runs["gbm"] / "submission.csv", "--data", tiny)
    assert rc == 0, err
    assert "is valid" in out and "not a Kaggle competition" in out and "score.py" in out


def test_kernel_bundle(tmp_path):
    rc, out, err = run_cli("kernel", "contraception", "--user", "someone", "--out", tmp_path / "k")
    assert rc == 0, err
    bundle = Path(last_line(out))
    meta = json.loads((bundle / "kernel" / "kernel-metadata.json").read_text())
    assert (meta["code_file"], meta["enable_gpu"], meta["enable_internet"]) == ("contraception.ipynb", False, False)
    assert (bundle / "code" / "kaggle_templates" / "competitions" / "contraception" / "metric.py").is_file()
    nb = json.loads((bundle / "kernel" / "contraception.ipynb").read_text())
    params = "".join(next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))["source"])
    assert "COMPETITION = 'contraception'" in params and "RECIPE = 'gbm'" in params
    assert meta["competition_sources"] == []  # not on Kaggle: nothing to attach (the notebook builds the data)


def test_download_says_the_data_come_with_the_project(tmp_path):
    rc, _, err = run_cli("download", "contraception", "--out", tmp_path / "data")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "not a Kaggle competition" in err and "make_demo.py contraception --size full" in err
    assert not (tmp_path / "data").exists()


def test_score_py_knows_the_registered_metric_by_name(tiny, runs):
    rc, out, err = run_cli("score", runs["gbm"] / "submission.csv", "--solution", tiny / "solution.csv",
                           "--metric", "gini", "--sample", tiny / "sample_submission.csv")
    assert rc == 0, err
    holdout = json.loads((runs["gbm"] / "metrics.json").read_text())["holdout"]
    assert out.split() == ["gini", f"{holdout:.6f}"]


# ------------------------------------------------------------------------------------- end to end (slower)

@pytest.mark.integration
def test_automl_runs_on_the_grouped_folds(tiny, tmp_path):
    rc, out, err = run_cli("run", "contraception", "--data", tiny, "--recipe", "automl", "--folds", "2",
                           "--time-limit", "20", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    metrics = json.loads((Path(last_line(out)) / "metrics.json").read_text())
    assert metrics["complete"] and metrics["metric"] == "gini" and metrics["holdout"] is not None
