#!/usr/bin/env python
"""Run one recipe with k-fold CV; write a run directory (OOF, test predictions, metrics, submission).
The last line printed is the run directory.

    python scripts/run.py house_prices [--recipe gbm] [--folds 5] [--seed 42] [--set key=value ...]
    python scripts/run.py tabular --data DIR --target COL --id COL --metric rmse [--recipe gbm|linear|automl]
    python scripts/run.py tabular --data data/titanic --target Survived --id PassengerId --metric accuracy
                                                     # -> runs/titanic/auto-<time>/ (its sample: gender_submission.csv)
    python scripts/run.py house_prices --recipe gbm --set learning_rate=0.05   # -> runs/house_prices/gbm-<time>-learning_rate=0.05/
    python scripts/run.py house_prices --recipe gbm --name deep                # -> runs/house_prices/gbm-<time>-deep/
    python scripts/run.py cifar10 --resume runs/cifar10/fast-20260101-120000   # after a crash or a kill
    python scripts/run.py house_prices --list [--recipe gbm]   # the recipes and every setting: default, range, meaning
    torchrun --nproc_per_node 2 scripts/run.py cifar10 ...                    # DDP (gloo on CPU, NCCL on GPUs)
    python scripts/run.py classify_leaves --parallel auto     # folds side by side on Ray: one per GPU here
    python scripts/run.py classify_leaves --parallel 8 --ray-address HEAD:6379   # ... on a Ray cluster
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import (
    FOLD_NUMBERS,
    ArgumentParser,
    add_data_args,
    add_name_arg,
    add_parallel_args,
    main,
    parallel_settings,
    refuse_typed,
)
from shared.config import parse_sets
from shared.errors import UserError


def run(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--recipe", help="recipe name (default: the competition's strong recipe)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe hyperparameter (repeatable); values are read as YAML")
    p.add_argument("--only-folds", type=FOLD_NUMBERS, metavar="K,K...",
                   help="run only these folds, e.g. 0,2 (join partial runs with merge.py)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run with the settings it was made with (finished folds are kept); "
                        "with it, --data says where its data are now, --parallel, --threads, --memory and "
                        "--ray-address how it runs, and any other flag must equal the run's own value")
    p.add_argument("--list", action="store_true",
                   help="list the recipes and their settings (default, range, meaning), then exit; needs no data")
    add_name_arg(p)
    add_parallel_args(p)
    args = p.parse_args(argv)
    import competitions
    if args.list:
        print(listing(args.competition, args.recipe))
        return
    from shared import distributed, runner

    if args.resume is not None:
        refuse_typed(args, {"name": "--name", "sample": "--sample"}, "with --resume: a resumed run keeps its folder "
                     "and the sample submission it was made with (its config.yaml); drop it.")
    if args.resume is not None and args.competition == "tabular":  # the generic path's columns are in the run
        from shared.runs import load_config

        config = load_config(args.resume)
        if config.get("competition") != "tabular":
            raise UserError(f"--resume {args.resume}: that run is of {config.get('competition')!r}, not 'tabular'.")
        spec = competitions.for_run({**config, **({"data_dir": str(args.data)} if args.data else {})})
    else:
        spec, data_dir = competitions.for_arguments(args)
    if args.resume is not None:
        runner.check_resume_flags(spec, args.resume, resume_flags(args))
        data_dir = args.data  # None: where the run's data were
    elif not spec.recipe(args.recipe).budgeted:
        refuse_typed(args, {"time_limit": "--time-limit"}, spec.budget_refusal([spec.recipe(args.recipe).name]))
    run_dir = runner.run(spec, args.recipe, data_dir, n_folds=args.folds, seed=args.seed,
                         time_limit=args.time_limit, out_root=args.out, overrides=parse_sets(args.sets),
                         only_folds=args.only_folds, resume=args.resume,
                         parallel=parallel_settings(args), name=args.name)
    if distributed.is_main():
        print(run_dir)


# The flags that say what a run is, by dest: given with --resume, each must equal the run's own value.
RUN_FLAGS = {"recipe": "--recipe", "folds": "--folds", "seed": "--seed", "time_limit": "--time-limit",
             "sets": "--set", "only_folds": "--only-folds", "out": "--out", "target": "--target", "id_col": "--id",
             "metric": "--metric"}


def resume_flags(args) -> dict:
    """{flag: value} of the run-defining flags typed beside --resume (``RUN_FLAGS``); the others are honoured."""
    values = {**vars(args), "sets": parse_sets(args.sets), "only_folds": args.only_folds}
    return {flag: values[dest] for dest, flag in RUN_FLAGS.items() if dest in args.given}


def listing(competition: str, recipe: str | None) -> str:
    """The text of ``--list``: a competition's recipes and settings, or the generic tabular path's."""
    from shared import settings

    if competition == "tabular":
        from shared.tabular import generic

        return settings.listing("tabular", "any CSV competition (--data DIR --target COL --id COL --metric M)",
                                generic.RECIPES, generic.DEFAULT_RECIPE, {}, recipe)
    import competitions

    spec = competitions.get(competition)
    if recipe is not None:
        spec.recipe(recipe)  # an unknown name is the same error as for a run
    return settings.listing(spec.name, spec.title, spec.recipes, spec.default_recipe,
                            settings.competition_defaults(spec), recipe)


if __name__ == "__main__":
    sys.exit(main(run))
