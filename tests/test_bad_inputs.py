"""The bad-input matrix, one for the whole project: for every case, across the five competitions and the generic
path, the command prints one line (``error: ...``) naming the problem and what to do, exits 2, prints nothing on
standard output, and leaves every file that existed before — the data and earlier runs — byte-identical, with
nothing new behind it (a case found while images are decoded, after the run began, may leave the fold file and
empty folders, never a file of its own). Commands run in-process (``run_cli``); the exit codes through the real
interpreter are checked in test_cli.py (test_malformed_arguments_follow_the_one_line_contract).

Inputs that are not errors but have a documented handling are checked below: text with commas, quotes,
newlines and unicode; grayscale, RGBA, CMYK, palette, 1-bit and 16-bit images. The other two handled cases
are in test_detection.py: COCO boxes of zero or negative size (dropped) or outside the image (clipped), with one
warning (test_degenerate_boxes_are_dropped_and_outside_boxes_clipped_with_one_warning), and image ids beyond
int64, kept exactly end to end (test_demo_has_the_exact_layout_with_ids_beyond_int64,
test_submission_keeps_ids_beyond_int64_exactly_and_refuses_bad_detections)."""
from __future__ import annotations

import json
import logging
import re
import shutil
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_cli, snapshot

from shared.log import LOGGER

TINY_IMAGES = ["--folds", "2", "--set", "epochs=1"]
GENERIC_HOUSE = ["--target", "SalePrice", "--id", "Id"]


@pytest.fixture(scope="session")
def inputs(demos, tmp_path_factory) -> dict:
    """Demo data of every competition and two finished runs (House Prices, California) to keep intact."""
    root = tmp_path_factory.mktemp("matrix")
    names = ("house_prices", "california_house_prices", "cifar10", "classify_leaves", "cowboy_outfits")
    data = {name: demos(name) for name in names}
    runs = {}
    for name in ("house_prices", "california_house_prices"):
        rc, out, err = run_cli("run", name, "--data", data[name], "--recipe", "linear", "--folds", "2",
                               "--out", root / "runs")
        assert rc == 0, err[-2000:]
        runs[name] = Path(last_line(out))
    return {"data": data, "runs": runs, "root": root}


@dataclass
class Env:
    data: Path  # a private copy of the case's competition data (after the case's edit)
    out: Path  # a runs root holding copies of the earlier runs
    runs: dict[str, Path]
    tmp: Path


def _csv(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


def _header(path: Path, old: str, new: str) -> None:
    lines = path.read_text().split("\n", 1)
    header = lines[0].split(",")
    header[header.index(old)] = new  # the whole name, not a part of another one
    path.write_text(",".join(header) + "\n" + lines[1])


def _coco(path: Path, change: Callable[[dict], None]) -> None:
    coco = json.loads(path.read_text())
    change(coco)
    path.write_text(json.dumps(coco))


def _submission(env: Env, change: Callable[[pd.DataFrame], pd.DataFrame], sample="sample_submission.csv") -> Path:
    frame = pd.read_csv(env.data / sample)
    path = env.tmp / "submission.csv"
    change(frame).to_csv(path, index=False)
    return path


def _first_image(data: Path, csv: str, column: str) -> str:
    return pd.read_csv(data / csv, dtype=str)[column].iloc[0]


@dataclass
class Case:
    id: str
    competition: str  # whose demo data the case starts from
    script: str
    args: Callable[[Env], list]  # the command's arguments
    edit: Callable[[Path], None] | None
    expect: str  # a regular expression the error line must match
    late: bool = False  # found while images are decoded, after the run began


def run(competition, *extra):
    return lambda env: [competition, "--data", env.data, "--out", env.out, *extra]


def generic(*extra):
    """The generic path on the House Prices files."""
    return lambda env: ["tabular", "--data", env.data, *GENERIC_HOUSE, "--metric", "rmse", "--recipe", "linear",
                        "--folds", "2", "--out", env.out, *extra]


def score(change):
    return lambda env: [_submission(env, change), "--solution", env.data / "solution.csv",
                        "--competition", "house_prices"]


def _edit_cell(column: str, row: int, value: str):
    return lambda f: f.assign(**{column: f[column].where(f.index != row, value)})


# Inputs checked before any work is done, for a tree model and a linear one alike.
CHECKED_FIRST = [
    ("header-only train.csv", "train.csv", lambda f: f.iloc[:0], r"train\.csv has no rows \(only a header\)"),
    ("three training rows", "train.csv", lambda f: f.iloc[:3], r"train\.csv has 3 row\(s\): 2-fold CV would train each"),
    ("the target column in test.csv", "test.csv", lambda f: f.assign(SalePrice="100000"),
     r"test\.csv has the target column 'SalePrice'"),
    ("inf in the target", "train.csv", _edit_cell("SalePrice", 3, "inf"),
     r"train\.csv: column 'SalePrice' is infinite at id '4'"),
    ("inf in a feature", "test.csv", _edit_cell("LotArea", 2, "-inf"), r"test\.csv: column 'LotArea' is infinite at id"),
    ("extra column in the sample submission", "sample_submission.csv", lambda f: f.assign(Extra="1"),
     r"sample_submission\.csv has columns \['Id', 'SalePrice', 'Extra'\]; expected \['Id', 'SalePrice'\]"),
]

CASES = [
    # House Prices: files, folders and columns
    Case("missing folder", "house_prices", "run", lambda env: ["house_prices", "--data", env.tmp / "nowhere",
                                                              "--out", env.out], None, r"nowhere does not exist.*make_demo"),
    Case("missing train.csv", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: (d / "train.csv").unlink(), r"missing file .*train\.csv"),
    Case("missing test.csv", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: (d / "test.csv").unlink(), r"missing file .*test\.csv"),
    Case("missing sample_submission.csv", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: (d / "sample_submission.csv").unlink(), r"sample_submission\.csv"),
    Case("renamed target column", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _header(d / "train.csv", "SalePrice", "Sale_Price"),
         r"train\.csv is missing column\(s\) \['SalePrice'\]"),
    Case("feature renamed in train.csv", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _header(d / "train.csv", "LotArea", "Lot_Area"), r"lacks column\(s\) \['Lot_Area'\]"),
    Case("feature renamed in test.csv", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _header(d / "test.csv", "GrLivArea", "LivArea"), r"lacks column\(s\) \['GrLivArea'\]"),
    Case("missing test column", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _csv(d / "test.csv", lambda f: f.drop(columns=["LotArea"])), r"test\.csv lacks column.*LotArea"),
    Case("extra column in test.csv", "house_prices", "run", run("house_prices", "--recipe", "gbm", "--folds", "3"),
         lambda d: _csv(d / "test.csv", lambda f: f.assign(Extra="1")),
         r"test\.csv has column\(s\) \['Extra'\] that train\.csv lacks"),
    Case("duplicated column", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _header(d / "train.csv", "LotArea", "LotFrontage"),
         r"column 'LotFrontage' appears more than once"),
    # House Prices: rows, ids and values
    Case("duplicated id", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _csv(d / "train.csv", lambda f: pd.concat([f, f.iloc[[3]]])), r"id '4' appears more than once"),
    Case("test ids differ from the sample", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _csv(d / "sample_submission.csv", lambda f: f.assign(Id=f["Id"].replace(f["Id"].iloc[5], "99999"))),
         r"sample_submission\.csv does not list the test ids"),
    Case("empty test set", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: [_csv(d / n, lambda f: f.iloc[:0]) for n in ("test.csv", "sample_submission.csv")],
         r"test\.csv has no rows"),
    Case("empty target", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         lambda d: _csv(d / "train.csv", _edit_cell("SalePrice", 2, "")), r"'SalePrice' has 1 empty value"),
    *[Case(f"{name} ({recipe})", "house_prices", "run", run("house_prices", "--recipe", recipe, "--folds", "2"),
           lambda d, file=file, change=change: _csv(d / file, change), expect)
      for name, file, change, expect in CHECKED_FIRST for recipe in ("gbm", "linear")],
    # Arguments
    Case("unknown competition", "house_prices", "run", run("house_pricez"),
         None, r"unknown competition 'house_pricez'.*'house_prices'.*`tabular`"),
    Case("unknown recipe", "house_prices", "run", run("house_prices", "--recipe", "nope"), None,
         r"unknown recipe 'nope' for house_prices; choose one of .*'gbm'.*'linear'"),
    Case("unknown --set key", "house_prices", "run", run("house_prices", "--recipe", "linear", "--set", "nope=1"),
         None, r"--set nope: recipe 'linear' has no such key; known keys: \[.*'alpha'"),
    Case("non-numeric --set value", "house_prices", "run", run("house_prices", "--recipe", "linear",
                                                               "--set", "alpha=big"), None, r"alpha must be auto or a number > 0"),
    Case("fractional --set value for a whole number", "house_prices", "run",
         run("house_prices", "--recipe", "gbm", "--folds", "3", "--set", "max_rounds=2.5"),
         None, r"--set max_rounds=2\.5: expected a whole number"),
    Case("fold out of range", "house_prices", "run", run("house_prices", "--recipe", "linear", "--folds", "2",
                                                         "--only-folds", "5"), None, r"--only-folds"),
    Case("one fold", "house_prices", "run", generic("--folds", "1"),
         None, r"--folds: 1 is out of range: a fold count from 2 to 100"),
    Case("negative seed", "house_prices", "run", generic("--seed", "-1"),
         None, r"--seed: -1 is out of range: a seed from 0 to 4294967295"),
    Case("seed beyond 32 bits", "house_prices", "run", generic("--seed", str(2**40)),
         None, r"--seed: 1099511627776 is out of range"),
    Case("negative time limit", "house_prices", "run", generic("--time-limit", "-5"),
         None, r"--time-limit: -5 is out of range"),
    Case("read-only output folder", "house_prices", "run", run("house_prices", "--recipe", "linear"),
         None, r"is read-only"),
    Case("a demo size the competition does not have", "house_prices", "make_demo",
         lambda env: ["house_prices", "--size", "tiny", "--out", env.out / "demo"], None,
         r"--size tiny: house_prices's demo comes in"),
    Case("--out is a file", "house_prices", "run", lambda env: [*generic()(env), "--out", env.tmp / "notes.txt"],
         lambda d: (d.parent / "notes.txt").write_text("my notes\n"),
         r"notes\.txt is a file, not a folder"),
    Case("kernel: a negative seed", "house_prices", "kernel",
         lambda env: ["house_prices", "--user", "me", "--seed", "-3", "--out", env.tmp / "bundle"], None,
         r"--seed: -3 is out of range"),
    Case("kernel: no folds", "house_prices", "kernel",
         lambda env: ["house_prices", "--user", "me", "--folds", "0", "--out", env.tmp / "bundle"], None,
         r"--folds: 0 is out of range"),
    Case("make_demo: a seed beyond 32 bits", "house_prices", "make_demo",
         lambda env: ["house_prices", "--seed", str(2**33), "--out", env.tmp / "demo"], None,
         r"--seed: 8589934592 is out of range"),
    Case("adversarial: no top features", "house_prices", "adversarial",
         lambda env: ["house_prices", "--top", "0", "--data", env.data], None, r"--top: 0 is out of range"),
    # The generic path
    Case("generic path: target column missing", "house_prices", "run",
         lambda env: ["tabular", "--data", env.data, "--target", "Price", "--id", "Id", "--metric", "rmsle",
                      "--out", env.out], None, r"Price"),
    Case("generic path: unknown metric", "house_prices", "run",
         lambda env: ["tabular", "--data", env.data, *GENERIC_HOUSE, "--metric", "r3", "--out", env.out],
         None, r"unknown metric 'r3'.*r2"),
    Case("generic path: id and target the same column", "house_prices", "run",
         lambda env: ["tabular", "--data", env.data, "--target", "SalePrice", "--id", "SalePrice", "--metric",
                      "rmse", "--recipe", "linear", "--folds", "2", "--out", env.out],
         None, r"--id and --target are both 'SalePrice'"),
    # Predictions scored against the solution
    Case("NaN prediction for a log metric", "house_prices", "score",
         score(_edit_cell("SalePrice", 4, np.nan)), None, r"column 'SalePrice' is empty at id"),
    Case("infinite prediction", "house_prices", "score", score(_edit_cell("SalePrice", 4, np.inf)),
         None, r"is infinite \('inf'\) at id"),
    Case("non-positive prediction for a log metric", "house_prices", "score", score(_edit_cell("SalePrice", 4, -5)),
         None, r"non-positive value -5.* must be > 0"),
    # Earlier runs passed where they do not belong
    Case("a run of another competition passed to ensemble", "house_prices", "ensemble",
         lambda env: [env.runs["house_prices"], env.runs["california_house_prices"], "--out", env.out],
         None, r"competition"),
    Case("runs of two competitions passed to merge", "house_prices", "merge",
         lambda env: [env.runs["house_prices"], env.runs["california_house_prices"], "--out", env.out],
         None, r"differs from .* merge runs of one recipe"),
    Case("resume of another competition's run", "cifar10", "run",
         lambda env: ["cifar10", "--resume", env.runs["house_prices"]], None,
         r"that run is of 'house_prices', not 'cifar10'"),
    # California House Prices
    Case("renamed column with a space", "california_house_prices", "run",
         run("california_house_prices", "--recipe", "linear"),
         lambda d: _header(d / "train.csv", "Sold Price", "SoldPrice"), r"missing column\(s\) \['Sold Price'\]"),
    Case("duplicated test id", "california_house_prices", "run", run("california_house_prices", "--recipe", "linear"),
         lambda d: _csv(d / "test.csv", lambda f: f.assign(Id=f["Id"].where(f.index != 1, f["Id"].iloc[0]))),
         r"test\.csv: id .* appears more than once"),
    # CIFAR-10
    Case("missing label column", "cifar10", "run", run("cifar10", *TINY_IMAGES),
         lambda d: _header(d / "trainLabels.csv", "label", "class"), r"missing column\(s\) \['label'\]"),
    Case("missing image", "cifar10", "run", run("cifar10", *TINY_IMAGES),
         lambda d: (d / "train" / "3.png").unlink(), r"lists id '3' but its image .*train/3\.png does not exist"),
    Case("corrupt image", "cifar10", "run", run("cifar10", *TINY_IMAGES),
         lambda d: (d / "train" / "2.png").write_bytes(b"not a png"),
         r"^error: image .*train/2\.png is unreadable.*bad_images=skip", late=True),
    Case("unseen label in a submission", "cifar10", "submit",
         lambda env: ["cifar10", _submission(env, lambda f: f.assign(label="zebra"), "sampleSubmission.csv"),
                      "--data", env.data, "--dry-run"], None, r"unknown label 'zebra'"),
    # Classify Leaves
    Case("label without an image", "classify_leaves", "run", run("classify_leaves", "--recipe", "baseline",
                                                                  *TINY_IMAGES),
         lambda d: (d / "images" / "3.jpg").unlink(),
         r"train\.csv lists id 'images/3\.jpg' but its image .*images/3\.jpg does not exist"),
    Case("image listed twice", "classify_leaves", "run", run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES),
         lambda d: _csv(d / "train.csv", lambda f: pd.concat([f, f.iloc[[0]]])),
         r"train\.csv: id 'images/0\.jpg' appears more than once in column 'image'"),
    Case("test image missing", "classify_leaves", "run", run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES),
         lambda d: (d / "images" / _first_image(d, "test.csv", "image")[len("images/"):]).unlink(),
         r"test\.csv lists id 'images/\d+\.jpg' but its image .* does not exist"),
    Case("truncated image", "classify_leaves", "run",
         run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES, "--set", "img_size=32"),
         lambda d: (d / "images" / "0.jpg").write_bytes((d / "images" / "0.jpg").read_bytes()[:300]),
         r"^error: image .*images/0\.jpg is unreadable", late=True),
    Case("an image in both train and test", "classify_leaves", "run",
         run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES),
         lambda d: [_csv(d / n, lambda f: f.assign(image=f["image"].where(
             f.index != 0, _first_image(d, "train.csv", "image")))) for n in ("test.csv", "sample_submission.csv")],
         r"'images/0\.jpg' is listed in both .*train\.csv and .*test\.csv"),
    *[Case(f"an image path that leaves the data folder: {path}", "classify_leaves", "run",
           run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES),
           lambda d, path=path: [shutil.copy(d / "images" / "0.jpg", d.parent / "outside.jpg"),
                                 _csv(d / "train.csv", _edit_cell("image", 0, path))],
           rf"leaves the data folder.*{re.escape(repr(path))}|{re.escape(repr(path))}.*leaves the data folder")
      for path in ("../outside.jpg", "images/../../outside.jpg", "/etc/hostname")],
    Case("test ids differ from the sample", "classify_leaves", "run",
         run("classify_leaves", "--recipe", "baseline", *TINY_IMAGES),
         lambda d: _csv(d / "sample_submission.csv", lambda f: f.iloc[1:]), r"sample_submission\.csv does not list the test ids"),
    # CowBoy Outfits
    Case("image of valid.csv missing from images/", "cowboy_outfits", "run",
         run("cowboy_outfits", *TINY_IMAGES, "--set", "predict=valid", "--set", "pretrained=false"),
         lambda d: (d / "images" / _first_image(d, "valid.csv", "file_name")).unlink(),
         r"valid\.csv lists id \d+ but its image .* does not exist"),
    Case("unknown category id", "cowboy_outfits", "run", run("cowboy_outfits", *TINY_IMAGES, "--set", "pretrained=false"),
         lambda d: _coco(d / "train.json", lambda c: c["annotations"][0].update(category_id=999)), r"999"),
    Case("an id that is not an integer", "cowboy_outfits", "run",
         run("cowboy_outfits", *TINY_IMAGES, "--set", "pretrained=false"),
         lambda d: _csv(d / "test.csv", lambda f: f.assign(id=f["id"].where(f.index != 0, "12ab"))), r"12ab"),
    Case("a csv where the answer.json zip belongs", "cowboy_outfits", "submit",
         lambda env: ["cowboy_outfits", env.data / "test.csv", "--data", env.data, "--dry-run"], None, r"test\.csv"),
]


class _Records(logging.Handler):
    """The run log's records (they print on stderr before an error found after the run began)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


def error_line(rc: int, stdout: str, stderr: str) -> str:
    """Exit 2, nothing on stdout, and one stderr line: ``error: ...``."""
    lines = stderr.strip().splitlines()
    assert rc == 2 and "Traceback" not in stderr, f"exit code {rc}, stderr:\n{stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert stdout == "", stdout
    return lines[0]


def test_case_names_are_unique():
    names = [f"{c.competition}: {c.id}" for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.competition}: {c.id}" for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, inputs, tmp_path):
    data = Path(shutil.copytree(inputs["data"][case.competition], tmp_path / "data"))
    if case.edit is not None:
        case.edit(data)
    out = tmp_path / "runs"
    shutil.copytree(inputs["root"] / "runs", out)  # the earlier runs and their fold files
    earlier = {name: out / run.relative_to(inputs["root"] / "runs") for name, run in inputs["runs"].items()}
    env = Env(data, out, earlier, tmp_path)
    args = case.args(env)
    if case.id == "read-only output folder":
        out.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    before = snapshot(tmp_path)
    log = _Records()
    logging.getLogger(LOGGER).addHandler(log)
    try:
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            rc, stdout, err = run_cli(case.script, *args)
    finally:
        logging.getLogger(LOGGER).removeHandler(log)
        out.chmod(0o755)
    line = error_line(rc, stdout, err)
    assert re.search(case.expect, line), line
    if not case.late:  # the error line is all a user sees: no log line or warning came before it
        assert not log.records and not warned, [r.getMessage() for r in log.records] + [str(w.message) for w in warned]
    after = snapshot(tmp_path)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"changed or removed: {changed}"
    new = [p for p in after if p not in before]
    if case.late:  # the run had begun: only the fold file (shared by every run of the data) and empty folders
        new = [p for p in new if after[p] != "dir" and "/folds/" not in f"/{p}"]
    assert not new, f"left behind: {new}"


# ---------------------------------------------------------------------------------------------- handled inputs

def test_text_with_commas_quotes_newlines_and_unicode_runs_and_round_trips(inputs, tmp_path):
    data = Path(shutil.copytree(inputs["data"]["california_house_prices"], tmp_path / "data"))
    tricky = 'Café "Le Coin", 3 bd,\nview of the bay — 海景 ✓'
    for name in ("train.csv", "test.csv"):
        _csv(data / name, lambda f: f.assign(Summary=[tricky if i % 3 == 0 else s for i, s in enumerate(f["Summary"])],
                                             Address=f["Address"].str.replace(" ", ", ", n=1)))
    assert pd.read_csv(data / "train.csv")["Summary"].iloc[0] == tricky  # quoted correctly on disk
    rc, out, err = run_cli("run", "california_house_prices", "--data", data, "--recipe", "linear", "--folds", "2",
                           "--out", tmp_path / "runs")
    assert rc == 0, err[-2000:]
    sub = pd.read_csv(Path(last_line(out)) / "submission.csv")
    sample = pd.read_csv(data / "sample_submission.csv")
    assert list(sub["Id"]) == list(sample["Id"]) and np.isfinite(sub["Sold Price"]).all()


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "CMYK", "P", "I;16", "1"])
def test_every_image_mode_reads_as_rgb(mode, tmp_path):
    from PIL import Image

    from shared.vision.images import load_rgb

    rgb = (np.arange(24 * 20 * 3) % 251).astype(np.uint8).reshape(20, 24, 3)
    deep = rgb[..., 0].astype(np.uint16) * 257
    image = Image.fromarray(rgb).convert(mode) if mode != "I;16" else Image.fromarray(deep)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    image.save(path)
    array = load_rgb(path)
    assert array.shape == (20, 24, 3) and array.dtype == np.uint8
    if mode in ("L", "I;16"):
        expected = (np.asarray(Image.fromarray(rgb).convert("L")) if mode == "L"
                    else (deep / deep.max() * 255).astype(np.uint8))  # 16 bits scaled to the image's range
        np.testing.assert_array_equal(array[..., 0], expected)
        assert (array[..., 0] == array[..., 2]).all()
