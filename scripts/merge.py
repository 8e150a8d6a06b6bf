#!/usr/bin/env python
"""Join partial runs of one recipe (made with ``run.py ... --only-folds``, e.g. on several machines or
Kaggle kernels) into one complete run directory (printed last), equal to a single full run.

    python scripts/merge.py RUN_DIR RUN_DIR... [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, add_name_arg, main


def merge(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="partial run directories of one recipe")
    p.add_argument("--out", type=Path, default=Path("runs"), help="root of run directories (default runs/)")
    p.add_argument("--data", type=Path, help="data folder, if it moved since the runs were made")
    add_name_arg(p, "the merged run's folder is <recipe>-merged-<time>-NAME (default: what the first run's folder "
                    "name says after its time)")
    args = p.parse_args(argv)
    import competitions

    print(competitions.of_runs(args.runs).outputs.merge(args.runs, args.out, args.data, label=args.name))


if __name__ == "__main__":
    sys.exit(main(merge))
