#!/usr/bin/env python
"""Download a competition's files from Kaggle into data/<competition>/, unpack them (.zip and .7z) and check
that every file of the competition's layout is there. Needs Kaggle credentials and the accepted rules. stdout is
the data folder alone (the download's progress goes to stderr), so `DATA=$(python scripts/download.py NAME)` works.

    python scripts/download.py house_prices [--out DIR] [--force]
    python scripts/download.py cifar-10        # a Kaggle slug works too
    python scripts/download.py cifar10 --check data/cifar10   # only check a folder you filled yourself
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import DEFAULT_FOLDS, FOLDS, ArgumentParser, main


def download(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", help="competition folder name or Kaggle slug")
    p.add_argument("--out", type=Path, help="data folder (default data/<competition>/)")
    p.add_argument("--force", action="store_true",
                   help="write into a data folder that holds files: those of the download's names (and an earlier "
                        "download's) are replaced, the others kept")
    p.add_argument("--check", type=Path, metavar="DIR",
                   help="download nothing: check DIR as a run reads it (the layout, every file, column and id, and "
                        "every image decoded)")
    p.add_argument("--folds", type=FOLDS, default=DEFAULT_FOLDS,
                   help=f"with --check: the folds a run will make (default {DEFAULT_FOLDS}, as run.py's)")
    args = p.parse_args(argv)
    import competitions
    from shared import kaggle_io

    spec = competitions.get(args.competition)
    if args.check:
        kaggle_io.check_layout(spec, args.check, n_folds=args.folds)
        print(f"{args.check} has the {spec.title or spec.name} layout: {', '.join(spec.layout())}", file=sys.stderr)
        print(args.check)
        return
    out = kaggle_io.download(spec, args.out or Path("data") / spec.name, force=args.force)
    print(f"{spec.title or spec.name} downloaded and checked: {', '.join(spec.layout())}", file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(download))
