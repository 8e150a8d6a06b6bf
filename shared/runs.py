"""The run directory contract: ``runs/<competition>/<recipe>-<timestamp>/`` holds config.yaml, folds.csv,
oof.csv, test_pred.csv (+ test_folds.npy), metrics.json, submission.csv, log.txt and PNG plots.
``compare``, ``ensemble`` and ``score`` read only these files."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from shared import fingerprint
from shared.errors import UserError
from shared.io import write_text

REPO_ROOT = Path(__file__).resolve().parents[1]


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


CREATED: list[Path] = []  # run folders this process made (the runner removes those a failed run left empty)


def check_writable(*paths: Path) -> None:
    """Refuse a folder (or, for one not made yet, its nearest existing parent) that is read-only, by its mode
    bits too, which even root's writes should respect."""
    for path in paths:
        folder = Path(path)
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder.exists() and not folder.is_dir():
            raise UserError(f"{folder} is a file, not a folder: pass --out a folder (it is made if missing).")
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


CONFIG_KEYS = ("competition", "recipe", "id_col", "data_dir", "n_folds", "seed")  # in every run's config.yaml
METRICS_KEYS = ("metric", "cv", "folds")  # in every run's metrics.json


def load_config(path: Path, required: tuple[str, ...] = CONFIG_KEYS) -> dict:
    """The resolved config of a run directory (finished or not): a YAML mapping holding ``required``, read with
    ``yaml.safe_load`` (nothing in it runs); anything else is one line naming the file."""
    path = Path(path)
    if not (path / "config.yaml").is_file():
        raise UserError(f"{path} is not a run directory (no config.yaml).")
    file = path / "config.yaml"
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise UserError(f"{file} is not readable YAML ({_problem(exc)}); restore it or rerun.") from None
    if not isinstance(config, dict):
        raise UserError(f"{file} is not a run config (a YAML mapping; found {_kind(config)}); restore it or rerun.")
    missing = [k for k in required if k not in config]
    if missing:
        raise UserError(f"{file} lacks {missing}: it is not a complete run config; restore it or rerun.")
    return config


def load_metrics(path: Path, required: tuple[str, ...] = METRICS_KEYS) -> dict:
    """A run's metrics.json: a JSON object holding ``required`` (``folds`` a mapping); else one line naming it."""
    file = Path(path) / "metrics.json"
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise UserError(f"{file} is not readable JSON ({_problem(exc)}); restore it or rerun.") from None
    if not isinstance(metrics, dict):
        raise UserError(f"{file} is not a run's metrics (a JSON object; found {_kind(metrics)}); restore it or "
                        "rerun.")
    missing = [k for k in required if k not in metrics]
    if missing:
        raise UserError(f"{file} lacks {missing}: it is not a complete run's metrics; restore it or rerun.")
    if "folds" in required and not isinstance(metrics["folds"], dict):
        raise UserError(f"{file}: 'folds' is not a mapping of fold to score; restore it or rerun.")
    return metrics


def _problem(exc: Exception) -> str:
    """What a parser said, short: the problem and its line for YAML, the first line otherwise."""
    mark = getattr(exc, "problem_mark", None)
    if getattr(exc, "problem", None) and mark is not None:
        return f"{exc.problem} at line {mark.line + 1}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _kind(value) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def data_fingerprint(spec, data, resume_dir: Path | None = None) -> dict:
    """The fingerprint of the data a run reads (``shared.fingerprint``) for its config.yaml. A resumed run keeps
    the one it recorded (``shared.fingerprint.check_resume`` compared them before)."""
    if resume_dir is None:
        return fingerprint.of(spec, data)
    return load_config(resume_dir, required=(fingerprint.KEY,))[fingerprint.KEY]


def load_summary(path: Path) -> Run:
    """A run's config and metrics only (enough to compare runs; detection runs have no prediction tables)."""
    path = Path(path)
    for name in ("config.yaml", "metrics.json"):
        if not (path / name).is_file():
            raise UserError(f"{path} is not a complete run directory: missing {name}.")
    return Run(path, load_config(path), load_metrics(path), None, None, None)


def load_run(path: Path, outputs=None) -> Run:
    """A finished run with its prediction tables. ``outputs`` (``shared.spec.Outputs``): those of the runs it is
    blended or merged with; a run whose config.yaml records another kind (``outputs``) is refused."""
    path = Path(path)
    needed = ["config.yaml", "metrics.json", "oof.csv", "test_pred.csv", "folds.csv"]
    if not path.is_dir():
        raise UserError(f"{path} is not a run directory (it does not exist).")
    config = load_config(path, required=(*CONFIG_KEYS, "outputs"))
    if outputs is not None and config["outputs"] != outputs.kind:
        raise UserError(f"{path} is a {config['outputs']} run: blend it with other {config['outputs']} runs only "
                        "(ensemble.py), and merge.py joins partial runs of one recipe.")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise UserError(f"{path} is not a complete run directory: missing {missing}.")
    metrics = load_metrics(path)
    id_col = config["id_col"]
    def read(name):  # round_trip: floats read back bit-exact, so merged runs equal full runs
        return pd.read_csv(path / name, dtype={id_col: str}, float_precision="round_trip")

    return Run(path, config, metrics, read("oof.csv"), read("test_pred.csv"), read("folds.csv"))
