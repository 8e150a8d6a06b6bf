#!/usr/bin/env python
"""Validate a submission against the competition's data, then submit it through the Kaggle API.

    python scripts/submit.py house_prices runs/house_prices/gbm-20260101-120000/submission.csv -m "gbm 5-fold"
    python scripts/submit.py cowboy_outfits runs/cowboy_outfits/mobile-.../submission.zip   # validated; says where
    python scripts/submit.py house_prices FILE --dry-run                                    # validate only
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main
from shared.errors import UserError


def submit(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", help="competition folder name or Kaggle slug")
    p.add_argument("file", type=Path, help="submission.csv (or submission.zip for CowBoy Outfits)")
    p.add_argument("-m", "--message", default="", help="the submission's description on Kaggle")
    p.add_argument("--data", type=Path, help="data folder to validate against (default data/<competition>/)")
    p.add_argument("--predict", choices=["test", "valid"], default="test",
                   help="detection: the image list the file answers (default test)")
    p.add_argument("--dry-run", action="store_true", help="validate only; send nothing")
    args = p.parse_args(argv)
    import competitions
    from shared import kaggle_io
    from shared.submission import require_file

    spec = competitions.get(args.competition)
    data_dir = args.data or Path("data") / spec.name
    if not data_dir.is_dir():
        raise UserError(f"data folder {data_dir} does not exist; the submission is checked against the competition's "
                        f"files: run `python scripts/download.py {spec.name}` or pass --data DIR.")
    require_file(args.file, "the submission", spec.outputs.submission_files, "pass the submission file a run wrote (in its run directory)")
    kaggle_io.check_submission(spec, args.file, data_dir, predict=args.predict)
    if args.dry_run:
        print(f"{args.file} is a valid {spec.name} submission (not sent: --dry-run).")
        return
    if not args.message and not spec.submit_note:
        raise UserError("-m MESSAGE is required: Kaggle lists each submission with its description.")
    print(kaggle_io.submit(spec, args.file, args.message))


if __name__ == "__main__":
    sys.exit(main(submit))
