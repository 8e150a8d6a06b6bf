"""CPU threads per fit, by library: ``threads(library, rows, columns, cap)``, from the fit times that
``scripts/bench_threads.py`` measures. ``cap`` is the threads the run gives each fit (``--threads``, or the cores
shared by the fits side by side): a fit never takes more, and takes fewer where more would be slower.

Why: a thread of LightGBM, XGBoost or torch waits for the others after every step (OpenMP), spinning on its core.
On small data those steps are short, so the waiting is most of the work; on a machine whose other processes keep
the cores busy, one thread that is not running makes the others spin through its whole time slice. Measured with
``scripts/bench_threads.py`` (fit seconds on 1 / 2 threads; 300 boosting rounds, a 256-256 MLP 5 epochs, 100
trees; 2 cores, load average 7 to 10 from other work; —: not measured):

| library | 400 x 10 | 400 x 100 | 3,000 x 10 | 3,000 x 100 | 30,000 x 10 |
|---|---|---|---|---|---|
| lightgbm | 0.12 / 3.8 | 0.30 / 4.5 | 0.30 / 9.7 | 2.2 / 14.1 | 2.1 / 73 |
| xgboost | 0.31 / 5.1 | 1.1 / 15.3 | 0.38 / 5.8 | 3.6 / 39.5 | 4.2 / 63 |
| catboost | 1.0 / 0.91 | 7.4 / 7.4 | 1.4 / 1.3 | 9.9 / 16.3 | 9.5 / 5.9 |
| torch MLP | — | 0.04 / 0.19 | 0.51 / 7.0 | 1.0 / 14.7 | 18.3 / — |
| extra_trees | 0.27 / 0.14 | 0.24 / 0.18 | 0.48 / 0.45 | 1.4 / 1.3 | — |
| rf | 0.18 / 0.23 | 0.28 / 0.31 | 1.1 / 0.80 | 8.5 / 4.1 | — |
| knn (fit, then ask every row) | 0.01 / 0.02 | 0.17 / 0.10 | 0.14 / 0.13 | 0.17 / 0.26 | — |

The predictions were the same at 1 and 2 threads everywhere but CatBoost on 30,000 rows (0.15 apart).

So a library takes one thread per ``POLICIES[library].cells`` training cells (rows x columns), at least one, at most
``cap``: LightGBM one thread up to 10,000 rows of 20 columns, as it took below 10,000 rows before (House Prices,
1,460 rows: 3.3 s on one thread, 4.2 s on two on an idle machine). CatBoost's own thread pool waits without
spinning: under that load it lost only at 3,000 x 100, and on the same 2 cores idle (2026-12-08) two threads were
faster at every size, 400 x 10 included (1 / 2 threads: 0.69 / 0.47, 8.0 / 4.5, 1.1 / 0.68, 7.8 / 4.0, 3.0 / 2.1;
the suite's ames, 1,758 rows x 79 columns, 1,000 rounds: 6.1-6.8 / 3.6-4.2 s, the same predictions), so it takes a
thread per 2,000 cells: both of 2 cores from 400 x 10 up. The scikit-learn forests share out whole trees, so they take a thread per few
thousand cells.

The same seed gives the same predictions at any thread count for LightGBM (``deterministic``), the forests (each
tree seeded alone, votes summed on one thread) and k-nearest neighbours (exact distances), checked by
``tests/test_threads.py``: for those, ``threads`` also leaves out the cores other processes keep busy
(``other_load``), which changes only the speed. XGBoost's, CatBoost's and torch's sums may depend on how the work
is split, so their threads depend only on the data's size and ``cap`` (which the run records): the same command
gives the same CV on a busy machine as on an idle one."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from shared.log import get_log


@dataclass(frozen=True)
class Policy:
    cells: int  # training cells (rows x columns) each thread must have to pay for itself
    same_at_any_threads: bool  # the same predictions at every thread count: the other load may lower the threads


POLICIES = {
    "lightgbm": Policy(200_000, True),
    "xgboost": Policy(200_000, False),
    "catboost": Policy(2_000, False),  # idle 2 cores: 2 threads faster from 400 x 10 up (above)
    "torch": Policy(1_000_000, False),  # the MLPs, RealMLP / TabM, the D2L net
    "extra_trees": Policy(4_000, True),
    "rf": Policy(4_000, True),
    "knn": Policy(100_000, True),
}
LIBRARIES = tuple(POLICIES)


def threads(library: str, rows: int, columns: int, cap: int, other_busy: float | None = None, trees: int = 1) -> int:
    """The threads a ``library`` fit on ``rows`` x ``columns`` takes: one per ``Policy.cells`` cells (times the
    ``trees`` a booster grows each round: one per class on many classes, each step's work), from 1 to ``cap``; for a
    library whose predictions do not depend on its threads, also at most the cores that processes other than this one
    leave free (``other_busy``: cores they keep busy; None: not asked)."""
    policy = POLICIES[library]
    chosen = max(1, min(cap, rows * max(columns, 1) * max(trees, 1) // policy.cells))
    if chosen > 1 and policy.same_at_any_threads and other_busy is not None:
        from shared.models import available_cores

        chosen = max(1, min(chosen, int(available_cores() - other_busy + 0.5)))
    return chosen


_last: tuple[float, float, float] | None = None  # (time, busy CPU seconds of our cores, this process's CPU seconds)


def _cpu_seconds() -> tuple[float, float, float] | None:
    """(now, busy CPU seconds of the cores this process may use, this process's CPU seconds); None off Linux."""
    try:
        allowed = {f"cpu{c}" for c in os.sched_getaffinity(0)}
        with open("/proc/stat") as stat:
            lines = [line.split() for line in stat if line.startswith("cpu")]
    except (AttributeError, OSError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    busy = sum(sum(map(int, f[1:4])) + sum(map(int, f[6:9])) for f in lines if f[0] in allowed) / hz
    own = os.times()
    return time.monotonic(), busy, own.user + own.system


def other_load(first_look: float = 0.05) -> float | None:
    """Cores that other processes keep busy: the busy time of this process's cores less its own, since the last
    call (the first one looks for ``first_look`` seconds); None where it cannot be read."""
    global _last
    if _last is None:
        _last = _cpu_seconds()
        if _last is None:
            return None
        time.sleep(first_look)
    now = _cpu_seconds()
    if now is None or now[0] - _last[0] <= 0:
        return None
    busy = max(0.0, (now[1] - _last[1]) - (now[2] - _last[2])) / (now[0] - _last[0])
    _last = now
    return busy


def trees_a_round(n_classes: int | None) -> int:
    """The trees a gradient booster grows each round: one per class on more than two classes, else one."""
    return n_classes if n_classes and n_classes > 2 else 1


def fit_threads(library: str, rows: int, columns: int, ctx, trees: int = 1) -> int:
    """``threads`` for a fit of the run whose ``ModelContext`` is ``ctx`` (its cap: ``ctx.n_jobs``); the run's
    first fit says what it chose and why in the log."""
    policy = POLICIES[library]
    sized = threads(library, rows, columns, ctx.n_jobs, trees=trees)
    busy = other_load() if sized > 1 and policy.same_at_any_threads else None
    chosen = threads(library, rows, columns, ctx.n_jobs, busy, trees)
    if ctx.progress.name in ("", "fold 0"):
        size = f"{rows:,} rows x {columns} columns" + (f" x {trees} trees a round" if trees > 1 else "")
        why = f"{size}, a thread per {policy.cells:,} cells" if sized < ctx.n_jobs else size
        load = "" if chosen == sized else f"; other processes keep {busy:.1f} cores busy"
        get_log().info(f"{library}: {chosen} thread{'s' if chosen > 1 else ''} of {ctx.n_jobs} ({why}{load})")
    return chosen
