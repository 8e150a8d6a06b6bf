"""The image training options a Kaggler reaches for: the loss (ce, focal, bce, poly), layer-wise learning-rate
decay, a frozen backbone for the first epochs and the averaging of the last epochs' weights. Each changes what
trains, is off by default (a fit without the setting trains exactly as before it existed), and a fit killed after
an epoch and resumed ends with the weights of the fit that never stopped."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import last_line, run_cli

from shared.errors import UserError
from shared.models import ModelContext
from shared.vision import losses, nets
from shared.vision.train import VISION_PARAMS, default_loss, frozen_bn, train_epoch
from shared.vision.training import Trainer, layer_groups, layer_numbers

NEW = ("loss", "focal_gamma", "poly_epsilon", "layer_decay", "freeze_epochs", "average_epochs")
BASE = {**VISION_PARAMS, "opt": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4, "device": "cpu",
        "amp": "off", "epochs": 3}
# Each option on, at a value that changes training (freeze: epochs 1-2 frozen, so a kill after epoch 2 resumes at
# the unfreezing; average: the last 2 epochs, so a kill after epoch 2 leaves one epoch in the running sum).
OPTIONS = {"loss=focal": {"loss": "focal", "focal_gamma": 1.5}, "loss=bce": {"loss": "bce"},
           "loss=poly": {"loss": "poly", "poly_epsilon": 2.0}, "layer_decay": {"layer_decay": 0.5},
           "freeze_epochs": {"freeze_epochs": 2}, "average_epochs": {"average_epochs": 2},
           "drop_path": {"drop_path": 0.2}, "freeze_bn": {"freeze_bn": "on"}}


class Killed(Exception):
    pass


def _data():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 4
    return torch.randn(48, 3, 16, 16, generator=g) + y.view(-1, 1, 1, 1) * 0.5, y


X, Y = _data()


@pytest.fixture(scope="module", autouse=True)
def _no_curves():
    """The learning curves' PNG is most of a tiny fit's time, and no test here looks at it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("shared.plots.learning_curves", lambda path, history: None)
        yield


@pytest.fixture(scope="module")
def default_fit(tmp_path_factory) -> dict:
    """The weights of a fit with every option at its default."""
    return _fit(BASE, tmp_path_factory.mktemp("default"))[0]


def _fit(params: dict, workdir: Path, model: str = "test_resnet", resume: bool = False, kill_after: int | None = None,
         seen: list | None = None):
    """Fit a tiny net on 48 random 16-px images (4 classes); ``kill_after``: stop (as a kill would) once that
    epoch's checkpoint is written; ``seen`` collects each scored epoch's raw weights. Returns (weights, history)."""
    ctx = ModelContext("multiclass", "accuracy", 4, 0, None, workdir, 1, resume)
    trainer = Trainer(params, ctx)
    net = nets.create(model, 4, drop_path=params.get("drop_path", 0.0))
    loss = default_loss(params, 4)
    freeze_bn = params.get("freeze_bn") == "on"

    def batches(epoch: int):
        if kill_after is not None and epoch > kill_after:
            raise Killed
        order = torch.randperm(len(X))  # seeded per epoch by the trainer
        return [(X[order[i:i + 16]], Y[order[i:i + 16]]) for i in range(0, len(X), 16)]

    def score(weights):
        if seen is not None:
            seen.append({k: v.clone() for k, v in weights.state_dict().items()})
        weights.eval()
        with torch.no_grad():
            logits = weights(X)
        weights.train()
        return {"accuracy": float((logits.argmax(1) == Y).float().mean()), "loss": float(F.cross_entropy(logits, Y))}

    weights, history = trainer.fit(net, None, batches, epochs=params["epochs"], updates_per_epoch=3, score=score,
                                   train_epoch=lambda epoch: train_epoch(frozen_bn(epoch, net, freeze_bn), net, loss))
    return {k: v.clone() for k, v in weights.state_dict().items()}, history


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------------- the losses
def test_each_loss_takes_integer_and_soft_targets_with_label_smoothing():
    g = torch.Generator().manual_seed(1)
    logits, y = torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 3, 4, 0])
    soft = losses.soft_targets(logits, y, 0.1)
    assert torch.allclose(soft.sum(1), torch.ones(6)) and math.isclose(float(soft[0, 0]), 0.92, rel_tol=1e-6)
    ce = F.cross_entropy(logits, y, label_smoothing=0.1)
    p = logits.softmax(-1)
    for name, kwargs in [("focal", {"focal_gamma": 2.0}), ("poly", {"poly_epsilon": 1.5}), ("bce", {})]:
        loss = losses.make_loss(name, 0.1, **kwargs)
        assert torch.allclose(loss(logits, y), loss(logits, soft))  # integer targets are smoothed one-hot ones
    # focal with gamma 0 and Poly-1 with epsilon 0 are the cross-entropy; the others, their formulas
    assert torch.allclose(losses.make_loss("focal", 0.1, focal_gamma=0.0)(logits, y), ce)
    assert torch.allclose(losses.make_loss("poly", 0.1, poly_epsilon=0.0)(logits, y), ce)
    focal = -(soft * (1 - p) ** 2 * p.log()).sum(1).mean()
    assert torch.allclose(losses.make_loss("focal", 0.1)(logits, y), focal)
    poly = ce + 1.5 * (1 - (soft * p).sum(1)).mean()
    assert torch.allclose(losses.make_loss("poly", 0.1, poly_epsilon=1.5)(logits, y), poly)
    from timm.loss import BinaryCrossEntropy

    # one-vs-rest, summed over the classes and averaged over the batch: timm's with sum_classes
    assert torch.allclose(losses.make_loss("bce", 0.1)(logits, y),
                          BinaryCrossEntropy(smoothing=0.1, sum_classes=True)(logits, y))
    mixed = 0.7 * soft + 0.3 * soft.roll(1, 0)  # Mixup's targets: used as they are
    assert torch.allclose(losses.make_loss("bce")(logits, mixed),
                          F.binary_cross_entropy_with_logits(logits, mixed, reduction="none").sum(1).mean())


def test_default_loss_follows_the_setting_and_mixup():
    from timm.loss import SoftTargetCrossEntropy

    assert type(default_loss(VISION_PARAMS, 3)) is torch.nn.CrossEntropyLoss  # today's default, unchanged
    assert type(default_loss({**VISION_PARAMS, "mixup": 0.2}, 3)) is SoftTargetCrossEntropy
    made = {name: default_loss({**VISION_PARAMS, "loss": name, "cutmix": 1.0}, 3) for name in ("focal", "bce", "poly")}
    assert [type(m) for m in made.values()] == [losses.FocalLoss, losses.OneVsRestBCE, losses.PolyLoss]
    assert made["focal"].gamma == 2.0 and made["poly"].epsilon == 1.0  # the documented defaults


# ------------------------------------------------------------------------------- each option: on, off, resumed
def test_the_options_are_off_by_default(default_fit, tmp_path):
    """A fit with every new setting at its default trains exactly as one whose settings lack them (as before they
    existed, and as detection's, which has none of them)."""
    assert {k: VISION_PARAMS[k] for k in NEW} == {"loss": "ce", "focal_gamma": 2.0, "poly_epsilon": 1.0,
                                                  "layer_decay": 0.0, "freeze_epochs": 0, "average_epochs": 0}
    without = {k: v for k, v in BASE.items() if k not in NEW}
    assert _same(_fit(without, tmp_path)[0], default_fit)


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_changes_what_trains(option, default_fit, tmp_path):
    changed, _ = _fit({**BASE, **OPTIONS[option]}, tmp_path)
    assert not _same(changed, default_fit)


@pytest.mark.parametrize("option", OPTIONS)
def test_a_fit_killed_after_an_epoch_resumes_to_the_same_weights(option, tmp_path):
    params = {**BASE, **OPTIONS[option], "ema": True, "ema_decay": 0.9}
    full, history = _fit(params, tmp_path / "full")
    with pytest.raises(Killed):
        _fit(params, tmp_path / "cut", kill_after=1)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    resumed, history_resumed = _fit(params, tmp_path / "cut", resume=True)
    assert _same(resumed, full)
    assert [h["train_loss"] for h in history] == [h["train_loss"] for h in history_resumed]


# ------------------------------------------------------------------------------------------------ layer decay
def test_layer_decay_scales_the_learning_rate_down_from_the_classifier(tmp_path, log_lines):
    from timm.optim import create_optimizer_v2

    net = nets.create("test_resnet", 4)
    ctx = ModelContext("multiclass", "accuracy", 4, 0, None, tmp_path, 1)
    stepper = Trainer({**BASE, "layer_decay": 0.5}, ctx)._stepper(net, None, 3, 3, None)
    lrs = {round(g["lr"] / 0.05, 6) for g in stepper.optimizer.param_groups}
    assert max(lrs) == 1.0 and min(lrs) == 0.5 ** 5 and len(lrs) == 6  # timm's 6 layers of test_resnet
    assert any("layer_decay=0.5: 6 layers (timm's group_matcher)" in line for line in log_lines)
    head = {id(p) for p in net.get_classifier().parameters()}
    assert all(g["lr"] == 0.05 for g in stepper.optimizer.param_groups if id(g["params"][0]) in head)
    plain = create_optimizer_v2(net, opt="sgd", lr=0.05, weight_decay=1e-4, momentum=0.9)
    assert len(plain.param_groups) == 2  # without it: one learning rate (weight decay and none)


def test_layer_decay_without_timms_groups_goes_by_module_order():
    """airbench (and a competition's own net) has no group_matcher: each conv or linear layer begins a layer."""
    net = nets.create("airbench_small", 4)
    numbers = layer_numbers(net)
    assert numbers["features.0.weight"] == 0 and numbers["features.1.weight"] == 0  # the stem conv and its BN
    assert numbers["head.weight"] == max(numbers.values()) == 7  # stem, 2 convs in each of 3 blocks, the head
    groups = layer_groups(net, 0.5, 1e-4)
    scales = {g["lr_scale"] for g in groups}
    assert max(scales) == 1.0 and min(scales) == 0.5 ** 7
    assert all(g["weight_decay"] == 0.0 for g in groups if g["params"][0].ndim == 1)
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


# ------------------------------------------------------------------------------------------------- freezing
def test_a_frozen_backbone_keeps_its_weights_and_batchnorm_statistics_then_trains(tmp_path, log_lines):
    params = {**BASE, "freeze_epochs": 1, "epochs": 2}
    start = {k: v.clone() for k, v in (torch.manual_seed(0), nets.create("test_resnet", 4))[1].state_dict().items()}
    with pytest.raises(Killed):
        _fit(params, tmp_path, kill_after=0)
    after_one = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    frozen = [k for k in start if not k.startswith("fc.")]
    assert all(torch.equal(after_one[k], start[k]) for k in frozen)  # running_mean/var included
    assert not torch.equal(after_one["fc.weight"], start["fc.weight"])
    done, _ = _fit(params, tmp_path, resume=True)
    assert not torch.equal(done["conv1.0.weight"], start["conv1.0.weight"])
    assert not torch.equal(done["conv1.1.running_mean"], start["conv1.1.running_mean"])
    assert any("freeze_epochs=1: only the classifier (2 tensors) trains in the first epoch;" in line
               for line in log_lines)
    assert any("epoch 2/2: the backbone trains from now on (frozen in the first epoch" in line for line in log_lines)


def test_freezing_needs_a_classifier_to_train(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    trainer = Trainer({**BASE, "freeze_epochs": 1}, ModelContext("multiclass", "accuracy", 4, 0, None, tmp_path, 1))
    with pytest.raises(UserError, match=r"freeze_epochs: the network \(Sequential\) has no classifier"):
        trainer.fit(net, None, lambda epoch: [], epochs=1, updates_per_epoch=1)


# ------------------------------------------------------------------------------------------------ averaging
@pytest.mark.parametrize("keep", ["last", "best"])
def test_averaged_weights_are_the_mean_of_the_last_epochs_and_predict(tmp_path, log_lines, keep):
    seen: list[dict] = []
    params = {**BASE, "average_epochs": 2, "ema": True, "ema_decay": 0.9, "keep": keep, "epochs": 3}
    weights, _ = _fit(params, tmp_path, seen=seen)
    raw = seen[0::2]  # each epoch scores its raw weights, then the EMA's
    for key, value in weights.items():
        expected = (raw[1][key] + raw[2][key]) / 2 if value.is_floating_point() else raw[2][key]
        assert torch.allclose(value, expected, atol=1e-6), key
    assert torch.load(tmp_path / "last.pt", weights_only=True)["weights"] == "averaged"
    assert (tmp_path / "best.pt").is_file() == (keep == "best")
    line = next(line for line in log_lines if "averaged the last 2 epochs' weights" in line)
    assert "accuracy" in line and "(last epoch's" in line and "EMA's" in line
    assert line.endswith("the averaged weights predict, not the EMA's")
    resumed, _ = _fit(params, tmp_path, resume=True)  # a finished fit predicts with what it kept
    assert _same(resumed, weights)


def test_the_options_reach_a_competitions_run_and_its_settings_list(demos, tmp_path):
    rc, out, err = run_cli("run", "classify_leaves", "--list")
    assert rc == 0 and all(name in out for name in NEW)
    rc, out, err = run_cli(
        "run", "classify_leaves", "--data", demos("classify_leaves"), "--recipe", "baseline", "--folds", "2",
        "--out", tmp_path, "--set", "model=airbench_small", "--set", "img_size=16", "--set", "epochs=2",
        "--set", "min_steps_per_epoch=0", "--set", "min_updates=0", "--set", "loss=poly",
        "--set", "layer_decay=0.8", "--set", "freeze_epochs=1", "--set", "average_epochs=2")
    assert rc == 0, err
    log = (Path(last_line(out)) / "log.txt").read_text()
    assert "layer_decay=0.8: 8 layers (module order" in log and "the backbone trains from now on" in log
    assert "averaged the last 2 epochs' weights: accuracy" in log
    rc, _, err = run_cli("run", "classify_leaves", "--data", demos("classify_leaves"), "--recipe", "baseline",
                         "--out", tmp_path, "--set", "loss=hinge")
    assert rc == 2 and "loss" in err and "focal" in err


def test_averaging_every_epoch_warns_that_the_first_ones_are_in_it(tmp_path, log_lines):
    _fit({**BASE, "average_epochs": 3}, tmp_path)
    assert any("average_epochs=3 averages all 3 epochs" in line and "--set average_epochs=1" in line
               for line in log_lines)
