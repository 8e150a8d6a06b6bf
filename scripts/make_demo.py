#!/usr/bin/env python
"""Build a competition's embedded demo data in its exact Kaggle layout (plus a hidden solution file).
The folder must be new, empty, or an earlier demo (which is replaced; files of your own there are kept);
a folder holding other files, such as the real data, only with --force.

    python scripts/make_demo.py house_prices [--size tiny|small|medium|full] [--out DIR] [--force]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import SEED, ArgumentParser, main
from shared.errors import UserError


def make_demo(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition")
    p.add_argument("--size", help="demo size: tiny (image competitions and California; for tests), small, medium "
                                  "or full (default: the competition's, sized to run in about a minute on 2 cores)")
    p.add_argument("--out", type=Path, help="output folder (default data/<competition>/)")
    p.add_argument("--seed", type=SEED, help="generator / split seed (default: the competition's)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder holding other files (those of the demo's names are replaced)")
    args = p.parse_args(argv)
    import competitions
    from shared.folders import write_demo

    spec = competitions.get(args.competition)
    if spec.make_demo is None:
        raise UserError(f"{spec.name} has no demo builder yet.")
    sizes = getattr(sys.modules.get(spec.make_demo.__module__), "SIZES", None)
    if args.size is not None and sizes is not None and args.size not in sizes:
        raise UserError(f"--size {args.size}: {spec.name}'s demo comes in {list(sizes)}.")
    options = {k: v for k, v in (("size", args.size), ("seed", args.seed)) if v is not None}
    out = write_demo(spec, args.out or Path("data") / spec.name, force=args.force, **options)
    print(f"{spec.name} demo ({args.size or 'default size'}) written to {out}", file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(make_demo))
