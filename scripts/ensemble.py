#!/usr/bin/env python
"""Blend runs by their out-of-fold predictions into a new run directory (printed last).

    python scripts/ensemble.py RUN_DIR RUN_DIR... [--method mean|rank|weights|hill|stack|best] [--out DIR]

Weights and level-2 models are fitted inside the saved folds, so the reported CV is honest. The members'
CV, holdout and weight are printed beside the blend's (and kept in members.md), with a warning when the blend
does not beat its best member. A run passed twice, or two folders with identical predictions, is refused.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, add_name_arg, main
from shared.ensemble import METHODS


def ensemble(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories of one competition, same folds")
    p.add_argument("--method", choices=METHODS, default="weights",
                   help="mean, rank mean, non-negative weights (SLSQP), hill-climbing (greedy selection), stack "
                        "(a level-2 ridge / logistic regression) or best (whichever of hill and stack an "
                        "inner nested CV on the blend's own rows scores best; members.md names it)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="root of run directories (default runs/)")
    p.add_argument("--data", type=Path, help="data folder, if it moved since the runs were made")
    add_name_arg(p, "the blend's folder is ensemble-<method>-<time>-NAME")
    args = p.parse_args(argv)
    import competitions

    spec = competitions.of_runs(args.runs)  # what its predictions are decides how they blend (boxes: WBF)
    print(spec.outputs.ensemble(args.runs, args.method, args.out, args.data, label=args.name))


if __name__ == "__main__":
    sys.exit(main(ensemble))
