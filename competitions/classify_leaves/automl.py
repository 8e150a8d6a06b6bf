"""The AutoML comparison the course made: AutoGluon's ``MultiModalPredictor`` on the image paths, one
predictor per fold, through the same runner as every recipe (same folds, OOF, test averaging, submission).

AutoGluon's multimodal package pins an older torch and timm than this project's environment, so it lives in
an environment of its own (``requirements-automm.txt``); this module imports it only inside ``fit``, and the
recipe's ``requires`` check says in one line how to install it when it is missing. It downloads its
pretrained backbone from the model hub, so it needs to be online (or have the hub cache filled)."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from shared.config import FLAG, SECONDS, Choice, Text, settings
from shared.errors import UserError

AUTOMM_PARAMS, AUTOMM_RANGES = settings({  # name: (default, what it accepts and what it is)
    "time_limit": (1800.0, SECONDS.with_doc("seconds for the whole run, split evenly over the folds (--time-limit sets it)")),
    "presets": ("medium_quality", Choice("medium_quality", "high_quality", "best_quality",
                                         doc="AutoGluon MultiModalPredictor's presets: more quality, more time")),
    "checkpoint": ("", Text("a timm model name, or empty for the preset's",
                            doc="the timm backbone instead of the preset's (model.timm_image.checkpoint_name)")),
    "keep_models": (False, FLAG.with_doc("keep each fold's predictor folder in the run folder (large)")),
})
INSTALL = ("python -m venv .venv-automm && .venv-automm/bin/pip install -r requirements-automm.txt, then run "
           ".venv-automm/bin/python scripts/run.py classify_leaves --recipe automl")


def require() -> None:
    """The recipe's check, run before anything is written."""
    if importlib.util.find_spec("autogluon") is None or importlib.util.find_spec("autogluon.multimodal") is None:
        raise UserError("recipe automl needs AutoGluon's multimodal package, which pins an older torch than this "
                        f"environment; install it in its own environment: {INSTALL}.")


class MultiModalModel:
    """``fit(X, y)`` / ``predict(X) -> class probabilities`` around ``MultiModalPredictor``."""

    def __init__(self, params: dict, ctx):
        self.params, self.ctx = {**AUTOMM_PARAMS, **params}, ctx

    def fit(self, X: pd.DataFrame, y: np.ndarray):
        from autogluon.multimodal import MultiModalPredictor

        frame = pd.DataFrame({"image": X["image_path"].astype(str).to_numpy(), "label": np.asarray(y)})
        self.path_ = Path(self.ctx.workdir) / "automm"
        self.predictor_ = MultiModalPredictor(label="label", problem_type="multiclass", eval_metric="accuracy",
                                              path=str(self.path_), verbosity=2)
        hyperparameters = {}
        if self.params["checkpoint"]:
            hyperparameters["model.timm_image.checkpoint_name"] = self.params["checkpoint"]
        self.predictor_.fit(frame, presets=self.params["presets"], column_types={"image": "image_path"},
                            time_limit=None if self.ctx.time_limit is None else int(self.ctx.time_limit),
                            hyperparameters=hyperparameters or None, seed=self.ctx.seed)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        frame = pd.DataFrame({"image": X["image_path"].astype(str).to_numpy()})
        proba = self.predictor_.predict_proba(frame, as_pandas=True)
        out = np.zeros((len(frame), self.ctx.n_classes))
        for column in proba.columns:  # a class missing from this fold's training rows keeps probability 0
            out[:, int(column)] = proba[column].to_numpy()
        return out

    def cleanup(self) -> None:
        if not self.params["keep_models"]:
            shutil.rmtree(self.path_, ignore_errors=True)
