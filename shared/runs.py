"""The run directory contract: ``runs/<competition>/<recipe>-<timestamp>/`` holds config.yaml, folds.csv,
oof.csv, test_pred.csv (+ test_folds.npy), metrics.json, submission.csv, log.txt and PNG plots.
``compare``, ``ensemble`` and ``score`` read only these files."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from shared.errors import UserError
from shared.io import write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
LOGGER = "kaggle_templates"


def git_version() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def is_detection_run(path: Path) -> bool:
    """A run whose predictions are boxes (its OOF is the padded detection table), blended and merged by
    ``shared.detection.blend``."""
    return (Path(path) / "oof_table.npy").is_file()


CREATED: list[Path] = []  # run folders this process made (the runner removes those a failed run left empty)


def check_writable(*paths: Path) -> None:
    """Refuse a folder (or, for one not made yet, its nearest existing parent) that is read-only, by its mode
    bits too, which even root's writes should respect."""
    for path in paths:
        folder = Path(path)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder.is_dir() and (not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222):
            raise UserError(f"{folder} is read-only: make it writable or pass --out another folder.")


def discard_unfinished(created: list[Path]) -> None:
    """Remove run folders made by a run that then failed, when they hold nothing to resume (no finished fold,
    no checkpoint): a failed run leaves no half-made run behind; one with work done stays for ``--resume``."""
    for path in created:
        if path.is_dir() and not any(path.glob("fold*/predictions.npz")) and not any(path.glob("fold*/*.pt")):
            shutil.rmtree(path, ignore_errors=True)


def new_run_dir(out_root: Path, competition: str, name: str) -> Path:
    """A fresh, unique run folder (timestamp, then a counter if two runs start in the same second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(out_root) / competition / f"{name}-{stamp}"
    check_writable(Path(out_root), base)
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True)
            CREATED.append(path)
            return path
        except FileExistsError:  # another run took this name (maybe a moment ago): take the next one
            path, n = Path(f"{base}-{n}"), n + 1
        except OSError as exc:
            raise UserError(f"cannot create run folder {path}: {exc.strerror}; choose another --out.") from exc


def save_config(run_dir: Path, config: dict) -> None:
    write_text(run_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))


def start_log(run_dir: Path) -> logging.Logger:
    """Log to stderr and to ``log.txt`` in the run (stdout stays free for the run path)."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        if isinstance(h, logging.FileHandler):
            logger.removeHandler(h)
            h.close()
    if not any(isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               for h in logger.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    file = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
    file.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(file)
    logger.propagate = False
    return logger


def get_log() -> logging.Logger:
    return logging.getLogger(LOGGER)


def logging_to(run_dir: Path) -> bool:
    """Whether the log already writes into this run's log.txt."""
    target = str((Path(run_dir) / "log.txt").resolve())
    return any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in get_log().handlers)


@dataclass
class Run:
    """A finished run, read back from its directory."""

    path: Path
    config: dict
    metrics: dict
    oof: pd.DataFrame
    test_pred: pd.DataFrame
    folds: pd.DataFrame

    @property
    def competition(self) -> str:
        return self.config["competition"]

    @property
    def prediction_columns(self) -> list[str]:
        return [c for c in self.oof.columns if c == "prediction" or c.startswith("proba_")]

    def oof_in_fold_order(self, oof: pd.DataFrame | None = None) -> np.ndarray:
        """OOF predictions (n, K) in folds.csv row order (``oof``: e.g. the union of partial runs)."""
        oof = self.oof if oof is None else oof
        id_col = self.config["id_col"]
        order = self.folds[id_col].astype(str)
        return oof.set_index(oof[id_col].astype(str)).loc[order, self.prediction_columns].to_numpy(float)

    def test_folds(self) -> np.ndarray:
        return np.load(self.path / "test_folds.npy")


def load_config(path: Path) -> dict:
    """The resolved config of a run directory (finished or not)."""
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise UserError(f"{path} is not a run directory (no config.yaml).")
    return yaml.safe_load((path / "config.yaml").read_text())


def load_summary(path: Path) -> Run:
    """A run's config and metrics only (enough to compare runs; detection runs have no prediction tables)."""
    path = Path(path)
    for name in ("config.yaml", "metrics.json"):
        if not (path / name).is_file():
            raise UserError(f"{path} is not a complete run directory: missing {name}.")
    return Run(path, yaml.safe_load((path / "config.yaml").read_text()),
               json.loads((path / "metrics.json").read_text()), None, None, None)


def load_run(path: Path) -> Run:
    path = Path(path)
    needed = ["config.yaml", "metrics.json", "oof.csv", "test_pred.csv", "folds.csv"]
    if not path.is_dir():
        raise UserError(f"{path} is not a run directory (it does not exist).")
    if (path / "oof_detections.json").is_file():
        raise UserError(f"{path} is a detection run: blend it with other detection runs only (ensemble.py fuses "
                        "their boxes) and merge.py joins partial detection runs.")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise UserError(f"{path} is not a complete run directory: missing {missing}.")
    config = yaml.safe_load((path / "config.yaml").read_text())
    metrics = json.loads((path / "metrics.json").read_text())
    id_col = config["id_col"]
    def read(name):  # round_trip: floats read back bit-exact, so merged runs equal full runs
        return pd.read_csv(path / name, dtype={id_col: str}, float_precision="round_trip")

    return Run(path, config, metrics, read("oof.csv"), read("test_pred.csv"), read("folds.csv"))
