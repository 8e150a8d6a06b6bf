"""Inputs that used to give a silently wrong submission or a traceback: ids written differently from the sample,
labels that differ by spaces, negative prices, paths that leave the data folder, data too small for the folds, and
a full disk. Every refusal is one ``error:`` line, exit 2, with every file that existed before byte-identical and
nothing left behind. Runs are in-process (``run_cli``) on small generated tables: seconds, not minutes. The refusals
that fit one pattern (data checked before any work, the numbers of every command, image paths that leave the data
folder) are cases of the bad-input matrix in test_bad_inputs.py."""
from __future__ import annotations

import errno
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli, snapshot

import competitions


def table(folder: Path, n: int = 80, labels=None, ids=None, seed: int = 0) -> Path:
    """A generic-path competition: ``id,a,b,c,y`` (train), the test rows without ``y``, a sample submission and
    the solution. ``labels``: a function of the first feature giving class labels (else a positive price)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * n, 3))
    ids = ids if ids is not None else [f"{i:06d}" for i in range(1000, 1000 + 2 * n)]  # leading zeros
    y = labels(x[:, 0]) if labels is not None else np.exp(10 + 0.3 * x[:, 0] + 0.1 * x[:, 1])
    frame = pd.DataFrame({"id": ids, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    folder.mkdir(parents=True, exist_ok=True)
    frame.iloc[:n].to_csv(folder / "train.csv", index=False)
    frame.iloc[n:].drop(columns="y").to_csv(folder / "test.csv", index=False)
    placeholder = frame["y"].iloc[0] if labels is not None else 0.0
    frame.iloc[n:][["id"]].assign(y=placeholder).to_csv(folder / "sample_submission.csv", index=False)
    frame.iloc[n:][["id", "y"]].to_csv(folder / "solution.csv", index=False)
    return folder


def generic(data: Path, out: Path, metric: str, *extra) -> list:
    return ["tabular", "--data", data, "--target", "y", "--id", "id", "--metric", metric, "--folds", "2",
            "--out", out, *extra]


def refused(tmp_path: Path, script: str, *args) -> str:
    """Run a command that must refuse: one error line, exit 2, nothing under ``tmp_path`` changed or added."""
    before = snapshot(tmp_path)
    rc, _, err = run_cli(script, *args)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), f"exit {rc}: {err}"
    after = snapshot(tmp_path)
    assert after == before, {p: after.get(p) for p in set(before) ^ set(after) | {
        p for p in before if after.get(p) != before[p]}}
    return lines[0]


# ---------------------------------------------------------------------------------------- the submission's ids

def test_ids_with_leading_zeros_are_written_byte_identical_to_the_sample(tmp_path):
    data = table(tmp_path / "data")
    rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", "linear"))
    assert rc == 0, err
    run_dir = Path(last_line(out))
    ids = [line.split(",")[0] for line in (run_dir / "submission.csv").read_text().splitlines()]
    sample = [line.split(",")[0] for line in (data / "sample_submission.csv").read_text().splitlines()]
    assert ids == sample and ids[1] == "001080"
    oof = pd.read_csv(run_dir / "oof.csv", dtype=str)
    assert set(oof["id"]) == set(pd.read_csv(data / "train.csv", dtype=str)["id"])  # 001000, not 1000
    assert json.loads((run_dir / "metrics.json").read_text())["holdout"] < 0.2  # the solution's ids matched


def test_house_prices_ids_stay_text(demo_copy, tmp_path):
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        frame = pd.read_csv(demo_copy / name, dtype=str, keep_default_na=False)
        frame.assign(Id=frame["Id"].str.zfill(6)).to_csv(demo_copy / name, index=False)
    rc, out, err = run_cli("run", "house_prices", "--data", demo_copy, "--recipe", "linear", "--folds", "2",
                           "--out", tmp_path / "runs")
    assert rc == 0, err
    written = (Path(last_line(out)) / "submission.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in written] == [
        r.split(",")[0] for r in (demo_copy / "sample_submission.csv").read_text().splitlines()]


def test_labels_differing_only_by_spaces_are_refused(tmp_path):
    def spaced(x):
        labels = np.where(x > 0, "yes", "no").astype(object)
        labels[:80:3] = [" yes" if v == "yes" else "no " for v in labels[:80:3]]
        return labels

    data = table(tmp_path / "data", labels=spaced)
    line = refused(tmp_path, "run", *generic(data, tmp_path / "runs", "accuracy", "--recipe", "linear"))
    assert re.search(r"differ only by surrounding spaces: \[' ?yes ?', ' ?yes ?'\]", line), line


# ----------------------------------------------------------------------------- predictions a target can take

@pytest.mark.parametrize("recipe", ["gbm", "linear"])
def test_a_test_row_outside_the_training_range_never_gives_a_negative_price(recipe, tmp_path):
    data = table(tmp_path / "data")
    test = pd.read_csv(data / "test.csv", dtype={"id": str})
    test.loc[0, ["a", "b"]] = [-80.0, -80.0]  # far below anything in training: a line extrapolates to < 0
    test.to_csv(data / "test.csv", index=False)
    rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", recipe,
                                           "--set", "log_target=false"))
    assert rc == 0, err
    run_dir = Path(last_line(out))
    sub = pd.read_csv(run_dir / "submission.csv")
    floor = pd.read_csv(data / "train.csv")["y"].min()
    assert (sub["y"] >= floor - 1e-9).all() and (run_dir / "metrics.json").is_file()
    assert (pd.read_csv(run_dir / "oof.csv")["prediction"] >= floor - 1e-9).all()


def test_prediction_floor_follows_the_target():
    from shared import tables

    spec = competitions.get("house_prices")
    assert tables.prediction_floor(spec, np.array([5.0, 3.0, 9.0])) == 3.0  # log metric: > 0, the smallest price
    rmse = competitions.get("house_prices").__class__(**{**spec.__dict__, "metric_name": "rmse"})
    assert tables.prediction_floor(rmse, np.array([0.0, 3.0])) == 0.0  # non-negative target
    assert tables.prediction_floor(rmse, np.array([-1.0, 3.0])) is None  # a target that goes negative: no bound


# ------------------------------------------------------------------------- paths that leave the data folder

def test_detection_image_paths_that_leave_the_data_folder_are_refused(demos, tmp_path):
    from shared.errors import UserError

    spec = competitions.get("cowboy_outfits")
    data = Path(shutil.copytree(demos("cowboy_outfits"), tmp_path / "cowboy"))
    valid = pd.read_csv(data / "valid.csv", dtype=str)
    valid.loc[0, "file_name"] = "../" + valid.loc[0, "file_name"]
    valid.to_csv(data / "valid.csv", index=False)
    shutil.copy(data / "images" / valid.loc[1, "file_name"], tmp_path / valid.loc[0, "file_name"][3:])
    with pytest.raises(UserError, match="leaves the data folder"):
        spec.load(data, predict="valid")
    coco = json.loads((data / "train.json").read_text())
    coco["images"][0]["file_name"] = "/etc/hostname"
    (data / "train.json").write_text(json.dumps(coco))
    with pytest.raises(UserError, match="leaves the data folder"):
        spec.load(data)


# ------------------------------------------------------------------ inputs checked before any work is done

def test_a_class_with_fewer_examples_than_folds_is_refused(tmp_path):
    def rare(x):
        labels = np.where(x > 0, "a", "b").astype(object)
        labels[5] = "c"
        return labels

    data = table(tmp_path / "data", labels=rare)
    line = refused(tmp_path, "run", *generic(data, tmp_path / "runs", "accuracy"))
    assert "class 'c' of 'y' has 1 example(s)" in line and "stratified 2-fold CV needs at least 2" in line


def test_gbm_runs_with_two_examples_of_a_class(tmp_path):
    def rare(x):
        labels = np.where(x > 0, "a", "b").astype(object)
        labels[[5, 6]] = "c"
        return labels

    data = table(tmp_path / "data", labels=rare)
    rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "accuracy", "--recipe", "gbm", "--set", "max_rounds=50"))
    assert rc == 0, err
    assert set(pd.read_csv(Path(last_line(out)) / "submission.csv")["y"]) <= {"a", "b", "c"}


def test_a_programmatic_run_checks_its_seed(tmp_path):
    from shared import runner
    from shared.errors import UserError
    from shared.tabular import generic as path

    data = table(tmp_path / "data")
    spec = path.spec_for(data, "y", "id", "rmse")
    for seed in (-1, 2**40, 1.5):
        with pytest.raises(UserError, match="a seed is a whole number"):
            runner.run(spec, "linear", data, n_folds=2, seed=seed, out_root=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------------------------- a full disk

def test_a_full_disk_is_one_line_keeps_finished_folds_and_resumes(tmp_path, monkeypatch):
    data = table(tmp_path / "data")
    real_savez = np.savez
    calls = []

    def savez(*args, **kwargs):  # the second fold's predictions meet a full disk
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_savez(*args, **kwargs)

    monkeypatch.setattr(np, "savez", savez)
    rc, _, err = run_cli("run", *generic(data, tmp_path / "runs", "rmse", "--recipe", "linear"))
    lines = [line for line in err.strip().splitlines() if line.startswith("error:") or "Traceback" in line]
    assert rc == 2 and len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err  # the log may precede it
    run_dir = next((tmp_path / "runs" / "data").glob("linear-*"))  # runs/<data folder name>/
    assert f"the disk holding {run_dir / 'fold1'} is full" in lines[0] and "--resume" in lines[0]
    kept = snapshot(run_dir / "fold0")
    assert list(kept) == ["importance.csv", "predictions.npz"] and not list(run_dir.rglob("*.tmp"))
    monkeypatch.setattr(np, "savez", real_savez)
    rc, out, err = run_cli("run", "tabular", "--resume", run_dir)
    assert rc == 0, err
    assert snapshot(run_dir / "fold0") == kept and (run_dir / "metrics.json").is_file()


def test_a_full_disk_met_by_a_library_is_one_line(capsys, tmp_path):
    from shared.cli import main

    def entry(argv):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "models" / "model.pkl"))

    assert main(entry, []) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"the disk holding {tmp_path / 'models'} is full" in err[0]


def test_a_log_line_stopped_by_a_full_disk_prints_no_traceback(tmp_path, capsys):
    import logging

    from shared.log import RunLogHandler

    handler = RunLogHandler(tmp_path / "log.txt", encoding="utf-8")

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    handler.stream = Full()
    handler.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "fold 0: done", None, None))
    assert capsys.readouterr().err == ""
    handler.stream = None
    handler.close()


def test_class_labels_are_text_too(tmp_path):
    data = table(tmp_path / "data", labels=lambda x: np.where(x > 0.5, "007", np.where(x > -0.5, "07", "7")))
    rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "accuracy", "--recipe", "linear"))
    assert rc == 0, err
    run_dir = Path(last_line(out))
    labels = {line.split(",")[1] for line in (run_dir / "submission.csv").read_text().splitlines()[1:]}
    assert labels == {"007", "07", "7"}
    sub = pd.read_csv(run_dir / "submission.csv", dtype=str)
    truth = pd.read_csv(data / "solution.csv", dtype=str)
    by_text = float((sub["y"].to_numpy() == truth["y"].to_numpy()).mean())  # the same id order
    assert by_text > 0.6 and json.loads((run_dir / "metrics.json").read_text())["holdout"] == pytest.approx(by_text)


def test_a_data_folder_one_level_up_or_still_zipped_says_where_the_data_is(demo_dir, tmp_path):
    parent = tmp_path / "downloads"
    shutil.copytree(demo_dir, parent / "house-prices-advanced-regression-techniques")
    line = refused(tmp_path, "run", "house_prices", "--data", parent, "--recipe", "linear", "--out", tmp_path / "r")
    assert f"it is in {parent / 'house-prices-advanced-regression-techniques'}: pass --data" in line
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    (zipped / "house-prices-advanced-regression-techniques.zip").write_bytes(b"PK")
    line = refused(tmp_path, "run", "house_prices", "--data", zipped, "--recipe", "linear", "--out", tmp_path / "r")
    assert "holds house-prices-advanced-regression-techniques.zip: unpack it there" in line


def test_ensemble_refuses_runs_whose_target_changed(tmp_path):
    data = table(tmp_path / "data")
    runs = []
    for recipe in (["linear"], ["gbm", "--set", "max_rounds=50"]):
        rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", *recipe))
        assert rc == 0, err
        runs.append(Path(last_line(out)))
    rc, out, err = run_cli("ensemble", *runs, "--out", tmp_path / "blends")
    assert rc == 0, err
    blend = Path(last_line(out))
    train = pd.read_csv(data / "train.csv", dtype={"id": str})
    train["y"] = train["y"] * 2  # the same ids and rows, other answers
    train.to_csv(data / "train.csv", index=False)
    line = refused(tmp_path, "ensemble", *runs, "--out", tmp_path / "blends")
    assert "the training target changed" in line and "pass --data" in line
    assert "data_fingerprint" in (blend / "config.yaml").read_text()


def test_partial_runs_of_the_same_data_at_two_paths_merge(tmp_path):
    first = table(tmp_path / "machine_a" / "data")
    second = Path(shutil.copytree(first, tmp_path / "machine_b" / "data"))
    parts = []
    for data, fold in ((first, "0"), (second, "1")):
        rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", "linear",
                                               "--only-folds", fold))
        assert rc == 0, err
        parts.append(Path(last_line(out)))
    rc, out, err = run_cli("merge", *parts, "--out", tmp_path / "merged")
    assert rc == 0, err
    assert json.loads((Path(last_line(out)) / "metrics.json").read_text())["complete"] is True


def test_a_mistyped_target_is_named_with_the_closest_column_and_the_flag(demo_dir, tmp_path):
    rc, _, err = run_cli("run", "tabular", "--data", demo_dir, "--target", "Saleprice", "--id", "Id",
                         "--metric", "rmsle", "--out", tmp_path / "runs")
    assert rc == 2 and "missing column(s) ['Saleprice']" in err and "Did you mean 'SalePrice'?" in err
    assert "Pass --target and --id" in err and "original file" not in err


def test_sample_weights_are_matched_by_text_ids_and_a_repeated_id_is_refused(tmp_path):
    data = table(tmp_path / "data")
    ids = pd.read_csv(data / "train.csv", dtype=str)["id"]
    weights = tmp_path / "weights.csv"
    pd.DataFrame({"id": ids, "weight": 1.0}).to_csv(weights, index=False)  # written as 001000: read back as text
    rc, _, err = run_cli("run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", "linear",
                                         "--set", f"sample_weight={weights}"))
    assert rc == 0, err
    pd.DataFrame({"id": [*ids, ids[0]], "weight": 1.0}).to_csv(weights, index=False)
    line = refused(tmp_path, "run", *generic(data, tmp_path / "runs", "rmsle", "--recipe", "linear",
                                             "--set", f"sample_weight={weights}"))
    assert "id '001000' has more than one weight" in line


def test_output_piped_into_a_reader_that_stops_early_is_no_traceback(capsys):
    import os
    import sys

    from shared.cli import main

    read, write = os.pipe()
    os.close(read)  # the reader (`| head`) has gone: the next write fails with a broken pipe
    stdout = sys.stdout
    sys.stdout = os.fdopen(write, "w", buffering=1)
    try:
        rc = main(lambda argv: print("a line of output"), [])
    finally:
        sys.stdout.close()
        sys.stdout = stdout
    assert rc == 0 and capsys.readouterr().err == ""


def test_a_merged_image_run_keeps_each_folds_learning_curves(demos, tmp_path):
    data = demos("cifar10", "tiny")
    parts = []
    for fold in ("0", "1"):
        rc, out, err = run_cli("run", "cifar10", "--data", data, "--folds", "2", "--only-folds", fold,
                               "--set", "epochs=1", "--set", "model=airbench_small", "--out", tmp_path / "runs")
        assert rc == 0, err[-2000:]
        parts.append(Path(last_line(out)))
    rc, out, err = run_cli("merge", *parts, "--out", tmp_path / "merged")
    assert rc == 0, err[-2000:]
    merged = Path(last_line(out))
    for k, part in enumerate(parts):
        assert (merged / f"fold{k}" / "history.csv").read_bytes() == (part / f"fold{k}" / "history.csv").read_bytes()
        assert (merged / f"fold{k}" / "curves.png").is_file() and not list((merged / f"fold{k}").glob("*.pt"))
    assert (merged / "curves.png").is_file()  # the run-level curves, from the folds' histories
