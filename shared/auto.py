"""The ``auto`` recipe: a short list of diverse members, each a normal run on the same saved folds, fitted one
after another within one time budget, then blended by the nested ensemble (``shared.ensemble``): the blend's
weights for each fold are fitted on the other folds' out-of-fold predictions, so its CV stays honest.

The budget (``time_limit``, ``--time-limit``) is shared out over the members by their expected cost
(``COSTS``); a member that finishes early leaves its time to the next ones. Members that honour a time limit
(the boosted ones, the nets, the forests) stop at their share; the others are fast. A member whose share would
be too small to be worth fitting is left out, and said so. Within the budget the result is deterministic (same
seed, same folds, same CV); a budget that binds makes it depend on the machine's speed, which the log says.

The members stay as ordinary runs beside the blend (``runs/<competition>/<member>-<time>``): compare them,
blend them otherwise with ``ensemble.py``, or submit one alone. ``members.md`` in the blend's folder shows
every member's CV and holdout, its weight, its fit and predict seconds (summed over its folds, as its run measured
them), its five most important features (its own ``importance.csv``) and the blend's nested CV."""
from __future__ import annotations

import functools
import time
from pathlib import Path

from shared import runner, tables
from shared.config import RUN_SETTINGS, SECONDS, Choice, Items, Text, resolve
from shared.ensemble import METHODS
from shared.errors import UserError
from shared.log import get_log
from shared.models import takes
from shared.runs import run_label
from shared.spec import CompetitionSpec, Recipe

COSTS = {"linear": 1, "knn": 1, "rf": 3, "extra_trees": 3, "mlp": 5, "gbm": 6, "catboost": 6, "xgboost": 6,
         "realmlp": 10, "tabm": 10}  # a member's expected share of the budget, relative to the others
DEFAULT_COST = 5
MIN_SECONDS = 2.0  # with less than this left, no more members start
MIN_FOLD_SECONDS = 1.0  # a member that stops at its limit needs this much per fold to learn something
UNLIMITED_FOLD_SECONDS = 5.0  # ... and one that cannot stop (realmlp, tabm) this much, or it overruns the budget


def recipe(by_task: dict[str, list[str]], about: str, time_limit: float = 45.0, blend: str = "hill") -> Recipe:
    """The ``auto`` recipe of a competition whose members (recipe names) per task are ``by_task`` (a key ``any``
    serves every task)."""
    params = {"members": [], "blend": blend, "time_limit": float(time_limit)}
    ranges = {
        "members": Items(Text("a recipe name"), 64, doc="the recipes to fit and blend, in order; [] (the default): "
                                                    "the recipe's own list for the task (in its description)"),
        "blend": Choice(*METHODS, doc="how the members are blended on their out-of-fold predictions (nested): "
                                      "hill-climbing, non-negative weights, mean, rank mean or a level-2 model"),
        "time_limit": SECONDS.with_doc("seconds for all the members together (--time-limit sets it); each "
                                        "gets a share by its expected cost"),
    }
    lists = "; ".join(f"{task}: {', '.join(names)}" if task != "any" else ", ".join(names)
                      for task, names in by_task.items())
    return Recipe("auto", f"{about} (members: {lists})", model_params=params, ranges=ranges,
                  driver=functools.partial(drive, by_task=by_task))


def members_for(spec: CompetitionSpec, members: list[str] | str, by_task: dict[str, list[str]]) -> list[str]:
    """The members of an ``auto`` run: the listed ones, or (none listed) those for the competition's task."""
    if members:
        unknown = [m for m in members if m not in spec.recipes or spec.recipes[m].driver is not None]
        if unknown:
            usable = sorted(n for n, r in spec.recipes.items() if r.driver is None)
            raise UserError(f"--set members: {unknown} are not recipes of {spec.name} that can be members; choose "
                            f"from {usable}.")
        return list(dict.fromkeys(members))
    chosen = by_task.get(spec.task) or by_task.get("any") or []
    return [m for m in chosen if m in spec.recipes]


def drive(spec: CompetitionSpec, recipe: Recipe, data_dir: Path, *, n_folds: int = 5, seed: int = 42,
          time_limit: float | None = None, out_root: Path = Path("runs"), overrides: dict | None = None,
          only_folds: list[int] | None = None, by_task: dict[str, list[str]] | None = None,
          **run_arguments) -> Path:
    """Run the members within the budget, then blend them (nested); return the blend's run folder."""
    started, wall_started = time.monotonic(), time.time()
    if spec.outputs.kind != tables.TableOutputs.kind:
        raise UserError(f"the auto recipe blends table predictions; {spec.name}'s predictions are {spec.outputs.kind}.")
    if only_folds is not None:
        raise UserError("--only-folds with the auto recipe: it blends complete runs. Run its members with "
                        "--only-folds, merge them (merge.py), then blend them with ensemble.py.")
    overrides, shared_settings, per_member = _split_overrides(spec, recipe, overrides or {})
    config = resolve(recipe, overrides, competition=spec.name)["model"]
    budget = float(time_limit if time_limit is not None else config["time_limit"])
    members = members_for(spec, config["members"], by_task or {})
    stray = sorted(set(per_member) - set(members))
    if stray:
        raise UserError(f"--set {stray[0]}.…: {stray[0]!r} is not a member of this auto run (members: {members}).")
    if members:
        check_inputs(spec, spec.recipes[members[0]], data_dir, n_folds, {**shared_settings, **per_member.get(
            members[0], {})})
    notes: list[str] = []  # what auto decided, for the log and the blend's metrics.json

    def note(line: str, warn: bool = False) -> None:
        notes.append(line)
        (get_log().warning if warn else get_log().info)(f"auto: {line}")

    usable = _usable_members(spec, members, shared_settings, per_member, note)
    note(f"members {', '.join(usable)}; {budget:.0f} s in all, then a nested {config['blend']} blend")
    done = _fit_members(spec, usable, data_dir, budget, started, note, n_folds=n_folds, seed=seed,
                        out_root=out_root, shared_settings=shared_settings, per_member=per_member, **run_arguments)
    if len(done) == 1:
        get_log().warning(f"auto: only {done[0][0]} ran; its run is the result ({done[0][1]})")
        return done[0][1]
    defaults = resolve(recipe, {}, competition=spec.name)["model"]
    label = run_label(run_arguments.get("name"), {k: config.get(k) for k in overrides if config.get(k) != defaults.get(k)})
    blend = tables.ensemble(spec, [path for _, path in done], config["blend"], out_root, data_dir, name=recipe.name,
                            label=label,
                            about={"time_limit_s": budget, "auto": notes}, started=wall_started)
    get_log().info("auto: " + "; ".join(notes))  # into the blend's log.txt too
    return blend


def check_inputs(spec: CompetitionSpec, member: Recipe, data_dir: Path, n_folds: int, settings: dict) -> None:
    """The data every member reads, checked once before any member starts, as each run checks them before it fits
    (files, columns, ids, the target, the sample submission): bad data are one error, not one per member."""
    config = resolve(member, settings, spec.run_defaults(), competition=spec.name)
    data = spec.load_run_data(Path(data_dir), config)
    y, classes = spec.outputs.encode(data, config.get("positive_class"))
    spec.outputs.check(data, y, classes, n_folds)


def _split_overrides(spec: CompetitionSpec, recipe: Recipe, overrides: dict) -> tuple[dict, dict, dict]:
    """(auto's own settings, the run settings every member gets, ``{member: its settings}`` from ``--set
    gbm.learning_rate=0.05``); a member's setting given to auto itself is an error saying how to give it."""
    overrides = dict(overrides)
    shared_settings = {k: overrides.pop(k) for k in list(overrides) if k in RUN_SETTINGS}
    per_member: dict[str, dict] = {}
    for key in [k for k in overrides if "." in k]:
        name, _, setting = key.partition(".")
        per_member.setdefault(name, {})[setting] = overrides.pop(key)
    for key in overrides:
        owners = [n for n, r in spec.recipes.items() if key in {**r.model_params, **r.feature_params}]
        if key not in recipe.model_params and owners:
            raise UserError(f"--set {key}: the auto recipe has no such key; it is a setting of {', '.join(owners)}: "
                            f"give it to a member as --set {owners[0]}.{key}=VALUE.")
    return overrides, shared_settings, per_member


def _usable_members(spec: CompetitionSpec, members: list[str], shared_settings: dict, per_member: dict,
                    note) -> list[str]:
    """The members that can run here, every one's settings checked before any work; the others noted."""
    weighted = shared_settings.get("sample_weight", "none") != "none"
    usable, reasons = [], []
    for name in members:
        member = spec.recipes[name]
        resolve(member, {**shared_settings, **per_member.get(name, {})}, spec.run_defaults(), competition=spec.name)
        reason = ("it does not take sample weights (--set sample_weight)"
                  if weighted and not takes(member.model, "sample_weight") else
                  _missing(member) if member.requires is not None else None)
        if reason:
            reasons.append(f"{name} left out: {reason}")
            note(reasons[-1], warn=True)
        else:
            usable.append(name)
    if not usable:
        raise UserError(f"auto: none of the members {members} can run here: {'; '.join(reasons)}.")
    return usable


def _fit_members(spec: CompetitionSpec, usable: list[str], data_dir: Path, budget: float, started: float, note, *,
                 n_folds: int, seed: int, out_root: Path, shared_settings: dict, per_member: dict,
                 **run_arguments) -> list[tuple[str, Path]]:
    """Run the members one after another, each within its share of what is left of the budget (by ``COSTS``);
    a member that fails on these data, or that the budget no longer fits, is left out. [(name, run folder)]."""
    done, skipped, first_error = [], [], None
    for i, name in enumerate(usable):
        member = spec.recipes[name]
        left = budget - (time.monotonic() - started)
        share = left * COSTS.get(name, DEFAULT_COST) / sum(COSTS.get(m, DEFAULT_COST) for m in usable[i:])
        per_fold = share / n_folds
        quick = COSTS.get(name, DEFAULT_COST) <= 1  # linear, neighbours: seconds at most
        limited = "time_limit" in member.model_params  # stops at its share
        if done and (left < MIN_SECONDS or (not quick and per_fold < (MIN_FOLD_SECONDS if limited
                                                                     else UNLIMITED_FOLD_SECONDS))):
            skipped.append(name)
            continue
        own = per_member.get(name, {})
        t0 = time.monotonic()
        try:  # a member that cannot run on these data is left out; the others still blend
            path = runner.run(spec, name, data_dir, n_folds=n_folds, seed=seed,
                              time_limit=None if "time_limit" in own else max(share, MIN_SECONDS), out_root=out_root,
                              overrides={**shared_settings, **own}, **run_arguments)
        except UserError as exc:
            first_error = first_error or exc
            note(f"{name} failed and is left out: {exc}", warn=True)
            continue
        done.append((name, path))
        note(f"{name} done in {time.monotonic() - t0:.0f} s (a share of {share:.0f} s): {path}")
    if skipped:
        note(f"{', '.join(skipped)} left out: the budget ({budget:.0f} s) ran out; a longer --time-limit fits them",
             warn=True)
    if not done:
        raise UserError(f"auto: no member could run: {first_error}")
    return done


def _missing(member: Recipe) -> str | None:
    """What a member needs that is not installed (its ``requires``' message), or None."""
    try:
        member.requires()
    except UserError as exc:
        return str(exc)
    return None
