#!/usr/bin/env python
"""Run several recipes on the same folds and compare them: a markdown table and a PNG in a run
directory (runs/<competition>/compare-<timestamp>/). The last line printed is that directory.

    python scripts/compare.py house_prices [--recipes baseline,linear,gbm,automl] [--time-limit SEC]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import REPO_ROOT, ArgumentParser, add_data_args, main
from shared.errors import UserError


def compare(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--recipes", help="comma-separated recipe names (default: all of the competition's)")
    p.add_argument("--readme", action="store_true", help="also write the table into README.md's results block")
    args = p.parse_args(argv)
    import competitions
    from shared import runner
    from shared.compare import update_readme, write_report
    from shared.runs import load_summary, new_run_dir

    spec, data_dir = competitions.for_arguments(args)
    names = args.recipes.split(",") if args.recipes else list(spec.recipes)
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
    runs = []
    for name in names:
        print(f"== {spec.name}: {name}", file=sys.stderr)
        runs.append(load_summary(runner.run(spec, name, data_dir, n_folds=args.folds, seed=args.seed,
                                        time_limit=args.time_limit, out_root=args.out)))
    out_dir = new_run_dir(args.out, spec.name, "compare")
    budget = f", automl budget {args.time_limit:.0f} s" if args.time_limit else ""
    header = (f"{spec.name}: {args.folds}-fold CV (seed {args.seed}) on {Path(data_dir)}{budget}. "
              "Runs: " + ", ".join(r.path.name for r in runs))
    text = write_report(out_dir, runs, header)
    print(text, file=sys.stderr)
    if args.readme:
        readme = REPO_ROOT / "README.md"
        if not readme.is_file():
            raise UserError(f"{readme} not found.")
        update_readme(readme, spec.name, header + "\n\n" + text)
    print(out_dir)


if __name__ == "__main__":
    sys.exit(main(compare))
