#!/usr/bin/env python
"""Benchmark on the Ames demo over several train/test split seeds: our recipes (5-fold CV, test
predictions averaged over folds) and their blend, against AutoGluon alone (one fit on all training
rows, as a user of AutoGluon would run it) at given presets and budgets. Local-holdout RMSLE and wall
time on this machine; a markdown table and a PNG in runs/house_prices/bench-<timestamp>/ (printed last).

    python scripts/bench_house_prices.py [--seeds 2011,1,2] [--recipes linear,gbm] [--automl medium_quality:60,best_quality:300]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main


def autogluon_alone(data_dir: Path, preset: str, seconds: float, workdir: Path) -> tuple[float, float]:
    """(holdout RMSLE, wall s) of one TabularPredictor fit on all training rows, log target."""
    import numpy as np
    import pandas as pd

    from shared.metrics import rmsle
    from shared.runner import ModelContext
    from shared.tabular.models import AutoGluonModel

    t0 = time.time()
    train, test = pd.read_csv(data_dir / "train.csv"), pd.read_csv(data_dir / "test.csv")
    ctx = ModelContext("regression", "rmsle", 0, 0, seconds, workdir, 2)
    model = AutoGluonModel({"presets": preset, "time_limit": seconds, "num_bag_folds": 0, "verbosity": 0,
                            "keep_models": False}, ctx)
    model.fit(train.drop(columns=["Id", "SalePrice"]), np.log1p(train["SalePrice"].to_numpy()))
    pred = np.expm1(model.predict(test.drop(columns=["Id"])))
    model.cleanup()
    truth = pd.read_csv(data_dir / "solution.csv").set_index("Id").loc[test["Id"], "SalePrice"].to_numpy()
    return rmsle(truth, pred), time.time() - t0


def bench(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="2011,1,2", help="demo split seeds (2011 is make_demo's default)")
    p.add_argument("--recipes", default="baseline,linear,gbm")
    p.add_argument("--blend", default="linear,gbm", help="recipes blended with --method weights ('' for none)")
    p.add_argument("--automl", default="medium_quality:60,best_quality:300", help="preset:seconds,... ('' for none)")
    p.add_argument("--out", type=Path, default=Path("runs"))
    args = p.parse_args(argv)
    import numpy as np
    import pandas as pd

    import competitions
    from shared import blend_runs, plots, runner
    from shared.compare import markdown_table
    from shared.io import write_csv, write_text
    from shared.runs import load_run, new_run_dir

    spec = competitions.get("house_prices")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            data = spec.make_demo(Path(tmp) / "data", size="full", seed=seed)
            runs = {}
            for name in args.recipes.split(","):
                t0 = time.time()
                run = load_run(runner.run(spec, name, data, out_root=Path(tmp) / "runs"))
                runs[name] = run
                rows.append({"split_seed": seed, "model": name, "cv": run.metrics["cv"],
                             "holdout": run.metrics["holdout"], "wall_s": time.time() - t0})
            if args.blend:
                members = args.blend.split(",")
                blend = load_run(blend_runs.ensemble([runs[m].path for m in members], "weights", Path(tmp) / "runs"))
                rows.append({"split_seed": seed, "model": "blend(" + "+".join(members) + ")",
                             "cv": blend.metrics["cv"], "holdout": blend.metrics["holdout"],
                             "wall_s": sum(r["wall_s"] for r in rows if r["split_seed"] == seed and r["model"] in members)})
            for item in filter(None, args.automl.split(",")):
                preset, seconds = item.split(":")
                score, wall = autogluon_alone(data, preset, float(seconds), Path(tmp) / f"ag-{preset}")
                rows.append({"split_seed": seed, "model": f"AutoGluon {preset} {seconds}s (one fit)", "cv": None,
                             "holdout": score, "wall_s": wall})
            print(markdown_table(pd.DataFrame([r for r in rows if r["split_seed"] == seed])), file=sys.stderr)
    df = pd.DataFrame(rows)
    summary = df.groupby("model", sort=False).agg(holdout_mean=("holdout", "mean"), holdout_std=("holdout", "std"),
                                                   cv_mean=("cv", "mean"), wall_s_mean=("wall_s", "mean")).reset_index()
    out = new_run_dir(args.out, "house_prices", "bench")
    write_csv(out / "bench.csv", df)
    text = (f"Local-holdout RMSLE on the Ames demo, split seeds {args.seeds}, 2 CPU cores.\n\n"
            + markdown_table(summary) + "\nPer split:\n\n" + markdown_table(df))
    write_text(out / "bench.md", text)
    plots.bar_table(out / "bench.png", list(summary["model"]), list(summary["holdout_mean"]),
                    list(np.nan_to_num(summary["holdout_std"])), [None] * len(summary), "holdout rmsle",
                    list(summary["wall_s_mean"]))
    print(text, file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(bench))
