#!/usr/bin/env python
"""Benchmark a tabular competition's demo over several train/test split seeds: our recipes (k-fold CV,
test predictions averaged over folds) and their blend, against AutoGluon alone (one fit on all training
rows, as a user of AutoGluon would run it) at given presets and budgets. Local-holdout score and wall
time on this machine; a markdown table and a PNG in runs/<competition>/bench-<timestamp>/ (printed last).

    python scripts/bench_tabular.py house_prices [--seeds 2011,1,2] [--recipes linear,gbm] \\
        [--automl medium_quality:60,best_quality:300]
    python scripts/bench_tabular.py california_house_prices --generic --size small --automl medium_quality:60
        # --generic: treat the demo as a never-seen CSV competition (run.py tabular, inferred column types)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import FOLDS, ArgumentParser, main


def autogluon_alone(spec, data_dir: Path, preset: str, seconds: float, workdir: Path) -> tuple[float, float]:
    """(holdout score, wall s) of one TabularPredictor fit on all training rows (log target for log metrics)."""
    import numpy as np

    from shared import submission
    from shared.models import ModelContext, available_cores
    from shared.tables import encode_target, read_solution, to_submission_values
    from shared.tabular.models import AutoGluonModel

    t0 = time.time()
    data = spec.load(data_dir, clean=False)
    y, classes = encode_target(spec, data.train[spec.target_col])
    log_target = spec.metric.log_space
    ctx = ModelContext(spec.task, spec.metric.name, len(classes or []), 0, seconds, workdir, available_cores())
    model = AutoGluonModel({"presets": preset, "time_limit": seconds, "num_bag_folds": 0, "verbosity": 0,
                            "keep_models": False}, ctx)
    model.fit(data.train.drop(columns=[spec.id_col, spec.target_col]), np.log1p(y) if log_target else y)
    pred = model.predict(data.test.drop(columns=[spec.id_col]))
    model.cleanup()
    values, cols = to_submission_values(spec, np.expm1(pred) if log_target else pred, classes, data.sample_submission)
    sub = submission.build(data.sample_submission, spec.id_col, data.test[spec.id_col], values, cols)
    return submission.score(sub, read_solution(spec, data), spec.id_col, spec.metric, classes), time.time() - t0


def bench(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", help="a tabular competition with a demo (house_prices, california_house_prices)")
    p.add_argument("--generic", action="store_true", help="use the generic path (run.py tabular) on the demo files")
    p.add_argument("--size", help="demo size (default: full for house_prices, the competition's default otherwise)")
    p.add_argument("--seeds", help="demo split seeds (default: the demo's own seed, then 1 and 2)")
    p.add_argument("--folds", type=FOLDS, default=5)
    p.add_argument("--recipes", help="comma-separated (default: linear,gbm)", default="linear,gbm")
    p.add_argument("--blend", default="linear,gbm", help="recipes blended with --method weights ('' for none)")
    p.add_argument("--automl", default="medium_quality:60,best_quality:300", help="preset:seconds,... ('' for none)")
    p.add_argument("--out", type=Path, default=Path("runs"))
    args = p.parse_args(argv)
    import inspect

    import numpy as np
    import pandas as pd

    import competitions
    from shared import plots, runner
    from shared.compare import markdown_table
    from shared.io import write_csv, write_text
    from shared.models import available_cores
    from shared.runs import load_run, new_run_dir
    from shared.tabular import generic

    named = competitions.get(args.competition)
    default_seed = inspect.signature(named.make_demo).parameters["seed"].default
    seeds = [int(s) for s in (args.seeds or f"{default_seed},1,2").split(",")]
    size = args.size or ("full" if named.name == "house_prices" else
                         inspect.signature(named.make_demo).parameters["size"].default)
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            data = named.make_demo(Path(tmp) / "data", size=size, seed=seed)
            spec = (generic.spec_for(data, named.target_col, named.id_col, named.metric_name) if args.generic
                    else named)
            runs = {}
            for name in args.recipes.split(","):
                t0 = time.time()
                run = load_run(runner.run(spec, name, data, n_folds=args.folds, out_root=Path(tmp) / "runs"))
                runs[name] = run
                rows.append({"split_seed": seed, "model": name, "cv": run.metrics["cv"],
                             "time_split": (run.metrics.get("time_split") or {}).get("score"),
                             "holdout": run.metrics["holdout"], "wall_s": time.time() - t0})
            if args.blend:
                members = args.blend.split(",")
                blend = load_run(spec.outputs.ensemble([runs[m].path for m in members], "weights", Path(tmp) / "runs"))
                rows.append({"split_seed": seed, "model": "blend(" + "+".join(members) + ")",
                             "cv": blend.metrics["cv"], "time_split": None, "holdout": blend.metrics["holdout"],
                             "wall_s": sum(r["wall_s"] for r in rows if r["split_seed"] == seed and r["model"] in members)})
            for item in filter(None, args.automl.split(",")):
                preset, seconds = item.split(":")
                score, wall = autogluon_alone(spec, data, preset, float(seconds), Path(tmp) / f"ag-{preset}")
                rows.append({"split_seed": seed, "model": f"AutoGluon {preset} {seconds}s (one fit)", "cv": None,
                             "time_split": None, "holdout": score, "wall_s": wall})
            print(markdown_table(pd.DataFrame([r for r in rows if r["split_seed"] == seed])), file=sys.stderr)
    df = pd.DataFrame(rows)
    summary = df.groupby("model", sort=False).agg(holdout_mean=("holdout", "mean"), holdout_std=("holdout", "std"),
                                                   cv_mean=("cv", "mean"), wall_s_mean=("wall_s", "mean")).reset_index()
    out = new_run_dir(args.out, named.name, "bench")
    write_csv(out / "bench.csv", df)
    path = "the generic path (run.py tabular)" if args.generic else "the competition's recipes"
    text = (f"Local-holdout {named.metric_name} on the {named.name} demo ({size}), {path}, split seeds "
            f"{','.join(map(str, seeds))}, {args.folds}-fold CV, {available_cores()} CPU cores.\n\n"
            + markdown_table(summary) + "\nPer split:\n\n" + markdown_table(df))
    write_text(out / "bench.md", text)
    plots.bar_table(out / "bench.png", list(summary["model"]), list(summary["holdout_mean"]),
                    list(np.nan_to_num(summary["holdout_std"])), [None] * len(summary), f"holdout {named.metric_name}",
                    list(summary["wall_s_mean"]))
    print(text, file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(bench))
