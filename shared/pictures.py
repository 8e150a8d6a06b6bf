"""A run's pictures drawn beside the next run's fits: within ``beside()`` (``auto``, whose members are runs one
after another within one time budget), ``draw`` hands a finished run's PNGs to one helper process and writes its
``report.html`` (which shows them) once they are drawn; outside it, both at once.

Why: a table run's pictures take about a second (ames: 0.75 s for the out-of-fold plots, 0.4 s for importance),
eight of ``auto``'s 45 s over its runs, and its boosters' fits mostly leave the second core free. Measured on ames
(2 cores, 2026-12-08; rmsle, lower is better), ``auto``'s CV with the pictures drawn in its budget: 0.11991 (and
0.11905 with a budget of 53 s); drawn by the helper: 0.11880, 0.11835, 0.11949, 0.11820.

The helper is started by ``spawn`` (a fresh interpreter: nothing of this process's threads is copied), once, at
the first picture. A picture it failed to draw is drawn again in this process when the block ends, so an error
is raised as it would be without the helper; where no helper can start, every picture is drawn at once."""
from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor

Calls = list[tuple]  # (function, *arguments): module-level functions, so that the helper can find them

_helper: _Helper | None = None


def _draw(calls: Calls) -> None:
    for function, *arguments in calls:
        function(*arguments)


def _now(calls: Calls, then: Callable[[], object]) -> None:
    _draw(calls)
    then()


class _Helper:
    def __init__(self):
        self.pool: ProcessPoolExecutor | None = None
        self.waiting: list[tuple[Future, Calls, Callable[[], object]]] = []

    def submit(self, calls: Calls, then: Callable[[], object]) -> None:
        try:
            if self.pool is None:
                self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            future = self.pool.submit(_draw, calls)
        except Exception:  # noqa: BLE001 - no helper process here (no semaphores, a broken pool): drawn at once
            _now(calls, then)
            return
        self.waiting.append((future, calls, then))
        self.settle(wait=False)

    def settle(self, wait: bool) -> None:
        """Write the report of each run whose pictures are drawn, in order (all of them where ``wait``)."""
        while self.waiting and (wait or self.waiting[0][0].done()):
            future, calls, then = self.waiting.pop(0)
            try:
                future.result()
            except Exception:  # noqa: BLE001 - drawn again here, where its error is raised as without the helper
                _draw(calls)
            then()

    def close(self, wait: bool) -> None:
        try:
            if wait:
                self.settle(wait=True)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=wait, cancel_futures=not wait)


@contextlib.contextmanager
def beside():
    """Within it, ``draw`` leaves the pictures to a helper process; at its end every picture is drawn and every
    report written (an error in the block: the helper is stopped, what it had not drawn is not drawn)."""
    global _helper
    if _helper is not None:  # nested: the outer block waits
        yield
        return
    _helper = helper = _Helper()
    finished = False
    try:
        yield
        finished = True
    finally:
        _helper = None
        helper.close(wait=finished)


@contextlib.contextmanager
def at_once():
    """Within it, ``draw`` draws at once even within ``beside()``: for a run built in a staging folder that moves
    into place at its end (a blend), whose pictures must be in it by then."""
    global _helper
    outer, _helper = _helper, None
    try:
        yield
    finally:
        _helper = outer


def draw(calls: Calls, then: Callable[[], object]) -> None:
    """Make a run's pictures (``calls``: (function, *arguments) each), then ``then()`` (its report): at once, or
    within ``beside()`` by the helper process while this one goes on."""
    if _helper is None:
        _now(calls, then)
    else:
        _helper.submit(calls, then)
