"""Command-line plumbing shared by scripts/: the one-line error contract and common arguments."""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from shared.errors import UserError
from shared.runs import REPO_ROOT  # noqa: F401  (re-exported for scripts)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error contract: one ``error:`` line and exit 2, no usage block."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help)")


def main(entry: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run ``entry``; a UserError prints one line to stderr and exits 2, anything else exits 1."""
    try:
        entry(argv)
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected bug: full traceback, then a one-line summary
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("competition", help="competition folder name (house_prices, ...), Kaggle slug, or 'tabular'")
    p.add_argument("--data", type=Path, help="data folder (default: data/<competition>/)")
    p.add_argument("--folds", type=int, default=5, help="number of CV folds (default 5)")
    p.add_argument("--seed", type=int, default=42, help="seed for folds and models (default 42)")
    p.add_argument("--time-limit", type=float, help="seconds for recipes that honour a budget (automl)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="root of run directories (default runs/)")
    p.add_argument("--target", help="tabular: the target column")
    p.add_argument("--id", dest="id_col", help="tabular: the id column")
    p.add_argument("--metric", help="tabular: rmsle | rmse | accuracy | logloss | auc")


def resolve_spec(args):
    """(spec, data_dir) for a named competition or the generic tabular path."""
    from shared.tabular import generic

    if args.competition == "tabular":
        if args.data is None:
            raise UserError("the generic tabular path needs --data DIR holding train.csv, test.csv, sample_submission.csv.")
        return generic.spec_for(args.data, args.target, args.id_col, args.metric), args.data
    import competitions

    spec = competitions.get(args.competition)
    return spec, args.data or Path("data") / spec.name


def parse_folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--only-folds expects comma-separated fold numbers like 0,2 (got {text!r}).") from None


def spec_from_run_config(config: dict):
    """The spec a run was made with (named competition, or the generic path rebuilt from its config)."""
    from shared.tabular import generic

    if config["competition"] == "tabular":
        return generic.spec_for(Path(config["data_dir"]), config["target_col"], config["id_col"], config["metric"])
    import competitions

    return competitions.get(config["competition"])
