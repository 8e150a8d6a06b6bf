#!/usr/bin/env python
"""Score a submission against a solution file (the local private leaderboard).

    python scripts/score.py SUBMISSION --solution FILE (--competition NAME | --metric M [--id COL])
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main
from shared.errors import UserError


def score(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submission", type=Path)
    p.add_argument("--solution", type=Path, required=True)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--competition")
    group.add_argument("--metric")
    p.add_argument("--id", dest="id_col", help="id column (default: the competition's, else the first column)")
    args = p.parse_args(argv)
    from shared import submission
    from shared.io import read_csv
    from shared.metrics import get_metric

    if args.competition:
        import competitions

        spec = competitions.get(args.competition)
        if spec.metric.name == "map":  # boxes: a zip holding answer.json (or the json) against a COCO json
            from shared.detection import submission as boxes
            from shared.detection.coco import evaluate, read_coco

            truth = read_coco(args.solution, getattr(spec, "categories", None))
            detections = boxes.read(args.submission)
            boxes.check(detections, truth.images, truth.categories,
                        {i: (w, h) for i, w, h in zip(truth.images["id"], truth.images["width"], truth.images["height"])},
                        where=str(args.submission))
            result = evaluate(truth, detections)
            per_class = ", ".join(f"{k} {'-' if v is None else f'{v:.4f}'}" for k, v in result["per_class_AP"].items())
            print(f"map {result['mAP']:.6f} (mAP@[.5:.95]); AP50 {result['AP50']:.6f}; AP75 {result['AP75']:.6f}; "
                  f"per class: {per_class}")
            return
        metric, id_col = spec.metric, args.id_col or spec.id_col
    else:
        metric = get_metric(args.metric)
        id_col = args.id_col or read_csv(args.solution, what="solution").columns[0]
    sub = read_csv(args.submission, [id_col], "submission")
    sol = read_csv(args.solution, [id_col], "solution")
    submission.validate(sub, sub, id_col, metric, name=str(args.submission))  # empty, inf, non-positive...
    try:
        value = submission.score(sub, sol, id_col, metric)
    except ValueError as exc:
        raise UserError(f"cannot score {args.submission}: {exc}") from exc
    print(f"{metric.name} {value:.6f}")


if __name__ == "__main__":
    sys.exit(main(score))
