"""``CompetitionSpec`` (what a competition is: files, columns, metric, folds, submission format) and
``Recipe`` (a named model configuration). A competition folder provides one ``SPEC``; nothing in shared/
knows it exists (the registry, ``competitions``, is what the entry points use).

The extension points, all declared here:
- ``task``, ``metric_name`` (any metric in ``shared.metrics``; a competition may register its own with
  ``shared.metrics.register(Metric(...))``, saying its direction and whether it takes values, labels or
  probabilities);
- ``fold_kind`` with its ``fold_col`` (the group column of ``group`` folds, the date or order column of
  ``time`` folds);
- ``load`` / ``load_run_data`` (what a run reads; extra loaded data go in ``Dataset.extra``);
- ``outputs``: what the predictions are (``Outputs``): a table row per id (``shared.tables.TableOutputs``,
  the default) or a competition's own kind (detection: boxes); it says how runs are scored, averaged,
  written, blended, merged and how a submission file is checked and scored, and what the data fingerprint,
  the first look at the data and the run's report show of that kind;
- ``image_path`` (rows that are images), ``clean_train``, ``time_col``, ``make_demo``, ``accelerator``;
- the model interface of recipes is ``shared.models``."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from shared.cv import SPLITTERS, parse_dates
from shared.errors import UserError, did_you_mean, show
from shared.io import inside, read_csv
from shared.metrics import Metric, get_metric
from shared.results import FoldResults


@dataclass
class Recipe:
    """A named configuration: feature builder + model factory + their hyperparameters.

    ``features(train, test, params) -> (X, X_test)`` runs once before the folds and learns nothing from
    rows (no target, no vocabularies); anything fitted belongs in ``fold_features`` or the model's ``fit``.
    ``model(params, ctx) -> object`` with ``fit(X, y)`` and ``predict(X)`` (probabilities for classes).
    A recipe made of other recipes' runs has neither: its ``driver`` runs them (``shared.auto``).
    """

    name: str
    about: str
    features: Callable[[pd.DataFrame, pd.DataFrame, dict], tuple[pd.DataFrame, pd.DataFrame]] | None = None
    model: Callable[[dict, Any], Any] | None = None
    feature_params: dict = field(default_factory=dict)
    model_params: dict = field(default_factory=dict)
    log_target: bool | None = None  # None: follow the metric (log space for RMSLE)
    # Steps that learn from rows (``fold_features.FoldPipeline``): ``fold_features(X, params, ctx) -> steps``,
    # fitted inside each fold on its training rows only.
    fold_features: Callable[[pd.DataFrame, dict, Any], list] | None = None
    # A check that the recipe can run here (an optional package installed), called before anything is written:
    # it raises UserError saying what to install.
    requires: Callable[[], None] | None = None
    # What each feature/model setting accepts (``shared.config``: Range, Choice, Flag, Text, Items, Either; a
    # Rule under a tuple of names), declared beside its default and checked by ``config.resolve``.
    ranges: dict = field(default_factory=dict)
    # A recipe made of other recipes' runs (``shared.auto``: fit members on the same folds, blend them nested):
    # ``driver(spec, recipe, data_dir, **run arguments) -> run directory`` replaces the k-fold loop for it.
    driver: Callable[..., Path] | None = None

    def __post_init__(self):
        if (self.driver is None) == (self.model is None or self.features is None):
            raise ValueError(f"recipe {self.name!r}: give features and model, or a driver of other recipes' runs")

    @property
    def budgeted(self) -> bool:
        """Whether ``--time-limit`` reaches it: its model has a ``time_limit`` setting (the runner sets that one), or
        it drives other recipes' runs within a budget (``auto``)."""
        return self.driver is not None or "time_limit" in self.model_params


@dataclass
class Dataset:
    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame | None
    data_dir: Path
    extra: dict = field(default_factory=dict)  # what else a competition loads (detection: the COCO ground truth)


@runtime_checkable
class Outputs(Protocol):
    """What a competition's predictions are, for the runner, the blends and the scripts. ``kind`` is recorded in
    every run's config.yaml (``outputs``), so that ensemble, merge and score route on it."""

    kind: str
    submission_files: tuple[str, ...]  # the file(s) a run writes for Kaggle, the first the one to submit

    def encode(self, data: Dataset, positive_class=None) -> tuple[np.ndarray, list | None]:
        """(the training target as the models and metric take it, the classes or None; a binary target's positive
        class last, ``positive_class`` where ``--set positive_class`` chose it)."""

    def check(self, data: Dataset, y: np.ndarray, classes: list | None, n_folds: int) -> None:
        """Refuse, before anything is written, data the predictions could not be submitted for."""

    def width(self, classes: list | None) -> int:
        """Numbers per row of the saved prediction table."""

    def floor(self, y: np.ndarray) -> float | None:
        """The lowest value a prediction may take (None: no bound)."""

    def score(self, data: Dataset, y: np.ndarray, rows: np.ndarray, pred: np.ndarray) -> float:
        """The metric of predictions for training ``rows``."""

    def holdout_score(self, data: Dataset, test_folds: np.ndarray, classes: list | None, config: dict) -> float | None:
        """The local-holdout score of the folds' test predictions, averaged; None without a solution file."""

    def write_results(self, run_dir: Path, data: Dataset, results: FoldResults) -> Path:
        """OOF, test predictions, the checked submission, metrics.json and pictures."""

    def ensemble(self, run_dirs: list[Path], method: str, out_root: Path, data_dir: Path | None = None,
                 label: str | None = None) -> Path:
        """Blend finished runs into a new run folder (``ensemble-<method>-<time>[-<label>]``)."""

    def merge(self, run_dirs: list[Path], out_root: Path, data_dir: Path | None = None,
              label: str | None = None) -> Path:
        """Join partial runs (``--only-folds``) into one complete run folder (``<recipe>-merged-<time>[-<label>]``)."""

    def score_file(self, file: Path, solution: Path, sample: Path | None = None, id_col: str | None = None) -> str:
        """``score.py``'s line for a submission file against a solution file."""

    def check_submission(self, file: Path, data: Dataset) -> None:
        """Refuse a submission file the competition would not accept."""

    def input_files(self, data: Dataset) -> list[str]:
        """The competition files a run of ``data`` reads, by name inside the data folder (its data fingerprint
        hashes them)."""

    def fingerprinted_target(self, data: Dataset) -> pd.Series | None:
        """The training answers a data fingerprint hashes value by value; None where they are in one of the
        ``input_files``, hashed whole."""

    def look(self, data: Dataset, png: Path) -> pd.DataFrame:
        """A first look at the data (``shared.look``): facts, one row each, and a picture written to ``png``."""

    def report_section(self, metrics: dict) -> str:
        """report.html's section of what only this kind of predictions has (empty: none)."""

    def submission_preview(self, run_dir: Path, rows: int) -> tuple[str, pd.DataFrame, int] | None:
        """(the submission's name, its first ``rows`` rows, how many it has) for report.html; None without one."""


@dataclass
class CompetitionSpec:
    name: str  # folder name, used on the command line and under runs/
    slug: str  # Kaggle slug (accepted on the command line too)
    metric_name: str
    id_col: str
    target_col: str
    recipes: dict[str, Recipe]
    default_recipe: str
    task: str = "regression"  # regression | binary | multiclass
    train_file: str = "train.csv"
    test_file: str | None = "test.csv"  # None: the test ids are the sample submission's (CIFAR-10)
    sample_submission_file: str = "sample_submission.csv"
    solution_file: str = "solution.csv"  # hidden answers written by demo builders; never read by training
    fold_kind: str = "kfold"  # kfold | stratified | group | time (shared.cv.SPLITTERS)
    fold_col: str = ""  # group folds: the group column (a group never spans two folds); time folds: the order
    time_col: str = ""  # a date column: runs also score a time-ordered split on it (train earlier, validate later)
    # Image competitions: relative image path of each row, ``image_path(frame, split) -> Series``
    # (split: train | test); ``load`` adds the absolute paths as column ``image_path`` and checks the files.
    image_path: Callable[[pd.DataFrame, str], pd.Series] | None = None
    title: str = ""
    make_demo: Callable[..., Path] | None = None
    # Known-bad training rows to drop before folds are made (they leave training *and* CV scoring);
    # returns a boolean mask of rows to keep. Every recipe sees the same rows; --set clean_train=false keeps all.
    clean_train: Callable[[pd.DataFrame], np.ndarray] | None = None
    clean_train_about: str = ""
    # Image competitions: the recipe a run without --recipe takes instead of ``default_recipe`` when that one would
    # start from pretrained weights (pretrained=auto) that cannot be had here, and so train from scratch.
    scratch_recipe: str = ""
    # Columns the features read as numbers (Kaggle's numeric columns): a cell of text in one is refused at load.
    # Not those the features parse from text themselves ("0.25 Acres").
    number_cols: tuple[str, ...] = ()
    layout_dirs: tuple[str, ...] = ()  # folders a complete download holds besides the files (images/)
    submit_note: str = ""  # set where the competition is scored off Kaggle: what to do with the file instead
    accelerator: bool | None = None  # a Kaggle kernel asks for a GPU (None: for image competitions)
    on_kaggle: bool = True  # False: the data come from ``make_demo`` only (no Kaggle download, no attached data)
    runs_folder: str = ""  # the folder under --out its runs go in (default: ``name``; the generic path: the data's)

    def __post_init__(self):
        if self.fold_kind not in SPLITTERS:
            raise ValueError(f"{self.name}: fold_kind {self.fold_kind!r} is not one of {SPLITTERS}")
        if self.fold_kind in ("group", "time") and not self.fold_col:
            raise ValueError(f"{self.name}: {self.fold_kind} folds need fold_col (the column they read)")

    @property
    def metric(self) -> Metric:
        return get_metric(self.metric_name)

    @property
    def folder(self) -> str:
        """The folder under ``--out`` (``runs/``) its runs, blends and checks go in."""
        return self.runs_folder or self.name

    def with_sample(self, sample: str | Path | None, data_dir: Path) -> CompetitionSpec:
        """This spec reading its sample submission from ``sample`` (``--sample FILE``: in the data folder or a path
        of its own), checked to exist; unchanged without one."""
        if sample is None:
            return self
        return dataclasses.replace(self, sample_submission_file=sample_name(Path(sample), Path(data_dir)))

    @property
    def outputs(self) -> Outputs:
        """What the predictions are; a table row per id unless a competition brings its own kind."""
        from shared.tables import TableOutputs

        return TableOutputs(self)

    @property
    def wants_gpu(self) -> bool:
        return self.image_path is not None if self.accelerator is None else self.accelerator

    def run_defaults(self) -> dict:
        """The run settings this competition defaults itself (``shared.config.RUN_SETTINGS`` gives the rest)."""
        return {"time_col": self.time_col}

    def load_run_data(self, data_dir: Path, config: dict) -> Dataset:
        """The data a run of ``config`` reads (its run settings may choose, e.g. detection's image list)."""
        return self.load(Path(data_dir), clean=config.get("clean_train", True))

    def fold_values(self, data: Dataset) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(groups, order) that ``fold_kind`` reads from ``fold_col`` (None where it reads none)."""
        if self.fold_kind not in ("group", "time"):
            return None, None
        if self.fold_col not in data.train.columns:
            raise UserError(f"{data.data_dir / self.train_file} lacks column {self.fold_col!r}, which {self.name}'s "
                            f"{self.fold_kind} folds read; use the competition's original file.")
        values = data.train[self.fold_col]
        if values.isna().any():
            raise UserError(f"{data.data_dir / self.train_file}: column {self.fold_col!r} is empty at id "
                            f"{show(data.train[self.id_col][values.isna()].iloc[0])}; {self.fold_kind} folds need "
                            "a value in every row.")
        if self.fold_kind == "group":
            return values.astype(str).to_numpy(), None
        order = values if pd.api.types.is_numeric_dtype(values) else parse_dates(values)
        if order.isna().any():
            raise UserError(f"{data.data_dir / self.train_file}: column {self.fold_col!r} has {show(values[order.isna()].iloc[0])}, "
                            "which is neither a number nor a date; time folds order the rows by it.")
        return None, order.to_numpy()

    def recipe(self, name: str | None) -> Recipe:
        name = name or self.default_recipe
        if name not in self.recipes:
            raise UserError(f"unknown recipe {name!r} for {self.name};{did_you_mean(str(name), self.recipes)} choose "
                            f"one of {sorted(self.recipes)}.")
        return self.recipes[name]

    def budget_refusal(self, names: list[str]) -> str:
        """What ``--time-limit`` with only the recipes ``names``, none of them ``budgeted``, is told (the flag would be
        ignored): which recipes take one."""
        takers = [n for n, r in self.recipes.items() if r.budgeted]
        return (f"is a time budget, and no budget reaches the fits of {self.name}'s recipe"
                f"{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))} (they run as long as their settings "
                f"say): drop it, or use a recipe that takes one ({', '.join(takers) or 'none here'}).")

    def layout(self) -> list[str]:
        """What a complete download holds, relative to the data folder (folders end in /)."""
        files = [self.train_file, self.test_file, self.sample_submission_file]
        return [f for f in files if f] + [d.rstrip("/") + "/" for d in self.layout_dirs]

    def load(self, data_dir: Path, clean: bool = True) -> Dataset:
        """Read the competition files, checking columns and that test ids match the sample submission;
        with ``clean``, drop the rows ``clean_train`` rejects."""
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise UserError(
                f"data folder {data_dir} does not exist: run `python scripts/download.py {self.name}` "
                f"(real data) or `python scripts/make_demo.py {self.name}` (demo), or pass --data DIR."
            )
        ids = {"dtype": {self.id_col: str}}  # ids are text end to end: 001001 stays 001001
        labels = {} if self.task == "regression" else {self.target_col: str}  # so are class labels ("007")
        train = read_csv(data_dir / self.train_file, [self.id_col, self.target_col], "training data",
                         dtype={self.id_col: str, **labels})
        sample = read_csv(data_dir / self.sample_submission_file, [self.id_col], "sample submission", **ids)
        test_name = self.test_file or self.sample_submission_file
        test = (read_csv(data_dir / self.test_file, [self.id_col], "test data", **ids) if self.test_file
                else sample[[self.id_col]].copy())
        self._check_rows(train, test, data_dir, test_name)
        self._check_sample_ids(sample, test)
        if clean and self.clean_train is not None:
            train = train[np.asarray(self.clean_train(train), bool)].reset_index(drop=True)
        if self.image_path is not None:
            train, test = self._with_image_paths(train, test, data_dir, test_name)
        return Dataset(train, test, sample, data_dir)

    def _check_rows(self, train: pd.DataFrame, test: pd.DataFrame, data_dir: Path, test_name: str) -> None:
        """Training and test rows a run can use: some of each, ids, finite numbers, a target in every training row
        and none in the test rows, the same columns besides it."""
        if len(train) == 0:
            raise UserError(f"{data_dir / self.train_file} has no rows (only a header): nothing to learn from; "
                            "use the competition's full training file.")
        check_ids(train, self.id_col, data_dir / self.train_file)
        check_ids(test, self.id_col, data_dir / test_name)
        if len(test) == 0:
            raise UserError(f"{data_dir / test_name} has no rows: nothing to predict.")
        if self.test_file and self.target_col in test.columns:
            raise UserError(f"{data_dir / self.test_file} has the target column {self.target_col!r}: a test set holds "
                            f"no answers. Check that it is not a copy of {self.train_file}, or drop that column.")
        check_finite(train, self.id_col, data_dir / self.train_file)
        check_finite(test, self.id_col, data_dir / test_name)
        check_numbers([(train, data_dir / self.train_file), (test, data_dir / test_name)], self.id_col,
                      self.number_cols, "write a number there (11050, not 11,050) or leave the cell empty")
        if train[self.target_col].isna().any():
            empty = train[self.target_col].isna()
            raise UserError(f"{data_dir / self.train_file}: column {self.target_col!r} has {int(empty.sum())} empty "
                            f"value(s), the first at id {show(train[self.id_col][empty].iloc[0])}; fill or drop those "
                            "rows.")
        if self.task == "regression":  # before clean_train compares its values as numbers
            check_numbers([(train, data_dir / self.train_file)], self.id_col, (self.target_col,),
                          f"{self.metric.name} scores finite numbers: a regression target must be one (classes need a "
                          "classification metric: accuracy, f1, logloss, auc, ...)")
        missing = [c for c in train.columns if c not in test.columns and c != self.target_col]
        if missing and self.test_file:
            raise UserError(f"{data_dir / self.test_file} lacks column(s) {missing} that "
                            f"{self.train_file} has; use the competition's original files.")
        extra = [c for c in test.columns if c not in train.columns]
        if extra:
            raise UserError(f"{data_dir / self.test_file} has column(s) {extra} that {self.train_file} lacks; "
                            "use the competition's original files.")

    def _check_sample_ids(self, sample: pd.DataFrame, test: pd.DataFrame) -> None:
        """The sample submission lists the test ids, each once (in any order: a submission is built in the
        sample's order, matched by id)."""
        ids, listed = test[self.id_col].astype(str), sample[self.id_col].astype(str)
        if listed.duplicated().any():
            raise UserError(f"{self.sample_submission_file}: id {show(listed[listed.duplicated()].iloc[0])} appears "
                            "more than once; use the competition's original file.")
        extra, lacking = ids[~ids.isin(listed)], listed[~listed.isin(ids)]
        test = self.test_file or "the test set"
        if len(extra) or len(lacking):
            shown = (f"{len(extra)} id(s) of {test} are not in it, e.g. {show(extra.iloc[0])}" if len(extra)
                     else f"{len(lacking)} id(s) in it are not in {test}, e.g. {show(lacking.iloc[0])}")
            raise UserError(f"{self.sample_submission_file} does not list the test ids: {shown}; use the files of one "
                            "download.")

    def _with_image_paths(self, train: pd.DataFrame, test: pd.DataFrame, data_dir: Path,
                          test_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``train`` and ``test`` with column ``image_path``: each row's image, checked to exist, and none both a
        training and a test image."""
        both = sorted(set(self.image_path(train, "train").astype(str))
                      & set(self.image_path(test, "test").astype(str)))
        if both:  # the same file as a training and a test image
            raise UserError(f"{show(both[0])} is listed in both {data_dir / self.train_file} and "
                            f"{data_dir / test_name} ({len(both)} such); an image is either training or test data: "
                            "use the files of one download.")
        train = train.assign(image_path=_existing_images(data_dir, self.image_path(train, "train"),
                                                         train[self.id_col], self.train_file))
        test = test.assign(image_path=_existing_images(data_dir, self.image_path(test, "test"),
                                                       test[self.id_col], test_name))
        return train, test


def check_finite(df: pd.DataFrame, id_col: str, path: Path) -> None:
    """``inf`` in a numeric column is no number a model can use (an empty cell is a missing value; that is fine)."""
    numeric = df.select_dtypes("number")
    bad = np.isinf(numeric.to_numpy(float))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise UserError(f"{path}: column {numeric.columns[col]!r} is infinite at id {show(df[id_col].iloc[row])} "
                        f"({int(bad.sum())} such value(s)); write a finite number or leave the cell empty.")


def check_numbers(frames: list[tuple[pd.DataFrame, Path]], id_col: str, columns: tuple[str, ...], fix: str) -> None:
    """The ``columns`` that hold numbers (a competition's number features, a regression target) hold finite numbers
    in every file: a cell of text (``11,050``, ``12 ft``) would make the whole column text or crash the features,
    a number too large to read (``1e400``) is infinite; either is refused, named, with ``fix``."""
    for frame, path in frames:
        for col in columns:
            if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
                continue
            filled = frame[col].dropna()
            values = pd.to_numeric(filled.astype(str), errors="coerce")
            stray = values.isna() | np.isinf(values)
            if not stray.any():
                continue
            row = stray.index[stray.to_numpy()][0]
            raise UserError(f"{path}: column {col!r} holds numbers, but {show(frame.at[row, col])} at id "
                            f"{show(frame.at[row, id_col])} ({int(stray.sum())} such cell(s)) is not a finite one; "
                            f"{fix}.")


def check_ids(df: pd.DataFrame, id_col: str, path: Path) -> None:
    ids = df[id_col]
    if ids.isna().any():
        raise UserError(f"{path}: column {id_col!r} has empty ids; every row needs an id.")
    dup = ids[ids.duplicated()]
    if len(dup):
        raise UserError(f"{path}: id {show(dup.iloc[0])} appears more than once in column {id_col!r}; ids must be unique.")


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:  # a link in a loop
        return False


def _existing_images(data_dir: Path, relative: pd.Series, ids: pd.Series, listed_in: str) -> list[str]:
    """Absolute image paths; the first missing file is an error naming the row that lists it. Folders
    are listed once (300,000 test images are checked in about a second)."""
    relative = relative.astype(str)
    for rel in relative.unique():
        inside(data_dir, rel, str(data_dir / listed_in))
    listing: dict[Path, dict[str, bool]] = {}  # folder -> name -> a file (a link followed: one in a loop is none)
    for folder in {Path(r).parent for r in relative.unique()}:
        where = data_dir / folder
        with os.scandir(where) if where.is_dir() else contextlib.nullcontext([]) as entries:
            listing[folder] = {entry.name: _is_file(entry) for entry in entries}
    for rel, row_id in zip(relative, ids):
        found = listing[Path(rel).parent].get(Path(rel).name)
        if not found:
            what = ("does not exist" if found is None else
                    "is not a file (a folder, or a link that leads nowhere or in a loop)")
            raise UserError(f"{data_dir / listed_in} lists id {show(row_id)} but its image {data_dir / rel} {what}; "
                            "restore the image (unzip the competition's archives into the data folder) "
                            "or remove the row.")
    return [str(data_dir / r) for r in relative]


def sample_name(sample: Path, data_dir: Path) -> str:
    """``--sample FILE`` as a sample submission's name: relative to the data folder when it is in it (``FILE`` as
    typed, or inside the data folder), else its full path; a file that is not there is one line."""
    fix = "pass the competition's sample submission CSV (its id column and the column(s) to predict)."
    for candidate in (sample, data_dir / sample):
        if candidate.is_dir():
            raise UserError(f"--sample {sample}: {candidate} is a folder; {fix}")
        data = [n for n in ("train.csv", "test.csv")
                if candidate.is_file() and (data_dir / n).is_file() and (data_dir / n).samefile(candidate)]
        if data:
            raise UserError(f"--sample {sample}: that is the data folder's {data[0]}, not a sample submission; {fix}")
        if candidate.is_file():
            try:
                return candidate.resolve().relative_to(data_dir.resolve()).as_posix()
            except ValueError:
                return str(candidate.resolve())
    raise UserError(f"--sample {sample}: no such file (nor in {data_dir}); {fix}")


def find_sample(data_dir: Path) -> str:
    """The one ``*submission*.csv`` of a data folder (case-insensitive: Kaggle names it as it likes,
    ``sample_submission.csv``, Titanic's ``gender_submission.csv``, ``sampleSubmission.csv``); none or several are
    one line listing what is there and saying ``--sample FILE``."""
    data_dir = Path(data_dir)
    found = sorted(p.name for p in data_dir.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
                   and "submission" in p.name.lower()) if data_dir.is_dir() else []
    if len(found) == 1:
        return found[0]
    csvs = sorted(p.name for p in data_dir.glob("*") if p.suffix.lower() == ".csv") if data_dir.is_dir() else []
    what = (f"several files named like a submission ({', '.join(found)})" if found else
            f"no file named like a submission (*submission*.csv; its CSV files: {', '.join(csvs) or 'none'})")
    raise UserError(f"{data_dir} holds {what}: pass the sample submission with --sample FILE.")
