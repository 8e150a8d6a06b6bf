#!/usr/bin/env python
"""Adversarial validation: how well can a classifier tell train rows from test rows? Writes
runs/<competition>/adversarial-<timestamp>/ with report.json (AUC, folds, top shifted features),
features.csv, adversarial.png and, with --weights, weights.csv (per-training-row test-likeness weights
for `run.py ... --set sample_weight=PATH`). The last line printed is that directory.

    python scripts/adversarial.py california_house_prices [--drop "Col A,Col B"] [--keep-time] [--weights]
    python scripts/adversarial.py tabular --data DIR --target COL --id COL     # -> runs/<data folder name>/adversarial-<time>/
"""
from __future__ import annotations

import argparse
import sys

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, add_data_args, add_name_arg, main, refuse_typed, whole


def adversarial(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_args(p)
    p.add_argument("--drop", default="", help="comma-separated columns to leave out (the id always is)")
    p.add_argument("--keep-time", action="store_true",
                   help="keep the competition's time column (left out by default: it defines a temporal split)")
    p.add_argument("--weights", action="store_true", help="also write weights.csv (id, weight) for training rows")
    p.add_argument("--top", type=whole(1, 10_000, "a count"), default=10, help="how many shifted features to print (default 10)")
    add_name_arg(p, "the check's folder is adversarial-<time>-NAME")
    args = p.parse_args(argv)
    import competitions
    from shared import adversarial as adv
    from shared.io import write_csv, write_json
    from shared.plots import adversarial_plot
    from shared.runs import new_run_dir

    refuse_typed(args, {"time_limit": "--time-limit"}, "is a training budget; the adversarial check has none "
                                                         "(it fits a small classifier per fold): drop it.")
    if args.competition == "tabular" and not args.metric:  # train-vs-test AUC scores no prediction of the target:
        args.metric = "accuracy"  # any classification metric reads the target as text, which only leaves the columns
    spec, data_dir = competitions.for_arguments(args)
    data = spec.load(data_dir)
    drop = [c.strip() for c in args.drop.split(",") if c.strip()]
    report = adv.for_spec(spec, data, args.seed, drop=drop, keep_time=args.keep_time, n_folds=args.folds)
    out = new_run_dir(args.out, spec.folder, "adversarial", args.name or "")
    top = report.features.head(args.top)
    write_json(out / "report.json", {
        "competition": spec.name, "auc": report.auc, "fold_aucs": report.fold_aucs, "dropped": report.dropped,
        "train_rows": len(data.train), "test_rows": len(data.test), "seed": args.seed, "folds": args.folds,
        "top_features": top.to_dict(orient="records")})
    write_csv(out / "features.csv", report.features)
    adversarial_plot(out / "adversarial.png", report, spec.name)
    if args.weights:
        weights = report.weights(len(data.train), len(data.test))
        write_csv(out / "weights.csv", data.train[[spec.id_col]].assign(weight=weights))
    verdict = ("no noticeable shift" if report.auc < 0.6 else "a mild shift" if report.auc < 0.75
               else "a strong shift")
    print(f"adversarial AUC {report.auc:.3f} ({verdict}); left out: {', '.join(report.dropped) or 'nothing'}; "
          f"id column {spec.id_col!r} always", file=sys.stderr)
    print(top.to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(adversarial))
