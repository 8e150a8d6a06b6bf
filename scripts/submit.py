#!/usr/bin/env python
"""Validate a submission against the competition's data, send it through the Kaggle API, and record it in the
competition's submission history, runs/<competition>/submissions.csv (time, run, recipe, CV, local holdout,
message, the file's sha256, Kaggle's reference; --fetch later adds the public and private scores).

    python scripts/submit.py house_prices runs/house_prices/gbm-20260101-120000/submission.csv -m "gbm 5-fold"
    python scripts/submit.py house_prices --fetch                                           # scores so far
    python scripts/submit.py cowboy_outfits runs/cowboy_outfits/mobile-.../submission.zip   # validated; says where
    python scripts/submit.py house_prices FILE --dry-run                                    # validate only

`--fetch` reads the competition's submissions on Kaggle, fills in the status and scores of the rows it
recorded (by Kaggle's reference, else by file name, message and time), adds those made elsewhere (the web page)
as rows without a run, and prints the latest. `compare.py COMPETITION --from runs/` shows the public score
beside each submitted run's CV and draws CV against the public leaderboard.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main, refuse_typed
from shared.errors import UserError


def submit(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("competition", help="competition folder name or Kaggle slug")
    p.add_argument("file", type=Path, nargs="?",
                   help="submission.csv (or submission.zip for CowBoy Outfits); none with --fetch")
    p.add_argument("-m", "--message", default="", help="the submission's description on Kaggle")
    p.add_argument("--data", type=Path, help="data folder to validate against (default data/<competition>/)")
    p.add_argument("--predict", choices=["test", "valid"], default="test",
                   help="detection: the image list the file answers (default test)")
    p.add_argument("--dry-run", action="store_true", help="validate only; send and record nothing")
    p.add_argument("--fetch", action="store_true",
                   help="fill the history's public and private scores in from Kaggle (and add the submissions "
                        "made elsewhere); sends nothing")
    p.add_argument("--out", type=Path, default=Path("runs"),
                   help="root of run directories, where <competition>/submissions.csv is kept (default runs/)")
    args = p.parse_args(argv)
    import competitions
    from shared import history

    spec = competitions.get(args.competition)
    path = history.path_for(args.out, spec.name)
    if args.fetch:
        return fetch(args, spec, path)
    if args.file is None:
        raise UserError("pass the submission file to send (e.g. runs/<competition>/<run>/submission.csv), or "
                        "--fetch to fill in the scores of earlier submissions.")
    send(args, spec, path)


def send(args, spec, path: Path) -> None:
    from shared import history, kaggle_io
    from shared.io import file_sha256
    from shared.submission import require_file

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
    if spec.submit_note:  # scored off Kaggle: nothing is sent, nothing recorded
        print(kaggle_io.submit(spec, args.file, args.message))
        return
    past = history.read(path)  # a broken history is refused before anything is sent
    history.run_of(args.file)  # and so is a broken run folder around the file
    sha256 = file_sha256(args.file)
    for _, row in history.earlier(past, sha256).iterrows():
        print(f"note: the same file was sent on {row['submitted_utc']} UTC ({row['message']!r}, public score "
              f"{row['public_score'] or 'not fetched'}); sending it again.", file=sys.stderr)
    client = kaggle_io.connect()
    print(kaggle_io.submit(spec, args.file, args.message, client=client))
    try:
        listed = kaggle_io.submissions(spec, client=client)
    except UserError as exc:  # sent all the same: recorded without Kaggle's reference, which --fetch finds later
        print(f"note: {exc}", file=sys.stderr)
        listed = []
    row = history.new_row(args.file, args.message, listed, sha256)
    history.append(path, past, row)
    print(f"recorded in {path} (Kaggle ref {row['kaggle_ref'] or 'not yet known'}); its public score: "
          f"`python scripts/submit.py {spec.name} --fetch` in a minute or two.")


LAST = 20  # --fetch prints the latest submissions, this many at most


def fetch(args, spec, path: Path) -> None:
    from shared import history, kaggle_io
    from shared.compare import text_table

    if args.file is not None:
        raise UserError(f"--fetch sends nothing: leave out the file {args.file} (or send it without --fetch).")
    refuse_typed(args, {"message": "-m", "dry_run": "--dry-run", "data": "--data",
                        "predict": "--predict"},
                 "is for sending a file; --fetch only reads the scores of earlier submissions from Kaggle.")
    if spec.submit_note or not spec.on_kaggle:
        raise UserError(f"{spec.name} is not scored on Kaggle, so there are no public scores to fetch.")
    past = history.read(path)
    frame, updated, added = history.fill_in(past, kaggle_io.submissions(spec))
    if updated or added or not path.exists():
        history.write(path, frame)
    print(f"{path}: {updated} submission(s) updated, {added} made elsewhere added; {len(frame)} in all.",
          file=sys.stderr)
    if len(frame) > LAST:
        print(f"(the last {LAST}; all {len(frame)} are in the file)", file=sys.stderr)
    print(text_table(history.latest(frame, LAST)) if len(frame) else "no submissions on Kaggle yet.", file=sys.stderr)
    print(path)


if __name__ == "__main__":
    sys.exit(main(submit))
