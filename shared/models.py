"""The model interface the runner fits in every fold, written down in one place.

A recipe's ``model(params, ctx)`` returns an object with::

    fit(X, y, *, sample_weight=None, valid=None) -> self | None
    predict(X) -> np.ndarray            # values (n,) for regression, class probabilities (n, C) otherwise

and may add:

    predict_variants(X) -> {"": pred, name: pred, ...}   # named variants from the same pass (e.g. "no_tta")
    cleanup() -> None                                    # free memory / scratch files once a fold is done

``fit`` takes ``sample_weight`` only if the model can weight rows (``--set sample_weight=...`` is refused for a
model whose ``fit`` has no such parameter) and ``valid`` (the fold's held-out rows and targets) only to *monitor*
training: learning curves, the best-epoch checkpoint; predictions never depend on it. Features that learn from
rows sit in front of the model as fold-fitted steps (``FoldPipeline``). ``ModelContext`` is what a model may
need besides its hyperparameters."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@dataclass
class Progress:
    """Where one fit stands in its run, for the ETAs of its log lines. The runner keeps it up to date before each
    fit; a model reads it while training (``shared.vision.training.Trainer``'s per-epoch lines)."""

    name: str = ""  # the fit, as the log names it: "fold 0"; empty outside a run
    fits_after: int = 0  # fits the run still makes after this one
    fit_seconds: list[float] = field(default_factory=list)  # seconds of the run's finished fits
    # Seconds this fit trained before an interruption (its checkpoint's epochs): a resumed fit's time counts them,
    # so that its fold's saved time, and the ETAs made from it, are those of the whole fit.
    earlier_seconds: float = 0.0

    def run_left(self, fit_left: float, fit_total: float) -> float:
        """Seconds the run still needs: ``fit_left`` for this fit, then each later fit as long as the finished ones
        on average (as this one, ``fit_total`` seconds in all, before any has finished)."""
        per_fit = sum(self.fit_seconds) / len(self.fit_seconds) if self.fit_seconds else fit_total
        return fit_left + self.fits_after * per_fit


def clock(seconds: float) -> str:
    """A duration as the log writes it: 45s, 3m05s, 2h03m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class ModelContext:
    """What a model factory may need besides its hyperparameters."""

    task: str  # regression | binary | multiclass (detection: the competition's task)
    metric: str  # the competition metric's name
    n_classes: int
    seed: int
    time_limit: float | None  # seconds for this fold's fit, when the recipe honours a budget
    workdir: Path  # scratch space inside the run (AutoGluon saves its models here, images their checkpoints)
    n_jobs: int
    resume: bool = False  # continue from a checkpoint in workdir (models that checkpoint: images)
    progress: Progress = field(default_factory=Progress)  # where this fit stands in the run (ETAs in the log)


@runtime_checkable
class Model(Protocol):
    """What the runner needs of a fold's model (see the module's docstring for the optional methods)."""

    def fit(self, X: pd.DataFrame, y: np.ndarray, **kwargs): ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...


def takes(model, argument: str) -> bool:
    """Whether ``model.fit`` accepts ``argument`` (``sample_weight``, ``valid``)."""
    import inspect

    return argument in inspect.signature(model.fit).parameters


class FoldPipeline:
    """Steps then a model, as one model for the runner: everything is fitted on the rows given to
    ``fit`` (a fold's training rows) and only applied to the rows given to ``predict``. A step has
    ``fit_transform(X, y)`` and ``transform(X)``."""

    def __init__(self, steps: list, model):
        self.steps, self.model = steps, model

    def fit(self, X: pd.DataFrame, y: np.ndarray, **fit_kwargs):
        for step in self.steps:
            X = step.fit_transform(X, y)
        self.columns_ = list(X.columns)
        self.model.fit(X, y, **fit_kwargs)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        for step in self.steps:
            X = step.transform(X)
        return self.model.predict(X[self.columns_])

    def cleanup(self) -> None:
        if hasattr(self.model, "cleanup"):
            self.model.cleanup()


def available_cores() -> int:
    """Cores this process may use (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
