"""``FoldResults``: what the folds of a run, a merge of partial runs or a blend produced, handed to
``Outputs.write_results`` (``shared.spec``) in one piece."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class FoldResults:
    """What the folds of a run (or a merge, or a blend) produced, for ``Outputs.write_results``."""

    fold_of: np.ndarray  # each training row's fold (folds.csv order)
    oof: np.ndarray  # out-of-fold predictions, one table row per training row (NaN in folds not run)
    folds_done: list[int]
    fold_scores: list[float]  # in the order of ``folds_done``
    test_folds: np.ndarray  # each done fold's test predictions, stacked in the order of ``folds_done``
    started: float  # when the work began: metrics.json's wall time counts from then
    extra: dict  # more for metrics.json (recipe, fold times, variants, members, ...)
    y: np.ndarray | None = None  # the encoded training target (``Outputs.encode``); None where it is not needed
    classes: list | None = None
    config: dict = field(default_factory=dict)  # the run's resolved config (its run settings, e.g. fold_average)
