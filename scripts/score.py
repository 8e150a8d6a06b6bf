#!/usr/bin/env python
"""Score a submission against a solution file (the local private leaderboard).

    python scripts/score.py SUBMISSION --solution FILE (--competition NAME | --metric M [--id COL]) [--sample FILE]

Checked as Kaggle does: ids are compared as text, each once; every solution id needs a row, and no row may
have an id the sample submission lacks (with --competition, the sample beside the solution file is used when
it is there; otherwise the submission must hold exactly the solution's ids). Label submissions (accuracy on
one column, like CIFAR-10's class names) are scored by exact label match.
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
    args = p.parse_args(argv)
    from shared.tables import score_table_file

    if args.competition:
        import competitions

        spec = competitions.get(args.competition)  # what its submissions are decides how they are scored
        print(spec.outputs.score_file(args.submission, args.solution, args.sample, args.id_col))
        return
    import competitions

    print(score_table_file(args.submission, args.solution, competitions.metric(args.metric), args.id_col, args.sample))


if __name__ == "__main__":
    sys.exit(main(score))
