"""Kill and resume through the command line, and determinism of every recipe on CPU.

- A k-fold image run SIGKILLed in the middle of an epoch, then ``--resume``d, ends with the same weights, OOF
  predictions, metrics and submission as an uninterrupted run; killed between folds, it keeps the finished
  fold (read back, not retrained).
- The same seed gives identical OOF predictions and scores for every tabular recipe (AutoGluon aside: its
  bagged models train in parallel worker processes and it documents no bit-exact mode) and for image recipes.

Both run real commands and are in the integration tier (``make test-integration``); the guard that every result
is written atomically is a fast test of the default tier."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, last_line, run_script

CIFAR_FAST = ["--folds", "2", "--set", "model=airbench_small", "--set", "epochs=3", "--set", "batch_size=32",
              "--set", "lr=0.05", "--set", "tta=flip"]


@pytest.fixture(scope="module")
def cifar(demos) -> Path:
    return demos("cifar10")


def _start(data: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "scripts/run.py", "cifar10", "--data", str(data), *CIFAR_FAST,
                             "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen, out: Path, ready, timeout: float = 300) -> Path:
    """SIGKILL ``proc`` as soon as ``ready(run_dir)`` holds; return the run directory."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list((out / "cifar10").glob("fast-*"))
        if found and ready(found[0]):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return found[0]
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the run never reached the point to kill it at")


def _same_run(a: Path, b: Path) -> None:
    for name in ("oof.csv", "test_pred.csv", "submission.csv", "folds.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for key in ("cv", "folds", "holdout", "variants", "holdout_folds"):
        assert ma.get(key) == mb.get(key), key
    for k in (0, 1):
        wa, wb = (torch.load(d / f"fold{k}" / "last.pt", weights_only=True) for d in (a, b))
        assert wa["epoch"] == wb["epoch"]
        for key in wa["model"]:
            assert torch.equal(wa["model"][key], wb["model"][key]), (k, key)


@pytest.fixture(scope="module")
def uninterrupted(cifar, tmp_path_factory) -> Path:
    rc, out, err = run_script("run", "cifar10", "--data", cifar, *CIFAR_FAST, "--out", tmp_path_factory.mktemp("full"))
    assert rc == 0, err[-2000:]
    return Path(last_line(out))


def _epochs_done(checkpoint: Path) -> int:
    try:
        return torch.load(checkpoint, weights_only=True)["epoch"] + 1
    except Exception:  # not there yet (it is written atomically, so never half-read)
        return 0


@pytest.mark.integration
def test_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(cifar, uninterrupted, tmp_path):
    proc = _start(cifar, tmp_path)
    # after fold 0's first epoch is saved (epoch 2 is under way): mid-training, mid-epoch
    run_dir = _kill_when(proc, tmp_path, lambda d: (d / "fold0" / "last.pt").is_file()
                         and _epochs_done(d / "fold0" / "last.pt") >= 1)
    assert not (run_dir / "fold0" / "predictions.npz").exists() and not (run_dir / "metrics.json").exists()
    rc, out, err = run_script("run", "cifar10", "--resume", run_dir)
    assert rc == 0, err[-2000:]
    assert last_line(out) == str(run_dir)
    log = (run_dir / "log.txt").read_text()
    assert "resuming" in log
    _same_run(run_dir, uninterrupted)


@pytest.mark.integration
def test_killed_between_folds_keeps_the_finished_fold(cifar, uninterrupted, tmp_path):
    proc = _start(cifar, tmp_path)
    run_dir = _kill_when(proc, tmp_path, lambda d: (d / "fold0" / "predictions.npz").is_file())
    kept = (run_dir / "fold0" / "predictions.npz").read_bytes()
    fold0_weights = (run_dir / "fold0" / "last.pt").stat().st_mtime_ns
    rc, out, err = run_script("run", "cifar10", "--resume", run_dir)
    assert rc == 0, err[-2000:]
    log = (run_dir / "log.txt").read_text()
    assert "fold 0: kept from" in log
    assert (run_dir / "fold0" / "predictions.npz").read_bytes() == kept  # read back, not retrained
    assert (run_dir / "fold0" / "last.pt").stat().st_mtime_ns == fold0_weights
    _same_run(run_dir, uninterrupted)


# ---------------------------------------------------------------------------------------------- determinism

# Two runs in two processes per case: the integration tier (the default tier holds one tabular case, in
# test_cli.py: test_same_seed_gives_identical_results_and_another_seed_other_folds).
INTEGRATION = pytest.mark.integration
TABULAR = [pytest.param("house_prices", r, extra, marks=INTEGRATION)
           for r, extra in (("baseline", ["--set", "epochs=5"]), ("baseline_mlp", ["--set", "epochs=5"]),
                            ("linear", []), ("gbm", ["--set", "max_rounds=100"]))] + \
          [pytest.param("california_house_prices", r, extra, marks=INTEGRATION)
           for r, extra in (("baseline", ["--set", "epochs=5"]), ("linear", []), ("gbm", ["--set", "max_rounds=50"]))]
SLOW = pytest.mark.slow  # ResNet-18 from scratch: about a minute each on 2 cores (make test-slow)
IMAGES = [pytest.param("cifar10", "fast", ["--set", "model=airbench_small", "--set", "epochs=1"], marks=INTEGRATION),
          pytest.param("cifar10", "baseline", ["--set", "epochs=1", "--set", "batch_size=64"], marks=SLOW),
          pytest.param("classify_leaves", "baseline", ["--set", "epochs=1", "--set", "img_size=32"],
                       marks=INTEGRATION),
          pytest.param("classify_leaves", "timm", ["--set", "model=resnet18", "--set", "epochs=1", "--set",
                                                   "img_size=32", "--set", "pretrained=false"], marks=SLOW),
          # detection is also checked by test_detection's merged-equals-full test (three identical trainings)
          pytest.param("cowboy_outfits", "mobile", ["--set", "epochs=1", "--set", "max_side=96", "--set",
                                                    "pretrained=false"], marks=SLOW)]


def _id(case) -> str:
    values = case.values if hasattr(case, "values") else case
    return f"{values[0]}-{values[1]}"


@pytest.mark.parametrize("competition,recipe,extra", TABULAR + IMAGES,
                         ids=[_id(c) for c in TABULAR + IMAGES])
def test_same_seed_same_oof_and_scores(competition, recipe, extra, demos, tmp_path):
    outs = []
    for name in ("a", "b"):
        rc, out, err = run_script("run", competition, "--data", demos(competition), "--recipe", recipe,
                                  "--folds", "2", *extra, "--out", tmp_path / name, timeout=900)
        assert rc == 0, err[-2000:]
        outs.append(Path(last_line(out)))
    a, b = outs
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in outs)
    assert ma["cv"] == mb["cv"] and ma["folds"] == mb["folds"] and ma.get("holdout") == mb.get("holdout")
    if (a / "oof_table.npy").is_file():  # detection: the padded OOF detections
        np.testing.assert_array_equal(np.load(a / "oof_table.npy"), np.load(b / "oof_table.npy"))
    else:
        assert (a / "oof.csv").read_bytes() == (b / "oof.csv").read_bytes()
        assert (a / "submission.csv").read_bytes() == (b / "submission.csv").read_bytes()


def test_results_are_written_only_through_the_atomic_helpers():
    """Every file a run, blend, bundle or benchmark writes goes through ``shared.io`` (temp file, then rename):
    no module writes a result file in place. Demo generators write data, not results, and are exempt."""
    import re

    direct = re.compile(r"\.to_csv\(|np\.save\(|np\.savez|torch\.save\(|json\.dump\(|\.savefig\(|"
                        r"open\([^)]*[\"'][wa]b?[\"']")
    offenders = []
    for path in sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "scripts").glob("*.py"),
                        *(ROOT / "competitions").rglob("*.py")]):
        if path.name == "demo.py" or path == ROOT / "shared" / "io.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            if direct.search(code) and "atomic_write(" not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
