"""The submission history (runs/<competition>/submissions.csv) against a fake Kaggle client that behaves as the
API does (its own submission objects): submit.py appends a row per send, --fetch fills the public scores in and
adds the submissions made on the web page, compare.py puts the public LB beside CV and draws CV against it; a
broken history is one line and left as it is, --dry-run records nothing."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import assert_user_error, last_line, run_cli
from kagglesdk.competitions.types.competition_api_service import ApiSubmission
from kagglesdk.competitions.types.submission_status import SubmissionStatus

from shared import history, kaggle_io
from shared.io import file_sha256

PNG = b"\x89PNG\r\n\x1a\n"


class FakeKaggle:
    """Sends, lists (newest first, a page at a time) and scores submissions as Kaggle's API does."""

    def __init__(self, list_fails: int = 0):
        self.subs, self.sent, self.list_fails = [], [], list_fails
        self.clock = datetime.datetime(2026, 3, 1, 12, 0, 0)

    def _add(self, file_name: str, description: str) -> ApiSubmission:
        sub = ApiSubmission()
        sub.ref, sub.file_name, sub.description = 51000 + len(self.subs), file_name, description
        sub.date = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.subs.append(sub)
        return sub

    def competition_submit(self, file_name, message, competition, quiet=False):
        self.sent.append((Path(file_name).name, message, competition))
        self._add(Path(file_name).name, message)
        return type("Response", (), {"message": "Successfully submitted"})()

    def competition_submissions(self, competition, page_number=-1, page_size=20, **_):
        if self.list_fails:
            self.list_fails -= 1
            raise ConnectionError("the listing timed out")
        newest = self.subs[::-1]
        return newest[(page_number - 1) * page_size:page_number * page_size]

    def score(self, sub: ApiSubmission, public: str, private: str | None = None) -> None:
        sub.status, sub.public_score = SubmissionStatus.COMPLETE, public
        if private is not None:
            sub.private_score = private


def _run(root: Path, name: str, recipe: str, cv: float, holdout: float, submission: str) -> Path:
    """A finished house_prices run folder as run.py leaves it (the files submit.py and compare.py read)."""
    folder = root / "house_prices" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({
        "competition": "house_prices", "recipe": recipe, "id_col": "Id", "data_dir": "/data", "n_folds": 3,
        "seed": 42, "code_version": "abc1234", "model": {}, "features": {}}))
    (folder / "metrics.json").write_text(json.dumps({
        "metric": "rmsle", "greater_is_better": False, "cv": cv, "cv_mean": cv, "cv_std": 0.004,
        "folds": {"0": cv, "1": cv, "2": cv}, "holdout": holdout, "wall_time_s": 3.0, "recipe": recipe}))
    (folder / "submission.csv").write_text(submission)
    return folder


@pytest.fixture
def kaggle(demo_dir, tmp_path, monkeypatch):
    """(fake client, runs root, the two runs, demo data): the client stands in for ``kaggle_io.connect``."""
    fake = FakeKaggle()
    monkeypatch.setattr(kaggle_io, "connect", lambda: fake)
    sample = (demo_dir / "sample_submission.csv").read_text()
    lines = sample.splitlines()
    other = "\n".join([lines[0], lines[1].split(",")[0] + ",123456.5", *lines[2:]]) + "\n"
    root = tmp_path / "runs"
    runs = {"gbm": _run(root, "gbm-20260301-110000", "gbm", 0.1214, 0.1302, sample),
            "linear": _run(root, "linear-20260301-100000", "linear", 0.1350, 0.1401, other)}
    return fake, root, runs


def _submit(root: Path, demo_dir: Path, *args):
    return run_cli("submit", "house_prices", *args, "--data", demo_dir, "--out", root)


def test_sends_are_recorded_fetch_fills_scores_and_compare_draws_cv_against_lb(kaggle, demo_dir, tmp_path):
    fake, root, runs = kaggle
    for name in ("linear", "gbm"):
        rc, out, err = _submit(root, demo_dir, runs[name] / "submission.csv", "-m", f"{name} 3-fold")
        assert rc == 0, err
        assert "Successfully submitted" in out and "recorded in" in out
    path = root / "house_prices" / "submissions.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(rows.columns) == history.COLUMNS
    assert rows["run"].tolist() == [runs["linear"].name, runs["gbm"].name]
    assert rows["recipe"].tolist() == ["linear", "gbm"] and rows["metric"].tolist() == ["rmsle", "rmsle"]
    assert rows["cv"].astype(float).tolist() == [0.1350, 0.1214]
    assert rows["holdout"].astype(float).tolist() == [0.1401, 0.1302]
    assert rows["sha256"].tolist() == [file_sha256(runs[n] / "submission.csv") for n in ("linear", "gbm")]
    assert rows["kaggle_ref"].tolist() == ["51000", "51001"] and rows["status"].tolist() == ["pending"] * 2
    assert rows["message"].tolist() == ["linear 3-fold", "gbm 3-fold"] and set(rows["via"]) == {"submit.py"}
    assert rows["public_score"].tolist() == ["", ""]

    rc, out, err = run_cli("compare", "house_prices", "--from", root, "--out", tmp_path / "c1")
    assert rc == 0, err
    assert "0 of 2 submission(s) have both a CV and a public score; the picture needs two" in err
    assert not (Path(last_line(out)) / "cv_vs_lb.png").exists()

    fake.score(fake.subs[0], "0.13812")
    fake.score(fake.subs[1], "0.12455", private="0.12601")
    fake._add("blend.csv", "made on the web page")
    fake.score(fake.subs[2], "0.12001")
    rc, out, err = run_cli("submit", "house_prices", "--fetch", "--out", root)
    assert rc == 0, err
    assert last_line(out) == str(path)
    assert "2 submission(s) updated, 1 made elsewhere added; 3 in all" in err
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    print(path.read_text())  # the file as a Kaggler opens it
    assert rows["public_score"].tolist() == ["0.13812", "0.12455", "0.12001"]
    assert rows["private_score"].tolist() == ["", "0.12601", ""]
    assert rows["status"].tolist() == ["complete"] * 3
    web = rows.iloc[2]
    assert (web["run"], web["file"], web["message"], web["via"], web["kaggle_ref"]) == (
        "", "blend.csv", "made on the web page", "kaggle", "51002")
    rc, out, err = run_cli("submit", "house_prices", "--fetch", "--out", root)
    assert rc == 0 and "0 submission(s) updated, 0 made elsewhere added; 3 in all" in err  # nothing twice

    rc, out, err = run_cli("compare", "house_prices", "--from", root, "--out", tmp_path / "c2")
    assert rc == 0, err
    out_dir = Path(last_line(out))
    table = (out_dir / "compare.md").read_text()
    assert "| public LB | private LB |" in table
    assert f"| 1 | {runs['gbm'].name} | gbm | 0.12140 |" in table and "| 0.13020 | 0.12455 | 0.12601 |" in table
    assert "| 0.14010 | 0.13812 | — |" in table
    assert "CV against public LB: 2 submission(s), in cv_vs_lb.png." in table and "![CV against public LB]" in table
    assert (out_dir / "cv_vs_lb.png").read_bytes()[:8] == PNG
    report = {Path(r["run_dir"]).name: r["submissions"] for r in json.loads((out_dir / "compare.json").read_text())}
    assert [s["public_score"] for s in report[runs["gbm"].name]] == ["0.12455"]


def test_a_send_whose_listing_failed_is_matched_later_by_file_message_and_time(kaggle, demo_dir):
    fake, root, runs = kaggle
    fake.list_fails = 1
    rc, out, err = _submit(root, demo_dir, runs["gbm"] / "submission.csv", "-m", "gbm")
    assert rc == 0, err
    assert "could not list the submissions of house-prices-advanced-regression-techniques" in err
    path = root / "house_prices" / "submissions.csv"
    assert pd.read_csv(path, dtype=str, keep_default_na=False)["kaggle_ref"].tolist() == [""]
    fake.score(fake.subs[0], "0.125")
    rc, out, err = run_cli("submit", "house_prices", "--fetch", "--out", root)
    assert rc == 0, err
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert rows[["run", "kaggle_ref", "public_score"]].values.tolist() == [[runs["gbm"].name, "51000", "0.125"]]
    rc, _, err = _submit(root, demo_dir, runs["gbm"] / "submission.csv", "-m", "gbm again")
    assert rc == 0 and "note: the same file was sent on" in err and "public score 0.125" in err


@pytest.mark.parametrize("text, problem", [
    ("when,what\n2026-01-01,a,b,c\n", "is not a readable submission history"),
    ("submitted_utc,run,cv\n2026-01-01,gbm,0.1\n", "is not a submission history: it lacks the column(s)"),
    ("", "is not a readable submission history"),
], ids=["unparsable", "not a history", "empty"])
def test_a_broken_history_is_one_line_and_left_untouched(kaggle, demo_dir, text, problem):
    fake, root, runs = kaggle
    path = root / "house_prices" / "submissions.csv"
    path.write_text(text)
    for args in ([runs["gbm"] / "submission.csv", "-m", "gbm", "--data", demo_dir], ["--fetch"]):
        rc, out, err = run_cli("submit", "house_prices", *args, "--out", root)
        line = assert_user_error(rc, err)
        assert str(path) in line and problem in line and "move it aside" in line
        assert path.read_text() == text
    assert fake.sent == []  # refused before anything was sent


def test_dry_run_sends_and_records_nothing(kaggle, demo_dir):
    fake, root, runs = kaggle
    rc, out, err = _submit(root, demo_dir, runs["gbm"] / "submission.csv", "--dry-run")
    assert rc == 0 and "not sent: --dry-run" in out
    assert fake.sent == [] and not (root / "house_prices" / "submissions.csv").exists()


@pytest.mark.parametrize("args, message", [
    (["RUN/submission.csv", "--fetch"], "--fetch sends nothing: leave out the file"),
    (["--fetch", "-m", "x"], "-m x is for sending a file; --fetch only reads the scores"),
    ([], "pass the submission file to send"),
], ids=["file with fetch", "message with fetch", "nothing to do"])
def test_fetch_and_send_flags_are_not_mixed(kaggle, args, message):
    fake, root, runs = kaggle
    rc, out, err = run_cli("submit", "house_prices", *[a.replace("RUN", str(runs["gbm"])) for a in args],
                           "--out", root)
    assert message in assert_user_error(rc, err)


def test_an_api_error_while_fetching_is_one_line(kaggle, monkeypatch):
    fake, root, _ = kaggle

    class Refused(Exception):
        response = type("Response", (), {"status_code": 403})()

    def refuse(*_, **__):
        raise Refused("403 Client Error")

    monkeypatch.setattr(fake, "competition_submissions", refuse)
    rc, out, err = run_cli("submit", "house_prices", "--fetch", "--out", root)
    assert "Kaggle refused to list the submissions of" in assert_user_error(rc, err)
    assert not (root / "house_prices" / "submissions.csv").exists()


def test_fetch_reads_every_page():
    fake = FakeKaggle()
    for i in range(kaggle_io.PAGE_SIZE + 5):
        fake._add(f"s{i}.csv", "")
    spec = type("Spec", (), {"slug": "x"})()
    listed = kaggle_io.submissions(spec, client=fake)
    assert len(listed) == kaggle_io.PAGE_SIZE + 5 and listed[0]["file_name"] == f"s{kaggle_io.PAGE_SIZE + 4}.csv"


def test_rows_whose_time_was_edited_by_hand_are_all_kept(kaggle, demo_dir):
    """A spreadsheet rewrites times ('3/1/2026 12:00') or one is emptied: the next send keeps every row (they
    were lost and others doubled), oldest first, a row without a time last."""
    fake, root, runs = kaggle
    path = root / "house_prices" / "submissions.csv"
    old = pd.DataFrame([dict.fromkeys(history.COLUMNS, "") for _ in range(3)])
    old["submitted_utc"] = ["", "3/1/2026 12:00", "2026-02-27 09:00:00"]
    old["message"] = ["no time", "excel", "iso"]
    old.to_csv(path, index=False)
    rc, out, err = _submit(root, demo_dir, runs["gbm"] / "submission.csv", "-m", "gbm")
    assert rc == 0, err
    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert rows["message"].tolist() == ["iso", "excel", "gbm", "no time"]


def test_a_score_that_is_no_number_is_said_by_compare(kaggle, demo_dir, tmp_path):
    """A public score typed by hand as '0,12455' (or any text) was shown as '—' and left out of the picture
    without a word: compare.py says how many cells and one of them; extra columns of the history are kept."""
    fake, root, runs = kaggle
    for name in ("linear", "gbm"):
        assert _submit(root, demo_dir, runs[name] / "submission.csv", "-m", name)[0] == 0
    path = root / "house_prices" / "submissions.csv"
    rows = pd.read_csv(path, dtype=str, keep_default_na=False).assign(my_note=["a", "b"])
    rows["public_score"] = ["0,13812", ""]
    rows.to_csv(path, index=False)
    rc, out, err = run_cli("compare", "house_prices", "--from", root, "--out", tmp_path / "c")
    assert rc == 0, err
    assert "1 cell(s) of cv or public_score are not numbers (e.g. '0,13812'" in err
    assert pd.read_csv(path, dtype=str)["my_note"].tolist() == ["a", "b"]
