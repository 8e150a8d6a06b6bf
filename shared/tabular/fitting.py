"""What the tabular models' fits share: the inner split of a fold's training rows that early stopping watches,
the fit's time limit as a point in time, probe-then-refit boosting (LightGBM, XGBoost, CatBoost) and the training
loop of the tabular nets (the D2L course's net, the zoo's MLP). The CV fold being scored is never seen."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shared.divergence import LossWatch, finite_weights
from shared.log import get_log


def _stratify(y: np.ndarray, fraction: float, task: str) -> np.ndarray | None:
    """The labels to stratify an inner split by, where every class can be on both sides of it (a class met
    once in a fold's training rows, or more classes than the split has rows, make it a plain random split)."""
    if task == "regression":
        return None
    counts = np.unique(y, return_counts=True)[1]
    held = int(np.ceil(fraction * len(y)))
    return y if counts.min() >= 2 and min(held, len(y) - held) >= len(counts) else None


def inner_split(y: np.ndarray, fraction: float, seed: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows to fit on, rows to stop early on) of a fold's training rows, stratified where every class can be on
    both sides."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    return tuple(train_test_split(rows, test_size=fraction, random_state=seed, stratify=_stratify(y, fraction, task)))


def refit_rounds(best: int, fraction: float) -> int:
    """Rounds for the refit on all training rows: the inner split's best, scaled up for the extra rows."""
    return max(1, int(round(best / (1 - fraction))))


class Deadline:
    """``ctx.time_limit`` as a point in time: the probe of a boosted member may use ``probe_share`` of it, the refit
    the rest. None: no limit."""

    def __init__(self, seconds: float | None, probe_share: float = 0.6):
        self.start, self.seconds, self.probe_share = time.monotonic(), seconds, probe_share

    def probe_end(self) -> float | None:
        return None if self.seconds is None else self.start + self.probe_share * self.seconds

    def end(self) -> float | None:
        return None if self.seconds is None else self.start + self.seconds

    @staticmethod
    def passed(at: float | None) -> bool:
        return at is not None and time.monotonic() >= at


class TimeLimit:
    """The point in time (``at``; None: no limit) a boosting fit of at most ``rounds`` rounds on ``threads`` threads
    stops at, asked after every round by each library's own callback (``reached``); ``stopped`` says whether it came
    to that, and the fit's log says so once (``say_stopped``). With a ``pace`` the fit times its first rounds and,
    where it could not converge before its time is up, stops there with ``faster`` set: the factor by which its
    learning rate must grow (``Pace.factor``) for a new start."""

    def __init__(self, at: float | None, label: str, rounds: int | None = None, threads: int | None = None,
                 pace: Pace | None = None):
        self.at, self.label, self.stopped = at, label, False
        self.rounds, self.threads, self.started = rounds, threads, time.monotonic()
        self.pace, self.faster, self.first = pace, 1.0, None  # first: (round, time) of the first round seen
        self.seconds_per_round = None

    def reached(self, round_number: int) -> bool:
        if self.pace is not None and self._too_slow(round_number):
            return True
        if Deadline.passed(self.at):
            self.stopped = True
            say_stopped(f"{self.label}: stopped at round {round_number}, the fit's time limit", round_number,
                        self.rounds, "round", time.monotonic() - self.started, self.threads)
        return self.stopped

    def _too_slow(self, round_number: int) -> bool:
        """Whether the first rounds, timed, say this schedule cannot converge in time (then ``faster`` is set)."""
        now = time.monotonic()
        if self.first is None:
            self.first = (round_number, now)
            return False
        done, timed, window = round_number - self.first[0], now - self.first[1], PACE_SHARE * self.pace.seconds
        if timed < min(PACE_SECONDS, window) or (done < PACE_ROUNDS and timed < window):
            return False
        pace, self.pace = self.pace, None  # decided once
        self.seconds_per_round = timed / max(done, 1)
        self.faster = pace.factor(self.seconds_per_round, now - self.started)
        return self.faster > 1


ROUNDS_TIMES_RATE = 30.0  # boosting converges in about this many rounds x learning rate (0.03: ~1,000 rounds)
MAX_RATE = 0.3  # a schedule made faster for its time never learns faster than this
PACE_ROUNDS, PACE_SECONDS, PACE_SHARE = 10, 1.0, 0.1  # a paced fit times this many rounds and this many seconds
# before it plans, or this share of its time where that comes first: ten rounds of a few milliseconds misjudged
# CatBoost's pace on ames by half (7 ms a round where a fit averages 4), and it boosted three times faster
PACE_MARGIN = 0.8  # and plans to use this share of its time (rounds vary; the refit reads the data again)
ONE_FIT_KEEP = 2 / 3  # one fit (no refit) that has time for this share of its rounds keeps its rate and stops at its
# limit with the trees it has: a new start loses the time spent and learns coarser. CatBoost, 5-fold on ames (rmse of
# log price): 893 rounds at its own rate 0.1175, 804 at 1.24 times it 0.1177, 707 at 1.41 times 0.1199 (1,000 rounds:
# 0.1173); and 500 at its rate 0.1190 against 450 at 2.2 times 0.1211. Short by more, on more rows, the faster rate
# pays: diamonds (12,000 rows), 400 rounds at its rate 0.0855 against 360 at 2.8 times 0.0834; 700 against 630 at 1.6
# times, 0.0834 and 0.0831


@dataclass
class Pace:
    """A boosted fit's schedule (``rate``, at most ``rounds``, early-stopping ``patience``, the inner split's
    ``fraction``) and the ``seconds`` it has for probe and refit together; ``refit`` False: one fit of all its rounds
    (no early stopping, no refit), whose ``rate`` may be None (the library's own, known once it has started)."""

    rate: float | None
    rounds: int
    patience: int
    fraction: float
    seconds: float
    refit: bool = True

    def factor(self, seconds_per_round: float, elapsed: float = 0.0) -> float:
        """How much faster the schedule must learn to converge in time at ``seconds_per_round``, ``elapsed`` seconds
        into its time: 1 where it does; else the learning rate grows by it (up to ``MAX_RATE`` where the rate is
        known) and the rounds and patience shrink by it. A probe and refit: their work is the probe's rounds to its
        best and its patience beyond, then the refit's, in steps of sqrt(2). One fit: all its rounds; it keeps its
        rate where it has time for ``ONE_FIT_KEEP`` of them, else its rounds shrink to what the time left holds."""
        spr = max(seconds_per_round, 1e-9)
        if (self.rate or 0.0) >= MAX_RATE:
            return 1.0
        if not self.refit:  # where its time is gone (its setup took it), a new start would have none either
            if self.rounds * spr * ONE_FIT_KEEP <= self.seconds or elapsed >= self.seconds:
                return 1.0
            short = self.rounds * spr / max(self.seconds - elapsed, spr)
            return max(1.0, short if self.rate is None else min(short, MAX_RATE / self.rate))
        needed = min(self.rounds, ROUNDS_TIMES_RATE / self.rate)
        work = needed + self.patience + needed / (1 - self.fraction)
        affordable = PACE_MARGIN * self.seconds / spr
        if work <= affordable:
            return 1.0
        stepped = 2 ** (math.ceil(2 * math.log2(work / affordable)) / 2)
        return max(1.0, min(stepped, MAX_RATE / self.rate))


def faster_schedule(rate: float, rounds: int, patience: int, faster: float) -> tuple[float, int, int]:
    """(learning rate, rounds at most, patience) of a schedule made ``faster`` times faster (``Pace.factor``)."""
    if faster <= 1:
        return rate, rounds, patience
    return rate * faster, max(1, int(rounds / faster)), max(PATIENCE_FLOOR, int(round(patience / faster)))


PACED = "would not converge in its"  # the words of a paced fit's log line (auto gives such a member what is left)
PATIENCE_FLOOR = 10  # a faster schedule still waits this many rounds before it stops early


FIRST_ROUNDS, FIRST_SHARE = 5, 0.1  # a fit stopped before this many rounds, or this share of them, learned little


def say_stopped(line: str, done: int, most: int | None, unit: str, seconds: float, threads: int | None) -> None:
    """The log line of a fit stopped by its time limit after ``done`` of at most ``most`` rounds (epochs, trees) in
    ``seconds``: information, or a warning saying why and what to do where it stopped in its first ones."""
    if done >= FIRST_ROUNDS and (most is None or done >= FIRST_SHARE * most):
        get_log().info(line)
        return
    on = "" if threads is None else f" on {threads} thread{'s' if threads != 1 else ''}"
    of = "" if most is None else f" of {most:,}"
    get_log().warning(f"{line}, after {done}{of} {unit}s ({seconds / max(done, 1):.2g} s a {unit}{on}): it has "
                      f"learned little. Give it more time (--time-limit) or, on a busy machine, fewer threads "
                      f"(--threads 1)")


def probe_then_refit(probe: Callable, refit: Callable, y: np.ndarray, fraction: float, ctx, label: str,
                     rounds: int | None = None, threads: int | None = None, rate: float | None = None,
                     patience: int | None = None):
    """A boosted model's fit: ``probe(inner, early, limit, faster)`` boosts on the inner rows with early stopping on
    the ``early`` ones and returns (model, best rounds); then ``refit(rounds, limit)`` boosts on all training rows for
    those rounds scaled up for the extra data (``refit_rounds``) and returns the model. With ``ctx.time_limit`` the
    probe may use 0.6 of it and the refit the rest; a probe stopped by it is the model, at its best round (there is
    no time for a refit that would be cut short). Given the schedule (``rate``, ``rounds``, ``patience``), a fit with
    a time limit is paced: its first rounds are timed and, where the schedule could not converge in time, the probe
    starts again ``faster`` (``faster_schedule``: a larger learning rate, fewer rounds and patience; the refit
    boosts as the probe did), said in the log. ``rounds`` (the probe's at most) and ``threads`` also go into the
    line of a fit stopped in its first rounds. Returns (model, best rounds, refitted)."""
    deadline = Deadline(ctx.time_limit)
    inner, early = inner_split(y, fraction, ctx.seed, ctx.task)
    paced = ctx.time_limit is not None and None not in (rate, rounds, patience)
    pace = Pace(rate, rounds, patience, fraction, ctx.time_limit) if paced else None
    limit = TimeLimit(deadline.probe_end(), f"{label}, finding the rounds", rounds, threads, pace)
    model, best = probe(inner, early, limit, 1.0)
    if limit.faster > 1:
        new_rate, new_rounds, new_patience = faster_schedule(rate, rounds, patience, limit.faster)
        _say_paced(ctx, label, rate, limit, threads, f"learning rate {new_rate:.3g}, early-stopping patience "
                   f"{new_patience}, at most {new_rounds} rounds")
        limit = TimeLimit(deadline.probe_end(), f"{label}, finding the rounds", new_rounds, threads)
        model, best = probe(inner, early, limit, new_rate / rate)
    if limit.stopped:
        return model, best, False
    scaled = refit_rounds(best, fraction)
    return refit(scaled, TimeLimit(deadline.end(), f"{label}, refit", scaled, threads)), best, True


def one_fit(fit: Callable, ctx, label: str, rounds: int, threads: int | None, rate: float | None, pace: bool):
    """A boosted model's one fit on all the fold's training rows for ``rounds`` rounds, no early stopping (CatBoost's
    own way): ``fit(rounds, rate, limit)`` returns (model, the learning rate it used); ``rate`` None: the library's
    own. With ``ctx.time_limit`` and ``pace`` the first rounds are timed and, where not even ``ONE_FIT_KEEP`` of its
    rounds would fit in time, the fit starts again faster (``Pace.factor``: the rounds cut to what the time left
    holds, the learning rate raised by the same factor, at most ``MAX_RATE``; said in the log). A fit that reaches
    the limit keeps the trees it has."""
    deadline = Deadline(ctx.time_limit)
    paced = pace and ctx.time_limit is not None
    limit = TimeLimit(deadline.end(), label, rounds, threads,
                      Pace(rate, rounds, 0, 0.0, ctx.time_limit, refit=False) if paced else None)
    model, used = fit(rounds, rate, limit)
    if limit.faster <= 1:
        return model
    faster = min(limit.faster, max(1.0, MAX_RATE / used))
    new_rate, new_rounds, _ = faster_schedule(used, rounds, 0, faster)
    if faster > 1:
        _say_paced(ctx, label, used, limit, threads, f"learning rate {new_rate:.3g}, {new_rounds} rounds")
    return fit(new_rounds, new_rate, TimeLimit(deadline.end(), label, new_rounds, threads))[0]


def _say_paced(ctx, label: str, rate: float, limit: TimeLimit, threads: int | None, schedule: str) -> None:
    """The log line of a fit made faster for its time (once a run: on its first fold), ending in its new
    ``schedule``."""
    if getattr(getattr(ctx, "progress", None), "name", "") not in ("", "fold 0"):
        return
    on = f"{threads or 1} thread{'s' if threads != 1 else ''}"
    get_log().info(f"{label}: at learning rate {rate:.3g} it {PACED} {ctx.time_limit:.1f} s "
                   f"(~{limit.seconds_per_round:.2g} s a round on {on}): {schedule}")


def train_net(net, optimizer, loss_fn, batches: Callable, epochs: int, watch: LossWatch, valid=None,
              patience: int = 0, stop_at: float | None = None):
    """The tabular nets' loop: ``epochs`` passes over ``batches()`` (an iterable of (inputs, targets) per epoch),
    the training loss ``watch``ed (a loss that stops being a number, or rises far above the first batch's, is a
    ``Diverged`` fit). With ``valid`` (inputs, targets): the loss on them after each epoch, a stop once it has not
    improved for ``patience`` epochs or at ``stop_at`` (a time.monotonic() value), and the best epoch's weights kept."""
    import torch

    best, best_state, waited, started = np.inf, None, 0, time.monotonic()
    for epoch in range(1, epochs + 1):
        net.train()
        total, seen = 0.0, 0
        for inputs, targets in batches():
            optimizer.zero_grad()
            loss = loss_fn(net(inputs), targets)
            loss.backward()
            optimizer.step()
            watch.first(loss.item())
            total, seen = total + loss.item() * len(targets), seen + len(targets)
        watch.epoch(total / max(seen, 1), epoch, finite_weights(net))
        if valid is None:
            continue
        net.eval()
        with torch.no_grad():
            valid_loss = float(loss_fn(net(valid[0]), valid[1]))
        if valid_loss < best - 1e-6:
            best, waited = valid_loss, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
        if Deadline.passed(stop_at):
            say_stopped(f"stopped at epoch {epoch} of {epochs}, the fit's time limit", epoch, epochs, "epoch",
                        time.monotonic() - started, torch.get_num_threads())
            break
        if waited >= patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return net
