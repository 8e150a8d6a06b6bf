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
import warnings
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
    p.add_argument("--id", dest="id_col", help="id column (default: the competition's, else the solution's first)")
    p.add_argument("--sample", type=Path, help="sample submission whose ids the file must hold exactly "
                                               "(default: the competition's, beside the solution file)")
    args = p.parse_args(argv)
    from shared import submission
    from shared.metrics import get_metric

    if args.competition:
        import competitions

        spec = competitions.get(args.competition)
        if spec.metric.name == "map":  # boxes: a zip holding answer.json (or the json) against a COCO json
            score_boxes(spec, args.submission, args.solution)
            return
        metric, id_col = spec.metric, args.id_col or spec.id_col
        beside = args.solution.parent / spec.sample_submission_file
        sample = args.sample or (beside if beside.is_file() else None)
    else:
        metric, id_col, sample = get_metric(args.metric), args.id_col, args.sample
    expected = None if sample else (f"the solution {args.solution} (if it lists only the scored ids, pass the "
                                    "sample submission with --sample)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = submission.score_files(args.submission, args.solution, id_col, metric, sample, expected)
        except ValueError as exc:
            raise UserError(f"cannot score {args.submission}: {exc}") from exc
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(f"{metric.name} {value:.6f}")


def score_boxes(spec, answer: Path, solution: Path) -> None:
    from shared.detection import submission as boxes
    from shared.detection.coco import evaluate, read_coco
    from shared.submission import require_file

    require_file(solution, "the solution", ("solution_test.json", "solution_valid.json"),
                 "the demos write solution_test.json and solution_valid.json in the data folder")
    truth = read_coco(solution, getattr(spec, "categories", None))
    detections = boxes.read(answer)
    boxes.check(detections, truth.images, truth.categories,
                {i: (w, h) for i, w, h in zip(truth.images["id"], truth.images["width"], truth.images["height"])},
                where=str(answer))
    result = evaluate(truth, detections)
    per_class = ", ".join(f"{k} {'-' if v is None else f'{v:.4f}'}" for k, v in result["per_class_AP"].items())
    print(f"map {result['mAP']:.6f} (mAP@[.5:.95]); AP50 {result['AP50']:.6f}; AP75 {result['AP75']:.6f}; "
          f"per class: {per_class}")


if __name__ == "__main__":
    sys.exit(main(score))
