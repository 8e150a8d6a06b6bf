#!/usr/bin/env python
"""The guard of refactors: every competition's recipes and every tabular zoo member, run on small demos, give the
figures recorded in ``tests/figures.json`` (CV, local holdout, the submission's SHA-256). Moving code must not
move a figure; a change that means to (a new feature, a new default) records them again and says so.

    python scripts/figures.py record [--only K]  # run the cases, record this CPU's figures (others' of them dropped)
    python scripts/figures.py record --beside    # the code did not change, this CPU rounds differently: add its own
    python scripts/figures.py check [--only K]   # run the cases again, compare (exit 1 on any difference)

Figures are kept per kind of CPU (its vendor and widest vector instructions): the same code on another kind rounds
the last bits differently, and on these small demos that can flip a tree's split and move a CV in its third digit.
A case is compared with the figures of this CPU's kind; where none are recorded, with those of every kind.

Image and detection cases run short (one thread, two folds, a few updates): equal at the same seed and threads
is what they promise. Takes about 10 minutes on an idle 2-core CPU (2026-12-06); other load slows it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "tests" / "figures.json"
SHORT = ["--folds", "2", "--threads", "1", "--set", "epochs=1"]
SHORT_IMAGES = [*SHORT, "--set", "min_updates=8"]
ZOO_REGRESSION = ["gbm", "linear", "catboost", "xgboost", "extra_trees", "rf", "knn", "mlp", "svr"]
ZOO_BINARY = ["gbm", "linear", "catboost", "xgboost", "extra_trees", "knn", "mlp"]

# name -> (demo competition, demo size, run.py arguments after the data folder)
CASES = {
    **{f"house_prices/{r}": ("house_prices", "small", ["house_prices", "--recipe", r])
       for r in ("baseline", "linear", "gbm", "gbm_plain", "catboost", "svr", "mlp")},
    "california_house_prices/default": ("california_house_prices", "tiny", ["california_house_prices"]),
    "contraception/default": ("contraception", "tiny", ["contraception"]),
    **{f"tabular-regression/{r}": ("california_house_prices", "tiny",
                                   ["tabular", "--target", "Sold Price", "--id", "Id", "--metric", "rmsle",
                                    "--recipe", r]) for r in ZOO_REGRESSION},
    **{f"tabular-binary/{r}": ("contraception", "tiny",
                               ["tabular", "--target", "use", "--id", "id", "--metric", "auc", "--recipe", r])
       for r in ZOO_BINARY},
    **{f"cifar10/{r}": ("cifar10", "tiny", ["cifar10", "--recipe", r, *SHORT_IMAGES]) for r in ("fast", "baseline")},
    **{f"classify_leaves/{r}": ("classify_leaves", "tiny", ["classify_leaves", "--recipe", r, *SHORT_IMAGES])
       for r in ("timm", "baseline")},
    "cowboy_outfits/mobile": ("cowboy_outfits", "tiny", ["cowboy_outfits", "--recipe", "mobile", *SHORT]),
}


def run_case(name: str, work: Path) -> dict:
    """Build the case's demo (once per competition and size) and run it; its CV, holdout and submission hash."""
    competition, size, args = CASES[name]
    data = work / f"{competition}-{size}"
    if not data.is_dir():
        subprocess.run([sys.executable, "scripts/make_demo.py", competition, "--size", size, "--out", str(data)],
                       cwd=ROOT, check=True, capture_output=True)
    out = work / "runs" / name.replace("/", "-")
    done = subprocess.run([sys.executable, "scripts/run.py", args[0], "--data", str(data), "--out", str(out),
                           *args[1:]], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    if done.returncode != 0:
        raise SystemExit(f"{name}: run failed:\n{done.stderr[-2000:]}")
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"cv": metrics.get("cv"), "holdout": metrics.get("holdout"), "submission_sha256": submission_hash(run_dir)}


def submission_hash(run_dir: Path) -> str:
    """SHA-256 of the submission's content (of a zip, its files' bytes: the zip itself holds the time written)."""
    if (run_dir / "submission.csv").is_file():
        return hashlib.sha256((run_dir / "submission.csv").read_bytes()).hexdigest()
    with zipfile.ZipFile(run_dir / "submission.zip") as archive:
        return hashlib.sha256(b"".join(archive.read(name) for name in sorted(archive.namelist()))).hexdigest()


def cpu() -> str:
    """This machine's kind of CPU as far as rounding goes: architecture, vendor, widest vector instructions."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    widest = next((isa for isa in ("avx512f", "avx2", "avx", "sse4_2") if isa in flags), "")
    return " ".join(part for part in (platform.machine(), fields.get("vendor_id", platform.processor()), widest)
                    if part)


def load() -> dict[str, dict[str, dict]]:
    """The recorded figures: kind of CPU -> case -> its figures."""
    return json.loads(FIGURES.read_text()) if FIGURES.is_file() else {}


def expected(case: str, recorded: dict[str, dict[str, dict]], here: str | None = None) -> dict[str, dict]:
    """The figures a run of ``case`` here is held to, by kind of CPU: this kind's if recorded, else every kind's."""
    here = cpu() if here is None else here
    if case in recorded.get(here, {}):
        return {here: recorded[here][case]}
    return {kind: cases[case] for kind, cases in recorded.items() if case in cases}


def close(seen: dict, record: dict, rel: float = 1e-7) -> bool:
    """The same CV and holdout to ``rel`` (None only equals None)."""
    return all(seen[k] == record[k] if None in (seen[k], record[k]) else math.isclose(seen[k], record[k], rel_tol=rel)
               for k in ("cv", "holdout"))


def merged(recorded: dict, seen: dict[str, dict], here: str, beside: bool) -> dict:
    """The record with this CPU's ``seen`` figures in; unless ``beside``, the same cases' figures of other kinds of
    CPU are dropped: the code moved them there too, and only a run on such a CPU can record them again."""
    out = {kind: {case: figs for case, figs in cases.items() if beside or kind == here or case not in seen}
           for kind, cases in recorded.items()}
    out[here] = {**out.get(here, {}), **seen}
    return {kind: cases for kind, cases in out.items() if cases}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["record", "check"])
    p.add_argument("--only", help="the cases whose name contains this text")
    p.add_argument("--beside", action="store_true",
                   help="record: keep the other CPUs' figures of these cases (the code did not change)")
    args = p.parse_args()
    names = [n for n in CASES if args.only is None or args.only in n]
    recorded, here = load(), cpu()
    print(f"this CPU: {here}", flush=True)
    seen, differ = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            seen[name] = run_case(name, Path(tmp))
            held = expected(name, recorded, here)
            same = seen[name] in held.values()
            differ += [] if same or args.action == "record" else [name]
            print(f"{name}: {seen[name]}" + ("" if args.action == "record" or same else
                                             f"  DIFFERS from {held or 'nothing recorded'}"), flush=True)
    if args.action == "record":
        tmp_path = FIGURES.with_suffix(".json.tmp")
        tmp_path.write_text(json.dumps(merged(recorded, seen, here, args.beside), indent=1, sort_keys=True) + "\n")
        tmp_path.replace(FIGURES)
        print(f"wrote {FIGURES} (figures of {here})")
        return 0
    print(f"{len(names) - len(differ)} passed, {len(differ)} failed")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
