"""Command-line plumbing shared by scripts/: the one-line error contract and common arguments."""
from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

from shared.config import MAX_SECONDS
from shared.cv import MAX_FOLDS
from shared.errors import UserError, show
from shared.io import FULL, disk_full
from shared.runs import MAX_NAME, REPO_ROOT  # noqa: F401  (REPO_ROOT: re-exported for scripts)


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


def _one_line(message, category, filename, lineno, line=None) -> str:
    """A warning as one ``warning:`` line (Python's own shows the file, the line and the source line under it)."""
    origin = "" if category is UserWarning else f" ({category.__name__})"
    return f"warning: {' '.join(str(message).split())}{origin}\n"


def main(entry: Callable[[list[str] | None], object], argv: list[str] | None = None) -> int:
    """Run ``entry``; a UserError prints one line to stderr and exits 2, anything else exits 1."""
    try:
        shown, warnings.formatwarning = warnings.formatwarning, _one_line
        try:
            entry(argv)
        finally:
            warnings.formatwarning = shown
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
        if out_of_memory(exc):  # settings within their bounds can still need more than this machine holds
            print(f"error: out of memory ({' '.join(str(exc).split())[:200]}); lower the settings that size the work "
                  "(img_size, batch_size, hidden, --parallel) or free memory. A run keeps its finished folds: "
                  "--resume it once memory allows.", file=sys.stderr)
            return 2
        traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


OUT_OF_MEMORY = ("out of memory", "not enough memory", "insufficient memory", "failed to allocate",
                 "unable to allocate")  # torch (CPU, CUDA), OpenCV and numpy words for a failed allocation


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed (Python's MemoryError, or a library's error saying so)."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or any(words in text for words in OUT_OF_MEMORY)


def refuse_typed(args: argparse.Namespace, flags: dict[str, str], why: str) -> None:
    """Refuse the first of ``flags`` ({dest: "--flag"}) typed on this command line (``args.given``): a flag that
    would do nothing here is an error naming it (``why``: what it is for, what to do), never silently ignored."""
    typed = [(flag, getattr(args, dest)) for dest, flag in flags.items() if dest in getattr(args, "given", ())]
    if typed:
        flag, value = typed[0]
        value = "" if isinstance(value, bool) else " ".join(map(str, value)) if isinstance(value, list) else value
        raise UserError(f"{flag}{value and ' ' + show(str(value), setting=True, quote=False, limit=60)} {why}")


def whole(low: int, high: int, what: str = "a whole number"):
    """An argparse type: a whole number in [low, high] (argparse names the flag in its one-line error). Every
    numeric flag has both bounds (``high``: the most that real use asks for), kept on the parser as ``.high``
    for the test that checks every script's flags."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {show(text, limit=60)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{show(value, limit=60)} is out of range: {what} from {low} to {high}")
        return value
    parse.high = high
    return parse


def positive(unit: str, high: float):
    """An argparse type: a positive number of ``unit`` (seconds, gigabytes) up to ``high``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {unit}, got {show(text, limit=60)}") from None
        if not 0 < value <= high:
            raise argparse.ArgumentTypeError(f"{show(text, setting=True, quote=False, limit=60)} is out of range: a "
                                             f"positive number of {unit}, "
                                             f"at most {high}")
        return value
    parse.high = high
    return parse


def share(text: str) -> float:
    """An argparse type: a share strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {show(text, limit=60)}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{show(text, setting=True, quote=False, limit=60)} is out of range: a share "
                                         "between 0 and 1")
    return value


share.high = 1


def wholes(low: int, high: int, what: str, most: int):
    """An argparse type: 1 to ``most`` comma-separated whole numbers in [low, high], each named once
    (``--only-folds 0,2``)."""
    item = whole(low, high, what)

    def parse(text: str) -> list[int]:
        items = [t.strip() for t in text.split(",")]
        if not all(items) or len(items) > most:
            raise argparse.ArgumentTypeError(f"expected 1 to {most} comma-separated whole numbers like 0,2, got "
                                             f"{show(text, limit=60)}")
        values = [item(t) for t in items]
        twice = [v for v in values if values.count(v) > 1]
        if twice:
            raise argparse.ArgumentTypeError(f"{show(text, limit=60)} names {twice[0]} twice; name each once")
        return values
    parse.high = high
    return parse


seconds = positive("seconds", MAX_SECONDS)
SEED = whole(0, 2**32 - 1, "a seed")  # numpy's and LightGBM's seeds are 32-bit
FOLDS = whole(2, MAX_FOLDS, "a fold count")
FOLD_NUMBERS = wholes(0, MAX_FOLDS - 1, "a fold number", most=MAX_FOLDS)  # --only-folds
DEFAULT_FOLDS = 5  # run.py's --folds, and the folds download.py --check checks the data for


def add_data_args(p: ArgumentParser) -> None:
    p.add_argument("competition", help="competition folder name (house_prices, ...), Kaggle slug, or 'tabular'")
    p.add_argument("--data", type=Path, help="data folder (default: data/<competition>/)")
    p.add_later("--folds", type=FOLDS, default=DEFAULT_FOLDS,
                help=f"number of CV folds (default {DEFAULT_FOLDS}, at most {MAX_FOLDS})")
    p.add_later("--seed", type=SEED, default=42, help="seed for folds and models (default 42, 0 to 2**32-1)")
    p.add_argument("--time-limit", type=seconds, help="seconds for recipes that honour a budget (automl; at most "
                                                          f"{MAX_SECONDS}, a month)")
    p.add_later("--out", type=Path, default=Path("runs"), help="root of run directories (default runs/)")
    p.add_argument("--target", help="tabular: the target column")
    p.add_argument("--id", dest="id_col", help="tabular: the id column")
    p.add_argument("--metric", help="tabular: rmsle | rmse | mae | mape | smape | r2 | accuracy | f1 | f1_macro | "
                                    "f1_micro | mcc | qwk | logloss | auc (docs/cli.md#metrics)")
    p.add_argument("--sample", type=Path, metavar="FILE",
                   help="the sample submission (default: a named competition's own file; tabular: the data folder's "
                        "one *submission*.csv, e.g. Titanic's gender_submission.csv)")


def run_name(text: str) -> str:
    """An argparse type for ``--name``: what a run's folder name says of it (``shared.runs.check_name``)."""
    from shared.runs import check_name

    try:
        return check_name(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--name ")) from None


run_name.high = MAX_NAME  # characters (the bound the flag tests check)


NAME_RULE = f"1 to {MAX_NAME} letters, digits, . _ - ="


def add_name_arg(p: argparse.ArgumentParser,
                 about: str = "the run folder's name says it: <recipe>-<time>-NAME (under auto, each member's and the "
                              "blend's); default: the --set settings that differ from the recipe's defaults") -> None:
    """``--name NAME``: a word the new folder's name carries; ``about``: where it goes."""
    p.add_argument("--name", type=run_name, metavar="NAME", help=f"{NAME_RULE}; {about}")


MAX_AT_ONCE = 1024  # fits side by side at most (--parallel), and CPU threads per fit (--threads)


def at_once(text: str):
    """An argparse type for ``--parallel``: ``auto`` or a whole number from 1 to ``MAX_AT_ONCE``."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected how many to run at a time (a whole number from 1) or auto, got "
                                         f"{show(text, limit=60)}") from None
    if not 1 <= value <= MAX_AT_ONCE:
        raise argparse.ArgumentTypeError(f"{show(value, limit=60)} is out of range: run 1 to {MAX_AT_ONCE} at a time "
                                         "(or auto)")
    return value


at_once.high = MAX_AT_ONCE
gigabytes = positive("gigabytes", 2**20)  # a petabyte: more than any node holds


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
    p.add_argument("--threads", type=whole(1, MAX_AT_ONCE, "a thread count"),
                   help=f"CPU threads per {what[:-1]} (default: all cores, shared evenly by those side by side); "
                        "torch recipes on CPU give the same floats for the same --threads")
    p.add_argument("--memory", type=gigabytes, metavar="GB",
                   help=f"memory each {what[:-1]} declares to Ray, so that no node takes more than it holds "
                        "(default: none declared)")


def parallel_settings(args: argparse.Namespace):
    """The ``shared.parallel.Settings`` of ``add_parallel_args``'s flags."""
    from shared.parallel import Settings

    return Settings(args.parallel, args.threads, args.memory, args.ray_address)
