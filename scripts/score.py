#!/usr/bin/env python
"""Score a submission against a solution file (the local private leaderboard).

    python scripts/score.py SUBMISSION --solution FILE (--competition NAME | --metric M [--id COL]) [--sample FILE]
                            [--positive-class LABEL]

Checked as Kaggle does: ids are compared as text, each once; every solution id needs a row, and no row may
have an id the sample submission lacks (with --competition, the sample beside the solution file is used when
it is there; otherwise the submission must hold exactly the solution's ids). Label submissions (accuracy on
one column, like CIFAR-10's class names) are scored by exact label match.

Metrics (--metric): regression rmse, rmsle, mae, mape, smape (Kaggle's, in percent), r2; classes accuracy, f1
(binary F1 of the positive class), f1_macro, f1_micro, mcc, qwk (quadratic weighted kappa of whole-number
ratings) on labels; logloss (rows rescaled to sum 1, then clipped to [1e-15, 1 - 1e-15], as Kaggle does), auc on
probabilities; and what a competition registers (gini, map). A binary target's probability column (and F1's
labels) is of the positive class: by default the last of the solution's sorted labels (1 of 0/1, 'yes' of
no/yes); --positive-class LABEL chooses it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main


def score(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submission", type=Path)
    p.add_argument("--solution", type=Path, required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--competition")
    group.add_argument("--metric")
    p.add_argument("--id", dest="id_col", help="id column (default: the competition's, else the solution's first)")
    p.add_argument("--sample", type=Path, help="sample submission whose ids the file must hold exactly "
                                               "(default: the competition's, beside the solution file)")
    p.add_argument("--positive-class", metavar="LABEL",
                   help="binary target: the label that the probability column (or F1) is of, as the solution writes "
                        "it (default: the last of the sorted labels, 1 of 0/1)")
    args = p.parse_args(argv)
    from shared.errors import UserError
    from shared.tables import TableOutputs, score_table_file

    positive = {} if args.positive_class is None else {"positive": args.positive_class}
    if args.competition:
        import competitions

        spec = competitions.get(args.competition)  # what its submissions are decides how they are scored
        if positive and spec.outputs.kind != TableOutputs.kind:
            raise UserError(f"--positive-class is for a binary target; {spec.name}'s submissions are "
                            f"{spec.outputs.kind}: drop it.")
        print(spec.outputs.score_file(args.submission, args.solution, args.sample, args.id_col, **positive))
        return
    import competitions

    print(score_table_file(args.submission, args.solution, competitions.metric(args.metric), args.id_col, args.sample,
                           **positive))


if __name__ == "__main__":
    sys.exit(main(score))
