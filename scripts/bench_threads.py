#!/usr/bin/env python
"""Measure how fast each tabular library fits on 1, 2, ... threads, at several row and column counts, on this
machine (optionally with ``--load N`` busy processes beside it for the whole benchmark), and whether its
predictions are the same at every thread count. The figures behind ``shared.threads``; a CSV and a PNG in
runs/bench/threads-<time>/ (printed last).

    python scripts/bench_threads.py                                   # every library, 400 / 3,000 / 30,000 rows
    python scripts/bench_threads.py --libraries xgboost,lightgbm --rows 400,100000 --columns 10,100 --load 2
    python scripts/bench_threads.py --case xgboost400 [--load 2]
        # the run behind the thread policy: run.py tabular --recipe xgboost on the contraception demo cut to 400
        # rows, with every core (the old way) and with the policy's threads: wall seconds and CV of each

Each library fits a fixed amount of work (no early stopping), so only the threads change: LightGBM, XGBoost and
CatBoost 300 rounds, a torch MLP (256-256) 5 epochs, scikit-learn's extra trees and random forest 100 trees,
k-nearest neighbours (10) fitted and asked for every row.
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import MAX_AT_ONCE as MAX_THREADS
from shared.cli import ArgumentParser, main, whole, wholes
from shared.threads import LIBRARIES

MAX_ROWS = 10_000_000
MAX_COLUMNS = 10_000
ROUNDS, TREES, EPOCHS = 300, 100, 5


def _data(rows: int, columns: int):
    from sklearn.datasets import make_classification

    return make_classification(n_samples=rows, n_features=columns, n_informative=min(columns, 10),
                               n_redundant=0, random_state=0)


def _fit_lightgbm(X, y, threads):
    import lightgbm as lgb

    params = {"objective": "binary", "learning_rate": 0.03, "num_leaves": 31, "feature_fraction": 0.5,
              "bagging_fraction": 0.8, "bagging_freq": 1, "seed": 0, "deterministic": True, "force_row_wise": True,
              "num_threads": threads, "verbosity": -1}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=ROUNDS).predict


def _fit_xgboost(X, y, threads):
    import xgboost as xgb

    params = {"objective": "binary:logistic", "eta": 0.05, "max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.8,
              "tree_method": "hist", "nthread": threads, "seed": 0, "verbosity": 0}
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=ROUNDS)
    return lambda rows: booster.predict(xgb.DMatrix(rows))


def _fit_catboost(X, y, threads):
    from catboost import CatBoostClassifier

    model = CatBoostClassifier(iterations=ROUNDS, learning_rate=0.08, depth=6, random_seed=0, thread_count=threads,
                               verbose=False, allow_writing_files=False).fit(X, y)
    return lambda rows: model.predict_proba(rows)[:, 1]


def _fit_torch(X, y, threads):
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    xs, ys = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 2))
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(EPOCHS):
        order = torch.randperm(len(xs), generator=generator)
        for start in range(0, len(xs), 128):
            batch = order[start:start + 128]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(xs[batch]), ys[batch]).backward()
            optimizer.step()

    def predict(rows):
        with torch.no_grad():
            return torch.softmax(net(torch.tensor(rows, dtype=torch.float32)), 1)[:, 1].numpy()
    return predict


def _fit_forest(kind):
    def fit(X, y, threads):
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        model = (ExtraTreesClassifier if kind == "extra_trees" else RandomForestClassifier)(
            n_estimators=TREES, max_features="sqrt", n_jobs=threads, random_state=0).fit(X, y)
        model.n_jobs = 1  # as the zoo predicts: the trees' votes summed in one order
        return lambda rows: model.predict_proba(rows)[:, 1]
    return fit


def _fit_knn(X, y, threads):
    from sklearn.neighbors import KNeighborsClassifier

    model = KNeighborsClassifier(n_neighbors=10, weights="distance", n_jobs=threads).fit(X, y)
    model.predict_proba(X)  # its cost is in asking, for every row
    return lambda rows: model.predict_proba(rows)[:, 1]


FITS = {"lightgbm": _fit_lightgbm, "xgboost": _fit_xgboost, "catboost": _fit_catboost, "torch": _fit_torch,
        "extra_trees": _fit_forest("extra_trees"), "rf": _fit_forest("rf"), "knn": _fit_knn}


def _spin(parent: int) -> None:
    import os

    while os.getppid() == parent:  # a benchmark stopped by a signal leaves no spinning process behind
        pass


@contextmanager
def busy(n: int):
    """``n`` processes spinning on a core each for as long as the block runs (other load on the machine)."""
    import os

    procs = [multiprocessing.Process(target=_spin, args=(os.getpid(),), daemon=True) for _ in range(n)]
    for proc in procs:
        proc.start()
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.join()


def measure(libraries, rows_list, columns_list, thread_counts, repeats: int, say=print):
    """One row per (library, rows, columns, threads): the fastest of ``repeats`` fits' wall seconds and the largest
    difference of its predictions from the one-thread fit's (0: the same)."""
    import numpy as np

    out = []
    X, y = _data(50, 4)
    for library in libraries:  # imports and first-call set-up, outside the figures
        FITS[library](X, y, 1)
    for rows in rows_list:
        for columns in columns_list:
            X, y = _data(rows, columns)
            probe = X[:1000]
            for library in libraries:
                first = None
                for threads in thread_counts:
                    times = []
                    for _ in range(repeats):
                        started = time.perf_counter()
                        predict = FITS[library](X, y, threads)
                        times.append(time.perf_counter() - started)
                    pred = np.asarray(predict(probe), float)
                    first = pred if first is None else first
                    out.append({"library": library, "rows": rows, "columns": columns, "threads": threads,
                                "seconds": round(min(times), 4), "max_diff": float(np.max(np.abs(pred - first)))})
                    say(f"{library} {rows} x {columns}, {threads} thread(s): {min(times):.3f} s, predictions differ "
                        f"from one thread's by {out[-1]['max_diff']:.3g}")
    return out


def plot(df, path: Path, title: str) -> None:
    from shared import plots

    plt = plots.plt
    libraries = list(dict.fromkeys(df["library"]))
    fig, axes = plt.subplots(1, len(libraries), figsize=(3.2 * len(libraries), 3.4), squeeze=False)
    for ax, library in zip(axes[0], libraries):
        part = df[df["library"] == library]
        for (rows, columns), sizes in part.groupby(["rows", "columns"]):
            ax.plot(sizes["threads"], sizes["seconds"], marker="o", label=f"{rows:,} x {columns}")
        ax.set_yscale("log")
        ax.set_xticks(sorted(part["threads"].unique()))
        ax.set_title(library)
        ax.set_xlabel("threads")
    axes[0][0].set_ylabel("fit seconds (log)")
    axes[0][-1].legend(fontsize=7, title="rows x columns", title_fontsize=7)
    fig.suptitle(title, fontsize=9)
    plots.save(fig, path)


def xgboost400(out_root: Path, cores: int, say=print) -> list[dict]:
    """``run.py tabular --recipe xgboost`` on the contraception demo cut to 400 training rows, twice: every core for
    XGBoost (as before the thread policy) and the policy's threads. [{how, seconds, cv}]."""
    from contextlib import nullcontext
    from unittest import mock

    from competitions.contraception import demo
    from shared import runner
    from shared.runs import load_metrics
    from shared.tabular import generic

    with tempfile.TemporaryDirectory() as tmp:
        data = demo.build(Path(tmp) / "contraception", size="full")
        train = data / "train.csv"
        train.write_text("".join(train.read_text().splitlines(keepends=True)[:401]))
        spec = generic.spec_for(data, "use", "id", "auc")
        out = []
        every_core = mock.patch("shared.threads.threads", lambda library, rows, columns, cap, other_busy=None: cap)
        for how, patch in (("every core (before)", every_core), ("the thread policy", nullcontext())):
            with patch:
                started = time.perf_counter()
                run = runner.run(spec, "xgboost", data, out_root=Path(tmp) / "runs", parallel=None)
                seconds = time.perf_counter() - started
            cv = load_metrics(run)["cv"]
            out.append({"case": "xgboost400", "how": how, "cores": cores, "seconds": round(seconds, 2), "cv": cv})
            say(f"xgboost, 400 rows, {how}: {seconds:.1f} s, CV auc {cv:.5f}")
    return out


def bench(argv=None) -> Path:
    import os

    import pandas as pd

    from shared.io import write_csv
    from shared.models import available_cores
    from shared.runs import new_run_dir

    cores = available_cores()
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--libraries", default=",".join(FITS),
                   help=f"comma-separated, of {', '.join(FITS)} (default: all)")
    p.add_argument("--rows", type=wholes(10, MAX_ROWS, "a row count", most=20), default=[400, 3000, 30000],
                   help="training rows, comma-separated (default 400,3000,30000)")
    p.add_argument("--columns", type=wholes(2, MAX_COLUMNS, "a column count", most=20), default=[10, 100],
                   help="columns, comma-separated (default 10,100)")
    p.add_argument("--threads", type=wholes(1, MAX_THREADS, "a thread count", most=20),
                   help=f"thread counts, comma-separated (default: 1 to the {cores} cores)")
    p.add_argument("--load", type=whole(0, MAX_THREADS, "a count of busy processes"), default=0,
                   help="busy-spinning processes beside the benchmark, for all of it (other load; default 0)")
    p.add_argument("--repeats", type=whole(1, 100, "a repeat count"), default=1,
                   help="fits per measurement, the fastest kept (default 1)")
    p.add_argument("--case", choices=["xgboost400"],
                   help="instead: the XGBoost run on 400 rows, every core against the policy's threads")
    p.add_argument("--out", type=Path, default=Path("runs"))
    args = p.parse_args(argv)
    libraries = args.libraries.split(",")
    unknown = [name for name in libraries if name not in FITS]
    if unknown:
        p.error(f"--libraries {unknown[0]!r}: choose from {', '.join(FITS)}")
    assert set(FITS) <= set(LIBRARIES)
    folder = new_run_dir(args.out, "bench", "threads")
    load = f", {args.load} busy process{'es' if args.load != 1 else ''} beside it" if args.load else ""
    title = f"{cores} cores, load average {os.getloadavg()[0]:.1f} at the start{load}"
    print(title, file=sys.stderr)
    with busy(args.load):
        if args.case:
            rows = xgboost400(folder, cores, say=lambda line: print(line, file=sys.stderr))
        else:
            rows = measure(libraries, args.rows, args.columns, args.threads or list(range(1, cores + 1)),
                           args.repeats, say=lambda line: print(line, file=sys.stderr))
    df = pd.DataFrame(rows).assign(load=args.load)
    write_csv(folder / "threads.csv", df, index=False)
    if not args.case:
        plot(df, folder / "threads.png", f"Fit seconds by threads: {title}")
    print(df.to_string(index=False))
    print(folder)
    return folder


if __name__ == "__main__":
    sys.exit(main(bench))
