"""Threads by measurement (``shared.threads``): one thread on small data, more on large, never more than the run
gives (``--threads``); the other load only for libraries whose predictions do not depend on their threads (checked
here); a fit stopped by its time limit in its first rounds is a warning that says why and what to do."""
from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, last_line, run_cli, synthetic_classification

from shared import threads as policy
from shared.log import LOGGER
from shared.models import ModelContext
from shared.tabular.fitting import TimeLimit, say_stopped


def _bench():
    import sys

    if str(ROOT / "scripts") not in sys.path:  # its _bootstrap
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("bench_threads_fits", ROOT / "scripts" / "bench_threads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def lines():
    """The log lines written while the test runs, as (level name, message)."""
    got: list[tuple[str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record):
            got.append((record.levelname, record.getMessage()))

    log, handler = logging.getLogger(LOGGER), Keep()
    log.addHandler(handler)
    level, log.level = log.level, logging.INFO
    yield got
    log.removeHandler(handler)
    log.setLevel(level)


@pytest.mark.parametrize("library", policy.LIBRARIES)
def test_small_data_get_one_thread_and_large_data_all_the_run_gives(library):
    # the case, 400 rows, on one thread; CatBoost's pool waits without spinning: two were faster even there
    assert policy.threads(library, 400, 10, cap=16) == (2 if library == "catboost" else 1)
    assert policy.threads(library, 100, 10, cap=16) == 1
    assert policy.threads(library, 10_000_000, 100, cap=16) == 16
    assert policy.threads(library, 10_000_000, 100, cap=3) == 3  # --threads 3: an upper bound, honoured


def test_lightgbm_keeps_its_one_thread_below_ten_thousand_rows_and_the_others_scale_with_the_cells():
    assert policy.threads("lightgbm", 9_999, 20, cap=2) == 1
    assert policy.threads("lightgbm", 20_000, 20, cap=2) == 2
    assert policy.threads("xgboost", 400, 5, cap=2) == 1
    assert policy.threads("xgboost", 100_000, 20, cap=8) == 8 and policy.threads("xgboost", 40_000, 10, cap=8) == 2
    assert policy.threads("extra_trees", 3_000, 10, cap=8) == 7  # whole trees per thread: no waiting
    assert policy.threads("catboost", 1_758, 79, cap=2) == 2  # its pool does not spin: ames' fold on both cores
    assert policy.threads("catboost", 400, 10, cap=2) == 2 and policy.threads("catboost", 100, 10, cap=2) == 1


def test_a_booster_of_many_classes_counts_a_tree_a_class_in_its_work(tmp_path, lines, monkeypatch):
    """LightGBM grows a tree per class and round: 1,144 rows x 58 columns (the 32-class leaves' fold) is one thread's
    work for one tree a round, two threads' for 32; the log says why."""
    monkeypatch.setattr(policy, "other_load", lambda: 0.0)
    assert policy.threads("lightgbm", 1_144, 58, cap=2) == 1
    assert policy.threads("lightgbm", 1_144, 58, cap=2, trees=32) == 2
    assert policy.fit_threads("lightgbm", 1_144, 58, _ctx(2, tmp_path), trees=32) == 2
    assert ("INFO", "lightgbm: 2 threads of 2 (1,144 rows x 58 columns x 32 trees a round)") in lines


def test_other_load_lowers_only_the_threads_that_do_not_change_predictions(monkeypatch):
    monkeypatch.setattr("shared.models.available_cores", lambda: 4)
    big = (1_000_000, 50)
    assert policy.threads("lightgbm", *big, cap=4, other_busy=3.0) == 1
    assert policy.threads("rf", *big, cap=4, other_busy=1.6) == 2
    assert policy.threads("lightgbm", *big, cap=4, other_busy=0.2) == 4
    for library in ("xgboost", "catboost", "torch"):  # the same command, the same CV, busy or not
        assert policy.threads(library, *big, cap=4, other_busy=3.9) == policy.threads(library, *big, cap=4)


def test_the_cores_other_processes_use_are_read_here():
    busy = policy.other_load()
    assert busy is None or 0 <= busy <= policy.os.cpu_count() + 0.5


def _ctx(n_jobs: int, tmp_path: Path) -> ModelContext:
    return ModelContext("binary", "auc", 2, 0, None, tmp_path, n_jobs)


def test_a_fit_takes_the_policy_s_threads_and_says_so_once(tmp_path, lines):
    assert policy.fit_threads("xgboost", 400, 5, _ctx(2, tmp_path)) == 1
    assert ("INFO", "xgboost: 1 thread of 2 (400 rows x 5 columns, a thread per 200,000 cells)") in lines
    ctx = _ctx(1, tmp_path)
    ctx.progress.name = "fold 1"
    assert policy.fit_threads("extra_trees", 100_000, 10, ctx) == 1  # the run's cap (--threads 1)
    assert len(lines) == 1  # fold 1 is quiet


@pytest.mark.parametrize("library", [name for name, p in policy.POLICIES.items() if p.same_at_any_threads])
def test_the_libraries_that_follow_the_load_predict_the_same_at_one_and_two_threads(library):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=600, n_features=8, random_state=0)
    bench = _bench()
    bench.ROUNDS, bench.TREES = 40, 20  # fewer than the benchmark's: the same question, sooner
    fit = bench.FITS[library]
    one, two = fit(X, y, 1)(X), fit(X, y, 2)(X)
    assert np.array_equal(one, two)


def test_a_fit_stopped_in_its_first_rounds_is_a_warning_naming_the_cause_and_the_fix(lines):
    limit = TimeLimit(time.monotonic() - 1, "xgboost, finding the rounds", rounds=3000, threads=2)
    assert limit.reached(3)
    level, line = lines[-1]
    assert level == "WARNING"
    assert line.startswith("xgboost, finding the rounds: stopped at round 3, the fit's time limit, after 3 of 3,000 "
                           "rounds (")
    assert "s a round on 2 threads): it has learned little" in line
    assert "--time-limit" in line and "--threads 1" in line
    say_stopped("rf: stopped at 200 trees, the fit's time limit", 200, 300, "tree", 2.0, 1)
    assert lines[-1] == ("INFO", "rf: stopped at 200 trees, the fit's time limit")  # most of its trees: no warning


def test_an_xgboost_run_on_400_rows_uses_one_thread_and_warns_when_its_time_limit_starves_it(tmp_path):
    data = synthetic_classification(tmp_path / "data", 2)
    rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "target", "--id", "row_id", "--metric",
                           "auc", "--recipe", "xgboost", "--folds", "2", "--threads", "2", "--time-limit", "0.001",
                           "--out", tmp_path / "runs")
    assert rc == 0, err
    log = (Path(last_line(out)) / "log.txt").read_text()
    assert "xgboost: 1 thread of 2 (150 rows x" in log
    assert "stopped at round 1, the fit's time limit, after 1 of 3,000 rounds" in log
    assert "Give it more time (--time-limit)" in log


def test_bench_threads_writes_its_table_and_picture(tmp_path):
    rc, out, err = run_cli("bench_threads", "--libraries", "knn,extra_trees", "--rows", "60", "--columns", "3",
                           "--threads", "1,2", "--out", tmp_path)
    assert rc == 0, err
    folder = Path(last_line(out))
    import pandas as pd

    table = pd.read_csv(folder / "threads.csv")
    assert sorted(table["library"].unique()) == ["extra_trees", "knn"]
    assert list(table["threads"]) == [1, 2, 1, 2] and (table["max_diff"] == 0).all() and (table["seconds"] > 0).all()
    assert (folder / "threads.png").stat().st_size > 1000
