"""Predictions that are one table row per id: a value (regression) or one probability per class
(classification). ``TableOutputs`` is what ``CompetitionSpec.outputs`` gives every competition that does not
bring its own (detection brings boxes): how the runner reads the target, checks the data before training,
scores rows, averages folds, writes the results, and how runs of it are blended, merged and scored."""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from shared import fingerprint, importance, look, pictures, plots, report, submission
from shared.ensemble import (
    INNER_REPEATS,
    Blender,
    check_compatible,
    choice_record,
    copy_fold_records,
    fit_seconds,
    fold_owners,
    members_table,
    nested_oof,
    stacked_predictions,
    staged_run_dir,
    write_members,
)
from shared.errors import UserError, show
from shared.io import read_csv, write_csv, write_json, write_npy
from shared.log import get_log, logging_to, start_log
from shared.metrics import Metric, average, squeeze
from shared.results import FoldResults
from shared.runs import Run, label_of, load_run, new_run_dir, save_config

if TYPE_CHECKING:  # the spec module builds TableOutputs: a type-only import keeps the two acyclic
    from shared.spec import CompetitionSpec, Dataset


class TableOutputs:
    """The ``Outputs`` of table competitions (see ``shared.spec.Outputs``)."""

    kind = "table"
    submission_files = ("submission.csv",)

    def __init__(self, spec: CompetitionSpec):
        self.spec = spec

    def encode(self, data: Dataset, positive_class=None) -> tuple[np.ndarray, list | None]:
        return encode_target(self.spec, data.train[self.spec.target_col], positive_class)

    def check(self, data: Dataset, y: np.ndarray, classes: list | None, n_folds: int) -> None:
        check_sample_layout(self.spec, data, classes)
        if classes is not None and self.spec.fold_kind == "stratified":
            check_class_counts(self.spec, y, classes, n_folds)

    def width(self, classes: list | None) -> int:
        return 1 if classes is None else len(classes)

    def floor(self, y: np.ndarray) -> float | None:
        return prediction_floor(self.spec, y)

    def score(self, data: Dataset, y: np.ndarray, rows: np.ndarray, pred: np.ndarray) -> float:
        return self.spec.metric(y[rows], squeeze(pred))

    def holdout_score(self, data: Dataset, test_folds: np.ndarray, classes: list | None, config: dict) -> float | None:
        how = config.get("fold_average", "probabilities")
        return holdout_score(self.spec, data, fold_average(test_folds, self.spec.metric, classes, how), classes)

    def write_results(self, run_dir: Path, data: Dataset, results: FoldResults) -> Path:
        how = results.config.get("fold_average", "probabilities")
        test_pred = fold_average(results.test_folds, self.spec.metric, results.classes, how)
        return write_results(run_dir, self.spec, data, results, test_pred)

    def ensemble(self, run_dirs: list[Path], method: str, out_root: Path, data_dir: Path | None = None,
                 label: str | None = None) -> Path:
        return ensemble(self.spec, run_dirs, method, out_root, data_dir, label=label)

    def merge(self, run_dirs: list[Path], out_root: Path, data_dir: Path | None = None,
              label: str | None = None) -> Path:
        return merge(self.spec, run_dirs, out_root, data_dir, label)

    def score_file(self, file: Path, solution: Path, sample: Path | None = None, id_col: str | None = None,
                   positive: str | None = None) -> str:
        """``score.py``'s line for a submission file against a solution file (and, when given, the sample whose
        ids it must hold; else the sample beside the solution, else exactly the solution's ids), checked as
        ``submit.py`` checks it, with the competition's header; ``positive``: a binary target's positive class."""
        spec = self.spec
        beside = Path(solution).parent / spec.sample_submission_file
        columns = fixed_header(spec, id_col)
        return score_table_file(file, solution, spec.metric, id_col or spec.id_col,
                                sample or (beside if beside.is_file() else None), columns, spec.name, positive)

    def check_submission(self, file: Path, data: Dataset) -> None:
        """A submission file against the competition's data, before it is sent: ``score.py``'s check."""
        spec = self.spec
        labels = sorted(data.train[spec.target_col].astype(str).unique()) if spec.task == "multiclass" else None
        submission.check_file(file, data.sample_submission, spec.id_col, spec.metric, labels,
                              fixed_header(spec), f"the sample submission {data.data_dir / spec.sample_submission_file}", spec.name)

    def input_files(self, data: Dataset) -> list[str]:
        return [name for name in self.spec.layout() if not name.endswith("/")]

    def fingerprinted_target(self, data: Dataset) -> pd.Series:
        return data.train[self.spec.target_col]

    def look(self, data: Dataset, png: Path) -> pd.DataFrame:
        return look.of_rows(self.spec, data, png)

    def report_section(self, metrics: dict) -> str:
        return ""

    def submission_preview(self, run_dir: Path, rows: int) -> tuple[str, pd.DataFrame, int] | None:
        csv = Path(run_dir) / self.submission_files[0]
        if not csv.is_file():
            return None
        with open(csv, encoding="utf-8") as f:
            total = sum(1 for _ in f) - 1
        return csv.name, pd.read_csv(csv, dtype=str, keep_default_na=False, nrows=rows), total


def score_table_file(file: Path, solution: Path, metric: Metric, id_col: str | None, sample: Path | None,
                     columns: list[str] | None = None, competition: str = "", positive: str | None = None) -> str:
    """Score a CSV submission (``submission.check_file``'s check, then the score; ``positive``: a binary target's
    positive class, by default the last of the solution's sorted labels); warnings go to stderr."""
    expected = None if sample else (f"the solution {solution} (if it lists only the scored ids, pass the "
                                    "sample submission with --sample)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = submission.score_files(file, solution, id_col, metric, sample, expected, columns, competition,
                                           positive)
        except ValueError as exc:
            raise UserError(f"cannot score {file}: {exc}") from exc
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    return f"{metric.name} {value:.6f}"


def check_class_counts(spec: CompetitionSpec, y: np.ndarray, classes: list, n_folds: int) -> None:
    """Stratified folds: every class has an example for each fold to hold out while the others train on it."""
    counts = np.bincount(np.asarray(y, int), minlength=len(classes))
    rare = int(np.argmin(counts))
    if counts[rare] < n_folds:
        raise UserError(f"class {show(classes[rare])} of {spec.target_col!r} has {counts[rare]} example(s) in "
                        f"{spec.train_file}; stratified {n_folds}-fold CV needs at least {n_folds} per class: add "
                        "examples, merge the class into another, drop its rows, or use fewer --folds.")


def encode_target(spec: CompetitionSpec, y: pd.Series, positive_class=None) -> tuple[np.ndarray, list | None]:
    """(codes, classes): a regression's numbers, or each row's class code. Classes are sorted as text (an ordinal
    metric's ratings by value); a binary target's positive class is the last (``positive_class``: the one chosen with
    ``--set positive_class``, else the last of the sorted labels), so that a probability column is always its."""
    if spec.task == "regression":
        if positive_class is not None:
            raise UserError(f"--set positive_class={show(positive_class, setting=True)}: {spec.metric.name} scores a "
                            f"regression target {spec.target_col!r}, which has no classes; drop the setting.")
        values = pd.to_numeric(y, errors="coerce")
        if values.isna().any():
            raise UserError(f"target column {spec.target_col!r} has non-numeric value "
                            f"{show(y[values.isna()].iloc[0])}; a regression target must be numeric.")
        return values.to_numpy(float), None
    classes = sorted(pd.unique(y), key=str)
    if len(classes) < 2:
        raise UserError(f"target column {spec.target_col!r} has a single class; nothing to learn.")
    text = pd.Series([str(c) for c in classes])
    stripped = text.str.strip()
    clash = stripped[stripped.duplicated(keep=False)]
    if len(clash):  # " yes", "yes " and "yes" would become three classes, and the sample's "yes" never predicted
        same = text[stripped == clash.iloc[0]].tolist()
        raise UserError(f"target column {spec.target_col!r} has labels that differ only by surrounding spaces: "
                        f"{same}; strip the spaces in {spec.train_file} so that each class is written one way.")
    if spec.metric.binary and len(classes) > 2:
        raise UserError(f"--metric {spec.metric.name} scores one positive class of a binary target; "
                        f"{spec.target_col!r} has {len(classes)} classes: use f1_macro or f1_micro (or mcc).")
    if spec.metric.ordinal:
        classes = sorted(classes, key=lambda c: _rating(spec, c))
    classes = positive_last(spec, classes, positive_class)
    codes = pd.Categorical(y, categories=classes).codes
    return codes.astype(int), [c.item() if hasattr(c, "item") else c for c in classes]


def _rating(spec: CompetitionSpec, label) -> float:
    """A label of an ordinal metric (QWK) as its whole-number rating."""
    value = pd.to_numeric(pd.Series([label]), errors="coerce").iloc[0]
    if not np.isfinite(value) or value != round(value):
        raise UserError(f"--metric {spec.metric.name} scores whole-number ratings; target column {spec.target_col!r} "
                        f"has label {show(label)}: use ratings 0, 1, 2, ... (or accuracy, f1_macro for named classes).")
    return float(value)


def positive_last(spec: CompetitionSpec, classes: list, chosen=None) -> list:
    """``classes`` with the positive class of a binary target last: ``chosen`` (``--set positive_class``, a label as
    YAML read it: ``no`` is false) when given, else as they are (the last of the sorted labels)."""
    if chosen is None:
        return classes
    told = f"--set positive_class={show(chosen, setting=True)}"
    if len(classes) != 2:
        raise UserError(f"{told}: a positive class is one of the two classes of a binary target; {spec.target_col!r} "
                        f"has {len(classes)} ({', '.join(map(show, classes[:5]))}{', ...' if len(classes) > 5 else ''})"
                        "; drop the setting.")
    matches = [i for i, c in enumerate(classes) if is_label(c, chosen)]
    labels = f"{show(classes[0])} and {show(classes[1])}"
    if not matches:
        raise UserError(f"{told} is not a label of {spec.target_col!r}, whose labels are {labels}; pass one of "
                        "them as written there.")
    if len(matches) == 2:
        raise UserError(f"{told} reads as a number that both labels of {spec.target_col!r} ({labels}) are; pass "
                        "the label in quotes as written there: --set positive_class='\"1.0\"'.")
    return [classes[1 - matches[0]], classes[matches[0]]]


def is_label(label, value) -> bool:
    """Whether ``value``, a ``--set`` value as YAML read it, names ``label`` (``no`` is false, ``1`` is 1)."""
    if isinstance(value, str) or str(label) == str(value):
        return str(label) == str(value)
    try:
        read = yaml.safe_load(str(label))
    except yaml.YAMLError:
        return False
    same_kind = isinstance(read, bool) == isinstance(value, bool) and isinstance(read, (bool, int, float))
    return same_kind and read == value


def classes_line(spec: CompetitionSpec, classes: list | None, chosen=None) -> str | None:
    """The run log's line about the classes where the metric depends on them: which class is positive, for a binary
    target scored by one class (AUC, log loss and Gini on its probability; F1 and MCC on its labels), and ratings with
    a gap for an ordinal metric (QWK); None for the others."""
    metric = spec.metric
    if metric.ordinal and classes:
        ratings = [_rating(spec, c) for c in classes]
        if ratings[-1] - ratings[0] != len(ratings) - 1:
            return (f"{metric.name}: the training ratings {', '.join(map(show, classes))} have a gap; the CV score "
                    "weighs a miss by the ratings' order (a gap is one step), Kaggle's by their values")
        return None
    if spec.task != "binary" or not classes or not (metric.takes == "probabilities" or metric.binary
                                                     or metric.name == "mcc"):
        return None
    why = ("chosen with --set positive_class" if chosen is not None
           else "the last of the sorted labels; --set positive_class=... to choose")
    line = f"positive class: {show(classes[-1])} ({why})"
    if metric.takes == "labels":
        line += f"; {metric.name} takes labels: the positive class where its probability is above 0.5 (the argmax)"
    else:
        line += "; the submission's probability is of this class"
    return line


def prediction_columns(spec: CompetitionSpec, classes: list | None) -> list[str]:
    if classes is None:
        return ["prediction"]
    return [f"proba_{c}" for c in classes]


def to_submission_values(spec: CompetitionSpec, pred: np.ndarray, classes: list | None,
                         sample: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Turn averaged predictions into the sample submission's columns (values, labels or probabilities)."""
    target_cols = [c for c in sample.columns if c != spec.id_col]
    if classes is None:
        return pred, target_cols
    if len(target_cols) == len(classes) and {str(c) for c in target_cols} == {str(c) for c in classes}:
        order = [[str(c) for c in classes].index(str(col)) for col in target_cols]
        return pred[:, order], target_cols
    cased = {str(c).lower() for c in target_cols} == {str(c).lower() for c in classes}
    if len(target_cols) == len(classes) and cased:
        raise UserError(f"the sample submission's columns {target_cols} are the classes {classes} written in another "
                        "case; column names and labels are compared exactly: write the class names as the training "
                        "data do (or fix the labels there).")
    if spec.metric.takes == "labels":
        return np.asarray(classes, dtype=object)[pred.argmax(axis=1)], target_cols
    if len(classes) == 2:
        return pred[:, 1], target_cols
    raise UserError(f"the sample submission's columns {target_cols} match neither one label column "
                    f"nor the classes {classes}.")


def fixed_header(spec: CompetitionSpec, id_col: str | None = None) -> list[str] | None:
    """The header a competition's submissions have where its spec fixes it (``submission.competition_columns``);
    None on the generic path, where the sample submission names its own answer column (Kaggle's ``Label`` for a
    ``label`` target, ``Prediction``, ...) and only the id column first is required."""
    if spec.slug == "tabular":
        return None
    return submission.competition_columns(id_col or spec.id_col, spec.target_col, spec.task, spec.metric)


def check_sample_layout(spec: CompetitionSpec, data: Dataset, classes: list | None) -> None:
    """Before any training: the sample submission has the competition's header, its columns are ones the predictions
    will fill (a value, one label column, or one probability column per class), and the submission the run will
    write from it passes the check it will meet then (the final write rehearsed on placeholder predictions)."""
    path = data.data_dir / spec.sample_submission_file
    sample = data.sample_submission
    submission.check_sample(sample, path, spec.id_col, fixed_header(spec))
    n = 1 if classes is None else len(classes)
    placeholder = np.full((len(data.test), n), 1 / n) if classes else np.ones(len(data.test))
    values, columns = to_submission_values(spec, placeholder, classes, sample)
    width = 1 if np.ndim(values) == 1 else np.shape(values)[1]
    if width != len(columns):
        what = "a value" if classes is None else "one label or probability column" if width == 1 else "the classes"
        raise UserError(f"{path} has column(s) {columns} besides {spec.id_col!r}, but the predictions fill {what}; "
                        "use the competition's sample submission (its id column and the answer column(s)).")
    sub = submission.build(sample, spec.id_col, data.test[spec.id_col], values, columns)
    submission.validate(sub, sample, spec.id_col, spec.metric, classes, name=f"a submission built from {path}")


def prediction_floor(spec: CompetitionSpec, y: np.ndarray) -> float | None:
    """The lowest prediction a regression may make: a non-negative target is never predicted below 0, and one
    scored on logs (RMSLE) never below its smallest positive training value (a log of 0 or less does not exist)."""
    if spec.task != "regression" or len(y) == 0 or np.nanmin(y) < 0:
        return None
    return float(np.min(y[y > 0])) if spec.metric.positive and (y > 0).any() else 0.0


FOLD_AVERAGES = ("probabilities", "logits")


def fold_average(test_folds: np.ndarray, metric: Metric, classes: list | None,
                 how: str = "probabilities") -> np.ndarray:
    """Test predictions averaged over folds: values in the metric's space; class probabilities by their mean
    (``probabilities``) or by the softmax of their mean log (``logits``: a geometric mean, renormalised)."""
    if classes is None:
        return average(test_folds, metric, axis=0)
    if how not in FOLD_AVERAGES:
        raise UserError(f"--set fold_average={how!r}: choose one of {list(FOLD_AVERAGES)}.")
    if how == "logits":
        mean_log = np.log(np.clip(test_folds, 1e-12, None)).mean(axis=0)
        weights = np.exp(mean_log - mean_log.max(axis=-1, keepdims=True))
        return weights / weights.sum(axis=-1, keepdims=True)
    return test_folds.mean(axis=0)


def read_solution(spec: CompetitionSpec, data: Dataset) -> pd.DataFrame | None:
    """The data folder's hidden answers (the demos write them; a Kaggle download has none), ids as text."""
    path = data.data_dir / spec.solution_file
    text = {spec.id_col: str, **({} if spec.task == "regression" else {spec.target_col: str})}
    if not path.is_file():
        return None
    solution = read_csv(path, [spec.id_col], "solution", dtype=text)
    answers = [c for c in solution.columns if c != spec.id_col and c.lower() != "usage"]
    named = [c for c in data.sample_submission.columns if c != spec.id_col]
    if fixed_header(spec) is None and len(answers) == len(named) == 1:  # the generic path's sample names its answer
        solution = solution.rename(columns={answers[0]: named[0]})
    return solution


def holdout_score(spec: CompetitionSpec, data: Dataset, test_pred: np.ndarray, classes: list | None) -> float | None:
    """The local-holdout score of test predictions, where the data have a solution file (the demos do)."""
    solution = read_solution(spec, data)
    if solution is None:
        return None
    values, target_cols = to_submission_values(spec, squeeze(test_pred), classes, data.sample_submission)
    sub = submission.build(data.sample_submission, spec.id_col, data.test[spec.id_col], values, target_cols)
    return submission.score(sub, solution, spec.id_col, spec.metric, classes)


def write_results(run_dir: Path, spec: CompetitionSpec, data: Dataset, results: FoldResults,
                  test_pred: np.ndarray) -> Path:
    """Write OOF, test predictions (``test_pred``: the folds' averaged), the validated submission, metrics (with the
    local holdout when a solution file exists), plots and ``report.html``. Shared by runs, merged runs and
    ensembles."""
    log = start_log(run_dir) if not logging_to(run_dir) else get_log()
    y, classes, fold_of, oof = results.y, results.classes, results.fold_of, results.oof
    folds_done, fold_scores, test_folds = results.folds_done, results.fold_scores, results.test_folds
    started, extra = results.started, results.extra
    metric = spec.metric
    done = np.isin(fold_of, folds_done)
    cv_score = metric(y[done], squeeze(oof[done]))
    columns = prediction_columns(spec, classes)
    oof_df = pd.DataFrame(oof[done], columns=columns)
    oof_df.insert(0, "target", data.train[spec.target_col].to_numpy()[done])
    oof_df.insert(0, "fold", fold_of[done])
    oof_df.insert(0, spec.id_col, data.train[spec.id_col].to_numpy()[done])
    write_csv(run_dir / "oof.csv", oof_df)
    test_df = pd.DataFrame(test_pred.reshape(len(data.test), -1), columns=columns)
    test_df.insert(0, spec.id_col, data.test[spec.id_col].to_numpy())
    write_csv(run_dir / "test_pred.csv", test_df)
    write_npy(run_dir / "test_folds.npy", test_folds)

    values, target_cols = to_submission_values(spec, squeeze(test_pred), classes, data.sample_submission)
    sub = submission.build(data.sample_submission, spec.id_col, data.test[spec.id_col], values, target_cols)
    submission.write(run_dir / "submission.csv", sub, data.sample_submission, spec.id_col, metric, classes)

    metrics = {
        "competition": spec.name, "metric": metric.name, "greater_is_better": metric.greater_is_better,
        "cv": cv_score, "cv_mean": float(np.mean(fold_scores)), "cv_std": float(np.std(fold_scores)),
        "folds": dict(zip(map(str, folds_done), map(float, fold_scores))), "holdout": None, **extra,
    }
    solution = read_solution(spec, data)
    if solution is not None:
        metrics["holdout"] = submission.score(sub, solution, spec.id_col, metric, classes)
        if len(test_folds) > 1:  # each fold's model alone, beside the fold ensemble above
            metrics["holdout_folds"] = {str(k): holdout_score(spec, data, test_folds[i], classes)
                                        for i, k in enumerate(folds_done)}
    metrics["wall_time_s"] = time.time() - started
    write_json(run_dir / "metrics.json", metrics)
    table = importance.write(run_dir, folds_done)  # table runs: from each fold's own table (a blend has none)
    pictures.draw([(plots.run_plots, run_dir, metric, y[done], squeeze(oof[done]), folds_done, fold_scores, classes),
                   (plots.run_curves, run_dir),  # image runs: every fold's learning curves in one figure
                   *([] if table is None else [(importance.picture, run_dir, table)])],
                  then=lambda: report.write(run_dir, spec))  # within auto, drawn beside the next member's fits

    holdout = "" if metrics["holdout"] is None else f", local holdout {metrics['holdout']:.5f}"
    log.info(f"CV {metric.name} {cv_score:.5f} (folds {metrics['cv_mean']:.5f} ± {metrics['cv_std']:.5f})"
             f"{holdout}; {metrics['wall_time_s']:.1f} s")
    log.info(f"submission: {run_dir / 'submission.csv'}")
    log.info(f"report: {run_dir / 'report.html'}")
    return run_dir


# ------------------------------------------------------------------- blends and merges of table runs
def _data_and_target(spec: CompetitionSpec, runs: list[Run], data_dir: Path | None):
    data = spec.load_run_data(Path(data_dir or runs[0].config["data_dir"]), runs[0].config)
    classes = runs[0].config.get("classes")
    target = data.train[spec.target_col]
    if classes is None:
        return data, target.to_numpy(float), None
    return data, pd.Categorical(target.astype(str), categories=[str(c) for c in classes]).codes, classes


def blend_probe(spec: CompetitionSpec, run_dirs: list[Path], method: str, data_dir: Path | None = None
                ) -> dict[str, float]:
    """One fit of each candidate of the ``method`` that would blend these finished runs, timed (``fit_seconds``):
    what ``nested_seconds`` prices their blend by."""
    runs = [load_run(p, spec.outputs) for p in run_dirs]
    _, y, classes = _data_and_target(spec, runs, data_dir)
    return fit_seconds(method, spec.metric, "regression" if classes is None else "classification",
                       stacked_predictions(runs)[0], y)


def ensemble(spec: CompetitionSpec, run_dirs: list[Path], method: str, out_root: Path,
             data_dir: Path | None = None, name: str | None = None, about: dict | None = None,
             started: float | None = None, label: str | None = None, judge: bool = True,
             repeats: int = INNER_REPEATS) -> Path:
    """Blend finished runs of ``spec`` (``--method mean|rank|weights|hill|stack|best``) by their OOF, nested honestly.
    ``name``: the blend's recipe name (default ``ensemble-<method>``), e.g. ``auto``; ``about``: more for its
    metrics.json; ``started``: when the work it sums up began (its wall time counts from then); ``label``: what its folder's
    name says after the time (``--name``); ``judge=False``: no warning where the blend does not beat its best member
    (the caller, ``auto``, says what follows); ``repeats``: ``best``'s inner splits."""
    started = started or time.time()
    runs = [load_run(p, spec.outputs) for p in run_dirs]
    check_compatible(runs)
    data, y, classes = _data_and_target(spec, runs, data_dir)
    current = fingerprint.of(spec, data)
    fingerprint.check_blend([(r.path, r.config) for r in runs], current, data.data_dir)
    oof, test = stacked_predictions(runs)
    fold_of = runs[0].folds["fold"].to_numpy()
    task = "regression" if classes is None else "classification"
    args = {"method": method, "metric": spec.metric, "task": task, "seed": int(runs[0].config.get("seed") or 0),
            "repeats": repeats}
    by_fold: list[Blender] = []
    blended_oof = nested_oof(args, oof, y, fold_of, by_fold)
    final = Blender(**args).fit(oof, y)
    test_pred = final.predict(test)
    floor = prediction_floor(spec, y)  # a stacker's intercept may reach below what the target allows
    if floor is not None:
        blended_oof, test_pred = np.maximum(blended_oof, floor), np.maximum(test_pred, floor)
    folds = sorted(np.unique(fold_of))
    fold_scores = [spec.metric(y[fold_of == k], squeeze(blended_oof[fold_of == k])) for k in folds]

    label, name_label = name or f"ensemble-{method}", label
    weights = final.member_weights  # rank averages ranks equally
    members = members_table(runs, weights)
    config = {**{k: runs[0].config[k] for k in ("competition", "id_col", "target_col", "task", "metric",
                                                 "classes", "seed", "n_folds", "fold_kind", "data_dir")},
              **{k: runs[0].config[k] for k in ("sample_file",) if k in runs[0].config},
              "recipe": label, "kind": "ensemble", "method": method, "outputs": TableOutputs.kind,
              "members": [str(r.path) for r in runs], "weights": None if weights is None else weights.tolist(),
              fingerprint.KEY: current}
    extra = {"recipe": label, "kind": "ensemble", "complete": True, "members": members.to_dict(orient="records"),
             **choice_record(final, by_fold), **(about or {})}
    results = FoldResults(fold_of, blended_oof, folds, fold_scores, test_pred[None], started, extra, y=y, classes=classes)
    with staged_run_dir(out_root, spec.folder, label, name_label) as (run_dir, final_dir):  # moved into place when complete
        start_log(run_dir).info(f"ensemble ({method}) of {len(runs)} runs: " + ", ".join(r.path.name for r in runs))
        save_config(run_dir, config)
        write_csv(run_dir / "folds.csv", runs[0].folds)
        with pictures.at_once():  # in the folder before it moves into place
            write_results(run_dir, spec, data, results, test_pred)
        write_members(run_dir, members.to_dict(orient="records"), method, judge=judge)
    return final_dir


def merge(spec: CompetitionSpec, run_dirs: list[Path], out_root: Path, data_dir: Path | None = None,
          label: str | None = None) -> Path:
    """Join partial runs (``--only-folds``) of one recipe of ``spec`` into one complete run, ``<recipe>-merged-<time>``
    then ``label`` (``--name``), else what the first partial run's folder name said after its time."""
    started = time.time()
    runs = [load_run(p, spec.outputs) for p in run_dirs]
    first = runs[0]
    owner_of, all_folds = fold_owners([(r.path, r.config, r.folds, r.metrics["folds"]) for r in runs])
    owner = {k: runs[i] for k, i in owner_of.items()}
    data, y, classes = _data_and_target(spec, runs, data_dir)
    current = fingerprint.of(spec, data)
    fingerprint.check_current([(r.path, r.config) for r in runs], current, data.data_dir)
    oof = first.oof_in_fold_order(pd.concat([r.oof for r in runs]))
    test_folds = np.stack([owner[k].test_folds()[sorted(map(int, owner[k].metrics["folds"])).index(k)]
                           for k in all_folds])
    fold_scores = [owner[k].metrics["folds"][str(k)] for k in all_folds]

    run_dir = new_run_dir(out_root, spec.folder, f"{first.config['recipe']}-merged", label or label_of(first.path))
    log = start_log(run_dir)
    log.info("merge of " + ", ".join(r.path.name for r in runs))
    save_config(run_dir, {**first.config, "only_folds": None, "merged_from": [str(r.path) for r in runs],
                          fingerprint.KEY: current})
    write_csv(run_dir / "folds.csv", first.folds)
    copy_fold_records({k: owner[k].path for k in all_folds}, run_dir)
    times = {key: {str(k): owner[k].metrics.get(key, {}).get(str(k)) for k in all_folds}
             for key in ("fold_times_s", "fit_times_s", "predict_times_s", "importance_times_s")}
    extra = {"recipe": first.config["recipe"], "complete": True, **{key: by_fold for key, by_fold in times.items()
                                                                    if key == "fold_times_s"
                                                                    or any(v is not None for v in by_fold.values())},
             "merged_from": [str(r.path) for r in runs], **_kept(owner[all_folds[0]].metrics, "time_split")}
    results = FoldResults(first.folds["fold"].to_numpy(), oof, all_folds, fold_scores, test_folds, started, extra,
                          y=y, classes=classes, config=first.config)
    return TableOutputs(spec).write_results(run_dir, data, results)


def _kept(metrics: dict, key: str) -> dict:
    """``{key: value}`` when a partial run recorded it (the time split is scored by the run holding fold 0)."""
    return {key: metrics[key]} if metrics.get(key) is not None else {}

