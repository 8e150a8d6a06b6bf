"""Command-line plumbing shared by scripts/: the one-line error contract and common arguments."""
from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from shared.errors import UserError
from shared.io import FULL, disk_full
from shared.runs import REPO_ROOT  # noqa: F401  (re-exported for scripts)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error contract: one ``error:`` line and exit 2, no usage block. Options declare
    no default to argparse (None: not given) and their defaults in ``later`` (``add_later``): the parsed arguments
    say which options were typed (``given``, their dests), then the defaults fill the others, here only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.later: dict = {}

    def add_later(self, *flags, default, **kwargs) -> argparse.Action:
        """An option whose ``default`` is filled in after parsing, so that typing it can be told from not."""
        action = self.add_argument(*flags, **kwargs)
        self.later[action.dest] = default
        return action

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        parsed.given = {a.dest for a in self._actions if a.option_strings and a.dest != "help"
                        and getattr(parsed, a.dest, None) not in (None, a.default)}
        for dest, default in self.later.items():
            if getattr(parsed, dest) is None:
                setattr(parsed, dest, default)
        return parsed

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
    except BrokenPipeError:  # `run.py ... --list | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:  # an unexpected bug: full traceback, then a one-line summary
        if isinstance(exc, OSError) and exc.errno in FULL:  # a full disk met by a library (AutoGluon saving models)
            print(f"error: {disk_full(Path(exc.filename).parent if exc.filename else Path.cwd())}", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def whole(low: int, high: int | None = None, what: str = "a whole number"):
    """An argparse type: a whole number in [low, high] (argparse names the flag in its one-line error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: {what} {bound}")
        return value
    return parse


def positive(unit: str):
    """An argparse type: a positive, finite number of ``unit`` (seconds, gigabytes)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {unit}, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text} is out of range: a positive, finite number of {unit}")
        return value
    return parse


seconds = positive("seconds")


SEED = whole(0, 2**32 - 1, "a seed")  # numpy's and LightGBM's seeds are 32-bit
FOLDS = whole(2, None, "a fold count")


def add_data_args(p: ArgumentParser) -> None:
    p.add_argument("competition", help="competition folder name (house_prices, ...), Kaggle slug, or 'tabular'")
    p.add_argument("--data", type=Path, help="data folder (default: data/<competition>/)")
    p.add_later("--folds", type=FOLDS, default=5, help="number of CV folds (default 5)")
    p.add_later("--seed", type=SEED, default=42, help="seed for folds and models (default 42, 0 to 2**32-1)")
    p.add_argument("--time-limit", type=seconds, help="seconds for recipes that honour a budget (automl)")
    p.add_later("--out", type=Path, default=Path("runs"), help="root of run directories (default runs/)")
    p.add_argument("--target", help="tabular: the target column")
    p.add_argument("--id", dest="id_col", help="tabular: the id column")
    p.add_argument("--metric", help="tabular: rmsle | rmse | accuracy | logloss | auc")


def at_once(text: str):
    """An argparse type for ``--parallel``: ``auto`` or a whole number from 1."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected how many to run at a time (a whole number from 1) or auto, got "
                                         f"{text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range: run at least 1 at a time (or auto)")
    return value


gigabytes = positive("gigabytes")


def add_parallel_args(p: argparse.ArgumentParser, what: str = "folds") -> None:
    """``--parallel``, ``--ray-address``, ``--threads``, ``--memory``: ``what`` (a run's folds, compare's recipes)
    side by side as Ray tasks (``shared.parallel``); how a run runs, never what it computes."""
    p.add_argument("--parallel", type=at_once, metavar="N|auto",
                   help=f"run N {what} at a time as Ray tasks, on a local Ray or the cluster at --ray-address (auto: "
                        "one per GPU where the recipe trains on GPUs, else one per 2 cores); default: one after "
                        "another in this process")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="a running Ray cluster: HOST:PORT of its head, ray://HOST:10001 or auto (default: "
                        "$RAY_ADDRESS with --parallel, else a local Ray for the run); the repository, data and --out "
                        "must be at the same paths on every node")
    p.add_argument("--threads", type=whole(1, None, "a thread count"),
                   help=f"CPU threads per {what[:-1]} (default: all cores, shared evenly by those side by side); "
                        "torch recipes on CPU give the same floats for the same --threads")
    p.add_argument("--memory", type=gigabytes, metavar="GB",
                   help=f"memory each {what[:-1]} declares to Ray, so that no node takes more than it holds "
                        "(default: none declared)")


def parallel_settings(args: argparse.Namespace):
    """The ``shared.parallel.Settings`` of ``add_parallel_args``'s flags."""
    from shared.parallel import Settings

    return Settings(args.parallel, args.threads, args.memory, args.ray_address)


def parse_folds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--only-folds expects comma-separated fold numbers like 0,2 (got {text!r}).") from None
