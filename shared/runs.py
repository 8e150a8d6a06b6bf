"""The run directory contract: ``runs/<competition>/<recipe>-<timestamp>/`` holds config.yaml, folds.csv,
oof.csv, test_pred.csv (+ test_folds.npy), metrics.json, submission.csv, log.txt and PNG plots.
``compare``, ``ensemble`` and ``score`` read only these files."""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from shared import fingerprint
from shared.errors import UserError, show
from shared.io import read_csv, write_text

REPO_ROOT = Path(__file__).resolve().parents[1]


def git_version() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and dirty.stdout.strip():  # edited code: which edit, so two of them differ
            diff = subprocess.run(["git", "-C", str(REPO_ROOT), "diff", "HEAD"], capture_output=True, timeout=5)
            return f"{out.stdout.strip()}-dirty-{hashlib.sha256(diff.stdout).hexdigest()[:8]}"
        if out.returncode == 0:
            return out.stdout.strip()
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


MAX_NAME = 40  # characters of a run's --name, and of the suffix of the settings it changed


def check_name(name: str) -> str:
    """``--name``: what a run's folder name says of it (``gbm-<time>-NAME``): 1 to ``MAX_NAME`` letters, digits,
    ``.``, ``_``, ``-`` and ``=`` (safe in a folder name on every system), starting with a letter."""
    if not re.fullmatch(rf"[A-Za-z][A-Za-z0-9._=-]{{0,{MAX_NAME - 1}}}", name) or name.endswith("."):
        raise UserError(f"--name {show(name, limit=60)}: a run name is 1 to {MAX_NAME} letters, digits, '.', '_', '-' "
                        "or '=', starting with a letter and not ending in '.' (it goes into the run's folder name); "
                        "e.g. --name deeper_trees.")
    return name


def run_label(name: str | None, changed: dict) -> str:
    """What a run's folder name says besides its recipe: ``--name``, else the settings typed with ``--set`` that
    differ from the recipe's defaults (``arch=convnext_nano``, several joined by ``,``), each character that is not
    safe in a folder name as ``_``, cut to about ``MAX_NAME`` characters (``+N``: N more settings); "" for none."""
    if name:
        return check_name(name)
    parts = [re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{key}={_compact(value)}").strip("_.")[:MAX_NAME]
             for key, value in changed.items()]
    label = ""
    for i, part in enumerate(parts):
        if label and len(label) + 1 + len(part) > MAX_NAME:
            return f"{label}+{len(parts) - i}"
        label = f"{label},{part}" if label else part
    return label


def _compact(value) -> str:
    """A setting's value as a folder name shows it: lists joined by ``-``, no spaces."""
    if isinstance(value, (list, tuple)):
        return "-".join(map(_compact, value))
    if isinstance(value, dict):
        return "-".join(f"{k}-{_compact(v)}" for k, v in value.items())
    return str(value).lower() if isinstance(value, bool) else str(value)


def label_of(run_dir: Path) -> str:
    """The label a run folder's name carries after its time and counter (``gbm-20260101-120000-lr=0.1``: ``lr=0.1``;
    a label starts with a letter, a counter is digits), or ""."""
    found = re.search(r"-\d{8}-\d{6}(?:-\d+)?-([A-Za-z].*)$", Path(run_dir).name)
    return found[1] if found else ""


def new_run_dir(out_root: Path, competition: str, name: str, label: str = "") -> Path:
    """A fresh, unique run folder ``<out_root>/<competition>/<name>-<time>[-<label>]`` (``run_label``; a counter after
    the time if two runs start in the same second): a recipe's runs sort by time, and the name says what differs."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(out_root) / competition
    check_writable(Path(out_root), folder / f"{name}-{stamp}")
    path, n = folder / "-".join(filter(None, (name, stamp, label))), 1
    while True:
        try:
            path.mkdir(parents=True)
            CREATED.append(path)
            return path
        except FileExistsError:  # another run took this name (maybe a moment ago): take the next one
            path, n = folder / "-".join(filter(None, (name, stamp, str(n), label))), n + 1
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
        """Each finished fold's test predictions (folds, test rows, outputs), read without pickle and checked
        against the run's own tables."""
        from shared.readback import read_arrays

        shape = (len(self.metrics["folds"]), len(self.test_pred), len(self.prediction_columns))
        return read_arrays(self.path / "test_folds.npy", {"": shape}, "restore it or rerun", required=[""])[""]


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
    folds = metrics.get("folds")
    if "folds" in metrics and (not isinstance(folds, dict) or not all(
            str(k).isdigit() and _finite(v) for k, v in folds.items())):
        raise UserError(f"{file}: 'folds' is not a mapping of fold number to score (each a finite number); restore it or rerun.")
    for key, (ok, what) in METRICS_VALUES.items():  # a hand-edited score is never ranked, blended or shown as one
        if key in metrics and not ok(metrics[key]):
            raise UserError(f"{file}: {key} is {show(metrics[key], limit=60)}, not {what}; restore it or rerun.")
    return metrics


# What the values a run's metrics.json may hold must be, by key (holdout: null when the data had no solution).
METRICS_VALUES = {
    "metric": (lambda v: isinstance(v, str) and v != "", "a metric name"),
    "greater_is_better": (lambda v: isinstance(v, bool), "true or false"),
    **{key: (lambda v: _finite(v), "a finite number") for key in ("cv", "cv_mean", "cv_std", "wall_time_s")},
    "holdout": (lambda v: v is None or _finite(v), "null or a finite number"),
}


# What a resumed run takes from its config.yaml, by key: the check a value must pass and what it must be.
RESUMED_VALUES = {
    "recipe": (lambda v: isinstance(v, str) and v != "", "a recipe name"),
    "data_dir": (lambda v: isinstance(v, str) and v != "", "a folder path"),
    "n_folds": (lambda v: _whole(v) and v >= 2, "a fold count of at least 2"),
    "seed": (lambda v: _whole(v) and 0 <= v < 2**32, f"a seed from 0 to {2**32 - 1}"),
    "time_limit": (lambda v: v is None or (_number(v) and 0 < v < float("inf")), "null or a positive number"),
    "only_folds": (lambda v: v is None or (isinstance(v, list) and v != [] and all(_whole(k) and k >= 0 for k in v)),
                   "null or a list of fold numbers"),
    "model": (lambda v: isinstance(v, dict), "a mapping"),
    "features": (lambda v: isinstance(v, dict), "a mapping"),
}


def check_values(path: Path, config: dict, checks: dict = RESUMED_VALUES) -> dict:
    """``config`` (read from ``path``/config.yaml) when each of ``checks``' keys holds what it must (a hand-edited or
    foreign config: a negative or huge n_folds, a seed in quotes); else one line naming the key and its value."""
    for key, (ok, what) in checks.items():
        if key in config and not ok(config[key]):
            raise UserError(f"{Path(path) / 'config.yaml'}: {key} is {config[key]!r}, not {what}; restore the file "
                            "or start a new run.")
    return config


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value) -> bool:
    return _number(value) and math.isfinite(value)


def load_folds(path: Path, ids: pd.Series, n_folds: int, id_col: str) -> pd.DataFrame:
    """A run's own folds.csv, checked against the rows it is read for: the same ids in the same order, each in a
    fold from 0 to ``n_folds`` - 1, every fold holding rows. A resumed run keeps the folds its finished folds were
    fitted on."""
    file = Path(path) / "folds.csv"
    fix = "restore it, or start a new run without --resume"
    folds = read_csv(file, required=[id_col, "fold"], what="the run's folds", fix=fix, dtype={id_col: str},
                     keep_default_na=False)
    if len(folds) != len(ids) or not (folds[id_col].values == ids.astype(str).values).all():
        raise UserError(f"{file} lists other rows than the data ({len(folds)} rows there, {len(ids)} in the data, "
                        f"ids in order); {fix}.")
    fold = pd.to_numeric(folds["fold"], errors="coerce")
    if not ((fold >= 0) & (fold < n_folds) & (fold % 1 == 0)).all() or fold.nunique() != n_folds:
        raise UserError(f"{file}: its fold column must hold every fold from 0 to {n_folds - 1} and nothing else "
                        f"(the run has n_folds {n_folds}); {fix}.")
    return folds.assign(fold=fold.astype(int))


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
    def read(name, required=()):  # round_trip: floats read back bit-exact, so merged runs equal full runs
        return read_csv(path / name, required=[id_col, *required], what="a run's table", fix="Restore it or rerun.",
                        dtype={id_col: str}, float_precision="round_trip")

    run = Run(path, config, metrics, read("oof.csv", ["fold"]), read("test_pred.csv"), read("folds.csv", ["fold"]))
    if not run.prediction_columns:
        raise UserError(f"{path / 'oof.csv'} holds no prediction column; restore it or rerun.")
    for name, table in (("oof.csv", run.oof), ("test_pred.csv", run.test_pred)):
        values = table.reindex(columns=run.prediction_columns).apply(pd.to_numeric, errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float))
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            cell = table[run.prediction_columns[col]].iloc[row] if run.prediction_columns[col] in table else None
            raise UserError(f"{path / name}: column {run.prediction_columns[col]!r} is not a finite number "
                            f"({show(cell)}) at id {show(table[id_col].iloc[row])} ({int(bad.sum())} such cell(s)); "
                            "every prediction must be one: rerun that run (or leave it out of a blend).")
    return run
