"""The bad-input matrix: for every case, across the five competitions and the generic path, the command line
prints one line (``error: ...``) naming the problem and what to do, exits non-zero, and leaves every file
that existed before — the data and earlier runs — byte-identical, with no half-made run behind it.

Inputs that are not errors but have a documented handling are checked below: text with commas, quotes,
newlines and unicode; grayscale, RGBA, CMYK, palette, 1-bit and 16-bit images. The other two handled cases
are in test_detection.py: COCO boxes of zero or negative size (dropped) or outside the image (clipped), with one
warning (test_degenerate_boxes_are_dropped_and_outside_boxes_clipped_with_one_warning), and image ids beyond
int64, kept exactly end to end (test_demo_has_the_exact_layout_with_ids_beyond_int64,
test_submission_keeps_ids_beyond_int64_exactly_and_refuses_bad_detections)."""
from __future__ import annotations

import json
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import last_line, run_script, snapshot

import competitions

TINY_IMAGES = ["--folds", "2", "--set", "epochs=1"]


@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> dict:
    """Demo data of every competition (small / tiny) and two finished runs (House Prices, California)."""
    root = tmp_path_factory.mktemp("matrix")
    data = {}
    for name, size in (("house_prices", "small"), ("california_house_prices", "small"), ("cifar10", "tiny"),
                       ("classify_leaves", "tiny"), ("cowboy_outfits", "tiny")):
        data[name] = competitions.get(name).make_demo(root / "data" / name, size=size)
    runs = {}
    for name in ("house_prices", "california_house_prices"):
        rc, out, err = run_script("run", name, "--data", data[name], "--recipe", "linear", "--folds", "2",
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
    path.write_text(lines[0].replace(old, new, 1) + "\n" + lines[1])


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
    competition: str
    script: str
    args: Callable[[Env], list]
    edit: Callable[[Path], None] | None
    expect: str  # a regular expression the error line must match


def run(*extra):
    return lambda env: ["--data", env.data, "--out", env.out, *extra]


CASES = [
    # House Prices and the generic path
    Case("missing file", "house_prices", "run", run("--recipe", "linear"),
         lambda d: (d / "train.csv").unlink(), r"missing file .*train\.csv"),
    Case("missing folder", "house_prices", "run", lambda env: ["--data", env.tmp / "nowhere", "--out", env.out],
         None, r"nowhere does not exist.*make_demo"),
    Case("renamed target column", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _header(d / "train.csv", "SalePrice", "Sale_Price"), r"missing column\(s\) \['SalePrice'\]"),
    Case("missing test column", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _csv(d / "test.csv", lambda f: f.drop(columns=["LotArea"])), r"test\.csv lacks column.*LotArea"),
    Case("duplicated column", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _header(d / "train.csv", "LotArea", "LotFrontage"),
         r"column 'LotFrontage' appears more than once"),
    Case("duplicated id", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _csv(d / "train.csv", lambda f: pd.concat([f, f.iloc[[3]]])), r"id .* appears more than once"),
    Case("test ids differ from the sample", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _csv(d / "sample_submission.csv", lambda f: f.assign(Id=f["Id"].replace(f["Id"].iloc[5], "99999"))),
         r"test ids in test\.csv differ from sample_submission\.csv"),
    Case("empty test set", "house_prices", "run", run("--recipe", "linear"),
         lambda d: [_csv(d / n, lambda f: f.iloc[:0]) for n in ("test.csv", "sample_submission.csv")],
         r"test\.csv has no rows"),
    Case("empty target", "house_prices", "run", run("--recipe", "linear"),
         lambda d: _csv(d / "train.csv", lambda f: f.assign(SalePrice=f["SalePrice"].where(f.index != 2, ""))),
         r"'SalePrice' has 1 empty value"),
    Case("unknown recipe", "house_prices", "run", run("--recipe", "nope"), None, r"nope.*(gbm|linear)"),
    Case("unknown --set key", "house_prices", "run", run("--recipe", "linear", "--set", "nope=1"),
         None, r"--set nope: .* known keys"),
    Case("read-only output folder", "house_prices", "run", run("--recipe", "linear"), None, r"is read-only"),
    Case("NaN prediction for a log metric", "house_prices", "score",
         lambda env: [_submission(env, lambda f: f.assign(SalePrice=f["SalePrice"].where(f.index != 4, np.nan))),
                      "--solution", env.data / "solution.csv", "--competition", "house_prices"],
         None, r"column 'SalePrice' is empty at id"),
    Case("infinite prediction", "house_prices", "score",
         lambda env: [_submission(env, lambda f: f.assign(SalePrice=f["SalePrice"].where(f.index != 4, np.inf))),
                      "--solution", env.data / "solution.csv", "--competition", "house_prices"],
         None, r"is infinite at id"),
    Case("non-positive prediction for a log metric", "house_prices", "score",
         lambda env: [_submission(env, lambda f: f.assign(SalePrice=f["SalePrice"].where(f.index != 4, -5))),
                      "--solution", env.data / "solution.csv", "--competition", "house_prices"],
         None, r"non-positive value -5.* must be > 0"),
    Case("a run of another competition passed to ensemble", "house_prices", "ensemble",
         lambda env: [env.runs["house_prices"], env.runs["california_house_prices"], "--out", env.out],
         None, r"competition"),
    Case("runs of two competitions passed to merge", "house_prices", "merge",
         lambda env: [env.runs["house_prices"], env.runs["california_house_prices"], "--out", env.out],
         None, r"differs from .* merge runs of one recipe"),
    Case("resume of another competition's run", "cifar10", "run",
         lambda env: ["--resume", env.runs["house_prices"]], None, r"that run is of 'house_prices', not 'cifar10'"),
    Case("generic path: target column missing", "house_prices", "run",
         lambda env: ["--data", env.data, "--target", "Price", "--id", "Id", "--metric", "rmsle", "--out", env.out],
         None, r"Price"),
    Case("generic path: unknown metric", "house_prices", "run",
         lambda env: ["--data", env.data, "--target", "SalePrice", "--id", "Id", "--metric", "r2", "--out", env.out],
         None, r"r2"),
    Case("a demo size the competition does not have", "house_prices", "make_demo",
         lambda env: ["--size", "tiny", "--out", env.out / "demo"], None, r"--size tiny: house_prices's demo comes in"),
    # California House Prices
    Case("renamed column with a space", "california_house_prices", "run", run("--recipe", "linear"),
         lambda d: _header(d / "train.csv", "Sold Price", "SoldPrice"), r"missing column\(s\) \['Sold Price'\]"),
    Case("duplicated test id", "california_house_prices", "run", run("--recipe", "linear"),
         lambda d: _csv(d / "test.csv", lambda f: f.assign(Id=f["Id"].where(f.index != 1, f["Id"].iloc[0]))),
         r"test\.csv: id .* appears more than once"),
    # CIFAR-10
    Case("missing label column", "cifar10", "run", run(*TINY_IMAGES),
         lambda d: _header(d / "trainLabels.csv", "label", "class"), r"missing column\(s\) \['label'\]"),
    Case("missing image", "cifar10", "run", run(*TINY_IMAGES),
         lambda d: (d / "train" / "3.png").unlink(), r"lists id '3' but its image .*train/3\.png does not exist"),
    Case("corrupt image", "cifar10", "run", run(*TINY_IMAGES),
         lambda d: (d / "train" / "2.png").write_bytes(b"not a png"), r"train/2\.png is unreadable.*bad_images=skip"),
    Case("unseen label in a submission", "cifar10", "submit",
         lambda env: [_submission(env, lambda f: f.assign(label="zebra"), "sampleSubmission.csv"), "--data", env.data,
                      "--dry-run"], None, r"unknown label 'zebra'"),
    # Classify Leaves
    Case("truncated image", "classify_leaves", "run",
         run("--recipe", "baseline", *TINY_IMAGES, "--set", "img_size=32"),
         lambda d: (d / "images" / "0.jpg").write_bytes((d / "images" / "0.jpg").read_bytes()[:300]),
         r"images/0\.jpg is unreadable"),
    Case("an image in both train and test", "classify_leaves", "run", run("--recipe", "baseline", *TINY_IMAGES),
         lambda d: [_csv(d / n, lambda f: f.assign(image=f["image"].where(
             f.index != 0, _first_image(d, "train.csv", "image")))) for n in ("test.csv", "sample_submission.csv")],
         r"is listed in both"),
    Case("test ids differ from the sample", "classify_leaves", "run", run("--recipe", "baseline", *TINY_IMAGES),
         lambda d: _csv(d / "sample_submission.csv", lambda f: f.iloc[1:]), r"differ from sample_submission\.csv"),
    # CowBoy Outfits
    Case("image of valid.csv missing from images/", "cowboy_outfits", "run",
         run(*TINY_IMAGES, "--set", "predict=valid", "--set", "pretrained=false"),
         lambda d: (d / "images" / _first_image(d, "valid.csv", "file_name")).unlink(),
         r"valid\.csv lists id \d+ but its image .* does not exist"),
    Case("unknown category id", "cowboy_outfits", "run", run(*TINY_IMAGES, "--set", "pretrained=false"),
         lambda d: _coco(d / "train.json", lambda c: c["annotations"][0].update(category_id=999)), r"999"),
    Case("an id that is not an integer", "cowboy_outfits", "run", run(*TINY_IMAGES, "--set", "pretrained=false"),
         lambda d: _csv(d / "test.csv", lambda f: f.assign(id=f["id"].where(f.index != 0, "12ab"))), r"12ab"),
    Case("a csv where the answer.json zip belongs", "cowboy_outfits", "submit",
         lambda env: [env.data / "test.csv", "--data", env.data, "--dry-run"], None, r"test\.csv"),
]


def error_line(rc: int, stderr: str) -> str:
    """Exit 2 and one ``error:`` line, the last (a run that fails in training has logged its start before)."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert rc == 2 and "Traceback" not in stderr, f"exit code {rc}, stderr:\n{stderr}"
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.competition}: {c.id}" for c in CASES])
def test_bad_input_is_one_line_nonzero_exit_and_changes_nothing(case, inputs, tmp_path):
    data = Path(shutil.copytree(inputs["data"][case.competition], tmp_path / "data"))
    if case.edit is not None:
        case.edit(data)
    out = tmp_path / "runs"
    earlier = {name: Path(shutil.copytree(run, out / run.parent.name / run.name))
               for name, run in inputs["runs"].items()}
    env = Env(data, out, earlier, tmp_path)
    args = case.args(env)
    if case.id == "read-only output folder":
        out.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    before = snapshot(tmp_path)
    try:
        competition = "tabular" if case.id.startswith("generic") else case.competition
        positional = [] if case.script in ("ensemble", "merge", "score") else [competition]
        rc, _, err = run_script(case.script, *positional, *args, timeout=600)
    finally:
        out.chmod(0o755)
    line = error_line(rc, err)
    assert re.search(case.expect, line), line
    after = snapshot(tmp_path)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"changed or removed: {changed}"
    new = [p for p in after if p not in before and after[p] != "dir" and "/folds/" not in f"/{p}"]
    assert not new, f"left behind: {new}"


# ---------------------------------------------------------------------------------------------- handled inputs

def test_text_with_commas_quotes_newlines_and_unicode_runs_and_round_trips(inputs, tmp_path):
    data = Path(shutil.copytree(inputs["data"]["california_house_prices"], tmp_path / "data"))
    tricky = 'Café "Le Coin", 3 bd,\nview of the bay — 海景 ✓'
    for name in ("train.csv", "test.csv"):
        _csv(data / name, lambda f: f.assign(Summary=[tricky if i % 3 == 0 else s for i, s in enumerate(f["Summary"])],
                                             Address=f["Address"].str.replace(" ", ", ", n=1)))
    assert pd.read_csv(data / "train.csv")["Summary"].iloc[0] == tricky  # quoted correctly on disk
    rc, out, err = run_script("run", "california_house_prices", "--data", data, "--recipe", "linear", "--folds", "2",
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
