#!/usr/bin/env python
"""Compare recipes, or runs that exist: a markdown table, compare.json and a PNG in a folder
(runs/<competition>/compare-<timestamp>/). The last line printed is that folder.

    python scripts/compare.py house_prices [--recipes baseline,linear,gbm,automl] [--time-limit SEC]
                                           [--set key=value ...]
    python scripts/compare.py house_prices --runs RUN_DIR RUN_DIR...   # a leaderboard of finished runs
    python scripts/compare.py house_prices --from runs/                # every finished run under runs/
    python scripts/compare.py house_prices --parallel auto             # the recipes side by side on Ray

Running recipes: each runs on the same folds; `--set` goes to every recipe that has the key (the others run
without it, with a note; a key that no recipe has is an error). A leaderboard ranks the runs by CV beside
their holdout and wall time and the settings that differ from the most common ones, and plots CV against
holdout; unfinished and partial runs are skipped with a note each, the runs of other competitions with one
note in all. "differs" names the settings, the code version (`-dirty`: edited code) and, within a recipe, the
feature count that set a run apart.

Submitted runs (by run folder, or by their submission file's sha256, in the submissions.csv that submit.py keeps
beside the runs) get their latest public (and, once revealed, private) LB score beside CV and holdout, and
cv_vs_lb.png draws CV against public LB, one point per submission (from two scored submissions on).

`--parallel N|auto` runs N recipes at a time as Ray tasks (each recipe's folds one after another in its task,
with its share of the cores, or one GPU), on a local Ray or the cluster at `--ray-address`; the runs are those
that run.py makes with the same `--threads`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import (
    REPO_ROOT,
    ArgumentParser,
    add_data_args,
    add_parallel_args,
    main,
    parallel_settings,
    refuse_typed,
)
from shared.errors import UserError


def compare(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--recipes", help="comma-separated recipe names (default: all of the competition's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter in every recipe that has it (repeatable; values read as YAML)")
    p.add_argument("--runs", nargs="+", type=Path, default=[], metavar="RUN_DIR",
                   help="tabulate these finished run folders instead of running recipes")
    p.add_argument("--from", dest="roots", action="append", type=Path, default=[], metavar="DIR",
                   help="tabulate every finished run of the competition under DIR (repeatable)")
    p.add_argument("--readme", action="store_true",
                   help="also write the table into the results block of competitions/<competition>/README.md")
    add_parallel_args(p, "recipes")
    args = p.parse_args(argv)
    name, out_dir, header, text = leaderboard(args) if args.runs or args.roots else run_recipes(args)
    print(text, file=sys.stderr)
    if args.readme:
        from shared.compare import update_readme

        readme = REPO_ROOT / "competitions" / name / "README.md"
        if not readme.is_file():
            raise UserError(f"{readme} not found.")
        update_readme(readme, name, header + "\n\n" + text)
    print(out_dir)


def run_recipes(args) -> tuple[str, Path, str, str]:
    """Run each recipe on the same folds; (competition, compare folder, header, table)."""
    import competitions
    from shared import parallel, runner
    from shared.compare import recipes_side_by_side, split_overrides, write_report
    from shared.config import RUN_SETTINGS, parse_sets, resolve
    from shared.runs import load_summary, new_run_dir

    spread = parallel.settings(parallel_settings(args))  # a cluster that cannot be reached: before anything runs
    spec, data_dir = competitions.for_arguments(args)
    names = recipe_names(args.recipes) if args.recipes else list(spec.recipes)
    for name in list(names):
        recipe = spec.recipe(name)  # unknown names fail before anything runs
        if recipe.requires is not None:
            try:
                recipe.requires()
            except UserError as exc:  # an optional extra that is not installed here
                if args.recipes:
                    raise
                print(f"== {spec.name}: {name} left out: {exc}", file=sys.stderr)
                names.remove(name)
    if not any(spec.recipe(n).budgeted for n in names):
        refuse_typed(args, {"time_limit": "--time-limit"}, spec.budget_refusal(names))
    overrides = parse_sets(args.sets)
    keys = {n: {*spec.recipe(n).feature_params, *spec.recipe(n).model_params, *RUN_SETTINGS} for n in names}
    per_recipe = split_overrides(keys, overrides)
    devices = []
    for name in names:  # every recipe's settings are checked before the first one runs
        config = resolve(spec.recipe(name), per_recipe[name][0], {"time_col": spec.time_col}, competition=spec.name)
        devices.append(str(config["model"].get("device", "cpu")))
    run_args = {"n_folds": args.folds, "seed": args.seed, "time_limit": args.time_limit, "out_root": args.out}
    try:
        plan = parallel.plan(spread, len(names), wants_gpu=any(d != "cpu" for d in devices), what="recipes")
        if plan.about:
            print(f"== {spec.name}: {plan.about}", file=sys.stderr)
        paths = {}
        if plan.ray:
            for name in names:
                _announce(spec.name, name, per_recipe[name][1])
            paths = recipes_side_by_side(plan, runner.run, spec, data_dir, {n: per_recipe[n][0] for n in names},
                                         **run_args)
        for name in names:
            if name not in paths:
                _announce(spec.name, name, per_recipe[name][1])
                paths[name] = runner.run(spec, name, data_dir, overrides=per_recipe[name][0],
                                         parallel=parallel.Settings(threads=plan.threads), **run_args)
    finally:
        parallel.shutdown()
    runs = [load_summary(paths[name]) for name in names]
    out_dir = new_run_dir(args.out, spec.folder, "compare")
    budget = f", automl budget {args.time_limit:.0f} s" if args.time_limit else ""
    sets = ""
    if overrides:
        lacking = [f"{n} without {', '.join(per_recipe[n][1])}" for n in names if per_recipe[n][1]]
        sets = ". Settings: " + " ".join(f"--set {s}" for s in args.sets) + (f" ({'; '.join(lacking)})" if lacking else "")
    header = (f"{spec.name}: {args.folds}-fold CV (seed {args.seed}) on {Path(data_dir)}{budget}{sets}. "
              "Runs: " + ", ".join(r.path.name for r in runs))
    return spec.name, out_dir, header, write_report(out_dir, runs, header)


def recipe_names(text: str) -> list[str]:
    """``--recipes a,b,c`` as names, spaces around them dropped; an empty name (which would run the default recipe)
    or one named twice (the same run twice) is refused."""
    names = [name.strip() for name in text.split(",")]
    twice = [name for name in names if names.count(name) > 1]
    if "" in names or twice:
        what = f"names {twice[0]!r} twice" if twice and twice[0] else "has an empty name"
        raise UserError(f"--recipes {text!r} {what}: give each recipe to compare once, comma-separated "
                        "(e.g. --recipes linear,gbm).")
    return names


def _announce(competition: str, name: str, lacking: list[str]) -> None:
    print(f"== {competition}: {name}", file=sys.stderr)
    if lacking:
        print(f"note: recipe {name!r} has no {', '.join(lacking)}: it runs without "
              f"{'that setting' if len(lacking) == 1 else 'those settings'}.", file=sys.stderr)


# What only running recipes reads, by dest: a leaderboard of finished runs refuses each of them.
RUNNING_FLAGS = {"recipes": "--recipes", "sets": "--set", "data": "--data", "folds": "--folds", "seed": "--seed",
                 "time_limit": "--time-limit", "target": "--target", "id_col": "--id", "metric": "--metric",
                 "parallel": "--parallel", "ray_address": "--ray-address", "threads": "--threads", "memory": "--memory"}


def leaderboard(args) -> tuple[str, Path, str, str]:
    """Rank the finished runs named by --runs / found under --from; (competition, compare folder, header, table)."""
    import competitions
    from shared import history
    from shared.compare import finished_runs, run_folders, write_leaderboard
    from shared.runs import new_run_dir

    refuse_typed(args, RUNNING_FLAGS, "is for running recipes; --runs and --from tabulate runs that are finished "
                                      "(their settings and data are in their folders): use one or the other.")
    name = "tabular" if args.competition == "tabular" else competitions.get(args.competition).name
    runs, notes, skipped = finished_runs(run_folders(args.runs, args.roots), name)
    sources = " and ".join([*([f"{len(args.runs)} folder(s) given"] if args.runs else []), *map(str, args.roots)])
    if not runs:
        first = f" ({skipped} skipped; {notes[0]})" if notes else ""
        raise UserError(f"no finished run of {name} in {sources}{first}: pass run folders of {name}, or make "
                        f"some with run.py {name}.")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    out_dir = new_run_dir(args.out, name, "compare")
    header = (f"{name}: {len(runs)} finished run(s) from {sources}, best CV first"
              + (f" ({skipped} folder(s) skipped)" if skipped else "") + ".")
    # the submission histories beside the runs, and that of --out (where submit.py --out keeps it)
    histories = (history.path_for(args.out, name), *(r.path.parent / history.FILE for r in runs))
    return name, out_dir, header, write_leaderboard(out_dir, runs, header, notes, histories)


if __name__ == "__main__":
    sys.exit(main(compare))
