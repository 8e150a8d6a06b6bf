"""Blending detection runs: each image's boxes from every run fused by Weighted Boxes Fusion, with run weights
chosen on the out-of-fold mAP. The reported CV is nested: the weights applied to fold k's images are chosen on
the other folds' images only. The result is a normal detection run directory (kind ``ensemble``)."""
from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shared import fingerprint
from shared.detection.boxes import pad, unpad, wbf_merge
from shared.ensemble import (
    check_distinct_folders,
    check_distinct_predictions,
    copy_fold_records,
    fold_owners,
    staged_run_dir,
    write_members,
)
from shared.errors import UserError
from shared.io import read_csv, write_csv
from shared.log import start_log
from shared.readback import read_arrays
from shared.results import FoldResults
from shared.runs import label_of, load_config, load_metrics, new_run_dir, save_config

STEP = 0.1  # weight grid step for up to three runs; more runs are weighted equally


def _load(path: Path, partial: bool = False) -> dict:
    path = Path(path)
    needed = ["config.yaml", "metrics.json", "folds.csv", "oof_table.npy", "test_folds.npy"]
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise UserError(f"{path} is not a complete detection run directory: missing {missing}.")
    config, metrics = load_config(path), load_metrics(path)
    if not partial and not metrics.get("complete", True):
        raise UserError(f"{path} holds only some folds; merge or finish it before blending.")
    folds = read_csv(path / "folds.csv", required=[config["id_col"], "fold"], what="the run's folds",
                     fix="restore it or rerun", dtype=str, keep_default_na=False)
    fix = "restore it or rerun (or leave that run out)"  # padded box tables hold NaN: finite=False
    oof = read_arrays(path / "oof_table.npy", {"": (len(folds), ...)}, fix, required=[""], finite=False)[""]
    n_done = len(metrics["folds"]) if isinstance(metrics.get("folds"), dict) else None
    test_folds = read_arrays(path / "test_folds.npy", {"": (n_done, None, *oof.shape[1:])}, fix, required=[""],
                             finite=False)[""]
    return {"path": path, "config": config, "metrics": metrics, "folds": folds, "oof": oof, "test_folds": test_folds}


def _grid(n_runs: int) -> list[np.ndarray]:
    if n_runs > 3:
        return [np.full(n_runs, 1 / n_runs)]
    steps = int(round(1 / STEP))
    out = [np.array(c) * STEP for c in itertools.product(range(steps + 1), repeat=n_runs) if sum(c) == steps]
    return [w for w in out if (w > 0).any()]


def _fuse(tables: list[np.ndarray], weights: np.ndarray, sizes: list[tuple[int, int]], iou: float,
          max_det: int) -> np.ndarray:
    used = [i for i, w in enumerate(weights) if w > 0]
    if len(used) == 1:  # one run alone: its detections as they are (WBF would also fuse its own overlapping boxes)
        return tables[used[0]]
    per_run = [unpad(tables[i]) for i in used]
    fused = [wbf_merge([run[j] for run in per_run], w, h, iou, max_det, [float(weights[i]) for i in used])
             for j, (w, h) in enumerate(sizes)]
    return pad(fused, max_det)


def ensemble(spec, run_dirs: list[Path], out_root: Path, method: str = "weights", data_dir: Path | None = None,
             iou: float = 0.55, label: str | None = None) -> Path:
    """Blend finished detection runs of ``spec`` (a ``DetectionSpec``): ``method`` ``weights`` (grid-searched on
    OOF mAP, nested) or ``mean`` (equal weights)."""
    started = time.time()
    if method not in ("weights", "mean"):
        raise UserError(f"--method {method}: detection runs blend by Weighted Boxes Fusion with tuned ('weights') "
                        "or equal ('mean') run weights.")
    check_distinct_folders(run_dirs)
    runs = [_load(p) for p in run_dirs]
    first = runs[0]
    _check_alike(spec, runs)
    data = spec.load_run_data(Path(data_dir or first["config"]["data_dir"]), first["config"])
    outputs = spec.outputs
    for r in runs:
        if r["oof"].shape[0] != len(data.train) or r["test_folds"].shape[1] != len(data.test):
            raise UserError(f"{r['path']} was made on other data than {data.data_dir}; pass --data DIR.")
    current = fingerprint.of(spec, data)
    fingerprint.check_blend([(r["path"], r["config"]) for r in runs], current, data.data_dir, answers=spec.train_file)
    fold_of = first["folds"]["fold"].astype(int).to_numpy()
    folds = sorted(np.unique(fold_of))
    candidates = _grid(len(runs)) if method == "weights" else [np.full(len(runs), 1 / len(runs))]
    blended, weights, chosen = _nested_fusion(spec, data, runs, fold_of, folds, candidates, iou)
    test_sizes = [(int(w), int(h)) for w, h in zip(data.test["width"], data.test["height"])]
    tests = [outputs.average(data, r["test_folds"], iou) for r in runs]
    test_table = _fuse(tests, weights, test_sizes, iou, spec.max_detections)
    fold_scores = [outputs.score(data, None, np.flatnonzero(fold_of == k), blended[fold_of == k]) for k in folds]

    members = pd.DataFrame([{"run": r["path"].name, "recipe": r["config"]["recipe"], "cv": r["metrics"]["cv"],
                             "holdout": r["metrics"].get("holdout"), "weight": float(w)}
                            for r, w in zip(runs, weights)])
    extra = {"recipe": f"ensemble-{method}", "kind": "ensemble", "complete": True,
             "members": members.to_dict(orient="records"), "weights": weights.tolist(), "weights_by_fold": chosen}
    with staged_run_dir(out_root, spec.folder, f"ensemble-{method}", label) as (run_dir, final_dir):  # moved when complete
        start_log(run_dir).info(f"ensemble ({method}, Weighted Boxes Fusion) of {len(runs)} runs: "
                                + ", ".join(r["path"].name for r in runs))
        save_config(run_dir, {**{k: first["config"][k] for k in ("competition", "id_col", "task", "metric", "seed",
                                                                 "n_folds", "fold_kind", "data_dir", "predict")},
                              "recipe": f"ensemble-{method}", "kind": "ensemble", "method": method,
                              "outputs": outputs.kind, "members": [str(r["path"]) for r in runs],
                              "weights": weights.tolist(), fingerprint.KEY: current})
        write_csv(run_dir / "folds.csv", first["folds"])
        outputs.write_results(run_dir, data, FoldResults(fold_of, blended, folds, fold_scores, test_table[None],
                                                         started, extra, config=first["config"]))
        write_members(run_dir, members.to_dict(orient="records"), method, ("weights", "mean"))
    return final_dir


def _check_alike(spec, runs: list[dict]) -> None:
    """Runs blend when they are of ``spec``'s competition, predict the same image list on the same folds and seed,
    and are not one model twice."""
    first = runs[0]
    for r in runs[1:]:
        for key in ("competition", "predict", "n_folds", "seed"):
            if r["config"].get(key) != first["config"].get(key):
                raise UserError(f"{r['path']} differs from {first['path']} in {key!r} ({r['config'].get(key)!r} vs "
                                f"{first['config'].get(key)!r}): blend runs of one competition, image list and folds.")
        if not r["folds"].equals(first["folds"]):
            raise UserError(f"{r['path']}/folds.csv differs from {first['path']}/folds.csv.")
    check_distinct_predictions([(r["path"], r["oof"]) for r in runs])
    if first["config"].get("competition") != spec.name:
        raise UserError(f"{first['path']} is a run of {first['config'].get('competition')!r}, not {spec.name!r}.")


def _nested_fusion(spec, data, runs: list[dict], fold_of: np.ndarray, folds: list, candidates: list[np.ndarray],
                   iou: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """(the runs' OOF detections fused with nested weights: fold k's images with the candidate scoring best on the
    other folds' images; the candidate scoring best on all images, for the test set; each fold's weights)."""
    outputs = spec.outputs
    train_sizes = [(int(w), int(h)) for w, h in zip(data.train["width"], data.train["height"])]
    fused_oof = [_fuse([r["oof"] for r in runs], w, train_sizes, iou, spec.max_detections) for w in candidates]

    def best(rows: np.ndarray) -> int:
        scores = [outputs.score(data, None, rows, table[rows]) for table in fused_oof]
        return int(np.argmax(scores))

    blended = np.full_like(runs[0]["oof"], np.nan)
    chosen = {}
    for k in folds:  # nested: fold k's weights come from the other folds
        pick = best(np.flatnonzero(fold_of != k))
        rows = np.flatnonzero(fold_of == k)
        blended[rows] = fused_oof[pick][rows]
        chosen[str(k)] = candidates[pick].tolist()
    return blended, candidates[best(np.arange(len(data.train)))], chosen


def merge(spec, run_dirs: list[Path], out_root: Path, data_dir: Path | None = None, label: str | None = None) -> Path:
    """Join partial detection runs of one recipe of ``spec`` (``--only-folds``) into one complete run: each fold's
    OOF detections and test predictions from the run that trained it, fused over folds as a full run fuses them."""
    started = time.time()
    runs = [_load(p, partial=True) for p in run_dirs]
    first = runs[0]
    owner_of, folds = fold_owners([(r["path"], r["config"], r["folds"], r["metrics"]["folds"]) for r in runs])
    owner = {k: runs[i] for k, i in owner_of.items()}
    fold_of = first["folds"]["fold"].astype(int).to_numpy()
    if first["config"].get("competition") != spec.name:
        raise UserError(f"{first['path']} is a run of {first['config'].get('competition')!r}, not {spec.name!r}.")
    data = spec.load_run_data(Path(data_dir or first["config"]["data_dir"]), first["config"])
    current = fingerprint.of(spec, data)
    fingerprint.check_current([(r["path"], r["config"]) for r in runs], current, data.data_dir)
    oof = first["oof"].copy()
    for k in folds:
        oof[fold_of == k] = owner[k]["oof"][fold_of == k]
    test_folds = np.stack([owner[k]["test_folds"][sorted(map(int, owner[k]["metrics"]["folds"])).index(k)]
                           for k in folds])
    fold_scores = [owner[k]["metrics"]["folds"][str(k)] for k in folds]
    run_dir = new_run_dir(out_root, spec.folder, f"{first['config']['recipe']}-merged", label or label_of(first["path"]))
    log = start_log(run_dir)
    log.info("merge of " + ", ".join(r["path"].name for r in runs))
    save_config(run_dir, {**first["config"], "only_folds": None, "merged_from": [str(r["path"]) for r in runs],
                          fingerprint.KEY: current})
    write_csv(run_dir / "folds.csv", first["folds"])
    copy_fold_records({k: owner[k]["path"] for k in folds}, run_dir)
    fold_times = {str(k): owner[k]["metrics"].get("fold_times_s", {}).get(str(k)) for k in folds}
    extra = {"recipe": first["config"]["recipe"], "complete": True, "fold_times_s": fold_times,
             "merged_from": [str(r["path"]) for r in runs]}
    return spec.outputs.write_results(run_dir, data, FoldResults(fold_of, oof, folds, fold_scores, test_folds, started,
                                                                 extra, config=first["config"]))
