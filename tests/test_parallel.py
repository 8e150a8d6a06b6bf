"""Folds side by side on Ray (``run.py --parallel``, ``shared.parallel``): the same results as a run one fold after
another, bit for bit on CPU; a killed parallel run resumes to the uninterrupted result; a failing fold stops the
run in one line and keeps the finished folds; every fold's log line reaches the run's log named by its fold;
``compare.py --parallel`` runs its recipes side by side; bad flags, an unreachable cluster and torchrun are one
line each, before anything is written; and without ``--parallel`` Ray is never imported.

The default tier holds the checks that start no Ray and one tabular run on a local Ray; the image run, kill and
resume, the failing fold, compare and a cluster started with ``ray start`` are in the integration tier."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, assert_user_error, last_line, run_cli, run_script

from shared import parallel
from shared.models import available_cores
from shared.parallel import Settings

GBM = ["--recipe", "gbm", "--folds", "2", "--set", "max_rounds=300"]
LEAVES = ["--recipe", "baseline", "--folds", "2", "--set", "epochs=2", "--set", "img_size=32", "--set",
          "min_updates=0"]
ENV = {"OMP_WAIT_POLICY": "PASSIVE", "MPLBACKEND": "Agg"}


def _run(*args, runner=run_cli) -> Path:
    rc, out, err = runner("run", *args)
    assert rc == 0, err[-3000:]
    return Path(last_line(out))


def _same_results(a: Path, b: Path) -> None:
    """Two run folders hold the same results: files byte for byte, each fold's saved predictions, the scores."""
    for name in ("oof.csv", "test_pred.csv", "submission.csv", "folds.csv", "test_folds.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for fold in sorted(a.glob("fold*/predictions.npz")):
        with np.load(fold) as x, np.load(b / fold.parent.name / fold.name) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                if not key.endswith("seconds"):  # seconds, fit_seconds, ...: times, not results
                    np.testing.assert_array_equal(x[key], y[key], err_msg=f"{fold.parent.name}/{key}")
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for key in ("cv", "cv_mean", "cv_std", "folds", "holdout", "holdout_folds", "variants", "complete"):
        assert ma.get(key) == mb.get(key), key
    assert (ma.get("time_split") or {}).get("score") == (mb.get("time_split") or {}).get("score")


def _config(run_dir: Path) -> dict:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return {k: v for k, v in config.items() if k not in ("command", "code_version")}


# ------------------------------------------------------------------------------------ plan (no Ray started)
@pytest.fixture
def machine(monkeypatch):
    """``machine(cores, gpus)``: what plan() sees here; a local Ray "start" is only recorded."""
    started = []

    def set_machine(cores: int, gpus: int = 0) -> list:
        monkeypatch.setattr(parallel, "available_cores", lambda: cores)
        monkeypatch.setattr(parallel, "_local_gpus", lambda: gpus)
        monkeypatch.setattr(parallel, "_start_local", lambda cpus, gpus: started.append((cpus, gpus)))
        started.clear()
        return started

    return set_machine


def test_folds_share_the_cores_without_oversubscription(machine):
    started = machine(8)
    plan = parallel.plan(Settings(4), fits=5, wants_gpu=False)
    assert (plan.ray, plan.at_once, plan.threads, plan.gpus) == (True, 4, 2, 0)
    assert started == [(8, 0)]
    plan = parallel.plan(Settings(3), fits=2, wants_gpu=False)  # more than there are folds to run: the folds
    assert (plan.at_once, plan.threads) == (2, 4)
    assert "(2 folds to run)" in plan.about
    assert parallel.plan(Settings(2, threads=1), fits=5, wants_gpu=False).threads == 1
    plan = parallel.plan(Settings("auto"), fits=5, wants_gpu=False)
    assert (plan.at_once, plan.threads) == (4, 2)  # one fold per MIN_AUTO_THREADS cores


def test_auto_on_two_cores_is_the_sequential_loop_and_says_so(machine):
    started = machine(2)
    plan = parallel.plan(Settings("auto"), fits=5, wants_gpu=False)
    assert (plan.ray, plan.at_once, plan.threads) == (False, 1, 2)  # exactly a run without --parallel
    assert "one at a time, in this process" in plan.about and "from 4 cores" in plan.about
    assert started == []  # no Ray started
    plan = parallel.plan(Settings(2), fits=1, wants_gpu=False)  # a resumed run with one fold left
    assert not plan.ray and "(1 fold to run)" in plan.about
    plan = parallel.plan(Settings(), fits=5, wants_gpu=False)
    assert (plan.ray, plan.threads, plan.about) == (False, 2, "")
    assert parallel.plan(Settings(threads=1), fits=5, wants_gpu=False).threads == 1


def test_image_folds_take_one_gpu_each(machine):
    started = machine(8, gpus=2)
    plan = parallel.plan(Settings("auto"), fits=5, wants_gpu=True)
    assert (plan.at_once, plan.gpus, plan.threads) == (2, 1, 4)
    assert started == [(8, 2)]
    plan = parallel.plan(Settings(4), fits=5, wants_gpu=True)
    assert (plan.at_once, plan.gpus) == (2, 1) and "one per fold" in plan.about
    plan = parallel.plan(Settings("auto"), fits=5, wants_gpu=False)  # a tabular recipe leaves the GPUs alone
    assert (plan.at_once, plan.gpus) == (4, 0)
    machine(8, gpus=0)
    plan = parallel.plan(Settings("auto"), fits=5, wants_gpu=True)  # an image recipe on CPUs only
    assert (plan.at_once, plan.gpus, plan.threads) == (4, 0, 2)


def test_threads_asked_beyond_the_cores_are_said(machine):
    started = machine(2)
    plan = parallel.plan(Settings(2, threads=2), fits=2, wants_gpu=False)
    assert (plan.at_once, plan.threads) == (2, 2) and "the folds share them" in plan.about
    assert started == [(4, 0)]


def test_settings_take_ray_address_from_the_flag_or_the_environment(monkeypatch):
    monkeypatch.setattr(parallel, "_reachable", lambda address: None)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert not parallel.settings(None).uses_ray  # RAY_ADDRESS alone changes nothing: no --parallel, no Ray
    assert parallel.settings(2).address == "10.0.0.5:6379"
    assert parallel.settings(2, "local").address is None  # a local Ray all the same
    assert parallel.settings(None, "head:6379") == Settings("auto", address="head:6379")  # an address: auto
    monkeypatch.delenv("RAY_ADDRESS")
    assert parallel.settings("AUTO") == Settings("auto")


# ------------------------------------------------------------------------------------ bad inputs: one line
@pytest.mark.parametrize("flags, says", [
    (["--parallel", "0"], "--parallel: 0 is out of range"),
    (["--parallel", "-1"], "--parallel: -1 is out of range"),
    (["--parallel", "abc"], "--parallel: expected how many to run at a time"),
    (["--parallel", "1.5"], "--parallel: expected how many to run at a time"),
    (["--threads", "0"], "--threads: 0 is out of range"),
    (["--memory", "-2"], "--memory: -2 is out of range"),
    (["--parallel", "2", "--ray-address", "head:port"], "expected HOST:PORT"),
])
def test_bad_parallel_flags_are_one_line_and_write_nothing(demo_dir, tmp_path, flags, says):
    rc, _, err = run_cli("run", "house_prices", "--data", demo_dir, *GBM, *flags, "--out", tmp_path / "runs")
    assert says in assert_user_error(rc, err)
    assert not (tmp_path / "runs").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_one_line_at_once_and_writes_nothing(demo_dir, tmp_path, monkeypatch):
    import ray

    port = _closed_port()
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("Ray was asked to connect (minutes of retries)"))
    rc, _, err = run_cli("run", "house_prices", "--data", demo_dir, *GBM, "--ray-address", f"127.0.0.1:{port}",
                         "--out", tmp_path / "runs")
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port}" in assert_user_error(rc, err)
    monkeypatch.setenv("RAY_ADDRESS", f"ray://127.0.0.1:{port}")  # the environment's, with --parallel
    rc, _, err = run_cli("run", "house_prices", "--data", demo_dir, *GBM, "--parallel", "2",
                         "--out", tmp_path / "runs")
    assert "cannot reach a Ray cluster at ray://" in assert_user_error(rc, err)
    assert not (tmp_path / "runs").exists()


def test_parallel_under_torchrun_is_refused(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    rc, _, err = run_cli("run", "house_prices", "--data", demo_dir, *GBM, "--parallel", "2",
                         "--out", tmp_path / "runs")
    assert "torchrun" in assert_user_error(rc, err)
    assert not (tmp_path / "runs").exists()


def test_without_parallel_ray_is_never_imported(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails from here on
    _run("house_prices", "--data", demo_dir, "--recipe", "linear", "--folds", "2", "--out", tmp_path / "a")
    rc, _, err = run_cli("run", "house_prices", "--data", demo_dir, *GBM, "--parallel", "2", "--out", tmp_path / "b")
    assert "Ray, which is not installed here" in assert_user_error(rc, err)
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------------------- runs on a local Ray
def test_two_parallel_folds_equal_the_sequential_run_bit_for_bit(demo_dir, tmp_path):
    """LightGBM (deterministic) gives the same floats with 1 thread per fold as with every core: no --threads."""
    sequential = _run("house_prices", "--data", demo_dir, *GBM, "--out", tmp_path / "seq")
    side_by_side = _run("house_prices", "--data", demo_dir, *GBM, "--parallel", "2", "--out", tmp_path / "par")
    _same_results(sequential, side_by_side)
    assert _config(sequential) == _config(side_by_side)  # how a run runs is no setting: merge and compare agree
    metrics = json.loads((side_by_side / "metrics.json").read_text())
    assert metrics["parallel"] == {"at_once": 2, "threads": max(1, available_cores() // 2), "gpus": 0,
                                   "ray": "local Ray"}
    assert "parallel" not in json.loads((sequential / "metrics.json").read_text())
    log = (side_by_side / "log.txt").read_text()
    assert "--parallel 2: 2 folds at a time on local Ray" in log
    assert "fold 0: rmsle" in log and "fold 1: rmsle" in log


@pytest.mark.integration
def test_two_parallel_image_folds_equal_the_sequential_run_bit_for_bit(demos, tmp_path):
    """torch on CPU gives other floats with other thread counts: both runs take one thread per fold."""
    import torch

    leaves = demos("classify_leaves")
    sequential = _run("classify_leaves", "--data", leaves, *LEAVES, "--threads", "1", "--out", tmp_path / "seq",
                      runner=run_script)
    rc, out, err = run_script("run", "classify_leaves", "--data", leaves, *LEAVES, "--threads", "1", "--parallel",
                              "2", "--out", tmp_path / "par")
    assert rc == 0, err[-3000:]
    side_by_side = Path(last_line(out))
    _same_results(sequential, side_by_side)
    for k in (0, 1):
        a, b = (torch.load(d / f"fold{k}" / "last.pt", weights_only=True)["model"] for d in (sequential, side_by_side))
        assert all(torch.equal(a[key], b[key]) for key in a), k
    log = (side_by_side / "log.txt").read_text()
    for k in (0, 1):  # every fold's epoch lines, named by their fold, in the run's log and on stderr
        assert f"fold {k}: epoch 1/2: train loss" in log and f"fold {k}: epoch 2/2: train loss" in log
        assert f"fold {k}: epoch 2/2: train loss" in err


def _kill_when(proc: subprocess.Popen, out: Path, ready, timeout: float = 300) -> Path:
    """SIGKILL the run ``proc`` once ``ready(run_dir)`` holds; then its local Ray's processes, which are in its
    process group (they stop by themselves too, within a minute); return the run directory."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list((out / "house_prices").glob("gbm-*"))
        if found and ready(found[0]):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            time.sleep(1)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return found[0]
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the run never reached the point to kill it at")


@pytest.mark.integration
def test_a_killed_parallel_run_resumes_to_the_uninterrupted_result(demo_dir, tmp_path):
    flags = ["--recipe", "gbm", "--folds", "4", "--set", "max_rounds=300"]
    uninterrupted = _run("house_prices", "--data", demo_dir, *flags, "--out", tmp_path / "full")
    proc = subprocess.Popen([sys.executable, "scripts/run.py", "house_prices", "--data", str(demo_dir), *flags,
                             "--parallel", "2", "--out", str(tmp_path / "cut")], cwd=ROOT, env=dict(os.environ, **ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    run_dir = _kill_when(proc, tmp_path / "cut", lambda d: any(d.glob("fold*/predictions.npz")))
    kept = sorted(p.parent.name for p in run_dir.glob("fold*/predictions.npz"))
    assert kept and len(kept) < 4 and not (run_dir / "metrics.json").exists()
    before = {name: (run_dir / name / "predictions.npz").read_bytes() for name in kept}
    rc, out, err = run_script("run", "house_prices", "--resume", run_dir, "--parallel", "2")
    assert rc == 0, err[-3000:]
    assert last_line(out) == str(run_dir)
    log = (run_dir / "log.txt").read_text()
    assert "resuming" in log and all(f"fold {name[4:]}: kept from" in log for name in kept)
    assert {name: (run_dir / name / "predictions.npz").read_bytes() for name in kept} == before  # not retrained
    _same_results(uninterrupted, run_dir)


FLAKY = '''
"""House Prices with a model that fails in fold 1 (a UserError) once fold 0 has finished; folds side by side."""
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import competitions
from shared import runner
from shared.cli import main
from shared.errors import UserError
from shared.spec import Recipe


class Flaky:
    def __init__(self, params, ctx):
        self.ctx = ctx

    def fit(self, X, y):
        if self.ctx.workdir.name == "fold1":
            while not (self.ctx.workdir.parent / "fold0" / "predictions.npz").is_file():
                time.sleep(0.05)
            raise UserError("fold 1's model cannot be fitted (as the test wants)")
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


spec = competitions.get("house_prices")
linear = spec.recipe("linear")
spec = replace(spec, recipes={"flaky": Recipe("flaky", "fails in fold 1", linear.features, Flaky,
                                              feature_params=linear.feature_params)})
sys.exit(main(lambda argv: runner.run(spec, "flaky", Path(sys.argv[1]), n_folds=2, out_root=Path(sys.argv[2]),
                                      parallel=2)))
'''


@pytest.mark.integration
def test_a_failing_fold_stops_the_run_in_one_line_and_keeps_the_finished_folds(demo_dir, tmp_path):
    script = tmp_path / "flaky.py"
    script.write_text(FLAKY)
    proc = subprocess.run([sys.executable, str(script), str(demo_dir), str(tmp_path / "runs")], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **ENV), capture_output=True, text=True,
                          timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [line for line in lines if line.startswith("error:")] == lines[-1:]
    assert lines[-1] == "error: fold 1: fold 1's model cannot be fitted (as the test wants)"
    (run_dir,) = (tmp_path / "runs" / "house_prices").glob("flaky-*")  # kept: it holds a finished fold
    assert (run_dir / "fold0" / "predictions.npz").is_file()
    assert not (run_dir / "fold1" / "predictions.npz").exists() and not (run_dir / "metrics.json").exists()
    assert "fold 0: rmsle" in (run_dir / "log.txt").read_text()


@pytest.mark.integration
def test_compare_runs_its_recipes_side_by_side_with_the_same_results(demo_dir, tmp_path):
    flags = ["house_prices", "--data", demo_dir, "--recipes", "linear,gbm", "--folds", "2", "--set",
             "max_rounds=300"]
    outs = []
    for name, extra in (("seq", []), ("par", ["--parallel", "2"])):
        rc, out, err = run_script("compare", *flags, *extra, "--out", tmp_path / name)
        assert rc == 0, err[-3000:]
        outs.append((json.loads((Path(last_line(out)) / "compare.json").read_text()), err))
    (sequential, _), (side_by_side, err) = outs
    assert [r["recipe"] for r in side_by_side] == ["linear", "gbm"]
    for a, b in zip(sequential, side_by_side):
        _same_results(Path(a["run_dir"]), Path(b["run_dir"]))
    assert "2 recipes at a time on local Ray" in err
    assert "gbm: fold 1: rmsle" in err and "linear: fold 1: rmsle" in err  # each run's lines, named by recipe


@pytest.mark.integration
def test_folds_run_on_a_cluster_given_by_its_address(demo_dir, tmp_path):
    """A one-node cluster started with `ray start` (its files in a folder of its own, so no other Ray on this
    machine takes it for theirs), joined from another working directory: the same results."""
    ray = Path(sys.executable).with_name("ray")
    port, temp = _closed_port(), Path(f"/tmp/rt-{os.getpid()}")  # short: Ray's socket paths have a length limit
    head = subprocess.Popen([str(ray), "start", "--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                             "--num-cpus", "2", "--include-dashboard=false", "--disable-usage-stats",
                             f"--temp-dir={temp}"], env=dict(os.environ, **ENV), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert head.wait(timeout=120) == 0, head.stdout.read().decode()[-3000:]
        sequential = _run("house_prices", "--data", demo_dir, *GBM, "--out", tmp_path / "seq")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "run.py"), "house_prices", "--data",
                               str(demo_dir), *GBM, "--out", str(tmp_path / "cluster"), "--ray-address",
                               f"127.0.0.1:{port}"], cwd=elsewhere, env=dict(os.environ, **ENV),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        _same_results(sequential, Path(last_line(proc.stdout)))
        assert f"on 127.0.0.1:{port}" in proc.stderr
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the head's processes, all in the session `ray start` began
        shutil.rmtree(temp, ignore_errors=True)
