#!/usr/bin/env python
"""Benchmark a tabular competition's demo over several train/test split seeds: our recipes (k-fold CV,
test predictions averaged over folds) and their blend, against AutoGluon alone (one fit on all training
rows, as a user of AutoGluon would run it) at given presets and budgets. Local-holdout score and wall
time on this machine; a markdown table and a PNG in runs/<competition>/bench-<timestamp>/ (printed last).

    python scripts/bench_tabular.py house_prices [--seeds 2011,1,2] [--recipes linear,gbm] \\
        [--automl medium_quality:60,best_quality:300]
    python scripts/bench_tabular.py california_house_prices --generic --size small --automl medium_quality:60
        # --generic: treat the demo as a never-seen CSV competition (run.py tabular, inferred column types)
    python scripts/bench_tabular.py --suite [--datasets ames,leaves] [--readme docs/tabular.md]
        # the public suite (shared.tabular.suite): the generic path's default against AutoGluon on each data set's
        # fixed split; --readme rewrites the table between the suite markers of docs/tabular.md
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import FOLDS, ArgumentParser, main, share, wholes
from shared.cli import seconds as SECONDS


def autogluon_alone(spec, data_dir: Path, preset: str, seconds: float, workdir: Path) -> tuple[float, float]:
    """(holdout score, wall s) of one TabularPredictor fit on all training rows (log target for log metrics)."""
    import numpy as np

    from shared import submission
    from shared.io import write_csv
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
    board = model.predictor_.leaderboard(silent=True)  # which of its models won, kept beside the suite's table
    write_csv(Path(f"{workdir}-leaderboard.csv"), board)
    model.cleanup()
    values, cols = to_submission_values(spec, np.expm1(pred) if log_target else pred, classes, data.sample_submission)
    sub = submission.build(data.sample_submission, spec.id_col, data.test[spec.id_col], values, cols)
    return submission.score(sub, read_solution(spec, data), spec.id_col, spec.metric, classes), time.time() - t0


def members_of(result: Path) -> list[dict]:
    """The members (recipe, cv) of the auto run whose result is ``result``: its blend, or the best member's run
    beside the blend that did not beat it; [] for a run of another recipe."""
    import json

    blends = [result] if result.name.startswith("auto-") else sorted(result.parent.glob("auto-*"))
    if not blends:
        return []
    return json.loads((blends[-1] / "metrics.json").read_text()).get("members") or []


def floor_check(spec, folder: Path, run, n_folds: int, out: Path, skip: frozenset[str] = frozenset()) -> dict:
    """Every library default (the ``*_defaults`` recipes, but those named in ``skip``) on the same folds as ``run``,
    against its CV: the best member's and the best default's CV, and whether ours is at least each."""
    from shared import runner
    from shared.runs import load_run

    sign = 1.0 if run.metrics["greater_is_better"] else -1.0
    defaults = {name: load_run(runner.run(spec, name, folder, n_folds=n_folds, out_root=out)).metrics["cv"]
                for name in spec.recipes if name.endswith("_defaults") and name not in skip}
    members = {m["recipe"]: m["cv"] for m in members_of(run.path)} or {run.config["recipe"]: run.metrics["cv"]}
    best_member = max(members, key=lambda m: sign * members[m])
    best_default = max(defaults, key=lambda m: sign * defaults[m]) if defaults else None
    return {"best_member": f"{best_member} {members[best_member]:.5g}",
            "best_default": None if best_default is None else f"{best_default} {defaults[best_default]:.5g}",
            "cv_at_least_best_member": bool(sign * run.metrics["cv"] >= sign * members[best_member] - 1e-12),
            "cv_at_least_every_default": bool(all(sign * run.metrics["cv"] >= sign * v - 1e-12
                                                  for v in defaults.values())),
            **{f"cv_{name}": value for name, value in defaults.items()}}


README_START, README_END = "<!-- tabular-suite:start -->", "<!-- tabular-suite:end -->"


def suite(args) -> None:
    """The generic path's default (``--recipe``) against AutoGluon alone on every data set of the suite; one row per
    data set, written after each one (``suite.csv``), so that a long benchmark interrupted keeps what it measured
    and ``--reuse`` continues it."""
    import pandas as pd

    from shared import runner
    from shared.compare import markdown_table
    from shared.errors import UserError
    from shared.io import write_csv, write_text
    from shared.models import available_cores
    from shared.runs import load_run, new_run_dir
    from shared.tabular import generic
    from shared.tabular import suite as public

    names = args.datasets.split(",") if args.datasets else list(public.SUITE)
    unknown = [n for n in names if n not in public.SUITE]
    if unknown:
        raise UserError(f"--datasets {unknown[0]!r}: the suite has {', '.join(public.SUITE)}.")
    presets = [item.split(":") for item in filter(None, args.automl.split(","))]
    bad = next((":".join(p) for p in presets if len(p) != 2 or not p[1].replace(".", "", 1).isdigit()), None)
    if bad is not None:
        raise UserError(f"--automl {bad!r}: give each preset with its seconds, e.g. medium_quality:60,best_quality:300.")
    out = args.reuse or new_run_dir(args.out, "tabular", "suite")
    done = pd.read_csv(out / "suite.csv").to_dict(orient="records") if (out / "suite.csv").is_file() else []
    lacking = [f"ag_{p}_{sec}" for p, sec in presets if done and f"ag_{p}_{sec}" not in done[0]]
    if lacking:
        raise UserError(f"--reuse {out}: its rows have no {lacking[0]}; pass the --automl presets it was run with.")
    rows, started = list(done), time.monotonic()
    for name in names:
        if any(r["dataset"] == name for r in done):
            continue
        entry = public.SUITE[name]
        folder = public.write(entry, args.data_root, args.test_share)
        spec = generic.spec_for(folder, entry.target, public.ID, entry.metric)
        t0 = time.time()
        result = runner.run(spec, args.recipe, folder, n_folds=args.folds, time_limit=args.time_limit,
                            out_root=out / "runs")
        seconds, run = time.time() - t0, load_run(result)
        row = {"dataset": name, "metric": entry.metric, "rows": len(run.folds),
               "classes": len(run.config.get("classes") or []) or None, "ours": run.metrics["holdout"],
               "ours_cv": run.metrics["cv"], "ours_s": seconds, "ours_result": run.config["recipe"]}
        if args.floor:
            skip = frozenset(item.split(":", 1)[1] for item in args.floor_skip.split(",") if item.startswith(f"{name}:"))
            row.update(floor_check(spec, folder, run, args.folds, out / "floor", skip))
        for preset, seconds in presets:
            score, wall = autogluon_alone(spec, folder, preset, float(seconds), out / f"ag-{name}-{preset}")
            row[f"ag_{preset}_{seconds}"], row[f"ag_{preset}_{seconds}_s"] = score, wall
        rows.append(row)
        write_csv(out / "suite.csv", pd.DataFrame(rows))
        print(markdown_table(pd.DataFrame([row])), file=sys.stderr)
    table = suite_table(pd.DataFrame(rows), presets, args.recipe)
    text = (f"Holdout scores on each data set's fixed split (`shared/tabular/suite.py`): `run.py tabular` with its "
            f"default recipe ({args.recipe}, {args.folds}-fold CV, test predictions averaged over the folds) against "
            f"AutoGluon alone (one fit on all training rows), {available_cores()} CPU cores, "
            f"{time.strftime('%Y-%m-%d')}. Wall time in seconds beside each score; ↑ higher is better, ↓ lower. "
            f"The last columns are CVs on our folds: ours (and which run is the result: the blend, or its best member "
            f"where the blend did not beat it), the best member's, and the best of the libraries' defaults "
            f"(`*_defaults`, run after ours on the same folds).\n\n"
            + table + f"\nReproduce: `{args.reproduce}` (this run took {took(time.monotonic() - started)}"
            + (f" for {len(rows) - len(done)} of its {len(rows)} data sets, the others reused" if done else "")
            + ").\n")
    write_text(out / "suite.md", text)
    if args.readme:
        readme = Path(args.readme)
        body = readme.read_text(encoding="utf-8")
        if README_START not in body or README_END not in body:
            raise UserError(f"{readme} has no {README_START} ... {README_END} block for the table.")
        head, rest = body.split(README_START, 1)
        write_text(readme, head + README_START + "\n" + text + README_END + rest.split(README_END, 1)[1])
    print(text, file=sys.stderr)
    print(out)


def suite_table(df, presets, recipe: str) -> str:
    """One row per data set: our score and time, AutoGluon's at each preset, and how ours compares to the last
    (strongest) preset: the score difference in our favour and the share of its time we took."""
    from shared.compare import markdown_table
    from shared.metrics import get_metric

    out = []
    last = f"ag_{presets[-1][0]}_{presets[-1][1]}" if presets else None
    for r in df.to_dict(orient="records"):
        metric = get_metric(r["metric"])
        arrow = "↑" if metric.greater_is_better else "↓"
        row = {"data set": r["dataset"], "metric": f"{r['metric']} {arrow}", "rows": int(r["rows"]),
               "classes": "—" if r.get("classes") != r.get("classes") or not r.get("classes") else int(r["classes"]),
               f"ours ({recipe})": f"{r['ours']:.4f} ({r['ours_s']:.0f} s)"}
        for preset, seconds in presets:
            key = f"ag_{preset}_{seconds}"
            row[f"AutoGluon {preset} {seconds} s"] = f"{r[key]:.4f} ({r[key + '_s']:.0f} s)"
        if last:
            sign = 1 if metric.greater_is_better else -1
            row["ours − AutoGluon (better: +)"] = f"{sign * (r['ours'] - r[last]):+.4f}"
            row["time share"] = f"{r['ours_s'] / r[last + '_s']:.0%}"
        if isinstance(r.get("best_member"), str):  # the floor check: our CV beside the best member's and default's
            row["our CV (result)"] = f"{r['ours_cv']:.4f} ({r.get('ours_result', recipe)})"
            row["best member CV"] = r["best_member"]
            row["best library default CV"] = r["best_default"] or "—"
        out.append(row)
    import pandas as pd

    return markdown_table(pd.DataFrame(out))


SUITE_OPTIONS = ("datasets", "recipe", "time_limit", "test_share", "folds", "automl", "floor", "floor_skip")


def reproduce(args, parser) -> str:
    """The command that runs the same suite again: ``--suite`` and each option of ``SUITE_OPTIONS`` given a value
    other than its default (where the data go, the folder and --reuse change no figure)."""
    words = ["python", "scripts/bench_tabular.py", "--suite"]
    for dest in SUITE_OPTIONS:
        value = getattr(args, dest)
        if value == parser.get_default(dest):
            continue
        flag = "--" + dest.replace("_", "-")
        words += ["--no-floor"] if dest == "floor" else [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words)


def took(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 90 else f"{seconds:.0f} s"


def parser() -> ArgumentParser:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", nargs="?", help="a tabular competition with a demo (house_prices, "
                                                  "california_house_prices); none with --suite")
    p.add_argument("--suite", action="store_true", help="the public suite: every data set of shared/tabular/suite.py")
    p.add_argument("--datasets", help="--suite: only these data sets (comma-separated)")
    p.add_argument("--data-root", type=Path, default=Path("data/tabular-suite"),
                   help="--suite: where the data sets' folders are written once (default data/tabular-suite)")
    p.add_argument("--recipe", default="auto", help="--suite: the generic path's recipe (default: its default)")
    p.add_argument("--time-limit", type=SECONDS, help="--suite: the recipe's budget (default: its own)")
    p.add_argument("--test-share", type=share, default=0.25,
                   help="--suite: the share of each data set held out as its test set (default 0.25)")
    p.add_argument("--reuse", type=Path, help="--suite: continue the suite folder of an interrupted benchmark")
    p.add_argument("--floor-skip", default="", metavar="DATASET:RECIPE,...",
                   help="--suite: library defaults the floor check leaves out on a data set (e.g. "
                        "leaves:catboost_defaults: 1,000 rounds of 32 classes take ~10 minutes a fold on 2 cores)")
    p.add_argument("--no-floor", dest="floor", action="store_false",
                   help="--suite: skip the floor check (each library default's CV on the same folds, after ours)")
    p.add_argument("--readme", type=Path,
                   help="--suite: write the table into this file's suite block (docs/tabular.md)")
    p.add_argument("--generic", action="store_true", help="use the generic path (run.py tabular) on the demo files")
    p.add_argument("--size", help="demo size (default: full for house_prices, the competition's default otherwise)")
    p.add_argument("--seeds", type=wholes(0, 2**32 - 1, "a seed", most=100), help="demo split seeds (default: the demo's own seed, then 1 and 2)")
    p.add_argument("--folds", type=FOLDS, default=5)
    p.add_argument("--recipes", help="comma-separated (default: linear,gbm)", default="linear,gbm")
    p.add_argument("--blend", default="linear,gbm", help="recipes blended with --method weights ('' for none)")
    p.add_argument("--automl", default="medium_quality:60,best_quality:300", help="preset:seconds,... ('' for none)")
    p.add_argument("--out", type=Path, default=Path("runs"))
    return p


def bench(argv=None) -> None:
    p = parser()
    args = p.parse_args(argv)
    if args.suite:
        if args.competition:
            p.error("--suite runs the public data sets; leave out the competition")
        args.reproduce = reproduce(args, p)
        return suite(args)
    if not args.competition:
        p.error("name a competition, or pass --suite")
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
    seeds = args.seeds or [default_seed, 1, 2]
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
                members = run.metrics.get("members") or []  # an `auto` run: its best member on the holdout
                sign = 1 if run.metrics["greater_is_better"] else -1
                best = max(members, key=lambda m: sign * m["holdout"], default=None)
                rows.append({"split_seed": seed, "model": name, "cv": run.metrics["cv"],
                             "time_split": (run.metrics.get("time_split") or {}).get("score"),
                             "holdout": run.metrics["holdout"], "wall_s": time.time() - t0,
                             "best_member": None if best is None else f"{best['recipe']} {best['holdout']:.5f}",
                             "beats_best_member": None if best is None else
                             bool(sign * run.metrics["holdout"] > sign * best["holdout"])})
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
