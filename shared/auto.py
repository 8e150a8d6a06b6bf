"""The ``auto`` recipe: a short list of diverse members, each a normal run on the same saved folds, fitted one
after another within one time budget, then blended by the nested ensemble (``shared.ensemble``): the blend's
weights for each fold are fitted on the other folds' out-of-fold predictions, so its CV stays honest.

How the budget (``time_limit``, ``--time-limit``) is spent:

1. **The floor first.** Where the competition names them (``floor``), the libraries' own defaults (LightGBM,
   scikit-learn's forests and logistic regression, ...) run first, each on the same folds: cheap, strong, a result
   early, and the figure no member may end below. The one that prices the most of the members' time runs first
   (LightGBM's, by which the boosters are priced), then the cheapest first. One whose estimated cost (``estimate``:
   rows x columns x classes, scaled by the speed the runs so far measured) would end past ``FLOOR_SHARE`` of the
   budget is left out.
2. **The members, by what the floor says.** Each member's family (boosting, forests, the smooth models) is ranked by
   its floor's CV, so the member the data favour runs first and one left out at the end is one the data favour
   least (a family whose floor was too costly to run comes right after the best). Each member's need is its floor's
   measured seconds times its factor (the ``floor`` mapping): where what is left covers every need, each gets its
   need and a part of the surplus; where the budget binds, each gets its need in that order as far as it goes.
   Boosted members pace themselves into their share (``shared.tabular.fitting.Pace``: a faster learning rate, not
   a cut-off); the forests and nets stop at it; a member that cannot stop runs only where its whole need fits.
3. **What is left** goes to the members left out for time, where they now fit, then to a booster that had to boost
   faster: it runs again with all that is left, and the better of its two runs is blended.
4. **The blend decides honestly**: when its nested CV does not beat the best member's CV, the result is the best
   member's run (said in one line), not the blend. Its time is priced first by a probe (one fit of each candidate
   timed on the members): a ``best`` blend that would take more than ``BLEND_SHARE`` of the budget (many classes, many
   rows) chooses on one inner split instead of three, and where even that would, blends by hill-climbing alone.

Within the budget the result is deterministic (same seed, same folds, same CV); a budget that binds makes it depend
on the machine's speed, which the log says. The members stay as ordinary runs beside the blend
(``runs/<competition>/<member>-<time>``): compare them, blend them otherwise with ``ensemble.py``, or submit one
alone. ``members.md`` in the blend's folder shows every member's CV and holdout (the floor's marked), its weight,
its fit and predict seconds, its five most important features and the blend's nested CV."""
from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path

from shared import pictures, runner, tables
from shared.config import FLAG, RUN_SETTINGS, SECONDS, Choice, Items, Text, resolve
from shared.ensemble import INNER_REPEATS, METHODS, nested_seconds
from shared.errors import UserError
from shared.log import get_log
from shared.models import takes
from shared.runs import run_label
from shared.spec import CompetitionSpec, Recipe

COSTS = {"linear": 1, "knn": 1, "rf": 3, "extra_trees": 3, "mlp": 5, "gbm": 6, "catboost": 6, "xgboost": 6,
         "realmlp": 10, "tabm": 10}  # a member's expected share of the budget where its floor does not say
DEFAULT_COST = 5
MIN_SECONDS = 2.0  # with less than this left, no more members start
MIN_FOLD_SECONDS = 1.0  # a member that stops at its limit needs this much per fold to learn something
UNLIMITED_FOLD_SECONDS = 5.0  # ... and one that cannot stop (realmlp, tabm) this much, or it overruns the budget
RUN_SECONDS, FOLD_SECONDS = 1.0, 0.1  # what a run costs besides its fits: reading, features, writing its folder
MORE_TIME = 2.0  # a member that boosted faster for want of time runs again where this many times its share is left
MIN_NEED_SHARE = 0.15  # a member whose share is below this part of its need is left out (or waits for leftovers)
FLOOR_SHARE = 0.75  # the floor takes at most this part of the budget by its estimates
BLEND_SHARE = 0.2  # a best blend priced past this part of the budget chooses on one inner split, else hill alone
FLOOR_RUN_SHARE = 0.2  # ... and each of its runs at most this part for each member it measures: the cheap models


def recipe(by_task: dict[str, list[str]], about: str, time_limit: float = 45.0, blend: str = "hill",
           floor: dict[str, tuple] | None = None,
           library_defaults: dict[str, str] | None = None) -> Recipe:
    """The ``auto`` recipe of a competition whose members (recipe names) per task are ``by_task`` (a key ``any``
    serves every task); ``floor``: each member's library-default recipe, run first where the member is listed, and
    the member's need as a multiple of its fitting seconds (``{"gbm": ("lightgbm_defaults", 4.0)}``: more rounds,
    trees, a grid of penalties; or one per task, ``{"regression": 3.0, "binary": 8.0, ...}``), and optionally a
    family of its own to take turns as (else the floor's);
    ``library_defaults``: each member's own library's defaults (``{"gbm": "lightgbm_defaults"}``), which the blend's
    members.md holds it against."""
    params = {"members": [], "blend": blend, "time_limit": float(time_limit), "floor": bool(floor)}
    ranges = {
        "members": Items(Text("a recipe name"), 64, doc="the recipes to fit and blend, in order; [] (the default): "
                                                    "the recipe's own list for the task (in its description)"),
        "blend": Choice(*METHODS, doc="how the members are blended on their out-of-fold predictions (nested): "
                                      "hill-climbing, non-negative weights, mean, rank mean, a level-2 model, or "
                                      "best: hill or the level-2 model, whichever an inner nested CV prefers"),
        "time_limit": SECONDS.with_doc("seconds for all the members together (--time-limit sets it); the floor "
                                        "first, then each member by its need"),
        "floor": FLAG.with_doc("run the members' library defaults first (LightGBM, scikit-learn's forests and "
                               "logistic regression ...): a result early, the order of the members, and the figure "
                               "none may end below"),
    }
    lists = "; ".join(f"{task}: {', '.join(names)}" if task != "any" else ", ".join(names)
                      for task, names in by_task.items())
    return Recipe("auto", f"{about} (members: {lists})", model_params=params, ranges=ranges,
                  driver=functools.partial(drive, by_task=by_task, floor=floor or {},
                                           library_defaults=library_defaults or {}))


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


def drive(spec: CompetitionSpec, recipe: Recipe, data_dir: Path, **arguments) -> Path:
    """The floor, then the members within the budget, then their nested blend; return the blend's run folder, or
    the best member's where the blend does not beat it. Each run's pictures are drawn by a helper process while the
    next run fits (``shared.pictures``): the budget buys fits."""
    with pictures.beside():
        return _drive(spec, recipe, data_dir, **arguments)


def _drive(spec: CompetitionSpec, recipe: Recipe, data_dir: Path, *, n_folds: int = 5, seed: int = 42,
           time_limit: float | None = None, out_root: Path = Path("runs"), overrides: dict | None = None,
           only_folds: list[int] | None = None, by_task: dict[str, list[str]] | None = None,
           floor: dict[str, tuple] | None = None, library_defaults: dict[str, str] | None = None,
           **run_arguments) -> Path:
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
    floor = floor or {}
    stray = sorted(set(per_member) - set(members) - {entry[0] for entry in floor.values()})
    if stray:
        raise UserError(f"--set {stray[0]}.…: {stray[0]!r} is not a member of this auto run (members: {members}).")
    shape = None
    if members:
        shape = check_inputs(spec, spec.recipes[members[0]], data_dir, n_folds, {**shared_settings, **per_member.get(
            members[0], {})})
    notes: list[str] = []  # what auto decided, for the log and the blend's metrics.json

    def note(line: str, warn: bool = False) -> None:
        notes.append(line)
        (get_log().warning if warn else get_log().info)(f"auto: {line}")

    floors = [f for f in dict.fromkeys(floor[m][0] for m in members if m in floor)
              if f in spec.recipes and f not in members] if config["floor"] else []
    usable = _usable_members(spec, floors + members, shared_settings, per_member, note)
    floors = [f for f in floors if f in usable]
    fit = Budget(spec, data_dir, budget, started, note, shape or (0, 0, 0), n_folds=n_folds, seed=seed, out_root=out_root,
                 shared_settings=shared_settings, per_member=per_member, **run_arguments)
    note(f"{budget:.0f} s in all: " + (f"the floor ({', '.join(floors)}), then " if floors else "")
         + f"{', '.join(m for m in usable if m not in floors)}, then a nested {config['blend']} blend")
    with runner.same_data():  # the members' features are made once
        measured = {f: [m for m in usable if floor.get(m, ("",))[0] == f] for f in floors}
        fit.floor(floors, {f: len(ms) for f, ms in measured.items()},
                  {f: sum(fit.factor(floor[m][1]) for m in ms) for f, ms in measured.items()})
        fit.members([m for m in usable if m not in floors], floor)
        done = distinct(fit.leftover(), note)
    if len(done) == 1:
        get_log().warning(f"auto: only {done[0][0]} ran; its run is the result ({done[0][1]})")
        return done[0][1]
    method, repeats = ((config["blend"], INNER_REPEATS) if "blend" in overrides  # --set blend=...: as asked
                       else blend_method(spec, [p for _, p in done], config["blend"], data_dir, budget, n_folds, note))
    defaults = resolve(recipe, {}, competition=spec.name)["model"]
    label = run_label(run_arguments.get("name"), {k: config.get(k) for k in overrides if config.get(k) != defaults.get(k)})
    blend = tables.ensemble(spec, [path for _, path in done], method, out_root, data_dir, name=recipe.name,
                            label=label, about={"time_limit_s": budget, "auto": notes, "floor": floors},
                            started=wall_started, judge=False, repeats=repeats)  # best_or_blend: what follows
    get_log().info("auto: " + "; ".join(notes))  # into the blend's log.txt too
    if floors:
        floor_lines(blend, fit, library_defaults or {})
    return best_or_blend(blend, done)


def distinct(done: list[tuple[str, Path]], note) -> list[tuple[str, Path]]:
    """The runs to blend: a run whose out-of-fold predictions equal an earlier one's (a tuned member that chose its
    library's defaults, e.g. ``linear`` at alpha 1) is left out of the blend, and said."""
    from shared.runs import load_run

    kept, seen = [], {}
    for name, path in done:
        key = load_run(path).oof_in_fold_order().tobytes()
        if key in seen:
            note(f"{name} left out of the blend: its predictions are {seen[key]}'s")
            continue
        seen[key] = name
        kept.append((name, path))
    return kept


def blend_method(spec: CompetitionSpec, paths: list[Path], method: str, data_dir: Path, budget: float, n_folds: int,
                 note) -> tuple[str, int]:
    """The blend's method and ``best``'s inner splits: as asked (``INNER_REPEATS`` splits), but where a ``best`` blend
    of these runs (it chooses between hill-climbing and a stacker on inner folds, some 15 times the fits) would take
    more than ``BLEND_SHARE`` of the budget by its probe (``tables.blend_probe``: one fit of each candidate timed on
    them), on one inner split; where even that would, by hill-climbing alone."""
    if method != "best":
        return method, INNER_REPEATS
    fits = tables.blend_probe(spec, paths, method, data_dir)
    price = {repeats: nested_seconds(fits, method, n_folds, repeats) for repeats in (INNER_REPEATS, 1)}
    if price[INNER_REPEATS] <= BLEND_SHARE * budget:
        note(f"the blend of {len(paths)} runs: about {price[INNER_REPEATS]:.0f} s by its probe")
        return method, INNER_REPEATS
    costly = (f"a {method} blend of {len(paths)} runs would take about {price[INNER_REPEATS]:.0f} s by its probe, more "
              f"than {BLEND_SHARE:.0%} of the budget")
    if price[1] <= BLEND_SHARE * budget:
        note(f"the blend chooses on one inner split, not {INNER_REPEATS}: {costly}; on one, about {price[1]:.0f} s")
        return method, 1
    note(f"the blend is by hill-climbing alone: {costly}; hill-climbing about "
         f"{nested_seconds({'hill': fits['hill']}, 'hill', n_folds):.0f} s")
    return "hill", INNER_REPEATS


def floor_lines(blend: Path, fit: Budget, library_defaults: dict[str, str]) -> None:
    """The floor in the blend's members.md: each library default's CV, and a warning for each member that ended
    below its own library's defaults on the same folds, saying whether it used its whole share (then its budget was
    too small for its settings) or not (its settings, or chance)."""
    from shared.io import write_text

    sign = 1.0 if fit.spec.metric.greater_is_better else -1.0
    ran = [name for name, _ in fit.done]
    floor = [f"{name} {fit.cv[name]:.5g}" for name in ran if name.endswith("_defaults")]
    lines = [f"The floor (the libraries' defaults, run first on the same folds): {', '.join(floor)}."]
    for member, default in library_defaults.items():
        if member in fit.cv and default in fit.cv and sign * fit.cv[member] < sign * fit.cv[default]:
            used, share = fit.seconds.get(member, 0.0), fit.shares.get(member)
            why = ("it boosted faster for want of time: its share was too small for its settings"
                   if fit.paced(member) else "its share was too small for its settings"
                   if share is None or used >= 0.8 * share
                   else f"not for want of time (it used {used:.0f} s of its {share:.0f} s): its settings, or chance")
            lines.append(f"warning: {member} ended below its library's defaults ({default}): CV {fit.cv[member]:.5g} "
                         f"against {fit.cv[default]:.5g}; {why}.")
            get_log().warning(f"auto: {lines[-1].removeprefix('warning: ')}")
    members_md = blend / "members.md"
    if members_md.is_file():
        write_text(members_md, members_md.read_text(encoding="utf-8") + "\n" + "\n".join(lines) + "\n")


def best_or_blend(blend: Path, done: list[tuple[str, Path]]) -> Path:
    """The blend's run folder where its nested CV beats the best member's CV; else the best member's, said in one
    line (in the log and in the blend's members.md)."""
    blended = _metrics(blend)
    sign = 1.0 if blended["greater_is_better"] else -1.0
    name, path = max(done, key=lambda item: sign * _metrics(item[1])["cv"])
    best = _metrics(path)["cv"]
    if sign * blended["cv"] > sign * best:
        return blend
    line = (f"auto: the blend's nested CV {blended['metric']} {blended['cv']:.5f} does not beat its best member, "
            f"{name} at {best:.5f}: the result is {name}'s run ({path}), its submission.csv the one to send")
    get_log().warning(line)
    members_md = blend / "members.md"
    if members_md.is_file():
        from shared.io import write_text

        write_text(members_md, members_md.read_text(encoding="utf-8") + f"\n{line}\n")
    return path


def _metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))


def estimate(name: str, shape: tuple[int, int, int], n_folds: int) -> float | None:
    """Seconds a library default (``*_defaults``) fits for on all folds of a table of ``shape`` (rows, columns,
    classes) on one core of a 2020s CPU, its run's reading and writing aside: a rough prior, scaled by the speed the
    runs measure (``Budget.speed``); None for another recipe."""
    rows, columns, classes = shape
    fold_rows = rows * (n_folds - 1) / max(n_folds, 1)
    cells, trees = fold_rows * max(columns, 1), classes if classes > 2 else 1
    split = math.sqrt(max(columns, 1)) if classes else max(columns, 1) / 4  # a forest's split: the columns it weighs
    forest = 100 * 3e-8 * fold_rows * math.log2(max(fold_rows, 2)) * split
    per_fold = {"lightgbm_defaults": 100 * trees * (7e-9 * cells + 5e-4),
                "xgboost_defaults": 100 * trees * (1e-8 * cells + 5e-4),
                "catboost_defaults": 1000 * (1e-8 * cells * max(1.0, trees / 4) + 2e-3),
                "extra_trees_defaults": 0.05 + forest, "rf_defaults": 0.05 + 2 * forest,
                "linear_defaults": 0.1 + 2e-7 * cells * max(1, trees)}.get(name)
    return None if per_fold is None else per_fold * n_folds


class Budget:
    """The members' runs within the budget: the floor (``floor``), the members by what it says (``members``), what
    is left (``leftover``, which returns every finished run: [(name, run folder)])."""

    def __init__(self, spec: CompetitionSpec, data_dir: Path, budget: float, started: float, note, shape, *,
                 n_folds: int, seed: int, out_root: Path, shared_settings: dict, per_member: dict, **run_arguments):
        self.spec, self.data_dir, self.budget, self.started, self.note = spec, data_dir, budget, started, note
        self.shape, self.needs, self.turn = shape, {}, {}
        self.n_folds, self.seed, self.out_root = n_folds, seed, out_root
        self.shared_settings, self.per_member, self.run_arguments = shared_settings, per_member, run_arguments
        self.done: list[tuple[str, Path]] = []
        self.seconds: dict[str, float] = {}  # measured, per run
        self.fit_seconds: dict[str, float] = {}  # ... of which its fits (the rest: reading, features, writing)
        self.cv: dict[str, float] = {}
        self.ratios: list[float] = []  # measured / estimated seconds of the floor: the machine's speed
        self.skipped: list[str] = []
        self.shares: dict[str, float] = {}  # the time limit each member ran with
        self.first_error: UserError | None = None

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def overhead(self) -> float:
        """Seconds a run takes besides its fits (reading, features, its folder): the mean of the runs so far."""
        extra = [self.seconds[name] - self.fit_seconds[name] for name in self.fit_seconds]
        return sum(extra) / len(extra) if extra else RUN_SECONDS + FOLD_SECONDS * self.n_folds

    def speed(self) -> float:
        """Measured over estimated seconds so far (the geometric mean; 1 before anything ran)."""
        return math.exp(sum(map(math.log, self.ratios)) / len(self.ratios)) if self.ratios else 1.0

    def floor(self, floors: list[str], measures: dict[str, int], prices: dict[str, float] | None = None) -> None:
        """Run the library defaults, the one that prices the most of the members' time first (``prices``: the sum of
        the factors of the members it measures, times its estimated seconds: LightGBM's, which prices the boosters,
        where they are many classes and costly, would else be left out after the cheap ones), else the cheapest first;
        one estimated to take more than ``FLOOR_RUN_SHARE`` of the budget for each member it ``measures`` (LightGBM's
        measures three boosters), or to end past ``FLOOR_SHARE`` of the budget, is left out."""
        prices = prices or {}
        cost = {f: estimate(f, self.shape, self.n_folds) or 0.0 for f in floors}
        priced = sorted(floors, key=lambda f: (-prices.get(f, 0.0) * cost[f], cost[f]))
        for name in priced:
            guess = self.overhead() + cost[name] * self.speed()
            worth = FLOOR_RUN_SHARE * max(measures.get(name, 1), 1)
            if guess > min(self.left() - (1 - FLOOR_SHARE) * self.budget, worth * self.budget):
                past = (f"more than {worth:.0%} of the budget" if guess > worth * self.budget
                        else f"past {FLOOR_SHARE:.0%} of the budget")
                self.note(f"{name} left out of the floor: estimated {guess:.0f} s, {past}; a longer --time-limit "
                          "runs it")
                continue
            if self._run(name, None) is not None and cost[name]:
                self.ratios.append(max(self.fit_seconds[name], 0.05) / cost[name])

    def members(self, members: list[str], floor: dict[str, tuple]) -> None:
        """Run the members, the family the floor ranks best first, each within its share (``share``)."""
        self.needs = floor
        ranked = self.ranked(members)
        if ranked != members:
            self.note(f"order by the floor's CV: {', '.join(ranked)}")
        for i, name in enumerate(ranked):
            share = self.share(name, ranked[i:])
            if not self._fits(name, share):
                self.skipped.append(name)
                continue
            self._run(name, share)

    def leftover(self) -> list[tuple[str, Path]]:
        """What is left goes to the members left out for time, where each now fits; the finished runs."""
        retry, self.skipped = self.skipped, []
        for i, name in enumerate(retry):
            share = self.share(name, retry[i:])
            if self._fits(name, share):
                self.note(f"{name}: {self.left():.0f} s left over, a share of {share:.0f} s")
                self._run(name, share)
            else:
                self.skipped.append(name)
        if self.skipped:
            self.note(f"{', '.join(self.skipped)} left out: the budget ({self.budget:.0f} s) ran out; a longer "
                      "--time-limit fits them", warn=True)
        self._more_time()
        if not self.done:
            raise UserError(f"auto: no member could run: {self.first_error}")
        return self.done

    def _more_time(self) -> None:
        """What is still left goes to the members that boosted faster for want of time (their log says so), the best
        CV first: one runs again with all that is left where that is at least ``MORE_TIME`` times its first share,
        and the better of its two runs stays in the blend."""
        sign = 1.0 if self.spec.metric.greater_is_better else -1.0
        paced = [(name, path) for name, path in self.done if self.paced(name)]
        for name, first in sorted(paced, key=lambda item: -sign * self.cv[item[0]]):
            left, before, cv = self.left(), self.shares[name], self.cv[name]
            if left < max(MIN_SECONDS, MORE_TIME * before):
                continue
            self.note(f"{name}: {left:.0f} s left over, run again with them (its first run, with {before:.0f} s, "
                      f"boosted faster for want of time)")
            if self._run(name, left) is None:
                continue
            second = self.done[-1][1]
            kept = second if sign * self.cv[name] > sign * cv else first
            self.done = [(n, p) for n, p in self.done if p in (kept,) or p not in (first, second)]
            self.cv[name] = self.cv[name] if kept == second else cv
            self.note(f"{name}: the blend keeps its {'second' if kept == second else 'first'} run, the better CV "
                      f"({kept.name})")

    def paced(self, name: str) -> bool:
        """Whether a member's run boosted faster for want of time (its log says so)."""
        from shared.tabular.fitting import PACED

        path = dict(self.done).get(name)
        return name in self.shares and path is not None and PACED in (path / "log.txt").read_text(
            encoding="utf-8", errors="replace")

    def ranked(self, members: list[str]) -> list[str]:
        """The members in turns over their families (those sharing a floor), the family with the best floor CV first
        in each turn: the best family's first member leads, and every family has one member in before any has two (a
        blend gains most from members unlike each other). A family whose floor did not run (too costly for the
        budget) ranks right after the best; members without a family come last; within a family, the listed order."""
        sign = 1.0 if self.spec.metric.greater_is_better else -1.0
        families: dict[str, list[str]] = {}
        reference: dict[str, str] = {}  # a family's floor
        for name in members:
            entry = self.needs.get(name, ("",))
            family = entry[2] if len(entry) > 2 else entry[0]  # (floor, factor[, a family of its own])
            families.setdefault(family, []).append(name)
            reference[family] = entry[0]
        known = {f: sign * self.cv[reference[f]] for f in families if reference[f] in self.cv}
        self.turn = {name: i for family in families.values() for i, name in enumerate(family)}
        if not known:  # no floor ran: the listed order
            return list(members)
        best = max(known.values())
        score = {f: known.get(f, best - 1e-9) if f else -math.inf for f in families}
        order = sorted(families, key=lambda f: -score[f])  # stable: ties in the listed order
        turns = max(len(family) for family in families.values())
        interleaved = [families[f][i] for i in range(turns) for f in order if f and i < len(families[f])]
        return interleaved + families.get("", [])

    def factor(self, factor: float | dict[str, float]) -> float:
        """A member's need factor on this task (one factor, or one for each task)."""
        return factor[self.spec.task] if isinstance(factor, dict) else factor

    def need(self, name: str) -> float | None:
        """Seconds a member needs on these data: a run's overhead and its floor's measured (else estimated) fitting
        seconds times its factor."""
        if name not in self.needs:
            return None
        reference, factor = self.needs[name][:2]
        factor = self.factor(factor)
        fits = self.fit_seconds.get(reference)
        if fits is None:
            guess = estimate(reference, self.shape, self.n_folds)
            if guess is None or not self.ratios:
                return None
            fits = guess * self.speed()
        least = MIN_FOLD_SECONDS * self.n_folds if self._limited(name) else 0.0  # one that stops: a second a fold
        return self.overhead() + max(factor * fits, least)

    def share(self, name: str, rest: list[str]) -> float:
        """A member's seconds. Its need known: where what is left covers every remaining need, its need and its part
        of the surplus; else (the budget binds) its need, as far as what is left goes, in the floor's order, less
        what the rest of its turn needs at least (``least``: every family one member before any has two), and for a
        member that stops at its share, less all that the members of its turn that cannot stop need and a run's
        overhead each (the runs before may have taken a little more than planned: the one that stops gives it back).
        No need known: what is left shared by ``COSTS``."""
        needs = {m: self.need(m) for m in rest}
        left = self.left()
        if needs[name] is None:
            return left * COSTS.get(name, DEFAULT_COST) / sum(COSTS.get(m, DEFAULT_COST) for m in rest)
        known = {m: n for m, n in needs.items() if n is not None}
        unit = sum(known.values()) / sum(COSTS.get(m, DEFAULT_COST) for m in known)
        weights = {m: needs[m] if needs[m] is not None else unit * COSTS.get(m, DEFAULT_COST) for m in rest}
        if sum(weights.values()) <= left:
            return needs[name] + (left - sum(weights.values())) * weights[name] / sum(weights.values())
        turn = self.turn.get(name)
        others = [m for m in rest[1:] if turn is not None and self.turn.get(m) == turn]  # the rest of its turn
        share = min(needs[name], left, max(left - sum(self.least(m, needs[m]) for m in others),
                                           self.least(name, needs[name])))
        if self._limited(name):  # it can stop: those that cannot (linear, neighbours) keep their whole need, and a
            # run's overhead more: its own may exceed the mean (a forest predicts slowly: ames' extra_trees, 1 s over)
            share = min(share, left - sum(needs[m] + self.overhead() for m in others
                                          if needs[m] is not None and not self._limited(m)))
        return share

    def least(self, name: str, need: float | None) -> float:
        """The fewest seconds worth a member's run (as ``_fits`` judges): a part of its need, at least a second a fold,
        where it stops at its share; else all of it."""
        if need is None:
            return 0.0
        if not self._limited(name):
            return need
        return max(MIN_NEED_SHARE * need, self.overhead() + MIN_FOLD_SECONDS * self.n_folds)

    def _limited(self, name: str) -> bool:
        """Whether a member stops at its share (it takes a time limit); linear, neighbours: not."""
        return "time_limit" in self.spec.recipes[name].model_params

    def _fits(self, name: str, share: float) -> bool:
        """Whether a member can learn something in ``share`` seconds (the first always runs)."""
        if not self.done:
            return True
        quick = COSTS.get(name, DEFAULT_COST) <= 1  # linear, neighbours: seconds at most
        limited = self._limited(name)
        per_fold, need = share / self.n_folds, self.need(name)
        if need is not None and share < (MIN_NEED_SHARE if limited else 1.0) * need:
            return False  # even paced faster it would learn little; or, unable to stop, it would overrun
        return self.left() >= MIN_SECONDS and (quick or per_fold >= (MIN_FOLD_SECONDS if limited
                                                                      else UNLIMITED_FOLD_SECONDS))

    def _run(self, name: str, share: float | None) -> float | None:
        """One member's run (``share``: its seconds, the run's overhead in them; None: no limit, a library default); its
        seconds, or None where it failed on these data (it is left out; the others still blend)."""
        own = self.per_member.get(name, {})  # its fits stop at the share less the run's overhead: the run ends in it
        limit = None if share is None or "time_limit" in own else max(share - self.overhead(), MIN_SECONDS)
        t0 = time.monotonic()
        try:
            path = runner.run(self.spec, name, self.data_dir,
                              n_folds=self.n_folds, seed=self.seed, time_limit=limit, out_root=self.out_root,
                              overrides={**self.shared_settings, **own}, **self.run_arguments)
        except UserError as exc:
            self.first_error = self.first_error or exc
            self.note(f"{name} failed and is left out: {exc}", warn=True)
            return None
        seconds = self.seconds[name] = time.monotonic() - t0
        metrics = _metrics(path)
        self.cv[name] = metrics["cv"]
        self.fit_seconds[name] = min(seconds, sum(metrics.get("fit_times_s", {}).values()))
        if share is not None:
            self.shares[name] = share
        self.done.append((name, path))
        of = "" if share is None else f" (a share of {share:.0f} s)"
        self.note(f"{name} done in {seconds:.0f} s{of}, CV {self.cv[name]:.5g}: {path}")
        return seconds


def check_inputs(spec: CompetitionSpec, member: Recipe, data_dir: Path, n_folds: int,
                 settings: dict) -> tuple[int, int, int]:
    """The data every member reads, checked once before any member starts, as each run checks them before it fits
    (files, columns, ids, the target, the sample submission): bad data are one error, not one per member. Returns
    the training table's (rows, columns besides the id and target, classes; 0 for regression)."""
    config = resolve(member, settings, spec.run_defaults(), competition=spec.name)
    data = spec.load_run_data(Path(data_dir), config)
    y, classes = spec.outputs.encode(data, config.get("positive_class"))
    spec.outputs.check(data, y, classes, n_folds)
    return len(data.train), max(data.train.shape[1] - 2, 1), len(classes or [])


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


def _missing(member: Recipe) -> str | None:
    """What a member needs that is not installed (its ``requires``' message), or None."""
    try:
        member.requires()
    except UserError as exc:
        return str(exc)
    return None
