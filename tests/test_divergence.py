"""Training that diverges and targets that cannot be learned. A fit whose loss or predictions stop being usable
numbers (a learning rate far too high, a feature no model can compute with, a metric that gives NaN) is one line naming the fold and the setting at fault, with no score reported and no run folder left
behind when nothing finished; a target nothing can be learned from is refused before anything is written, and one
whose values lie far apart in the metric's log space runs with those rows named by id in the log."""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import last_line, run_cli, snapshot
from torch import nn
from torch.nn import functional as F

from shared.divergence import Diverged
from shared.log import LOGGER
from shared.metrics import METRICS, Metric, register, rmse


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _data(demo_dir: Path, tmp_path: Path, change=None, file: str = "train.csv") -> Path:
    """A private copy of the small House Prices demo, ``change`` applied to ``file`` (read as text)."""
    data = Path(shutil.copytree(demo_dir, tmp_path / "data"))
    if change is not None:
        frame = pd.read_csv(data / file, dtype=str, keep_default_na=False)
        change(frame).to_csv(data / file, index=False)
    return data


def _cell(column: str, row: int, value: str):
    return lambda f: f.assign(**{column: f[column].where(f.index != row, value)})


def _refused(tmp_path: Path, *args, kept: bool = False) -> tuple[str, list[str]]:
    """Run ``run.py ARGS --out tmp_path/runs`` beside an earlier run's files; assert exit 2, one ``error:`` line,
    nothing on stdout, every earlier file (data and runs) byte-identical and no run folder left (``kept``: one with a
    finished fold may stay, for --resume); (the line, the run log's lines)."""
    earlier = tmp_path / "runs" / "house_prices" / "linear-earlier"
    earlier.mkdir(parents=True, exist_ok=True)
    (earlier / "metrics.json").write_text('{"cv": 0.125}\n')
    before = snapshot(tmp_path)
    log = _Records()
    logging.getLogger(LOGGER).addHandler(log)
    try:
        rc, out, err = run_cli("run", *args, "--out", tmp_path / "runs")
    finally:
        logging.getLogger(LOGGER).removeHandler(log)
    lines = [line for line in err.strip().splitlines() if line not in log.lines]  # the run log's own lines aside
    assert rc == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: "), (rc, out, err)
    after = snapshot(tmp_path)
    assert {p: d for p, d in before.items() if after.get(p) != d} == {}
    new = [p for p in after if p not in before]  # the folds file (shared by every run of the data) may stay
    if not kept:
        assert [p for p in new if "folds" not in Path(p).parts and Path(p).name not in ("house_prices", "tabular")] == []
    return lines[0], log.lines


# ------------------------------------------------------------------------------------------- diverging fits
DIVERGING = [
    ("gbm, learning_rate=1e308", ["--recipe", "gbm", "--set", "learning_rate=1e308", "--set", "max_rounds=50"],
     r"^error: fold 0: \d+ of its \d+ valid predictions are not finite \(inf\).*--set learning_rate=1e\+308"),
    ("the D2L baseline, lr=1e6", ["--recipe", "baseline", "--set", "lr=1e6"],
     r"^error: fold 0: the training loss rose to .* in epoch 1, \d+ times the untrained model's .*--set lr=1e\+06"),
    ("the zoo's MLP, lr=1e4", ["--recipe", "mlp", "--set", "lr=1e4"],
     r"^error: fold 0: the training loss (became (inf|nan)|rose to .*) in epoch \d+.*--set lr=10000"),
]


@pytest.mark.parametrize("args, expect", [c[1:] for c in DIVERGING], ids=[c[0] for c in DIVERGING])
def test_a_diverging_fit_is_one_line_naming_fold_and_setting_with_no_score_and_no_run_left(args, expect, demo_dir,
                                                                                        tmp_path):
    line, log = _refused(tmp_path, "house_prices", "--data", demo_dir, "--folds", "2", *args)
    assert re.search(expect, line), line
    assert not [entry for entry in log if re.match(r"fold \d+: rmsle|CV ", entry)]  # no score was reported


def test_a_model_returning_nan_is_refused_whatever_the_model(demo_dir, tmp_path, monkeypatch):
    # Every model's predictions pass the same check (AutoGluon's, an auto member's): here the Lasso's, one NaN.
    from shared.tabular.models import LinearModel

    predict = LinearModel.predict
    monkeypatch.setattr(LinearModel, "predict", lambda self, X: np.where(np.arange(len(X)) == 3, np.nan,
                                                                         predict(self, X)))
    line, _ = _refused(tmp_path, "house_prices", "--data", demo_dir, "--folds", "2", "--recipe", "linear")
    assert re.search(r"^error: fold 0: 1 of its \d+ valid predictions are not finite \(nan\).*Check the settings",
                     line), line


def test_an_image_trainer_that_diverges_stops_before_saving_the_epoch(tmp_path):
    """The vision and detection trainer (``Trainer.fit``, each batch through ``Epoch.step``): a loss that stops being
    a number ends the fit at that epoch, whose weights are never checkpointed."""
    from shared.models import ModelContext, Progress
    from shared.vision.training import Trainer

    params = {"device": "cpu", "amp": "off", "opt": "sgd", "lr": 1e12, "weight_decay": 0.0, "momentum": 0.9,
              "sched": "cosine", "warmup_epochs": 0, "clip_grad": 0.0, "ema": False, "ema_decay": 0.9}
    X = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    Y = (X[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    threads = torch.get_num_threads()
    trainer = Trainer(params, ModelContext("multiclass", "accuracy", 2, 3, None, tmp_path, 1,
                                           progress=Progress(name="fold 1")))
    try:
        with pytest.raises(Diverged, match=r"^fold 1: the (training|validation) loss (became|rose).*--set lr=1e\+12"):
            trainer.fit(net, lambda b: (F.cross_entropy(net(b[0]), b[1]), len(b[0])),
                        lambda epoch: torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=8),
                        epochs=4, updates_per_epoch=4,
                        score=lambda m: {"accuracy": 0.5, "loss": float(F.cross_entropy(m(X), Y))})
    finally:
        torch.set_num_threads(threads)
    if (tmp_path / "last.pt").exists():  # an earlier, finite epoch's: never the diverged one's
        saved = torch.load(tmp_path / "last.pt", weights_only=True)
        assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


# ------------------------------------------------------------------------------------------ unlearnable targets
TARGETS = [
    ("a constant target", "house_prices", lambda f: f.assign(SalePrice="100000"), [],
     r"train\.csv: column 'SalePrice' is 100000\.0 in all \d+ rows: there is nothing to learn"),
    ("a constant target, generic rmse", "tabular", lambda f: f.assign(SalePrice="7"), ["--metric", "rmse"],
     r"column 'SalePrice' is 7\.0 in all \d+ rows"),
    ("a single class", "tabular", lambda f: f.assign(SalePrice="cheap"), ["--metric", "accuracy"],
     r"target column 'SalePrice' has a single class; nothing to learn"),
    ("a class seen once, stratified folds", "tabular",
     lambda f: f.assign(SalePrice=np.where(f.index == 3, "rare", np.where(f.index % 2, "cheap", "dear"))),
     ["--metric", "accuracy"], r"class 'rare' of 'SalePrice' has 1 example\(s\).*stratified 2-fold CV"),
    ("a regression metric on a text target", "tabular",
     lambda f: f.assign(SalePrice=np.where(f.index % 2, "cheap", "dear")), ["--metric", "rmse"],
     r"column 'SalePrice' holds numbers, but 'dear' at id '1' \(\d+ such cell\(s\)\).*rmse scores finite numbers.*accuracy"),
    ("a negative price with RMSLE", "house_prices", _cell("SalePrice", 5, "-0.5"), [],
     r"column 'SalePrice' is -0\.5 at id '6' \(1 such row\(s\)\); rmsle takes logs of it, so it must be 0 or more"),
    ("a price below -1 with RMSLE", "house_prices", _cell("SalePrice", 5, "-5"), [],
     r"column 'SalePrice' is -5\.0 at id '6'"),
    ("a negative target fitted in logs", "tabular", _cell("SalePrice", 5, "-5"),
     ["--metric", "rmse", "--set", "log_target=true"], r"is -5\.0 at id '6'.*--set log_target=true fits its logs"),
    ("an empty target cell", "house_prices", _cell("SalePrice", 5, ""), [],
     r"column 'SalePrice' has 1 empty value\(s\), the first at id '6'"),
    ("a target too large to read", "house_prices", _cell("SalePrice", 5, "1e400"), [],
     r"column 'SalePrice' holds numbers, but '1e400' at id '6'.*rmsle scores finite numbers"),
    ("a target too large for the metric's squares", "tabular",
     lambda f: f.assign(SalePrice=(f.SalePrice.astype(float) * 1e155).map(repr)), ["--metric", "rmse"],
     r"column 'SalePrice' is \d\.\d+e\+16\d at id '\d+': its values are too large for rmse \(their squared errors "
     r"overflow a float\); rescale the column"),
    ("a feature too large to compute with", "house_prices", _cell("LotArea", 5, "1e300"), [],
     r"feature 'LotArea' is 1e\+300 at id '6' of train\.csv"),
    ("a feature too large, in test.csv", "house_prices", _cell("LotArea", 2, "-1e200"), [],
     r"feature 'LotArea' is -1e\+200 at id '\d+' of test\.csv"),
]


@pytest.mark.parametrize("competition, change, extra, expect", [c[1:] for c in TARGETS], ids=[c[0] for c in TARGETS])
def test_a_target_nothing_can_be_learned_from_is_refused_before_anything_is_written(competition, change, extra,
                                                                                   expect, demo_dir, tmp_path):
    file = "test.csv" if r"test\.csv" in expect else "train.csv"
    data = _data(demo_dir, tmp_path, change, file)
    (data / "solution.csv").unlink()  # the hidden answers are prices: no holdout for a changed target
    where = ["tabular", "--target", "SalePrice", "--id", "Id"] if competition == "tabular" else [competition]
    line, _ = _refused(tmp_path, *where, "--data", data, "--recipe", "linear", "--folds", "2", *extra)
    assert re.search(expect, line), line


def test_a_price_of_zero_under_rmsle_runs_with_its_row_named_in_the_log(demo_dir, tmp_path):
    # RMSLE takes zeros (counts, sales); a price of 0 among prices from 35,000 is far from the rest in its log space
    # and moves the CV a lot: the run says which row, in its log, rather than refusing the competition's own file.
    data = _data(demo_dir, tmp_path, _cell("SalePrice", 5, "0"))
    rc, out, err = run_cli("run", "house_prices", "--data", data, "--recipe", "linear", "--folds", "2",
                           "--out", tmp_path / "runs")
    assert rc == 0, err[-2000:]
    log = (Path(last_line(out)) / "log.txt").read_text()
    assert re.search(r"target 'SalePrice': 1 value\(s\) far from the rest in rmsle's log space: 0\.0 at id '6' "
                     r"\(the others run from 3\d{4}\.0 to \d+\.0\)", log), log


def test_a_metric_that_gives_nan_is_one_line_not_a_score(demo_dir, tmp_path):
    name = "nan_after_rmse"
    if name not in METRICS:
        register(Metric(name, lambda y, p: float("nan") if len(y) else rmse(y, p), False, "regression"))
    line, _ = _refused(tmp_path, "tabular", "--data", demo_dir, "--target", "SalePrice", "--id", "Id", "--metric",
                       name, "--recipe", "linear", "--folds", "2", kept=True)
    assert re.search(r"^error: fold 0: metric 'nan_after_rmse' gives nan for finite predictions", line), line
    # The fold's predictions are sound and kept (as after any failure once a fold finished): --resume goes on from
    # them once the metric is fixed. No score was written.
    (run_dir,) = [p for p in (tmp_path / "runs" / demo_dir.name).iterdir()  # runs/<data folder name>/
                  if p.name not in ("folds", "linear-earlier")]
    assert (run_dir / "fold0" / "predictions.npz").is_file() and not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("weight, expect", [
    ("1.7e308", r"column 'weight' sums to inf: the weights must not be all zero, and their sum must stay a finite"),
    ("0", r"column 'weight' sums to 0\.0"),
    ("-1", r"must hold finite non-negative numbers; training id '1' has -1\.$"),
], ids=["sum overflows", "all zero", "negative"])
def test_sample_weights_no_fit_can_use_are_one_line_before_training(weight, expect, demo_dir, tmp_path):
    """Weights each finite but summing past a float once failed inside the first fit (a ZeroDivisionError
    traceback); the line now says so, and a bad weight names its id."""
    ids = pd.read_csv(demo_dir / "train.csv", usecols=["Id"], dtype=str)["Id"]
    (tmp_path / "w.csv").write_text("Id,weight\n" + "".join(f"{i},{weight}\n" for i in ids))
    line, _ = _refused(tmp_path, "house_prices", "--data", demo_dir, "--recipe", "linear", "--folds", "2",
                       "--set", f"sample_weight={tmp_path / 'w.csv'}")
    assert re.search(expect, line), line
