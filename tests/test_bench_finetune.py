"""Measured transfer: the digits in the Classify Leaves layout (``make_demo.py classify_leaves --size digits``) and
``scripts/bench_finetune.py`` (a bare fine-tune loop beside the recipe's runs), on a few 16-px digits."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_user_error, last_line, run_cli
from PIL import Image

from competitions.classify_leaves import demo


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """``make_demo.py classify_leaves --size digits``, read-only for the tests."""
    out = tmp_path_factory.mktemp("digits") / "classify_leaves"
    rc, printed, err = run_cli("make_demo", "classify_leaves", "--size", "digits", "--seed", "3", "--out", out)
    assert rc == 0, err
    assert Path(last_line(printed)) == out
    return out


def test_digits_demo_has_the_leaves_layout_a_stratified_split_and_the_sklearn_pixels(digits):
    from sklearn.datasets import load_digits

    train, test = pd.read_csv(digits / "train.csv"), pd.read_csv(digits / "test.csv")
    sample, solution = pd.read_csv(digits / "sample_submission.csv"), pd.read_csv(digits / "solution.csv")
    assert list(train.columns) == ["image", "label"] and list(test.columns) == ["image"]
    assert list(sample.columns) == list(solution.columns) == ["image", "label"]
    assert (len(train), len(test)) == (1200, 597)
    assert train["image"].tolist() == [f"images/{i}.jpg" for i in range(1200)]
    assert test["image"].tolist() == sample["image"].tolist() == solution["image"].tolist() == [
        f"images/{i}.jpg" for i in range(1200, 1797)]
    assert sorted(train["label"].unique()) == sorted(solution["label"].unique()) == [f"digit_{d}" for d in range(10)]
    # Stratified: each digit's share of the training images is its share of all 1,797 (within one image).
    counts = train["label"].value_counts()
    every = pd.Series(load_digits().target).value_counts()
    assert all(abs(counts[f"digit_{d}"] - every[d] * 1200 / 1797) <= 1 for d in range(10))
    # Each image is an sklearn scan of its label: 0-16 scaled to 0-255, upscaled bicubically, grey in 3 channels
    # (saved as a JPEG of quality 95: within a level or two).
    scans = load_digits()
    for row in (0, 777):
        with Image.open(digits / train["image"][row]) as image:
            assert image.format == "JPEG" and image.size == (32, 32) and image.mode == "RGB"
            pixels = np.asarray(image, np.float32)
        upscaled = [np.asarray(Image.fromarray(np.round(scan * 255 / 16).astype(np.uint8)).resize(
            (32, 32), Image.BICUBIC), np.float32)[..., None] for scan in scans.images]
        errors = [np.abs(u - pixels).mean() for u in upscaled]
        best = int(np.argmin(errors))
        assert errors[best] < 1.5 and f"digit_{scans.target[best]}" == train["label"][row]
        assert np.abs(pixels[..., 0] - pixels[..., 2]).max() <= 2


def test_digits_are_a_function_of_the_seed(digits, tmp_path):
    again = demo.build(tmp_path / "again", size="digits", seed=3)
    other = demo.build_digits(tmp_path / "other", seed=4, side=16)
    assert (again / "train.csv").read_bytes() == (digits / "train.csv").read_bytes()
    assert (again / "images" / "5.jpg").read_bytes() == (digits / "images" / "5.jpg").read_bytes()
    assert (other / "train.csv").read_bytes() != (digits / "train.csv").read_bytes()
    assert Image.open(other / "images" / "0.jpg").size == (16, 16)


def test_bench_bare_arms_write_the_table_json_and_plot_and_repeat_exactly(digits, tmp_path):
    args = ["--data", digits, "--limit", "40", "--epochs", "2", "--bare-only", "--seed", "1"]
    rc, out, err = run_cli("bench_finetune", *args, "--out", tmp_path)
    assert rc == 0, err[-3000:]
    folder = Path(last_line(out))
    assert folder.parent == tmp_path / "classify_leaves" and folder.name.startswith("bench-finetune-")
    result = json.loads((folder / "bench.json").read_text())
    arms = result["arms"]
    assert [a["arm"] for a in arms] == ["bare loop, pretrained", "bare loop, scratch"]
    assert [a["weights"] for a in arms] == ["pip:efficientnet_lite0", "none (scratch)"]
    for a in arms:
        assert 0 <= a["holdout"] <= 1 and a["seconds"] > 0 and a["epochs"] == 2 and len(a["train_losses"]) == 2
        assert math.isfinite(a["first_epoch_loss"]) and a["first_epoch_loss"] == a["train_losses"][0]
    assert result["classes"] == [f"digit_{d}" for d in range(10)] and result["side"] == [32, 32]
    table = (folder / "bench.md").read_text()
    assert ("| arm | weights | CV accuracy | holdout accuracy | minutes | epochs | first-epoch train loss |"
            in table) and "ln 10 = 2.30" in table
    assert (folder / "bench.png").stat().st_size > 0
    assert len(pd.read_csv(folder / "limited" / "train.csv")) == 40
    # The same seed: the same losses and accuracy, to the last bit.
    rc, out, err = run_cli("bench_finetune", *args, "--out", tmp_path)
    assert rc == 0, err[-3000:]
    again = json.loads((Path(last_line(out)) / "bench.json").read_text())["arms"]
    assert [(a["train_losses"], a["holdout"]) for a in again] == [(a["train_losses"], a["holdout"]) for a in arms]


def test_bare_loop_loads_the_package_weights_and_starts_the_head_fresh(digits):
    """Pretrained and scratch differ only in the backbone: the same seed gives the same fresh head."""
    import timm
    import torch

    from shared.vision import pip_weights

    torch.manual_seed(0)
    scratch = timm.create_model("tf_efficientnet_lite0", num_classes=10)
    torch.manual_seed(0)
    tuned = timm.create_model("tf_efficientnet_lite0", num_classes=10)
    fresh = pip_weights.load(tuned, "pip:efficientnet_lite0", "tf_efficientnet_lite0", head=("classifier",))
    assert fresh == ["classifier.weight", "classifier.bias"]
    torch.testing.assert_close(tuned.classifier.weight, scratch.classifier.weight)
    assert not torch.equal(tuned.conv_stem.weight, scratch.conv_stem.weight)


@pytest.mark.parametrize("argv, message", [
    (["--arm", "no colon here"], r"--arm 'no colon here': expected 'NAME: run\.py flags'"),
    (["--arm", "x: --recipe timm --out elsewhere"], r"--arm 'x': --out is the benchmark's to set"),
    (["--arm", "x: --set 'open"], r"--arm 'x': cannot split its flags"),
    (["--arm", "x: --recipe timm", "--arm", "x : --recipe baseline"], r"two arms have the same name"),
    (["--bare-only", "--arm", "x: --recipe baseline"], r"--bare-only runs no recipe arm"),
    (["--epochs", "100000"], r"--epochs: 100000 is out of range"),
])
def test_bad_flags_are_one_line_before_any_work(argv, message, tmp_path):
    import re

    rc, out, err = run_cli("bench_finetune", *argv, "--out", tmp_path)
    assert re.search(message, assert_user_error(rc, err)), err
    assert not (tmp_path / "classify_leaves").exists()


def test_bad_data_is_one_line_and_leaves_no_benchmark_folder(digits, tmp_path):
    import shutil

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        shutil.copy(digits / name, data / name)
    rc, out, err = run_cli("bench_finetune", "--data", data, "--side", "16", "--out", tmp_path / "o")
    assert "--side is the side of the digits the benchmark builds" in assert_user_error(rc, err)
    solution = pd.read_csv(data / "solution.csv")
    solution.loc[3, "label"] = "digit_x"
    solution.to_csv(data / "solution.csv", index=False)
    rc, out, err = run_cli("bench_finetune", "--data", data, "--out", tmp_path / "o")
    assert "label 'digit_x' is not in train.csv" in assert_user_error(rc, err)
    (data / "solution.csv").unlink()
    rc, out, err = run_cli("bench_finetune", "--data", data, "--out", tmp_path / "o")
    assert f"--data {data}: no solution.csv" in assert_user_error(rc, err)
    assert not list((tmp_path / "o").rglob("bench-finetune-*"))


@pytest.mark.integration
def test_a_recipe_arm_runs_through_run_py_and_reports_cv_holdout_and_first_loss(tmp_path):
    rc, out, err = run_cli("bench_finetune", "--limit", "60", "--epochs", "1", "--side", "16", "--folds", "2",
                           "--arm", "tiny: --recipe baseline --set epochs=1 --set min_updates=0 "
                                    "--set min_steps_per_epoch=0 --set workers=0 --set batch_size=16",
                           "--arm", "broken: --set epochs=-3", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    arms = json.loads((Path(last_line(out)) / "bench.json").read_text())["arms"]
    tiny, broken = arms[2], arms[3]
    assert tiny["arm"] == "tiny" and 0 <= tiny["cv"] <= 1 and 0 <= tiny["holdout"] <= 1
    assert tiny["epochs"] == 1 and math.isfinite(tiny["first_epoch_loss"]) and tiny["weights"] == "pretrained=false"
    assert Path(tiny["run"]).parent.parent == Path(last_line(out))
    assert broken["error"].startswith("error: ") and "epochs" in broken["error"]
    assert "- broken: error:" in (Path(last_line(out)) / "bench.md").read_text()
