"""Turn several run directories into one new run directory: an ensemble (``ensemble``) or the union of
partial runs of one recipe (``merge``). Both end in ``runner.write_results``, like any run."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shared import fingerprint
from shared.cli import spec_from_run_config
from shared.compare import markdown_table
from shared.ensemble import Blender, check_compatible, members_table, nested_oof, stacked_predictions
from shared.errors import UserError
from shared.io import write_csv, write_text
from shared.metrics import squeeze
from shared.runner import fold_average, prediction_floor, write_results
from shared.runs import Run, load_run, new_run_dir, save_config, start_log

IGNORED_FOR_MERGE = {"only_folds", "command", "code_version", "time_limit", fingerprint.KEY}  # data: compared apart


def fold_owners(parts: list[tuple[Path, dict, pd.DataFrame, dict]]) -> tuple[dict[int, int], list[int]]:
    """Partial runs as (path, config, folds.csv frame, their per-fold scores): check that they are one recipe and
    configuration on the same folds, each fold in exactly one of them; return {fold: index of the run holding
    it} and every fold. Shared by the table and the detection merge."""
    first_path, first_config, first_folds, _ = parts[0]
    for path, config, _, _ in parts[1:]:
        proven = first_config.get(fingerprint.KEY) is not None and config.get(fingerprint.KEY) is not None
        ignored = IGNORED_FOR_MERGE | ({"data_dir"} if proven else set())  # same data at another path: fine
        for key in set(first_config) | set(config):
            if key not in ignored and first_config.get(key) != config.get(key):
                raise UserError(f"{path} differs from {first_path} in {key!r} ({config.get(key)!r} vs "
                                f"{first_config.get(key)!r}): merge runs of one recipe and configuration only.")
    fingerprint.check_same_data([(path, config) for path, config, _, _ in parts])  # other data: other folds too
    for path, _, folds, _ in parts[1:]:
        a, b = first_folds.astype(str).values, folds.astype(str).values
        if a.shape != b.shape or not (a == b).all():
            raise UserError(f"{path}/folds.csv differs from {first_path}/folds.csv.")
    owner: dict[int, int] = {}
    for i, (path, _, _, scores) in enumerate(parts):
        for k in map(int, scores):
            if k in owner:
                raise UserError(f"fold {k} is in both {parts[owner[k]][0]} and {path}: each fold must come from "
                                "one run.")
            owner[k] = i
    all_folds = sorted(int(k) for k in first_folds["fold"].unique())
    missing = [k for k in all_folds if k not in owner]
    if missing:
        raise UserError(f"fold(s) {missing} are in none of the runs: run them with --only-folds "
                        f"{','.join(map(str, missing))} and merge again.")
    return owner, all_folds


def _data_and_target(spec, runs: list[Run], data_dir: Path | None):
    data = spec.load(Path(data_dir or runs[0].config["data_dir"]), clean=runs[0].config.get("clean_train", True))
    classes = runs[0].config.get("classes")
    target = data.train[spec.target_col]
    if classes is None:
        return data, target.to_numpy(float), None
    return data, pd.Categorical(target.astype(str), categories=[str(c) for c in classes]).codes, classes


def ensemble(run_dirs: list[Path], method: str, out_root: Path, data_dir: Path | None = None) -> Path:
    started = time.time()
    runs = [load_run(p) for p in run_dirs]
    check_compatible(runs)
    spec = spec_from_run_config(runs[0].config)
    data, y, classes = _data_and_target(spec, runs, data_dir)
    current = fingerprint.of(spec, data)
    fingerprint.check_blend([(r.path, r.config) for r in runs], current, data.data_dir)
    oof, test = stacked_predictions(runs)
    fold_of = runs[0].folds["fold"].to_numpy()
    task = "regression" if classes is None else "classification"
    args = {"method": method, "metric": spec.metric, "task": task}
    blended_oof = nested_oof(args, oof, y, fold_of)
    final = Blender(**args).fit(oof, y)
    test_pred = final.predict(test)
    floor = prediction_floor(spec, y)  # a stacker's intercept may reach below what the target allows
    if floor is not None:
        blended_oof, test_pred = np.maximum(blended_oof, floor), np.maximum(test_pred, floor)
    folds = sorted(np.unique(fold_of))
    fold_scores = [spec.metric(y[fold_of == k], squeeze(blended_oof[fold_of == k])) for k in folds]

    run_dir = new_run_dir(out_root, spec.name, f"ensemble-{method}")
    start_log(run_dir).info(f"ensemble ({method}) of {len(runs)} runs: " + ", ".join(r.path.name for r in runs))
    weights = getattr(final, "weights_", None) if method in ("mean", "weights") else None
    members = members_table(runs, weights)
    config = {**{k: runs[0].config[k] for k in ("competition", "id_col", "target_col", "task", "metric",
                                                 "classes", "seed", "n_folds", "fold_kind", "data_dir")},
              "recipe": f"ensemble-{method}", "kind": "ensemble", "method": method,
              "members": [str(r.path) for r in runs], "weights": None if weights is None else weights.tolist(),
              fingerprint.KEY: current}
    save_config(run_dir, config)
    write_csv(run_dir / "folds.csv", runs[0].folds)
    write_results(run_dir, spec, data, y, classes, fold_of, blended_oof, folds, fold_scores, test_pred[None],
                  test_pred, started, {"recipe": f"ensemble-{method}", "kind": "ensemble", "complete": True,
                                       "members": members.to_dict(orient="records")})
    return write_members(run_dir, members.to_dict(orient="records"), method)


def write_members(run_dir: Path, members: list[dict], method: str) -> Path:
    """``members.md``: every member's CV and holdout beside the blend's (read from its metrics.json)."""
    blend = json.loads((run_dir / "metrics.json").read_text())
    row = {"run": run_dir.name, "recipe": f"**ensemble ({method}, nested CV)**", "cv": blend["cv"],
           "holdout": blend["holdout"], "weight": None}
    write_text(run_dir / "members.md", markdown_table(pd.DataFrame([*members, row])))
    return run_dir


def merge(run_dirs: list[Path], out_root: Path, data_dir: Path | None = None) -> Path:
    """Join partial runs (``--only-folds``) of one recipe into one complete run."""
    started = time.time()
    runs = [load_run(p) for p in run_dirs]
    first = runs[0]
    owner_of, all_folds = fold_owners([(r.path, r.config, r.folds, r.metrics["folds"]) for r in runs])
    owner = {k: runs[i] for k, i in owner_of.items()}

    spec = spec_from_run_config(first.config)
    data, y, classes = _data_and_target(spec, runs, data_dir)
    current = fingerprint.of(spec, data)
    unproven = fingerprint.check_current([(r.path, r.config) for r in runs], current, data.data_dir)
    oof = first.oof_in_fold_order(pd.concat([r.oof for r in runs]))
    test_folds = np.stack([owner[k].test_folds()[sorted(map(int, owner[k].metrics["folds"])).index(k)]
                           for k in all_folds])
    fold_scores = [owner[k].metrics["folds"][str(k)] for k in all_folds]

    run_dir = new_run_dir(out_root, spec.name, f"{first.config['recipe']}-merged")
    log = start_log(run_dir)
    log.info("merge of " + ", ".join(r.path.name for r in runs))
    warn_unproven(log, unproven)
    save_config(run_dir, {**first.config, "only_folds": None, "merged_from": [str(r.path) for r in runs],
                          fingerprint.KEY: current})
    write_csv(run_dir / "folds.csv", first.folds)
    fold_times = {str(k): owner[k].metrics.get("fold_times_s", {}).get(str(k)) for k in all_folds}
    return write_results(run_dir, spec, data, y, classes, first.folds["fold"].to_numpy(), oof, all_folds,
                         fold_scores, test_folds,
                         fold_average(test_folds, spec.metric, classes, first.config.get("fold_average", "probabilities")),
                         started,
                         {"recipe": first.config["recipe"], "complete": True, "fold_times_s": fold_times,
                          "merged_from": [str(r.path) for r in runs],
                          **_kept(owner[all_folds[0]].metrics, "time_split")})


def warn_unproven(log, runs: list[Path]) -> None:
    """Partial runs made before data fingerprints were recorded are merged as before, with a warning."""
    for path in runs:
        log.warning(f"{path} records no data fingerprint (made by an older version): merged without checking that "
                    "it was made on the same data.")


def _kept(metrics: dict, key: str) -> dict:
    """``{key: value}`` when a partial run recorded it (the time split is scored by the run holding fold 0)."""
    return {key: metrics[key]} if metrics.get(key) is not None else {}
