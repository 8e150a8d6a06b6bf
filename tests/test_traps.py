"""No silent traps: the generic path finds the sample submission Kaggle named as it liked (Titanic's
``gender_submission.csv``) or takes ``--sample FILE`` and says which it used; its runs go in ``runs/<data folder
name>/`` and every reader still finds them; a run folder's name says what differs (``--name``, or the settings typed
with ``--set``); the adversarial check needs no ``--metric``; an image run's log says it reads images, not ``1
columns``; a resumed fit's time counts its epochs before the interruption, so that the ETAs do."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_user_error, last_line, run_cli

from shared.models import Progress

TITANIC = ["--target", "Survived", "--id", "PassengerId", "--metric", "accuracy"]
FAST = ["--recipe", "linear", "--folds", "2"]
STAMP = r"\d{8}-\d{6}"


def titanic_layout(folder: Path) -> Path:
    """A Titanic-layout folder: train.csv, test.csv and gender_submission.csv (PassengerId, Survived)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    frames = {}
    for name, ids in (("train", range(1, 121)), ("test", range(121, 161))):
        n = len(ids)
        frames[name] = pd.DataFrame({"PassengerId": list(ids), "Pclass": rng.integers(1, 4, n),
                                     "Sex": rng.choice(["male", "female"], n), "Age": rng.normal(30, 10, n).round(1)})
    train = frames["train"]
    train["Survived"] = ((train["Sex"] == "female") ^ (rng.random(len(train)) < 0.2)).astype(int)
    train.to_csv(folder / "train.csv", index=False)
    frames["test"].to_csv(folder / "test.csv", index=False)
    frames["test"][["PassengerId"]].assign(Survived=0).to_csv(folder / "gender_submission.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def titanic(tmp_path_factory) -> Path:
    """Read-only: copy it before changing anything."""
    return titanic_layout(tmp_path_factory.mktemp("kaggle") / "titanic")


@pytest.fixture(scope="module")
def titanic_run(titanic, tmp_path_factory) -> Path:
    """One finished generic run on the Titanic layout, found by the data's own sample submission."""
    out = tmp_path_factory.mktemp("runs")
    rc, stdout, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, "--out", out)
    assert rc == 0, err
    return Path(last_line(stdout))


# --------------------------------------------------------------------------------- the sample submission
def test_a_titanic_folder_runs_on_its_gender_submission_and_the_log_says_so(titanic_run, titanic):
    log = (titanic_run / "log.txt").read_text()
    assert f"sample submission {titanic / 'gender_submission.csv'}" in log
    submission = pd.read_csv(titanic_run / "submission.csv")
    assert list(submission.columns) == ["PassengerId", "Survived"] and len(submission) == 40
    assert titanic_run.parent.name == "titanic"  # runs/<data folder name>/, not runs/tabular/


@pytest.mark.parametrize("case", ["several", "none"])
def test_no_or_several_submission_files_are_one_line_listing_them(titanic, tmp_path, case):
    data = Path(shutil.copytree(titanic, tmp_path / "titanic"))
    if case == "several":
        shutil.copy(data / "gender_submission.csv", data / "my_Submission.csv")
    else:
        (data / "gender_submission.csv").rename(data / "example.csv")
    for recipe in ("linear", "auto"):  # auto: once, before any member starts
        rc, _, err = run_cli("run", "tabular", "--data", data, *TITANIC, "--recipe", recipe, "--out", tmp_path / "r")
        line = assert_user_error(rc, err)
        assert "--sample FILE" in line
        expected = ["gender_submission.csv", "my_Submission.csv"] if case == "several" else ["example.csv"]
        assert all(name in line for name in expected), line
    assert not (tmp_path / "r").exists()
    if case == "several":  # --sample says which one (a path here; a name in the data folder also does)
        rc, out, err = run_cli("run", "tabular", "--data", data, *TITANIC, *FAST, "--sample",
                               data / "gender_submission.csv", "--out", tmp_path / "r")
        assert rc == 0, err
        assert "sample_file: gender_submission.csv" in (Path(last_line(out)) / "config.yaml").read_text()


@pytest.mark.parametrize("sample, problem", [
    ("train.csv", "that is the data folder's train.csv, not a sample submission"),
    ("test.csv", "that is the data folder's test.csv, not a sample submission"),
    (".", "is a folder"),
], ids=["train", "test", "folder"])
def test_sample_that_is_no_sample_submission_is_one_line_saying_what_it_is(titanic, tmp_path, sample, problem):
    """--sample at the training or test data (which named 'test ids missing' or ran on test.csv) or a folder."""
    rc, _, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, "--sample", sample, "--out", tmp_path)
    line = assert_user_error(rc, err)
    assert problem in line and "pass the competition's sample submission CSV" in line
    assert not any(tmp_path.iterdir())


def test_a_named_competition_also_takes_sample(demo_dir, tmp_path):
    data = Path(shutil.copytree(demo_dir, tmp_path / "house_prices"))
    (data / "sample_submission.csv").rename(data / "sampleSubmission.csv")
    rc, _, err = run_cli("run", "house_prices", "--data", data, *FAST, "--sample", "nope.csv", "--out", tmp_path)
    assert "--sample nope.csv: no such file" in assert_user_error(rc, err)
    rc, out, err = run_cli("run", "house_prices", "--data", data, *FAST, "--sample", "sampleSubmission.csv",
                           "--out", tmp_path)
    assert rc == 0, err
    run_dir = Path(last_line(out))
    assert f"sample submission {data / 'sampleSubmission.csv'}" in (run_dir / "log.txt").read_text()
    (run_dir / "metrics.json").unlink()  # as if interrupted after its folds: resumed, it finds the same sample
    rc, out, err = run_cli("run", "house_prices", "--resume", run_dir)
    assert rc == 0, err


# ------------------------------------------------------------------------------------------ run folders
def test_generic_runs_live_under_the_data_folder_name_and_every_reader_finds_them(titanic_run, titanic, tmp_path):
    import yaml

    out = titanic_run.parent.parent
    config = yaml.safe_load((titanic_run / "config.yaml").read_text())
    assert config["competition"] == "tabular" and config["data_dir"] == str(titanic.resolve())
    assert (out / "titanic" / "folds").is_dir() and not (out / "tabular").exists()
    other = ["--set", "alpha=50"]  # another model than titanic_run's (alpha=auto, off its grid), to blend with it
    rc, stdout, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, *other, "--only-folds", "0",
                              "--out", out, "--name", "part0")
    assert rc == 0, err
    part0 = Path(last_line(stdout))
    rc, stdout, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, *other, "--only-folds", "1",
                              "--out", out)
    part1 = Path(last_line(stdout))
    assert rc == 0 and part0.parent == part1.parent == out / "titanic", err
    rc, stdout, err = run_cli("merge", part0, part1, "--out", out)
    assert rc == 0 and re.fullmatch(rf"linear-merged-{STAMP}(-\d+)?-part0", Path(last_line(stdout)).name), err
    assert Path(last_line(stdout)).parent == out / "titanic"
    rc, stdout, err = run_cli("ensemble", titanic_run, Path(last_line(stdout)), "--method", "mean", "--out", out,
                              "--name", "two")
    blend = Path(last_line(stdout))
    assert rc == 0 and blend.parent == out / "titanic" and re.fullmatch(rf"ensemble-mean-{STAMP}(-\d+)?-two", blend.name), err
    rc, stdout, err = run_cli("compare", "tabular", "--from", out, "--out", tmp_path)
    assert rc == 0 and titanic_run.name in (Path(last_line(stdout)) / "compare.md").read_text(), err
    rc, stdout, err = run_cli("score", titanic_run / "submission.csv", "--solution", titanic_run / "submission.csv",
                              "--metric", "accuracy", "--id", "PassengerId")
    assert rc == 0, err
    resumed = Path(shutil.copytree(titanic_run, out / "titanic" / "linear-copy"))
    (resumed / "metrics.json").unlink()  # resumed: it writes into its own folder, under the same root
    rc, stdout, err = run_cli("run", "tabular", "--resume", resumed)
    assert rc == 0 and Path(last_line(stdout)) == resumed, err
    rc, _, err = run_cli("run", "tabular", "--resume", resumed, "--name", "other")
    assert "--name other with --resume" in assert_user_error(rc, err)


def test_the_folder_name_says_what_differs(titanic, tmp_path):
    from shared.runs import label_of

    def folder(*args):
        rc, stdout, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, "--out", tmp_path, *args)
        assert rc == 0, err
        return Path(last_line(stdout)).name

    assert re.fullmatch(rf"linear-{STAMP}(-\d+)?-alpha=0.5", folder("--set", "alpha=0.5"))
    assert re.fullmatch(rf"linear-{STAMP}(-\d+)?", folder("--set", "alpha=auto"))  # the default: nothing differs
    first, second = folder("--name", "ridge.v2"), folder("--name", "ridge.v2")  # maybe the same second: a counter
    assert first != second and all(re.fullmatch(rf"linear-{STAMP}(-\d+)?-ridge\.v2", f) for f in (first, second))
    assert [label_of(Path(f)) for f in (first, second)] == ["ridge.v2", "ridge.v2"]  # a merge carries it on
    for bad in ("a/b", "..", "x" * 41, "tab\there", "C:", "1st"):
        rc, _, err = run_cli("run", "tabular", "--data", titanic, *TITANIC, *FAST, "--out", tmp_path, "--name", bad)
        assert "argument --name" in assert_user_error(rc, err)


def test_run_labels_are_short_and_safe_in_any_folder_name():
    from shared.runs import MAX_NAME, label_of, run_label

    assert run_label(None, {"arch": "convnext_nano"}) == "arch=convnext_nano"
    long = run_label(None, {"hidden": [256, 128], "lr": 0.001, "epochs": 5, "dropout": 0.25, "weight_decay": 1e-4})
    assert long == "hidden=256-128,lr=0.001,epochs=5+2" and len(long) <= MAX_NAME + 3
    assert run_label(None, {"time_col": "a/b c:d*?"}) == "time_col=a_b_c_d"
    assert run_label("mine", {"lr": 1}) == "mine" and run_label(None, {}) == ""
    assert label_of(Path("gbm-20260101-120000-1")) == "" and label_of(Path("gbm-20260101-120000-2-lr=0.1")) == "lr=0.1"


def test_a_data_folder_named_dot_or_with_spaces_gives_a_safe_runs_folder(titanic, tmp_path, monkeypatch):
    from shared.tabular.generic import folder_name

    spaced = Path(shutil.copytree(titanic, tmp_path / "my data (v2)"))
    assert folder_name(spaced) == "my_data_v2"
    monkeypatch.chdir(spaced)
    assert folder_name(Path(".")) == "my_data_v2" and folder_name(Path("/")) == "tabular"


# ---------------------------------------------------------------------------------------------- adversarial
def test_adversarial_on_the_generic_path_needs_no_metric(titanic, tmp_path):
    rc, stdout, err = run_cli("adversarial", "tabular", "--data", titanic, "--target", "Survived", "--id",
                              "PassengerId", "--folds", "2", "--out", tmp_path)
    assert rc == 0, err
    out = Path(last_line(stdout))
    assert out.parent == tmp_path / "titanic" and (out / "report.json").is_file()


# -------------------------------------------------------------------------------------------- detection log
def test_a_detection_run_logs_its_images_not_one_feature_column(demos, tmp_path, log_lines, monkeypatch):
    import competitions
    from shared import runner

    class Stop(Exception):
        pass

    def stop(prepared):
        raise Stop

    monkeypatch.setattr(runner, "_fit_folds", stop)  # the lines before the first fit are the ones to read
    with pytest.raises(Stop):
        runner.run(competitions.get("cowboy_outfits"), "mobile", demos("cowboy_outfits"), n_folds=2,
                   out_root=tmp_path)
    assert not any(line.startswith("features:") for line in log_lines), log_lines
    assert any(re.fullmatch(r"inputs: images, \d+ to train on, \d+ to predict", line) for line in log_lines)


# ---------------------------------------------------------------------------------------------- resumed ETA
def test_a_resumed_fits_time_and_eta_count_its_epochs_before_the_interruption(tmp_path, log_lines, monkeypatch):
    """Killed after 2 of 3 epochs of 100 s each, resumed with 4 folds after it: the fit's time and the run ETA count
    those 200 s, not only the moment its last epoch took after the restart (old: run ETA a few seconds)."""
    from test_progress import Killed, _toy_fit

    from shared.vision.training import Trainer

    with pytest.raises(Killed):
        _toy_fit(tmp_path / "cut", kill_at=2)
    last = tmp_path / "cut" / "last.pt"
    checkpoint = torch.load(last, weights_only=True)
    for row in checkpoint["history"]:
        row["seconds"] = 100.0
    torch.save(checkpoint, last)
    progress, made = Progress("fold 0", fits_after=4), Trainer.__init__

    def in_a_run(self, params, ctx):  # the fit's place in a run: fold 0, 4 folds after it
        made(self, params, ctx)
        self.progress = progress

    monkeypatch.setattr(Trainer, "__init__", in_a_run)
    _toy_fit(tmp_path / "cut", resume=True)
    assert progress.earlier_seconds == pytest.approx(200.0)
    eta = re.search(r"fold ETA (\S+), run ETA (\d+)m(\d+)s$", log_lines[-1])
    assert eta and int(eta[2]) * 60 + int(eta[3]) >= 4 * 200, log_lines[-1]  # 4 folds of at least 200 s each


def test_a_resumed_folds_saved_time_is_the_whole_fit(tmp_path):
    from shared import runner

    class Resumed:  # a model continued from its checkpoint, which trained 290 s before the interruption
        def __init__(self, progress):
            self.progress = progress

        def fit(self, X, y):
            self.progress.earlier_seconds = 290.0
            return self

        def predict(self, X):
            return np.zeros(len(X))

    class Factory(SimpleNamespace):  # what ``_fit_fold`` reads of the runner's model factory
        def __call__(self, name):
            return Resumed(self.contexts.progress)

    factory = Factory(run_dir=tmp_path, floor=None, checks_values=False, importance=None, contexts=SimpleNamespace(progress=Progress()))
    X = pd.DataFrame({"x": np.arange(10.0)})
    fold_of = np.arange(10) % 2
    *_, seconds = runner._fit_fold(factory, X, X["x"].to_numpy(), fold_of, None, False, X, 0, True, ("fold 0", 1))
    assert seconds >= 290
    kept = runner._kept_fold(tmp_path / "fold0" / "predictions.npz", 5, 10, 1, True)
    assert kept[-1] == pytest.approx(seconds)  # saved with the fold: a resumed run's ETAs read it
