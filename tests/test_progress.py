"""Progress that survives and lean outputs: a line per epoch in the run log whatever the terminal (image and
detection fits), periodic lines of long LightGBM fits and AutoGluon's start and end, the fold lines' ETA, and what
a finished fold keeps on disk (``keep=last|best|none``: one set of weights without optimizer state, or none)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import last_line, run_cli, run_script
from torch import nn

from shared.models import ModelContext, Progress, clock

TINY_IMAGES = ["--folds", "2", "--set", "model=airbench_small"]
NUMBER = r"[-+0-9.e]+"
EPOCH_LINE = re.compile(rf"fold (\d), epoch (\d)/2: train loss ({NUMBER}), valid loss ({NUMBER}), accuracy "
                        rf"({NUMBER}) \(EMA ({NUMBER})\), lr ({NUMBER}), ({NUMBER}) s; fold ETA (\S+), run ETA (\S+)$")
TRAINING_STATE = {"optimizer", "scheduler", "scaler", "ema"}


@pytest.fixture(scope="module")
def cifar(demos) -> Path:
    return demos("cifar10")


# ------------------------------------------------------------------------------------------ a line per epoch

def test_piped_image_run_logs_one_line_per_epoch_to_stderr_and_log_txt(cifar, tmp_path):
    """Output to a pipe (not a terminal, as in Kaggle's saved log or under nohup): no progress bars, and each
    epoch of each fold is one line with its losses, metric, EMA metric, lr, seconds and ETAs, in both places."""
    rc, out, err = run_script("run", "cifar10", "--data", cifar, *TINY_IMAGES, "--set", "epochs=2", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    log_txt = (run_dir / "log.txt").read_text().splitlines()
    assert "\r" not in err  # no bar redrawn on a pipe
    for lines, prefix in ((err.splitlines(), ""), (log_txt, r"\d\d:\d\d:\d\d ")):
        epochs = [line for line in lines if re.search(r"epoch \d+/\d+", line)]
        assert len(epochs) == 4, epochs
        matches = [re.fullmatch(prefix + EPOCH_LINE.pattern, line) for line in epochs]
        assert all(matches), epochs
        assert [(m[1], m[2]) for m in matches] == [("0", "1"), ("0", "2"), ("1", "1"), ("1", "2")]
        for m in matches:  # the line says what the fold's history records
            history = pd.read_csv(run_dir / f"fold{m[1]}" / "history.csv").set_index("epoch").loc[int(m[2])]
            for column, value in (("train_loss", m[3]), ("valid_loss", m[4]), ("valid_accuracy", m[5]),
                                  ("valid_accuracy_ema", m[6])):
                assert float(value) == pytest.approx(history[column], abs=1e-4), column
            assert float(m[7]) == pytest.approx(history["lr"], rel=1e-2, abs=1e-12)
        assert matches[1][9] == "0s"  # the last epoch of fold 0 leaves nothing of it, but fold 1 of the run
        fold_lines = [line for line in lines if re.search(r"fold \d: accuracy", line)]
        assert len(fold_lines) == 2 and re.search(r"; 1 of 2 folds to go, run ETA \S+$", fold_lines[0])
        assert not any("features:" in line for line in lines)  # an image run has no feature columns to count
        # 100 training images per fold at batch 16 (the floor): 6 steps, fewer than the recipe's 20, and it says so
        assert any("batch 512 -> 16 and lr 0.2 -> 0.03536: 6 steps per epoch (fewer than min_steps_per_epoch=20"
                   in line for line in lines)


def test_detection_epochs_log_loss_lr_seconds_and_eta(demos, tmp_path, log_lines):
    from shared.detection.coco import read_coco
    from shared.detection.model import DETECTION_PARAMS, DetectionModel

    cowboy = demos("cowboy_outfits")
    coco = read_coco(cowboy / "train.json")
    coco = coco.subset(coco.images["id"][:4])
    X = pd.DataFrame({"image_path": [str(cowboy / "images" / f) for f in coco.images["file_name"]]})
    y = [(np.array(rows["bbox"].tolist()).reshape(-1, 4), np.array([coco.labels[c] for c in rows["category_id"]]))
         for image_id in coco.images["id"]
         for rows in [coco.annotations[coco.annotations["image_id"].map(lambda v, i=image_id: v == i)]]]
    ctx = ModelContext("detection", "map", 5, 0, None, tmp_path / "fold0", 1,
                       progress=Progress("fold 0", fits_after=2, fit_seconds=[]))
    DetectionModel({**DETECTION_PARAMS, "epochs": 2, "batch_size": 2, "max_side": 64, "proposals": 50,
                    "roi_batch": 16}, ctx).fit(X, y)
    epochs = [line for line in log_lines if "epoch" in line]
    assert len(epochs) == 2
    for k, line in enumerate(epochs, 1):
        assert re.fullmatch(rf"fold 0, epoch {k}/2: train loss {NUMBER}, lr {NUMBER}, {NUMBER} s; "
                            r"fold ETA \d+s, run ETA \d+m?\d*s", line), line
    checkpoint = torch.load(tmp_path / "fold0" / "last.pt", weights_only=True)
    assert not TRAINING_STATE & set(checkpoint) and checkpoint["weights"] == "raw"


def test_progress_estimates_the_run_from_the_fits_done():
    assert Progress("fold 2", fits_after=2, fit_seconds=[100.0, 140.0]).run_left(30.0, 130.0) == 30 + 2 * 120
    assert Progress("fold 0", fits_after=4).run_left(50.0, 80.0) == 50 + 4 * 80  # none done: this one's length
    assert [clock(s) for s in (0.4, 45, 65, 3599, 7380)] == ["0s", "45s", "1m05s", "59m59s", "2h03m"]


# ---------------------------------------------------------------------------------------------- checkpoints

def _pt_files(fold: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in fold.glob("*.pt")}


def _weight_bytes(state_dict: dict) -> int:
    return sum(t.numel() * t.element_size() for t in state_dict.values())


def test_a_finished_fold_keeps_one_set_of_weights_or_none(cifar, tmp_path):
    """keep=last: last.pt with the weights the fold predicted with (EMA's); keep=best: best.pt with the best
    validation epoch's; keep=none: neither. No optimizer, scheduler, scaler or second copy of the weights."""
    from shared.vision import nets

    one_set = _weight_bytes(nets.create("airbench_small", 10).state_dict())  # fp32: what one copy weighs
    kept = {}
    for keep in ("last", "best", "none"):
        rc, out, err = run_cli("run", "cifar10", "--data", cifar, *TINY_IMAGES, "--set", "epochs=2",
                               "--set", f"keep={keep}", "--out", tmp_path / keep)
        assert rc == 0, err[-3000:]
        run_dir = Path(last_line(out))
        for k in (0, 1):
            fold = run_dir / f"fold{k}"
            kept[keep, k] = _pt_files(fold)
            assert (fold / "history.csv").is_file() and (fold / "predictions.npz").is_file()
            for name in kept[keep, k]:
                checkpoint = torch.load(fold / name, weights_only=True)
                assert not TRAINING_STATE & set(checkpoint), (keep, k, sorted(checkpoint))
                assert _weight_bytes(checkpoint["model"]) == one_set
                assert one_set < kept[keep, k][name] < one_set * 1.1 + 100_000  # weights, history, RNG state
                history = pd.read_csv(fold / "history.csv")
                if name == "last.pt":
                    assert checkpoint["weights"] == "ema" and checkpoint["epoch"] == 1  # the EMA's, at the end
                else:
                    raw, ema = history["valid_accuracy"], history["valid_accuracy_ema"]
                    monitored = np.maximum(raw, ema)
                    best = int(np.flatnonzero(monitored == monitored.max())[-1])
                    assert checkpoint["epoch"] == best and checkpoint["best"] == pytest.approx(monitored.max())
                    assert checkpoint["weights"] == ("ema" if ema[best] >= raw[best] else "raw")
    for k in (0, 1):
        assert list(kept["last", k]) == ["last.pt"] and list(kept["best", k]) == ["best.pt"]
        assert kept["none", k] == {}


class Killed(Exception):
    pass


def _toy_fit(workdir: Path, resume: bool = False, kill_at: int | None = None):
    from shared.vision.training import Trainer

    params = {"device": "cpu", "amp": "off", "opt": "sgd", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.9,
              "sched": "cosine", "warmup_epochs": 0, "clip_grad": 0.0, "ema": True, "ema_decay": 0.9}
    X = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    Y = (X[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def batches(epoch):
        if epoch == kill_at:
            raise Killed
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=8, shuffle=True)

    trainer = Trainer(params, ModelContext("multiclass", "accuracy", 2, 3, None, workdir, 1, resume))
    threads = torch.get_num_threads()
    try:
        return trainer.fit(net, lambda b: (F.cross_entropy(net(b[0]), b[1]), len(b[0])), batches, epochs=3,
                           updates_per_epoch=4)
    finally:
        torch.set_num_threads(threads)


def test_training_state_stays_while_a_fit_is_under_way_and_goes_when_it_ends(tmp_path):
    with pytest.raises(Killed):
        _toy_fit(tmp_path / "cut", kill_at=2)
    under_way = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert TRAINING_STATE <= set(under_way) and under_way["epoch"] == 1  # what resume needs
    weights, _ = _toy_fit(tmp_path / "cut", resume=True)
    finished = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert not TRAINING_STATE & set(finished) and finished["weights"] == "ema" and finished["epoch"] == 2
    assert all(torch.equal(finished["model"][k], v) for k, v in weights.state_dict().items())
    # Killed after training, while predicting: resuming loads the finished weights and trains no more.
    again, history = _toy_fit(tmp_path / "cut", resume=True, kill_at=0)
    assert all(torch.equal(finished["model"][k], v) for k, v in again.state_dict().items())
    assert [row["epoch"] for row in history] == [1, 2, 3]


# ------------------------------------------------------------------------------------------- boosting, AutoML

def _table(n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{i}" for i in range(5)])
    return X, X["x0"].to_numpy() * 2 + np.sin(X["x1"].to_numpy() * 3) + rng.normal(scale=0.1, size=n)


def test_a_long_lightgbm_fit_logs_its_rounds_and_best_round(tmp_path, log_lines, monkeypatch):
    from shared.tabular.models import GBM_PARAMS, LGBMModel

    X, y = _table()
    params = {**GBM_PARAMS, "max_rounds": 40, "early_stopping_rounds": 1000, "learning_rate": 0.1}
    ctx = ModelContext("regression", "rmse", 0, 0, None, tmp_path, 1)
    LGBMModel(params, ctx).fit(X, y)
    assert [line for line in log_lines if " thread" not in line] == []  # a short fit logs no rounds (its threads only)
    log_lines.clear()

    monkeypatch.setattr(LGBMModel, "LOG_SECONDS", 0.0)  # as if every round took longer than the interval
    model = LGBMModel(params, ctx).fit(X, y)
    log_lines[:] = [line for line in log_lines if " thread" not in line]  # the rounds' lines, not the threads'
    probe = [re.fullmatch(rf"lightgbm, finding the rounds on an inner split: round (\d+)/40, valid rmse ({NUMBER}) "
                          rf"\(best ({NUMBER}) at round (\d+)\), \d+ s", line) for line in log_lines[:40]]
    assert all(probe), log_lines[:3]
    assert [int(m[1]) for m in probe] == list(range(1, 41))
    scores = [float(m[2]) for m in probe]
    for k, m in enumerate(probe):  # the best so far is the lowest error up to that round
        assert float(m[3]) == pytest.approx(min(scores[:k + 1]), rel=1e-4)
        assert scores[int(m[4]) - 1] == pytest.approx(float(m[3]), rel=1e-4)
    rounds = max(1, round(model.best_rounds_ / (1 - params["early_stopping_fraction"])))
    assert log_lines[40] == (f"lightgbm: best round {model.best_rounds_} of 40; refitting on all {len(X)} training "
                             f"rows for {rounds} rounds")
    refit = log_lines[41:]
    assert len(refit) == rounds and all(re.fullmatch(rf"lightgbm, refit: round \d+/{rounds}, \d+ s", line)
                                        for line in refit)


@pytest.mark.integration
def test_autogluon_logs_its_budget_and_the_model_it_chose(tmp_path, log_lines):
    from shared.tabular.models import AUTOML_PARAMS, AutoGluonModel

    X, y = _table(200)
    ctx = ModelContext("regression", "rmse", 0, 0, 15.0, tmp_path / "ag", 1)
    model = AutoGluonModel({**AUTOML_PARAMS, "presets": "medium_quality"}, ctx).fit(X, y)
    assert log_lines[0] == ("autogluon: presets medium_quality, 15 s budget, 1 core, 200 rows x 5 columns "
                            "(its own log: --set verbosity=2)")
    assert re.fullmatch(rf"autogluon: chose {re.escape(model.predictor_.model_best)} of \d+ models in \d+ s",
                        log_lines[-1])
    model.cleanup()
