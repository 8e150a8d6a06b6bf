"""The one k-fold loop: for each saved fold fit a fresh model, predict the held-out rows (OOF) and the
test set, score, and write the run directory. Models follow ``shared.models`` (``fit`` / ``predict``); what a
competition's predictions are (a table row per id, or boxes) is its ``spec.outputs`` (``shared.spec.Outputs``)."""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from shared import distributed, importance, runs
from shared import parallel as parallel_
from shared.config import resolve
from shared.cv import check_fold_count, load_or_make_folds, parse_dates, time_holdout
from shared.divergence import check_features, check_predictions
from shared.errors import UserError
from shared.io import write_csv, write_npz
from shared.log import get_log, start_log
from shared.metrics import finite_score, squeeze
from shared.models import FoldPipeline, ModelContext, Progress, available_cores, clock, takes
from shared.readback import Unreadable, read_arrays
from shared.results import FoldResults
from shared.runs import git_version, new_run_dir, save_config
from shared.spec import CompetitionSpec, Dataset, Outputs, Recipe
from shared.tables import classes_line
from shared.targets import check_target, fits_logs


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


MIN_TRAIN_ROWS = 10  # fewer rows per fold model than this is no cross-validation, whatever the recipe


def check_enough_rows(spec: CompetitionSpec, n_rows: int, n_folds: int) -> None:
    """Before the folds are made: every fold's model trains on enough rows."""
    check_fold_count(n_folds, n_rows, spec.train_file)
    if n_rows - -(-n_rows // n_folds) < MIN_TRAIN_ROWS:
        raise UserError(f"{spec.train_file} has {n_rows} row(s): {n_folds}-fold CV would train each model on fewer "
                        f"than {MIN_TRAIN_ROWS}; use the full training data (or fewer --folds).")


def check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise UserError(f"--seed {seed!r}: a seed is a whole number from 0 to {2**32 - 1}.")


def run(spec: CompetitionSpec, recipe_name: str | None, data_dir: Path, n_folds: int = 5, seed: int = 42,
        time_limit: float | None = None, out_root: Path = Path("runs"), overrides: dict | None = None,
        only_folds: list[int] | None = None, resume: Path | None = None,
        parallel: parallel_.Settings | int | str | None = None, ray_address: str | None = None,
        name: str | None = None) -> Path:
    """Run one recipe with k-fold CV and write a complete run directory; return its path.

    Each finished fold leaves ``fold<k>/predictions.npz``; ``resume`` (a run directory of an interrupted
    run, whose saved config then replaces the other arguments) keeps those folds and continues the
    unfinished one from its checkpoint where the model keeps one (``data_dir``, if given, is where its data are now:
    they must be those it was made on). Under torchrun every rank trains and
    only rank 0 writes. ``parallel`` (``--parallel N|auto``, or ``shared.parallel.Settings`` with the threads
    per fold) runs the folds side by side as Ray tasks, locally or on the cluster at ``ray_address``, with the
    same results: how a run runs is not part of its config. ``name`` (``--name``): what the run folder's name says
    besides the recipe (default: the settings of ``overrides`` that differ from the recipe's defaults)."""
    started = time.time()
    spread = parallel_.settings(parallel, ray_address)  # before torchrun's group is joined or anything written
    distributed.init()
    if resume is not None:
        return _run(_resume_arguments(spec, Path(resume), data_dir), started, spread)
    recipe_name, why = distributed.broadcast(scratch_default(spec, recipe_name, overrides))  # one choice for all ranks
    recipe = spec.recipe(recipe_name)
    if recipe.driver is not None:  # e.g. `auto`: member runs on the same folds, then their nested blend
        return recipe.driver(spec, recipe, data_dir, n_folds=n_folds, seed=seed, time_limit=time_limit,
                             out_root=out_root, overrides=overrides, only_folds=only_folds,
                             parallel=parallel, ray_address=ray_address, name=name)
    made = len(runs.CREATED)
    try:
        return _run(RunArguments(spec, recipe_name, data_dir, n_folds, seed, time_limit, out_root, overrides,
                                 only_folds, name=name, notes=(why,) if why else ()), started, spread)
    except Exception:  # e.g. an unreadable image met in the first epoch: no half-made run is left behind
        runs.discard_unfinished(runs.CREATED[made:])
        raise


def scratch_default(spec: CompetitionSpec, recipe_name: str | None, overrides: dict | None) -> tuple[str | None, str]:
    """(the recipe to run, why it is not the one asked): without ``--recipe``, an image competition whose default
    recipe would start from pretrained weights (``pretrained=auto``, no ``weights``) that cannot be had here takes
    its ``scratch_recipe``, which learns from scratch, said in the log."""
    if recipe_name is not None or not spec.scratch_recipe:
        return recipe_name, ""
    default = spec.recipe(None)
    params = {**default.model_params, **(overrides or {})}
    if "pretrained" not in params or str(params["pretrained"]).lower() != "auto" or params.get("weights"):
        return recipe_name, ""
    from shared.vision.nets import weights_source

    if weights_source(str(params["model"])):
        return recipe_name, ""
    return spec.scratch_recipe, (
        f"no pretrained weights for {params['model']} can be had here (no installed package, no hub, not in its "
        f"cache), so the default recipe {default.name!r} would train from scratch: recipe {spec.scratch_recipe!r}, "
        f"which learns from scratch, instead (--recipe {default.name} to insist; --set weights=FILE to bring weights)")


@dataclass
class RunArguments:
    """What a run is asked for: ``run``'s arguments, or those an interrupted run saved (``resume_dir``)."""

    spec: CompetitionSpec
    recipe_name: str | None
    data_dir: Path
    n_folds: int
    seed: int
    time_limit: float | None
    out_root: Path
    overrides: dict | None
    only_folds: list[int] | None
    resume_dir: Path | None = None
    name: str | None = None  # --name: in the new run folder's name
    notes: tuple[str, ...] = ()  # lines for the run log about how the run was chosen (e.g. scratch_default)


def _resume_arguments(spec: CompetitionSpec, run_dir: Path, data_dir: Path | None = None) -> RunArguments:
    """The arguments an interrupted run saved, each checked (a hand-edited config.yaml is one line); ``data_dir``: where
    its data are now, when they moved."""
    from shared.config import RUN_SETTINGS
    from shared.fingerprint import KEY, check_resume
    from shared.runs import CONFIG_KEYS, check_values, load_config

    config = load_config(run_dir, required=(*CONFIG_KEYS, "model", "features", "time_limit", "only_folds", KEY))
    check_values(run_dir, config)
    if data_dir is not None:
        config = {**config, "data_dir": str(Path(data_dir))}
    if config.get("competition") != spec.name:
        raise UserError(f"--resume {run_dir}: that run is of {config.get('competition')!r}, not {spec.name!r}.")
    if config.get("sample_file") and config["sample_file"] != spec.sample_submission_file:  # it was made with --sample
        spec = spec.with_sample(config["sample_file"], Path(config["data_dir"]))
    if (run_dir / "metrics.json").is_file():
        raise UserError(f"--resume {run_dir}: that run already finished (metrics.json exists).")
    check_resume(spec, run_dir, config)  # before anything is written: the data must be those the run was made on
    overrides = {**config["model"], **config["features"], **{k: config.get(k, RUN_SETTINGS[k]) for k in RUN_SETTINGS}}
    return RunArguments(spec, config["recipe"], Path(config["data_dir"]), config["n_folds"], config["seed"],
                        config["time_limit"], run_dir.parent.parent, overrides, config["only_folds"], run_dir)


def check_resume_flags(spec: CompetitionSpec, run_dir: Path, asked: dict) -> None:
    """``--resume`` continues a run as it was made: each flag ``asked`` beside it ({"--seed": 7, "--set": {...}, ...},
    the flags that say what a run is) must equal the run's own value (then it changes nothing); one that differs is
    one line naming the flag, the run's value and what to do."""
    from shared.config import RUN_SETTINGS
    from shared.errors import show
    from shared.runs import load_config

    config = load_config(run_dir, required=("recipe", "n_folds", "seed", "model", "features"))
    saved = {"--recipe": config["recipe"], "--folds": config["n_folds"], "--seed": config["seed"],
             "--time-limit": config.get("time_limit"), "--only-folds": config.get("only_folds"),
             "--out": str(Path(run_dir).resolve().parent.parent), "--target": config.get("target_col"),
             "--id": config.get("id_col"), "--metric": str(config.get("metric")).lower()}
    asked = dict(asked)
    sets = asked.pop("--set", {})
    if "--recipe" in asked:
        asked["--recipe"] = spec.recipe(asked["--recipe"]).name
    if "--out" in asked:
        asked["--out"] = str(Path(asked["--out"]).resolve())
    if "--metric" in asked:
        asked["--metric"] = str(asked["--metric"]).strip().lower()
    if asked.get("--only-folds") is not None:
        asked["--only-folds"] = sorted(set(asked["--only-folds"]))
    for flag, value in asked.items():
        if not _same(value, saved[flag]):
            was = (f"writes into its own folder, under {saved[flag]}" if flag == "--out" else
                   f"was made without {flag}" if saved[flag] is None else f"was made with {_typed(flag, saved[flag])}")
            raise UserError(f"{_typed(flag, value)} with --resume: {run_dir} {was}, and a resumed run keeps what it was "
                            f"made with; drop {flag}, or start a new run without --resume.")
    if sets:
        recipe = spec.recipe(config["recipe"])
        kept = {**config["model"], **config["features"], **{k: config.get(k, RUN_SETTINGS[k]) for k in RUN_SETTINGS}}
        was = resolve(recipe, kept, spec.run_defaults(), competition=spec.name)
        now = resolve(recipe, {**kept, **sets}, spec.run_defaults(), competition=spec.name)
        for key in sets:
            before, after = _setting(was, key), _setting(now, key)
            if key == "positive_class" and None not in (before, after):  # recorded as the label, asked as YAML read it
                from shared.tables import is_label
                if is_label(before, after):
                    continue
            if not _same(after, before):
                raise UserError(f"--set {key}={show(sets[key], setting=True, quote=False)} with --resume: {run_dir} "
                                f"was made with {key}={show(before, setting=True, quote=False)}, and a resumed run "
                                "keeps what it was made with; drop it, or start a new run without --resume.")


def _typed(flag: str, value) -> str:
    """A flag with its value as one types it (``--only-folds 0,2``, ``--time-limit 60``)."""
    from shared.errors import show

    text = ",".join(map(str, value)) if isinstance(value, list) else show(value, setting=True, quote=False, compact=True)
    return f"{flag} {text}"


def _setting(config: dict, key: str):
    """A resolved setting's value, wherever it lives (the model's, the features' or the run's)."""
    return next(part[key] for part in (config["model"], config["features"], config) if key in part)


def _same(a, b) -> bool:
    """Equal as settings: 5 and 5.0 are; True and 1 are not, nor 5 and "5"."""
    if isinstance(a, (bool, str)) or isinstance(b, (bool, str)):
        return type(a) is type(b) and a == b
    return a == b


def _run(args: RunArguments, started: float, spread: parallel_.Settings) -> Path:
    try:
        return _run_folds(args, started, spread)
    finally:
        parallel_.shutdown()  # the local Ray started for the run (or the cluster joined), if any


def _run_folds(args: RunArguments, started: float, spread: parallel_.Settings) -> Path:
    """Prepare the run (everything checked, the run folder opened), fit its folds, write its results."""
    prepared = _prepare(args, started, spread)
    run_dir = _finish(prepared, _fit_folds(prepared))
    distributed.barrier()  # under torchrun the other ranks wait while rank 0 writes: none leaves the group early
    return run_dir


# ------------------------------------------------------------------------------------------- preparing
@dataclass
class FoldRun:
    """A run ready for its folds (``_prepare``): what the fold loop and the results read."""

    args: RunArguments
    recipe: Recipe
    config: dict  # resolved, and completed with what the run is (config.yaml)
    data: Dataset
    outputs: Outputs
    y: np.ndarray
    classes: list | None
    weights: np.ndarray | None
    time_valid: np.ndarray | None  # the time split's validation rows (None: no time split in this run)
    time_dates: pd.Series | None
    plan: parallel_.Plan
    fold_of: np.ndarray
    n_folds_made: int
    todo: list[int]  # the folds this run fits (--only-folds), a resumed run's finished ones among them
    started: float
    kept: dict  # a resumed run's finished folds, read back: {fold: what ``_fit_fold`` returned}
    refit: list[str]  # a resumed run's saved folds that were not readable, one warning each (fitted again)
    run_dir: Path | None = None  # the rest is filled in as the run is prepared
    log: logging.Logger | None = None
    X: pd.DataFrame | None = None
    X_test: pd.DataFrame | None = None
    target: np.ndarray | None = None  # what the models fit: y, or its log1p where the run fits logs
    model_factory: ModelFactory | None = None

    @property
    def spec(self) -> CompetitionSpec:
        return self.args.spec

    @property
    def main(self) -> bool:
        return distributed.is_main()  # under torchrun only rank 0 writes

    @property
    def log_target(self) -> bool:
        return self.config["log_target"]

    @property
    def fits(self) -> int:
        """The fits of the run: its folds, then the time split."""
        return len(self.todo) + (self.time_valid is not None)

    @property
    def fold_inputs(self) -> tuple:
        """What every fit reads (``_fit_fold``'s first arguments; with --parallel, put in Ray's store once)."""
        return self.model_factory, self.X, self.target, self.fold_of, self.weights, self.log_target, self.X_test

    def score(self, rows: np.ndarray, pred: np.ndarray, what: str = "the out-of-fold predictions") -> float:
        return finite_score(self.spec.metric, self.outputs.score(self.data, self.y, rows, pred), what)


def _prepare(args: RunArguments, started: float, spread: parallel_.Settings) -> FoldRun:
    """Everything before the first fit, every input checked before anything is written: the recipe and its
    config, the data and the target, the folds (and Ray, with --parallel), the run folder, the features."""
    spec = args.spec
    check_seed(args.seed)
    recipe = spec.recipe(args.recipe_name)
    if recipe.requires is not None:
        recipe.requires()
    config = resolve(recipe, args.overrides or {}, spec.run_defaults(), competition=spec.name)
    data, y, classes, target_notes = read_data(spec, args.data_dir, config, args.n_folds)
    outputs = spec.outputs  # what the predictions are: how to read the target, score, average and write them
    weights = _sample_weights(args, recipe, config, data)
    time_valid, time_dates = _time_valid_rows(spec, config, data) if config["time_col"] else (None, None)
    width = outputs.width(classes)
    plan, folds, kept, refit = _plan_and_folds(args, spread, config, data, y, time_valid is not None, width,
                                               finite=outputs.kind == "table")  # detection tables pad with NaN
    fold_ids = sorted(folds["fold"].unique())
    todo = fold_ids if args.only_folds is None else sorted(set(args.only_folds))
    if fold_ids[0] not in todo:  # a partial run scores the time split when it holds fold 0 (merge keeps it)
        time_valid = None
    prepared = FoldRun(args, recipe, config, data, outputs, y, classes, weights, time_valid, time_dates, plan,
                       folds["fold"].to_numpy(), len(fold_ids), todo, started, kept, refit)
    per_fold_budget = _time_budget(prepared)
    _open_run_dir(prepared, folds)
    for note in target_notes:
        prepared.log.warning(note)
    if outputs.kind == "table" and (line := classes_line(spec, classes, config["positive_class"])):
        prepared.log.info(line)
    _make_features(prepared, per_fold_budget)
    return prepared


def read_data(spec: CompetitionSpec, data_dir: Path, config: dict, n_folds: int):
    """A run's data read and checked, before anything is written (``download.py --check`` runs exactly this):
    (the data, the encoded target, its classes or None, the lines the log should say about the target)."""
    data = spec.load_run_data(Path(data_dir), config)
    y, classes = spec.outputs.encode(data, config.get("positive_class"))
    if config.get("positive_class") is not None:  # recorded as the label it names ('no', not YAML's false)
        config["positive_class"] = classes[-1]
    spec.outputs.check(data, y, classes, n_folds)
    notes = check_target(spec, data, y, classes, config.get("log_target"))  # a target nothing can be learned from
    return data, y, classes, notes


def _sample_weights(args: RunArguments, recipe: Recipe, config: dict, data: Dataset) -> np.ndarray | None:
    """The training rows' weights (``--set sample_weight``), checked and loaded before anything is written."""
    if config["sample_weight"] == "none":
        return None
    from shared.adversarial import sample_weights

    if not takes(recipe.model, "sample_weight"):
        raise UserError(f"recipe {recipe.name!r} does not take sample weights; drop --set sample_weight or "
                        "use a recipe whose model does (gbm, linear, automl).")
    return sample_weights(config["sample_weight"], args.spec, data, args.seed)


def _plan_and_folds(args: RunArguments, spread: parallel_.Settings, config: dict, data: Dataset, y: np.ndarray,
                    time_split: bool, width: int, finite: bool) -> tuple[parallel_.Plan, pd.DataFrame, dict, list[str]]:
    """(how the fits go, the folds, a resumed run's finished folds read back, its warnings for those fitted again):
    the folds file is written (rank 0) once the rows, the folds asked for and the output folder are checked and
    Ray is up. A resumed run keeps its own folds.csv, and its folds are read back before the plan counts the fits."""
    spec, n_folds = args.spec, args.n_folds
    ids = data.train[spec.id_col]
    check_enough_rows(spec, len(ids), n_folds)
    if args.only_folds is not None and not len(args.only_folds):
        raise UserError("--only-folds names no fold: name the folds to run (0,2), or leave it out for all of them.")
    bad = sorted(set(args.only_folds or ()) - set(range(n_folds)))
    if bad:  # before the folds file is written
        raise UserError(f"--only-folds {bad}: folds run from 0 to {n_folds - 1}.")
    groups, order = spec.fold_values(data)
    kept, refit = {}, []
    if args.resume_dir is not None:
        runs.check_writable(args.resume_dir)
        folds = runs.load_folds(args.resume_dir, ids, n_folds, spec.id_col)
        todo = range(n_folds) if args.only_folds is None else sorted(set(args.only_folds))
        kept, refit = _kept_folds(args.resume_dir, todo, folds["fold"].to_numpy(), len(data.test), width, finite)
    plan = _plan(spread, config, n_folds, args.only_folds, set(kept), time_split)  # (Ray starts here)
    if args.resume_dir is not None:
        return plan, folds, kept, refit
    folds = None
    if distributed.is_main():
        out_root = Path(args.out_root)
        runs.check_writable(out_root, out_root / spec.folder)  # before the folds file is written
        folds = load_or_make_folds(out_root / spec.folder / "folds", ids, n_folds, args.seed, spec.fold_kind,
                                   target=y, groups=groups, order=order, id_col=spec.id_col)
    return plan, distributed.broadcast(folds), kept, refit


def _time_budget(prepared: FoldRun) -> float | None:
    """Each fit's share of the recipe's time limit (``--time-limit`` is the recipe's total budget)."""
    model = prepared.config["model"]
    if prepared.args.time_limit is not None and "time_limit" in model:
        model["time_limit"] = float(prepared.args.time_limit)
    budget = model.get("time_limit")
    return None if budget is None else budget / prepared.fits


def _open_run_dir(prepared: FoldRun, folds: pd.DataFrame) -> None:
    """The run folder (a new one, or the resumed run's), its log, config.yaml and folds.csv, and the log's opening
    lines."""
    args, spec, config, main = prepared.args, prepared.spec, prepared.config, prepared.main
    label = runs.run_label(args.name, _changed(prepared.recipe, config, args.overrides or {}, spec))
    run_dir = args.resume_dir or (new_run_dir(args.out_root, spec.folder, prepared.recipe.name, label) if main else None)
    prepared.run_dir = run_dir = distributed.broadcast(run_dir)
    prepared.log = log = start_log(run_dir) if main else get_log()
    metric, data, todo = spec.metric, prepared.data, prepared.todo
    config.update({
        "competition": spec.name, "id_col": spec.id_col, "target_col": spec.target_col, "task": spec.task,
        "metric": metric.name, "classes": prepared.classes,
        "log_target": fits_logs(metric, config["log_target"]), "seed": args.seed,
        "n_folds": args.n_folds, "fold_kind": spec.fold_kind, "fold_col": spec.fold_col,
        "outputs": prepared.outputs.kind, "only_folds": None if args.only_folds is None else todo,
        "time_limit": args.time_limit, "data_dir": str(Path(args.data_dir).resolve()), "code_version": git_version(),
        "command": " ".join(sys.argv), "data_fingerprint": runs.data_fingerprint(spec, data, args.resume_dir),
        "sample_file": spec.sample_submission_file,
    })
    if main and args.resume_dir is None:
        save_config(run_dir, config)
        write_csv(run_dir / "folds.csv", folds)
    if args.resume_dir is not None:
        log.info(f"resuming {run_dir}")
    for line in prepared.refit:
        log.warning(line)
    if distributed.world_size() > 1:
        log.info(f"torchrun: {distributed.world_size()} processes train together; rank 0 writes")
    for line in args.notes:
        log.warning(line)
    log.info(f"{spec.name} / {prepared.recipe.name}: {prepared.recipe.about}")
    if config["clean_train"] and spec.clean_train is not None:
        log.info(f"clean_train: {spec.clean_train_about} (keep all with --set clean_train=false)")
    log.info(f"run directory {run_dir}; {len(data.train)} train rows, {len(data.test)} test rows, "
             f"{len(todo)} of {prepared.n_folds_made} folds")
    if spec.sample_submission_file:
        log.info(f"sample submission {data.data_dir / spec.sample_submission_file} (another: --sample FILE)")


def _reads_images(X: pd.DataFrame) -> bool:
    """Whether a recipe's features are the images' paths (image and detection recipes read the images themselves)."""
    return list(X.columns) == ["image_path"]


def _changed(recipe: Recipe, config: dict, overrides: dict, spec: CompetitionSpec) -> dict:
    """The settings typed with ``--set`` whose resolved values differ from the recipe's defaults, by key."""
    defaults = resolve(recipe, {}, spec.run_defaults(), competition=spec.name)
    changed = {}
    for key in overrides:
        try:
            now, default = _setting(config, key), _setting(defaults, key)
        except StopIteration:  # not a setting of this recipe's config (resolve said so before)
            continue
        if not _same(now, default):
            changed[key] = now
    return changed


def _make_features(prepared: FoldRun, per_fold_budget: float | None) -> None:
    """The feature tables (made once, before the folds), the target the models fit, and the model factory."""
    args, spec, recipe, config, log = prepared.args, prepared.spec, prepared.recipe, prepared.config, prepared.log
    seed_everything(args.seed)
    data, weights = prepared.data, prepared.weights
    prepared.X, prepared.X_test = made_features(recipe, data.train.drop(columns=[spec.id_col, spec.target_col]),
                                                data.test.drop(columns=[spec.id_col]), config["features"])
    if _reads_images(prepared.X):  # image and detection recipes read the images themselves
        log.info(f"inputs: images, {len(prepared.X)} to train on, {len(prepared.X_test)} to predict")
    else:
        log.info(f"features: {prepared.X.shape[1]} columns")
    check_features(prepared.X, data.train[spec.id_col], spec.train_file)
    check_features(prepared.X_test, data.test[spec.id_col], spec.test_file or spec.sample_submission_file)
    if weights is not None:
        log.info(f"sample weights ({config['sample_weight']}): min {weights.min():.3f}, max {weights.max():.3f}")
    prepared.target = np.log1p(prepared.y) if prepared.log_target else prepared.y
    classes = prepared.classes
    contexts = ContextMaker(spec, len(classes) if classes else 0, args.seed, per_fold_budget, prepared.run_dir,
                           args.resume_dir is not None, threads=prepared.plan.threads)
    table = prepared.outputs.kind == "table"
    measures = (importance.Plan.of(config, spec.metric, prepared.y, args.seed)
                if table and not _reads_images(prepared.X) else None)
    prepared.model_factory = ModelFactory(recipe, config, prepared.X, contexts,
                                          floor=prepared.outputs.floor(prepared.y), checks_values=table,
                                          importance=measures)


_SAME_DATA: dict | None = None  # the features made within ``same_data()``, by what they were made from


@contextlib.contextmanager
def same_data():
    """Within it, runs whose recipes make their features with the same function from the same tables and settings
    make them once (``made_features``): ``auto``'s members, each a run of its own on one data set (on ames, 0.4 s of
    each member's run, typing the columns). What was made is let go at its end."""
    global _SAME_DATA
    outer = _SAME_DATA
    _SAME_DATA = {} if outer is None else outer
    try:
        yield
    finally:
        _SAME_DATA = outer


def made_features(recipe: Recipe, train: pd.DataFrame, test: pd.DataFrame, params: dict):
    """``recipe.features(train, test, params)``, or within ``same_data()`` a copy of what it made before from equal
    tables (every value hashed, in order) and equal settings."""
    if _SAME_DATA is None:
        return recipe.features(train, test, params)
    key = (recipe.features, _content_key(train), _content_key(test), json.dumps(params, sort_keys=True, default=str))
    if key not in _SAME_DATA:
        _SAME_DATA[key] = recipe.features(train, test, params)
    X, X_test = _SAME_DATA[key]
    return X.copy(), X_test.copy()


def _content_key(df: pd.DataFrame) -> tuple:
    values = pd.util.hash_pandas_object(df, index=False).to_numpy() if len(df.columns) else np.zeros(0, np.uint64)
    return tuple(map(str, df.columns)), tuple(map(str, df.dtypes)), len(df), values.tobytes()


# --------------------------------------------------------------------------------------- fitting the folds
@dataclass
class FittedFolds:
    """The finished folds' predictions, gathered as they come (in any order with --parallel), by fold."""

    oof: np.ndarray
    tests: dict = field(default_factory=dict)
    scores: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    variants: dict = field(default_factory=dict)  # e.g. "no_tta": (OOF, {fold: test}) of the same models without TTA
    time_split: dict | None = None  # the time split's result, when Ray fitted it beside the folds


def _fit_folds(prepared: FoldRun) -> FittedFolds:
    """Every fold still to fit, fitted (one after another here, or side by side on Ray); finished folds of a
    resumed run read back. Where each fit stands feeds the ETAs in the log."""
    got = FittedFolds(np.full((len(prepared.X), prepared.outputs.width(prepared.classes)), np.nan))
    prepared.model_factory.contexts.progress.fit_seconds = []
    # The bar stays on a terminal (it is off elsewhere: Kaggle's saved log, nohup, a pipe); the log's lines are the
    # record everywhere, written above the bar while it shows.
    bar = tqdm(total=len(prepared.todo), desc=f"{prepared.recipe.name} folds", file=sys.stderr, leave=True,
               disable=not prepared.main or None)
    if prepared.plan.about:  # --parallel: how the folds go
        prepared.log.info(prepared.plan.about)
    with logging_redirect_tqdm(loggers=[prepared.log]):
        if prepared.plan.ray:
            _fit_on_ray(prepared, got, bar)
        else:
            _fit_here(prepared, got, bar)
    bar.close()
    return got


def _fit_here(prepared: FoldRun, got: FittedFolds, bar) -> None:
    """The folds one after another in this process (every rank, under torchrun)."""
    for position, k in enumerate(prepared.todo):
        to_go = prepared.fits - position - 1
        if k in prepared.kept:  # finished before the interruption: not retrained
            fold = prepared.kept[k]
            prepared.log.info(f"fold {k}: kept from {prepared.run_dir / f'fold{k}' / 'predictions.npz'}")
        else:
            fold = _fit_fold(*prepared.fold_inputs, k, prepared.main, (f"fold {k}", to_go))
        _take(prepared, got, k, fold, to_go, to_go)
        bar.update()


def _fit_on_ray(prepared: FoldRun, got: FittedFolds, bar) -> None:
    """--parallel: the folds to fit, and the time split, as Ray tasks ``plan.at_once`` at a time; each is taken as it
    finishes (a resumed run's finished folds first)."""
    plan, calls = prepared.plan, []
    for k in prepared.todo:
        if k in prepared.kept:
            prepared.log.info(f"fold {k}: kept from {prepared.run_dir / f'fold{k}' / 'predictions.npz'}")
            to_go = prepared.fits - len(got.scores) - 1
            _take(prepared, got, k, prepared.kept[k], to_go, -(-to_go // plan.at_once))
            bar.update()
        else:
            calls.append((f"fold {k}", _fit_fold, (k, True)))
    if prepared.time_valid is not None:
        calls.append(("time split", _time_split_task, (prepared.y, prepared.time_valid, prepared.time_dates,
                                                       prepared.config, prepared.spec.metric)))
    calls = [(label, fn, (*args, ("", (len(calls) - 1 - i) // plan.at_once)))
             for i, (label, fn, args) in enumerate(calls)]
    visible = (prepared.run_dir, prepared.args.data_dir)
    for label, result in parallel_.run_tasks(plan, calls, prepared.fold_inputs, visible=visible):
        to_go = prepared.fits - len(got.scores) - (got.time_split is not None) - 1
        if label == "time split":
            got.time_split = result
        else:
            _take(prepared, got, int(label.split()[1]), result, to_go, -(-to_go // plan.at_once))
            bar.update()


def _take(prepared: FoldRun, got: FittedFolds, k: int, fold: tuple, to_go: int, rounds_to_go: int) -> None:
    """A finished fold into the OOF, test and variant predictions, and its line in the log (``to_go``: fits
    after it; ``rounds_to_go``: how many fold-times they take, side by side)."""
    pred_valid, pred_test, variants, seconds = fold
    n_rows, n_out, n_test = len(prepared.X), prepared.outputs.width(prepared.classes), len(prepared.X_test)
    valid_rows = np.flatnonzero(prepared.fold_of == k)
    got.oof[valid_rows] = pred_valid.reshape(len(valid_rows), n_out)
    got.tests[k] = pred_test.reshape(n_test, n_out)
    for name, (v_valid, v_test) in variants.items():
        v_oof, v_tests = got.variants.setdefault(name, (np.full((n_rows, n_out), np.nan), {}))
        v_oof[valid_rows] = v_valid.reshape(len(valid_rows), n_out)
        v_tests[k] = v_test.reshape(n_test, n_out)
    got.scores[k], got.seconds[k] = prepared.score(valid_rows, got.oof[valid_rows], f"fold {k}"), seconds
    progress = prepared.model_factory.contexts.progress
    progress.fit_seconds.append(seconds)
    progress.fits_after = rounds_to_go
    noun = "fits" if prepared.time_valid is not None else "folds"
    left = "" if not to_go else (f"; {to_go} of {prepared.fits} {noun} to go, run ETA "
                                 f"{clock(progress.run_left(0, seconds))}")
    prepared.log.info(f"fold {k}: {prepared.spec.metric.name} {got.scores[k]:.5f} ({seconds:.1f} s, "
                      f"{len(prepared.fold_of) - len(valid_rows)} train rows){left}")


# ---------------------------------------------------------------------------------------------- finishing
def _finish(prepared: FoldRun, got: FittedFolds) -> Path:
    """The time split (fitted now unless Ray fitted it), the variants' scores, and the results written (rank 0)."""
    todo = prepared.todo
    fold_scores, fold_times = [got.scores[k] for k in todo], [got.seconds[k] for k in todo]
    extra = {"recipe": prepared.recipe.name, "fold_times_s": dict(zip(map(str, todo), fold_times)),
             "complete": len(todo) == prepared.n_folds_made, **_fold_parts(prepared)}
    if not _reads_images(prepared.X):  # the feature columns fitted on (compare.py tells edited feature code)
        extra["n_features"] = int(prepared.X.shape[1])
    if prepared.plan.ray:  # how it ran, beside its wall time (the results are those of a run one fold after another)
        extra["parallel"] = prepared.plan.record()
    if prepared.time_valid is not None:
        extra["time_split"] = _scored_time_split(prepared, got.time_split)
    test_folds = np.stack([got.tests[k] for k in todo])
    if not prepared.main:
        return prepared.run_dir
    extra["variants"] = _variant_scores(prepared, got)
    results = FoldResults(prepared.fold_of, got.oof, todo, fold_scores, test_folds, prepared.started, extra,
                          y=prepared.y, classes=prepared.classes, config=prepared.config)
    return prepared.outputs.write_results(prepared.run_dir, prepared.data, results)


def _fold_parts(prepared: FoldRun) -> dict:
    """The folds' fit, predict and importance seconds (``fit_times_s``, ...: {fold: seconds}), read from each fold's
    predictions.npz (a resumed run's kept folds too; a file of older code has none), and the importance's line in
    the log."""
    parts = {name: {} for name in TIMES}
    for k in prepared.todo if prepared.main else ():
        saved = prepared.run_dir / f"fold{k}" / "predictions.npz"
        if not saved.is_file():
            continue
        with np.load(saved, allow_pickle=False) as arrays:
            for name in TIMES:
                if name in arrays.files:
                    parts[name][str(k)] = float(arrays[name])
    written = [f for k in prepared.todo if (f := prepared.run_dir / f"fold{k}" / importance.FILE).is_file()]
    if parts["importance_seconds"] and prepared.model_factory.importance is not None and written:
        measured = tuple(pd.read_csv(written[0], nrows=0).columns)
        prepared.log.info(importance.cost_line(prepared.model_factory.importance.kind, parts["importance_seconds"],
                                               parts["fit_seconds"], measured))
    return {f"{name.rsplit('_', 1)[0]}_times_s": values for name, values in parts.items() if values}


def _scored_time_split(prepared: FoldRun, fitted: dict | None) -> dict:
    """The time split's result (``fitted`` by Ray beside the folds, else fitted now) and its line in the log."""
    progress = prepared.model_factory.contexts.progress
    progress.name, progress.fits_after = "time split", 0
    config, metric = prepared.config, prepared.spec.metric
    split = fitted or _time_split(prepared.model_factory, prepared.X, prepared.target, prepared.y,
                                  prepared.time_valid, prepared.time_dates, prepared.weights, config,
                                  prepared.log_target, metric)
    prepared.log.info(f"time split on {config['time_col']!r}: {metric.name} {split['score']:.5f} validating on "
                      f"{split['valid_rows']} rows from {split['valid_from']} (shuffled folds above mix the periods)")
    return split


def _variant_scores(prepared: FoldRun, got: FittedFolds) -> dict:
    """CV and local holdout of each variant of the predictions (e.g. without TTA), each with its line in the log."""
    todo, done = prepared.todo, np.flatnonzero(np.isin(prepared.fold_of, prepared.todo))
    scored = {}
    for name, (v_oof, v_tests) in got.variants.items():
        tests = np.stack([v_tests[k] for k in todo if k in v_tests])
        scored[name] = {"cv": prepared.score(done, v_oof[done]),
                        "holdout": prepared.outputs.holdout_score(prepared.data, tests, prepared.classes,
                                                                  prepared.config)}
    for name, scores in scored.items():
        holdout = "" if scores["holdout"] is None else f", local holdout {scores['holdout']:.5f}"
        prepared.log.info(f"{name.replace('_', ' ')}: CV {prepared.spec.metric.name} {scores['cv']:.5f}{holdout}")
    return scored


@dataclass
class ContextMaker:
    """Builds each fit's ``ModelContext`` (its own scratch folder inside the run)."""

    spec: CompetitionSpec
    n_classes: int
    seed: int
    time_limit: float | None
    run_dir: Path
    resume: bool = False
    threads: int | None = None  # CPU threads per fit (--threads; side by side, the cores shared); None: all cores
    progress: Progress = field(default_factory=Progress)  # the fit under way, kept up to date by the fold loop

    def __call__(self, name: str) -> ModelContext:
        return ModelContext(self.spec.task, self.spec.metric.name, self.n_classes, self.seed, self.time_limit,
                            self.run_dir / name, self.threads or available_cores(), self.resume, self.progress)


class ModelFactory:
    """``factory(name) -> fresh model`` with its own scratch folder ``run_dir/name`` (and the recipe's
    fold-fitted feature steps in front, if any)."""

    def __init__(self, recipe, config: dict, X: pd.DataFrame, contexts: ContextMaker, floor: float | None = None,
                 checks_values: bool = True, importance: importance.Plan | None = None):
        self.recipe, self.params, self.contexts = recipe, config["model"], contexts
        self.floor = floor  # the lowest prediction the target allows (``prediction_floor``), None: no bound
        self.checks_values = checks_values  # predictions are numbers per row (a table), checked by check_predictions
        self.importance = importance  # how each fold's feature importance is measured; None: it is not
        self.steps = None if recipe.fold_features is None else recipe.fold_features(X, config["features"],
                                                                                    contexts("steps"))
        self.run_dir = contexts.run_dir

    def __call__(self, name: str):
        seed_everything(self.contexts.seed)
        model = self.recipe.model(self.params, self.contexts(name))
        return model if self.steps is None else FoldPipeline(copy.deepcopy(self.steps), model)


def _plan(spread: parallel_.Settings, config: dict, n_folds: int, only_folds: list[int] | None,
          kept: set[int], time_split: bool) -> parallel_.Plan:
    """How this run's fits go (``shared.parallel.plan``), decided before anything is written: the folds still to
    fit (a resumed run's finished ones are kept) and the time split, one GPU each where the recipe trains on
    GPUs."""
    todo = range(n_folds) if only_folds is None else sorted(set(only_folds))
    fits = sum(k not in kept for k in todo)
    fits += time_split and 0 in todo
    device = str(config["model"].get("device", "cpu"))
    plan = parallel_.plan(spread, fits, wants_gpu=device != "cpu")
    if plan.ray and plan.gpus and device.startswith("cuda:"):
        raise UserError(f"--set device={device} pins one GPU, and --parallel gives each fold a GPU of its own: use "
                        "device=auto (or cuda).")
    return plan


TIMES = ("fit_seconds", "predict_seconds", "importance_seconds")  # a fold's parts, saved beside its predictions


def _fit_fold(model_factory: ModelFactory, X: pd.DataFrame, target: np.ndarray, fold_of: np.ndarray,
              weights: np.ndarray | None, log_target: bool, X_test: pd.DataFrame, k: int, write: bool,
              progress: tuple[str, int]) -> tuple[np.ndarray, np.ndarray, dict, float]:
    """Fold ``k``: a fresh model fitted on the other folds' rows; its predictions for fold ``k``'s rows and the
    test set, saved as ``fold<k>/predictions.npz`` when ``write`` (rank 0 under torchrun); (valid, test,
    variants, seconds). The one body of the fold loop, run in this process or, with --parallel, in a Ray worker.
    ``progress``: the fit's name in its epoch lines and the fits after it, for their ETAs."""
    t0, state = time.time(), model_factory.contexts.progress
    state.name, state.fits_after = progress
    state.earlier_seconds = 0.0  # a model resumed from its checkpoint says how long it trained before
    train_rows, valid_rows = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
    record = {"fold": k}
    pred_valid, pred_test, variants = _fit_predict(model_factory, f"fold{k}", X, target, train_rows, valid_rows,
                                                   weights, log_target, X_test, record)
    seconds = time.time() - t0 + state.earlier_seconds  # the fold's whole time, also when it was resumed
    if write:  # the fold's importance before its predictions: a fold with predictions.npz has all its records
        if record.get("importance") is not None:
            importance.write_fold(model_factory.run_dir / f"fold{k}", record.pop("importance"))
        write_npz(model_factory.run_dir / f"fold{k}" / "predictions.npz", valid=pred_valid, test=pred_test,
                  seconds=seconds, **{name: record[name] for name in TIMES if name in record},
                  **{f"{part}__{name}": pair[i] for name, pair in variants.items()
                     for i, part in enumerate(("valid", "test"))})
    return pred_valid, pred_test, variants, seconds


def _kept_folds(run_dir: Path, todo, fold_of: np.ndarray, n_test: int, width: int,
                finite: bool) -> tuple[dict, list[str]]:
    """The folds of ``todo`` an interrupted run finished, read back ({fold: what ``_fit_fold`` returned}), and a
    warning for each saved file that is not what this code wrote for this run (a foreign, cut-off or edited
    file): that fold is fitted again and its file replaced; the other finished folds are kept."""
    kept, refit = {}, []
    for k in todo:
        saved = run_dir / f"fold{k}" / "predictions.npz"
        if saved.exists() and not saved.is_file():  # before any work: it could not be replaced by the fold's file
            raise UserError(f"{saved} is not a file (a folder?): move it out of the run folder, then resume.")
        if not saved.is_file():
            continue
        try:
            kept[k] = _kept_fold(saved, int(np.sum(fold_of == k)), n_test, width, finite)
        except Unreadable as exc:
            refit.append(f"{exc.file} {exc.problem}: fitting fold {k} again (its file is replaced)")
    return kept, refit


def _kept_fold(saved: Path, n_valid: int, n_test: int, width: int,
               finite: bool) -> tuple[np.ndarray, np.ndarray, dict, float]:
    """A fold finished before an interruption, read back as ``_fit_fold`` returned it (not retrained): its held-out
    rows' and the test set's predictions (and each variant's), checked against the run's rows."""
    shapes = {"valid": (n_valid, width), "test": (n_test, width)}

    def shape(name: str):
        part, sep, variant = name.partition("__")
        return () if name == "seconds" or name in TIMES else None if sep and not variant else shapes.get(part)

    fix = "delete it to fit that fold again"
    done = read_arrays(saved, shape, fix, required=("valid", "test", "seconds"), finite=finite)
    names = {name.partition("__")[2] for name in done if "__" in name}
    unpaired = sorted(n for n in names if f"valid__{n}" not in done or f"test__{n}" not in done)
    if unpaired:
        raise Unreadable(saved, f"holds the variant {unpaired[0]!r} without both its valid and test predictions", fix)
    variants = {n: (done[f"valid__{n}"], done[f"test__{n}"]) for n in sorted(names)}
    return done["valid"], done["test"], variants, float(done["seconds"])


def _time_split_task(model_factory, X, target, fold_of, weights, log_target, X_test, y, valid, dates, config,
                     metric, progress: tuple[str, int]) -> dict:
    """``_time_split`` as a Ray task beside the folds (the same inputs as theirs first)."""
    model_factory.contexts.progress.name, model_factory.contexts.progress.fits_after = progress
    return _time_split(model_factory, X, target, y, valid, dates, weights, config, log_target, metric)


def _fit_predict(model_factory: ModelFactory, name: str, X: pd.DataFrame, target: np.ndarray, rows: np.ndarray,
                 valid_rows: np.ndarray, weights: np.ndarray | None, log_target: bool,
                 X_test: pd.DataFrame | None = None, record: dict | None = None) -> tuple[np.ndarray, np.ndarray | None,
                                                                                          dict]:
    """A fresh model fitted on ``rows``; its predictions for ``valid_rows`` (and ``X_test``), and the
    ``{name: (valid, test)}`` variants of those predictions a model makes in the same pass (``predict_variants``:
    e.g. without test-time augmentation, so the gain of TTA is measured). Models whose ``fit`` takes ``valid`` get
    the held-out rows to *monitor* (learning curves, the best-epoch checkpoint); their predictions never depend on
    them. ``record`` (a fold's: {"fold": k}) gets the seconds of the fit and of the predictions (``TIMES``) and,
    where the run measures it, the fold's feature importance. The model's scratch folder goes when it is empty."""
    model = model_factory(name)
    kwargs = {} if weights is None else {"sample_weight": weights[rows]}
    if takes(model, "valid"):
        kwargs["valid"] = (X.iloc[valid_rows], target[valid_rows])
    started = time.perf_counter()
    model = model.fit(X.iloc[rows], target[rows], **kwargs) or model
    fitted, floor = time.perf_counter(), model_factory.floor
    pred_valid, valid_variants = _predict(model, X.iloc[valid_rows], log_target, floor)
    pred_test, test_variants = (None, {}) if X_test is None else _predict(model, X_test, log_target, floor)
    predicted = time.perf_counter()
    variants = {name: (valid_variants[name], test_variants[name]) for name in valid_variants if name in test_variants}
    if model_factory.checks_values:  # before anything of the fit is saved or scored
        check_predictions(model_factory.contexts.progress.name or name, model_factory.params, target[rows],
                          {"valid": pred_valid, **({} if pred_test is None else {"test": pred_test})},
                          model_factory.contexts.spec.task == "regression", log_target)
    if record is not None:
        record.update(fit_seconds=fitted - started, predict_seconds=predicted - fitted)
        if model_factory.importance is not None:
            record["importance"] = model_factory.importance.of_fold(
                model, X.iloc[valid_rows], valid_rows, lambda rows_X: _predict(model, rows_X, log_target, floor)[0],
                record["fold"])
            record["importance_seconds"] = time.perf_counter() - predicted
    if hasattr(model, "cleanup"):
        model.cleanup()
    workdir = model_factory.run_dir / name
    if workdir.exists() and not any(workdir.iterdir()):
        workdir.rmdir()
    return pred_valid, pred_test, variants


def _time_valid_rows(spec: CompetitionSpec, config: dict, data: Dataset) -> tuple[np.ndarray, pd.Series]:
    """(validation mask of the time split, the parsed dates), checked before anything is written."""
    col = config["time_col"]
    if col not in data.train.columns:
        raise UserError(f"time column {col!r} is not in {spec.train_file}; pass an existing date column with "
                        "--set time_col=NAME, or --set time_col='' for no time split.")
    dates = parse_dates(data.train[col])
    return time_holdout(dates, config["time_valid_fraction"], col), dates


def _time_split(model_factory, X, target, y, valid, dates, weights, config, log_target, metric) -> dict:
    """Fit on the earlier rows, score the later ones: what the competition's time split does to the score."""
    t0 = time.time()
    train_rows, valid_rows = np.flatnonzero(~valid), np.flatnonzero(valid)
    pred, _, _ = _fit_predict(model_factory, "time_split", X, target, train_rows, valid_rows, weights, log_target)
    return {"score": metric(y[valid_rows], squeeze(pred.reshape(len(valid_rows), -1))),
            "time_col": config["time_col"], "valid_fraction": config["time_valid_fraction"],
            "train_rows": int(len(train_rows)), "valid_rows": int(len(valid_rows)),
            "valid_from": str(dates[valid].min().date()), "valid_to": str(dates[valid].max().date()),
            "seconds": time.time() - t0}


def _predict(model, X: pd.DataFrame, log_target: bool,
             floor: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(the model's predictions, its named variants from the same pass when it has ``predict_variants``), back in
    the target's space and clipped at ``floor`` (an extrapolating model never predicts a price below it)."""
    if hasattr(model, "predict_variants"):
        out = model.predict_variants(X)
        pred, variants = out.pop(""), out
    else:
        pred, variants = model.predict(X), {}

    def back(p):
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is the prediction check's to name
            p = np.expm1(np.asarray(p, float)) if log_target else np.asarray(p, float)
        return p if floor is None else np.maximum(p, floor)

    return back(pred), {name: back(p) for name, p in variants.items()}
