"""The submission history of a competition: ``<runs root>/<competition>/submissions.csv``, one row per submission
(oldest first), beside the runs it was made from. ``submit.py`` appends a row for each file it sends (the run it
came from with its CV and local holdout, the file's sha256, Kaggle's reference); ``submit.py --fetch`` fills in
the public and private scores Kaggle has given since and adds the submissions made elsewhere (the web page);
``compare.py`` puts the public score beside each run's CV and draws CV against the public leaderboard.

Every cell is kept as the text it was written as (a spreadsheet's own columns, added at the end, are kept too),
and the file is rewritten whole through a temporary file, so an interrupted write never loses a row."""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError
from shared.io import file_sha256, write_csv
from shared.runs import load_config, load_metrics

FILE = "submissions.csv"
# In reading order for a spreadsheet: when and what, the scores side by side, then what identifies the submission.
COLUMNS = ["submitted_utc", "run", "recipe", "metric", "cv", "cv_std", "holdout", "public_score", "private_score",
           "status", "message", "file", "sha256", "kaggle_ref", "code_version", "via"]
HERE, ELSEWHERE = "submit.py", "kaggle"  # the `via` of a row: sent by submit.py, or found on Kaggle by --fetch
MATCH_HOURS = 24.0  # --fetch pairs a row without a reference with a Kaggle submission this close in time at most


def path_for(out_root: Path, competition: str) -> Path:
    return Path(out_root) / competition / FILE


def read(path: Path) -> pd.DataFrame:
    """The history at ``path`` (an empty one when there is no file yet), every cell as text; a file that is not
    a history (unparsable, not UTF-8, a column missing) is one line naming it, and is left as it is."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS, dtype=str)
    fix = (f"repair it (its header must hold {', '.join(COLUMNS)}) or move it aside to start a new one; it was "
           "left as it is and nothing was sent or fetched.")
    try:
        with warnings.catch_warnings():  # a row longer than the header: pandas would drop its cells with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError,
            OSError) as exc:
        problem = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise UserError(f"{path} is not a readable submission history ({problem}): {fix}") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path} is not a submission history: it lacks the column(s) {missing}: {fix}")
    return frame[COLUMNS + [c for c in frame.columns if c not in COLUMNS]]


def write(path: Path, frame: pd.DataFrame) -> Path:
    """The whole history, oldest first (a time that is not one, e.g. emptied by hand, after the others; ties and
    those in the order they had), written to a temporary file and renamed onto ``path``; every row is kept."""
    when = pd.to_datetime(frame["submitted_utc"], errors="coerce", format="mixed")
    return write_csv(path, frame.iloc[np.lexsort((np.arange(len(frame)), when.fillna(pd.Timestamp(0)), when.isna()))])


def _number(value) -> str:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else repr(float(value))


def run_of(file: Path) -> dict[str, str]:
    """What the run folder holding ``file`` says of itself (run, recipe, metric, CV and its std over folds, local
    holdout, code version), read through the run folder loaders; empty for a file outside a run folder, and the
    scores empty for a run that has not finished."""
    folder = Path(file).resolve().parent
    if not (folder / "config.yaml").is_file():
        return {}
    config = load_config(folder, required=("recipe",))
    row = {"run": folder.name, "recipe": str(config["recipe"]), "code_version": str(config.get("code_version", ""))}
    if (folder / "metrics.json").is_file():
        metrics = load_metrics(folder, required=("metric", "cv"))
        row.update(metric=metrics["metric"], cv=_number(metrics["cv"]), cv_std=_number(metrics.get("cv_std")),
                   holdout=_number(metrics.get("holdout")))
    return row


def new_row(file: Path, message: str, listed: list[dict], sha256: str) -> dict[str, str]:
    """The row of a file just sent (its bytes' ``sha256``): now (UTC), the file and its hash, its run, and Kaggle's reference and
    status: those of the newest of ``listed`` (``kaggle_io.submissions``) with the file's name and the message
    as its description (none found: left empty for ``--fetch`` to fill in)."""
    file = Path(file)
    row = dict.fromkeys(COLUMNS, "")
    row.update(submitted_utc=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), file=str(file),
               sha256=sha256, message=message, via=HERE, **run_of(file))
    same = [s for s in listed if s["file_name"] == file.name and s["description"] == message]
    if same:
        newest = max(same, key=lambda s: (s["date"], s["ref"]))
        row.update(kaggle_ref=newest["ref"], status=newest["status"], public_score=newest["public_score"],
                   private_score=newest["private_score"])
    return row


def earlier(frame: pd.DataFrame, sha256: str) -> pd.DataFrame:
    """The rows of ``frame`` that sent the same bytes."""
    return frame[frame["sha256"] == sha256]


def append(path: Path, frame: pd.DataFrame, row: dict) -> pd.DataFrame:
    frame = pd.concat([frame, pd.DataFrame([row]).reindex(columns=frame.columns, fill_value="")], ignore_index=True)
    write(path, frame)
    return frame


def fill_in(frame: pd.DataFrame, listed: list[dict]) -> tuple[pd.DataFrame, int, int]:
    """``frame`` with Kaggle's status and scores of each of ``listed`` put in its row: the row with its reference,
    else (a row recorded without one) the row of the same file name and message nearest in time within
    ``MATCH_HOURS``; a submission in no row (made on the web page, or from another machine) becomes a row of its
    own, with no run. (the history, rows updated, rows added)."""
    frame = frame.copy()
    updated, added = 0, []
    for sub in sorted(listed, key=lambda s: (s["date"], s["ref"])):
        at = _row_of(frame, sub)
        if at is None:
            row = dict.fromkeys(frame.columns, "")
            row.update(submitted_utc=sub["date"], message=sub["description"], file=sub["file_name"],
                       kaggle_ref=sub["ref"], status=sub["status"], public_score=sub["public_score"],
                       private_score=sub["private_score"], via=ELSEWHERE)
            added.append(row)
            continue
        new = {"kaggle_ref": sub["ref"], "status": sub["status"], "public_score": sub["public_score"],
               "private_score": sub["private_score"]}
        if any(frame.at[at, k] != v for k, v in new.items()):
            updated += 1
            for key, value in new.items():
                frame.at[at, key] = value
    if added:
        frame = pd.concat([frame, pd.DataFrame(added, columns=frame.columns)], ignore_index=True)
    return frame, updated, len(added)


def _row_of(frame: pd.DataFrame, sub: dict):
    """The index of the row that recorded the Kaggle submission ``sub``, or None."""
    by_ref = frame.index[frame["kaggle_ref"] == sub["ref"]]
    if len(by_ref):
        return by_ref[0]
    names = frame["file"].map(lambda f: Path(f).name if f else "")
    free = frame[(frame["kaggle_ref"] == "") & (names == sub["file_name"]) & (frame["message"] == sub["description"])]
    when = pd.Timestamp(sub["date"])
    gaps = (pd.to_datetime(free["submitted_utc"], errors="coerce") - when).abs().dropna()
    gaps = gaps[gaps <= pd.Timedelta(hours=MATCH_HOURS)]
    return gaps.idxmin() if len(gaps) else None


def latest(frame: pd.DataFrame, last: int = 20) -> pd.DataFrame:
    """The last ``last`` submissions for the terminal: time, run, CV, holdout, public and private score, status,
    message (shortened), each missing cell a dash."""
    shown = frame.tail(last)[["submitted_utc", "run", "cv", "holdout", "public_score", "private_score", "status",
                              "message"]].copy()
    for col in ("cv", "holdout"):
        shown[col] = shown[col].map(lambda v: f"{score(v):.5f}" if score(v) is not None else "")
    shown["message"] = shown["message"].map(lambda m: m if len(m) <= 40 else m[:39] + "…")
    return shown.replace("", "—")


# ------------------------------------------------------------------------------------------ runs and the LB
def score(value: str) -> float | None:
    """A history cell as a number (Kaggle's scores are text; a pending one is empty), or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def of_runs(histories: list[Path], runs: list) -> tuple[pd.DataFrame, dict]:
    """The rows of the histories at ``histories`` (those that exist, each row once) and, for each of ``runs``
    (``shared.runs.Run``), the rows of its submissions: the same run folder name, or the sha256 of a submission
    file in its folder."""
    frames = [read(p) for p in dict.fromkeys(Path(p) for p in histories) if p.is_file()]
    if not frames:
        return pd.DataFrame(columns=COLUMNS, dtype=str), {}
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[~rows.duplicated(subset=["submitted_utc", "sha256", "kaggle_ref", "file"])].reset_index(drop=True)
    joined = {}
    for run in runs:
        hashes = {file_sha256(f) for f in Path(run.path).glob("submission*") if f.is_file()} if len(rows) else set()
        mine = rows[(rows["run"] == run.path.name) | rows["sha256"].isin(hashes)]
        if len(mine):
            joined[run.path] = mine
    return rows, joined


def latest_score(rows: pd.DataFrame, column: str = "public_score") -> float | None:
    """The score of the newest of ``rows`` that has one."""
    scores = [s for s in map(score, rows[column]) if s is not None]
    return scores[-1] if scores else None

