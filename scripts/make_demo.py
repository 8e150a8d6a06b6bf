#!/usr/bin/env python
"""Build a competition's embedded demo data in its exact Kaggle layout (plus a hidden solution file).
The folder must be new, empty, or an earlier demo (which is replaced; files of your own there are kept);
a folder holding other files, such as the real data, only with --force.

    python scripts/make_demo.py house_prices [--size tiny|small|medium|full] [--out DIR] [--force]
    python scripts/make_demo.py classify_leaves --size digits --out data/digits   # real images, the leaves layout
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import SEED, ArgumentParser, main
from shared.errors import UserError

# Each competition's default demo, and what its default recipe costs there: 5-fold CV (`run.py COMPETITION`) on
# a 2-core CPU with nothing else running, measured on the date given. Other load slows every figure, several times
# over on a busy machine. tests/test_readme.py checks that every competition has a line, with its demo's default.
DEFAULT_DEMOS = {
    "house_prices": ("full", "the real 1,460 + 1,459 houses", "gbm", "about 5 s (2026-12-06)"),
    "california_house_prices": ("small", "3,000 + 2,000 listings", "gbm", "about 20 s (2026-11-25)"),
    "contraception": ("small", "24 + 8 districts of the survey", "gbm", "a few seconds (2026-12-06)"),
    "cifar10": ("small", "1,000 + 400 images", "fast", "about 12.5 min (2026-11-25)"),
    "classify_leaves": ("small", "12 species, 480 + 240 images at 64 px", "finetune",
                        "about 2.3 min (2026-12-07; EfficientNet-Lite0 from ImageNet weights, 5 folds)"),
    "cowboy_outfits": ("small", "300 + 60 + 60 images at 320 px", "mobile",
                       "about 56 min for --folds 3, with tests running beside it (2026-11-25)"),
}


def default_demos() -> str:
    """The --help table of DEFAULT_DEMOS."""
    lines = [f"  {name:<24} {size}: {what}\n  {'':<24} {recipe}: {cost}"
             for name, (size, what, recipe, cost) in DEFAULT_DEMOS.items()]
    return ("each competition's default demo, and its default recipe's 5-fold run there on a 2-core CPU with "
            "nothing else\nrunning (date measured; other load slows it, several times over on a busy machine):\n"
            + "\n".join(lines) + "\nquicker: --size tiny (where a competition has it; for tests), or the shorter "
            "settings in each competition's README.")


def make_demo(argv=None) -> None:
    p = ArgumentParser(description=__doc__, epilog=default_demos(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition")
    p.add_argument("--size", help="demo size: tiny (for tests; all but house_prices), small, medium (not "
                                  "contraception) or full (the real counts); classify_leaves also digits (real handwritten "
                                  "digits, 1,200 + 597 at 32 px); default: the competition's (below)")
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
    size, _, recipe, cost = DEFAULT_DEMOS.get(spec.name, (None, None, None, None))
    cost = f"; on an idle 2-core CPU `run.py {spec.name}` ({recipe}, 5 folds) takes {cost}" if cost else ""
    print(f"{spec.name} demo ({args.size or size or 'default size'}) written to {out}"
          + (cost if args.size in (None, size) else ""), file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(make_demo))
