"""One submission check, in the right place: the sample submission checked before any training (its header, the
columns the predictions fill), the data of an ``auto`` run checked once before any member, one check of a file shared
by score.py and submit.py (the same line for the same file), values named as they are written (NaN, inf), and a
blend that blames the member run whose predictions are broken and leaves nothing half-made. Commands run in-process
on small generated tables and the small House Prices demo: seconds."""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli, snapshot

from shared.log import LOGGER


def table(folder: Path, labels: bool = False, n: int = 60) -> Path:
    """A generic-path competition ``id,a,b,y`` (``labels``: y is 'yes'/'no'), its sample submission and solution."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=2 * n), rng.normal(size=2 * n)
    y = np.where(a > 0, "yes", "no") if labels else np.exp(10 + 0.3 * a)
    frame = pd.DataFrame({"id": [f"{i:04d}" for i in range(2 * n)], "a": a, "b": b, "y": y})
    folder.mkdir(parents=True)
    frame.iloc[:n].to_csv(folder / "train.csv", index=False)
    frame.iloc[n:].drop(columns="y").to_csv(folder / "test.csv", index=False)
    frame.iloc[n:][["id"]].assign(y="no" if labels else 1.0).to_csv(folder / "sample_submission.csv", index=False)
    frame.iloc[n:][["id", "y"]].to_csv(folder / "solution.csv", index=False)
    return folder


def generic(data: Path, out: Path, metric: str = "rmse", *extra) -> list:
    return ["tabular", "--data", data, "--target", "y", "--id", "id", "--metric", metric, "--recipe", "linear",
            "--folds", "2", "--out", out, *extra]


class Records(logging.Handler):
    """The run log's records: a check made before any work logs nothing before its error line."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def refused(tmp_path: Path, script: str, *args) -> tuple[str, list[str]]:
    """(the one error line, the log lines before it) of a command that must change nothing under ``tmp_path``."""
    before = snapshot(tmp_path)
    log = Records()
    logging.getLogger(LOGGER).addHandler(log)
    try:
        rc, out, err = run_cli(script, *args)
    finally:
        logging.getLogger(LOGGER).removeHandler(log)
    line = assert_user_error(rc, err)
    assert out == "", out
    assert snapshot(tmp_path) == before, "changed or left behind: " + str(set(snapshot(tmp_path)) ^ set(before))
    return line, log.lines


# ------------------------------------------------------------------------------- before any training

def test_a_sample_submission_with_its_columns_in_another_order_is_refused_before_training(tmp_path):
    data = table(tmp_path / "data")
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample[["y", "id"]].to_csv(data / "sample_submission.csv", index=False)
    line, logged = refused(tmp_path, "run", *generic(data, tmp_path / "runs"))
    assert re.search(r"sample_submission\.csv has columns \['y', 'id'\]; expected \['id', 'y'\].*\(the same columns "
                     r"in another order\)", line), line
    assert not logged  # no fold was fitted: the check comes first


@pytest.mark.parametrize("labels, metric", [(False, "rmse"), (True, "accuracy")])
def test_a_generic_sample_names_its_own_answer_column(tmp_path, labels, metric):
    """Kaggle's samples may name the answer otherwise than train.csv does (Digit Recognizer: ``label``, then
    ``ImageId,Label``): on the generic path the sample's own header is the submission's, with the id first."""
    data = table(tmp_path / "data", labels=labels)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str).rename(columns={"y": "Prediction"})
    sample.to_csv(data / "sample_submission.csv", index=False)
    rc, out, err = run_cli("run", *generic(data, tmp_path / "runs", metric))
    assert rc == 0, err
    written = pd.read_csv(Path(last_line(out)) / "submission.csv", dtype=str)
    assert list(written.columns) == ["id", "Prediction"] and written["id"].tolist() == sample["id"].tolist()
    assert set(written["Prediction"]) <= {"yes", "no"} if labels else written["Prediction"].astype(float).gt(0).all()


def test_a_competition_sample_submission_with_the_id_last_is_refused_before_training(demo_copy, tmp_path):
    sample = pd.read_csv(demo_copy / "sample_submission.csv", dtype=str)
    sample[["SalePrice", "Id"]].to_csv(demo_copy / "sample_submission.csv", index=False)
    line, logged = refused(tmp_path, "run", "house_prices", "--data", demo_copy, "--recipe", "linear", "--folds", "2",
                           "--out", tmp_path / "runs")
    assert "has columns ['SalePrice', 'Id']; expected ['Id', 'SalePrice']" in line and not logged


def test_sample_class_columns_that_differ_from_the_labels_in_case_are_named_so(tmp_path):
    data = table(tmp_path / "data", labels=True)
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample[["id"]].assign(Yes=0.5, No=0.5).to_csv(data / "sample_submission.csv", index=False)
    line, logged = refused(tmp_path, "run", *generic(data, tmp_path / "runs", "logloss"))
    assert "columns ['Yes', 'No'] are the classes ['no', 'yes'] written in another case" in line and not logged


def test_auto_without_a_sample_submission_is_one_error_before_any_member(demo_copy, tmp_path):
    (demo_copy / "sample_submission.csv").unlink()
    line, logged = refused(tmp_path, "run", "house_prices", "--data", demo_copy, "--recipe", "auto", "--folds", "2",
                           "--out", tmp_path / "runs")
    assert "missing file" in line and "sample_submission.csv" in line
    assert not logged  # not one "member failed" line per member


# ------------------------------------------------------------------------ score.py and submit.py agree

def _hp_submission(demo_dir: Path, path: Path, change) -> Path:
    frame = pd.read_csv(demo_dir / "sample_submission.csv", dtype=str).assign(SalePrice="180000.5")
    text = change(frame) if callable(change) else frame.to_csv(index=False)
    path.write_text(text if isinstance(text, str) else text.to_csv(index=False))
    return path


def _cell(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    frame.loc[3, "SalePrice"] = value
    return frame


BAD_FILES = [
    ("an extra column", lambda f: f.assign(Extra="1"),
     r"has columns \['Id', 'SalePrice', 'Extra'\]; expected \['Id', 'SalePrice'\], those of a house_prices "
     r"submission: write exactly those columns"),
    ("another competition's file", lambda f: f.rename(columns={"SalePrice": "Sold Price"}),
     r"expected \['Id', 'SalePrice'\], those of a house_prices submission: is it a submission of another competition"),
    ("columns in another order", lambda f: f[["SalePrice", "Id"]], r"\(the same columns in another order\)"),
    ("a column name in another case", lambda f: f.rename(columns={"SalePrice": "saleprice"}),
     r"column 'saleprice' is 'SalePrice' there: names differ in case"),
    ("a literal NaN", lambda f: _cell(f, "NaN"), r"column 'SalePrice' is not a number \('NaN'\) at id \d+ \(1 such"),
    ("a literal inf", lambda f: _cell(f, "inf"), r"column 'SalePrice' is infinite \('inf'\) at id \d+"),
    ("an empty cell", lambda f: _cell(f, ""), r"column 'SalePrice' is empty at id \d+"),
    ("a repeated id", lambda f: pd.concat([f, f.iloc[[0]]]), r"id '\d+' appears 2 times"),
    ("the training ids", lambda f: f.assign(Id=[str(i) for i in range(1, len(f) + 1)]),
     r"id '1' is not in the sample submission"),
    ("ids written as 1461.0", lambda f: f.assign(Id=f["Id"] + ".0"), r"ids are compared as text.*'\.0' count"),
    ("a comma at the end of each line", lambda f: f.to_csv(index=False).replace("\n", ",\n").replace("Price,\n",
                                                                                                     "Price\n"),
     r"first row has 3 fields but the header names 2 columns"),
]


@pytest.mark.parametrize("change, expect", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_score_and_submit_refuse_the_same_file_with_the_same_line(demo_dir, tmp_path, change, expect):
    sub = _hp_submission(demo_dir, tmp_path / "submission.csv", change)
    scored, _ = refused(tmp_path, "score", sub, "--solution", demo_dir / "solution.csv", "--competition",
                        "house_prices")
    submitted, _ = refused(tmp_path, "submit", "house_prices", sub, "--data", demo_dir, "--dry-run")
    assert re.search(expect, scored), scored
    assert scored == submitted


def test_a_file_kaggle_takes_is_taken_by_both(demo_dir, tmp_path):
    """Rows in another order (Kaggle matches them by id), a byte-order mark, Windows line ends, blank lines at the
    end."""
    frame = pd.read_csv(demo_dir / "solution.csv", dtype=str)
    frame = frame[["Id", "SalePrice"]].iloc[::-1]
    sub = tmp_path / "submission.csv"
    sub.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False, lineterminator="\r\n").encode() + b"\r\n\r\n")
    rc, out, err = run_cli("score", sub, "--solution", demo_dir / "solution.csv", "--competition", "house_prices")
    assert rc == 0 and out.strip() == "rmsle 0.000000", err
    rc, out, err = run_cli("submit", "house_prices", sub, "--data", demo_dir, "--dry-run")
    assert rc == 0 and "is a valid house_prices submission" in out, err


def test_a_file_of_the_right_shape_scored_as_another_competition_is_refused(demo_dir, tmp_path):
    sub = tmp_path / "submission.csv"
    shutil.copy(demo_dir / "solution.csv", sub)
    line, _ = refused(tmp_path, "score", sub, "--solution", demo_dir / "solution.csv", "--competition",
                      "california_house_prices")
    assert "expected ['Id', 'Sold Price'], those of a california_house_prices submission" in line


def test_a_label_in_another_case_is_named_so(tmp_path):
    from shared import submission
    from shared.errors import UserError
    from shared.metrics import get_metric

    sample = pd.DataFrame({"id": ["1", "2"], "label": ["cat", "cat"]})
    with pytest.raises(UserError, match=r"unknown label 'Cat' at id 2 \(the label 'cat' differs only in case"):
        submission.validate(pd.DataFrame({"id": ["1", "2"], "label": ["dog", "Cat"]}), sample, "id",
                            get_metric("accuracy"), labels=["cat", "dog"])


# ------------------------------------------------------------------------------------------- blends

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data, runs root, two finished linear runs with different settings) of a small generic table."""
    root = tmp_path_factory.mktemp("blend")
    data = table(root / "data")
    made = []
    for alpha in ("0.1", "30"):
        rc, out, err = run_cli("run", *generic(data, root / "runs", "rmsle", "--set", f"alpha={alpha}"))
        assert rc == 0, err[-2000:]
        made.append(Path(last_line(out)))
    return data, root / "runs", made


def _copies(two_runs, tmp_path: Path) -> tuple[Path, list[Path]]:
    _, out, made = two_runs
    copy = Path(shutil.copytree(out, tmp_path / "runs"))
    return copy, [copy / m.relative_to(out) for m in made]


def test_a_members_nan_prediction_is_blamed_on_that_member_and_nothing_is_made(two_runs, tmp_path):
    out, (first, second) = _copies(two_runs, tmp_path)
    test_pred = pd.read_csv(second / "test_pred.csv", dtype=str)
    test_pred.loc[2, "prediction"] = "NaN"
    test_pred.to_csv(second / "test_pred.csv", index=False)
    line, _ = refused(tmp_path, "ensemble", first, second, "--out", out)
    assert f"{second / 'test_pred.csv'}: column" in line and "is not a finite number" in line and "at id" in line
    assert f"at id '{test_pred['id'][2]}'" in line and "submission.csv" not in line


def test_a_blend_that_fails_while_writing_leaves_no_folder(two_runs, tmp_path, monkeypatch):
    from shared import tables
    from shared.errors import UserError

    out, runs = _copies(two_runs, tmp_path)

    def fail(*args, **kwargs):
        raise UserError("the disk is full")

    monkeypatch.setattr(tables, "write_members", fail)  # the blend's last file
    line, _ = refused(tmp_path, "ensemble", *runs, "--out", out)
    assert line == "error: the disk is full"
    monkeypatch.undo()
    rc, stdout, err = run_cli("ensemble", *runs, "--out", out)
    assert rc == 0, err
    made = Path(last_line(stdout))
    assert sorted(p.name for p in made.parent.iterdir() if p.name.startswith((".", "ensemble"))) == [made.name]
    assert (made / "submission.csv").is_file() and (made / "members.md").is_file()
    assert str(made) in (made / "log.txt").read_text() and ".partial" not in (made / "log.txt").read_text()
