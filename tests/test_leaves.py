"""Classify Leaves: the generated demo in the exact layout, stratified image folds, test-time augmentation
(exactness on an orientation-invariant net, one decode per image, gain reported beside the plain score),
fold averaging and species-name submissions (its bad inputs are in test_bad_inputs.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_user_error, last_line, run_cli
from PIL import Image

from shared.errors import UserError

# A CPU-sized timm-recipe run: seconds per fold on the tiny demo.
SMALL = ["--set", "model=airbench_small", "--set", "epochs=2", "--set", "batch_size=16", "--set", "lr=0.002",
         "--set", "workers=0", "--set", "mixup=0", "--set", "cutmix=0"]


@pytest.fixture(scope="module")
def leaves(demos) -> Path:
    return demos("classify_leaves")


def _copy(leaves: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(leaves, tmp_path / "data"))


def test_demo_has_the_exact_layout_and_species_names(leaves):
    train, test = pd.read_csv(leaves / "train.csv"), pd.read_csv(leaves / "test.csv")
    sample, solution = pd.read_csv(leaves / "sample_submission.csv"), pd.read_csv(leaves / "solution.csv")
    assert list(train.columns) == ["image", "label"] and list(test.columns) == ["image"]
    assert list(sample.columns) == ["image", "label"] and list(solution.columns) == ["image", "label"]
    # Training images first, then the test images, numbered from 0 as in the competition.
    assert train["image"].tolist() == [f"images/{i}.jpg" for i in range(len(train))]
    assert test["image"].tolist() == [f"images/{i}.jpg" for i in range(len(train), len(train) + len(test))]
    assert sample["image"].tolist() == test["image"].tolist() == solution["image"].tolist()
    assert train["label"].str.fullmatch(r"[a-z]+_[a-z]+").all() and train["label"].nunique() == 6
    assert set(solution["label"]) == set(train["label"])
    with Image.open(leaves / "images" / "0.jpg") as image:
        assert image.format == "JPEG" and image.size == (48, 48) and image.mode == "RGB"


def test_demo_colour_does_not_tell_species_apart(leaves):
    """Colour is drawn from one palette for every species: the mean colour of an image predicts its species
    barely above chance, while the images do differ in shape (the classes are learnable: see the run test)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    train = pd.read_csv(leaves / "train.csv")
    colours = []
    for file in train["image"]:
        pixels = np.asarray(Image.open(leaves / file), np.float32).reshape(-1, 3)
        leaf = pixels[pixels.sum(1) < 600]  # the leaf, not the light background
        colours.append(leaf.mean(0))
    accuracy = cross_val_score(LogisticRegression(max_iter=2000), np.array(colours), train["label"], cv=4).mean()
    assert accuracy < 0.4  # chance is 1/6


def test_stratified_folds_keep_every_class_in_every_fold(leaves, tmp_path):
    from competitions import get
    from shared.cv import load_or_make_folds

    spec = get("classify_leaves")
    data = spec.load(leaves)
    folds = load_or_make_folds(tmp_path, data.train["image"], 5, 42, spec.fold_kind,
                               target=data.train["label"].to_numpy(), id_col="image")
    assert folds["image"].tolist() == data.train["image"].tolist()
    table = pd.crosstab(folds["fold"].to_numpy(), data.train["label"].to_numpy())
    assert table.shape == (5, 6) and (table > 0).all().all()  # 12 images per species: 2-3 in each fold


class _Invariant(torch.nn.Module):
    """Global average pooling first: any flip, quarter turn or transpose leaves its output unchanged."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(3, 4)

    def forward(self, x):
        return self.head(x.mean(dim=(2, 3)))


def test_tta_of_an_orientation_invariant_model_equals_its_plain_prediction():
    from shared.vision.tta import predict_views, views

    torch.manual_seed(0)
    net, xb = _Invariant(), torch.randn(5, 3, 16, 16)
    dihedral = views("dihedral")
    assert [n for n, _ in dihedral] == ["identity", "hflip", "vflip", "rot90", "rot180", "rot270", "transpose",
                                        "antitranspose"]
    for merge in ("probabilities", "logits"):
        merged, plain = predict_views(net, xb, dihedral, merge)
        torch.testing.assert_close(merged, plain)
    # Each view really transforms: an orientation-sensitive net gives different answers.
    sensitive = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    merged, plain = predict_views(sensitive, xb, dihedral)
    assert not torch.allclose(merged, plain)
    assert len(views("fivecrop,scale1.25")) == 7 and views("flip")[1][0] == "hflip"
    out = views("scale0.5")[1][1](xb)
    assert out.shape == (5, 3, 8, 8)
    with pytest.raises(UserError, match="unknown view 'spin'"):
        views("hflip,spin")


def test_tta_merge_by_logits_is_the_softmax_of_mean_logits():
    from shared.vision.tta import predict_views

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3))
    xb = torch.randn(2, 3, 4, 4)
    views = [("identity", lambda x: x), ("hflip", lambda x: torch.flip(x, dims=[3]))]
    z = torch.stack([net(xb), net(torch.flip(xb, dims=[3]))])
    merged, _ = predict_views(net, xb, views, "logits")
    torch.testing.assert_close(merged, z.mean(0).softmax(1))
    merged, _ = predict_views(net, xb, views, "probabilities")
    torch.testing.assert_close(merged, z.softmax(2).mean(0))


def test_tta_decodes_each_image_once(leaves, monkeypatch, tmp_path):
    """Eight views of every image, and still one decode per image: the views are made from the batch tensor."""
    import shared.vision.data as data_module
    from competitions import get
    from shared.models import ModelContext
    from shared.vision.train import VISION_PARAMS, VisionModel

    calls = []
    real = data_module.load_rgb
    monkeypatch.setattr(data_module, "load_rgb", lambda path, policy="error": calls.append(path) or real(path, policy))
    data = get("classify_leaves").load(leaves)
    ctx = ModelContext("multiclass", "accuracy", 6, 0, None, tmp_path / "fold0", 1)
    model = VisionModel({**VISION_PARAMS, "model": "airbench_small", "img_size": 48, "tta": "dihedral",
                         "workers": 0, "batch_size": 8}, ctx)
    from shared.vision import nets
    from shared.vision.augment import pipelines

    torch.manual_seed(0)  # an untrained net: its outputs sit near 1/6, differing across views by ~1e-6
    model.device_, model.net_ = torch.device("cpu"), nets.create("airbench_small", 6).eval()
    model.eval_tf_ = pipelines("none", 48)[1]
    out = model.predict_variants(data.test.iloc[:20])
    assert len(calls) == 20 and sorted(calls) == sorted(data.test["image_path"].iloc[:20])
    assert set(out) == {"", "no_tta"} and out[""].shape == (20, 6)
    np.testing.assert_allclose(out[""].sum(1), 1, rtol=1e-5)
    assert not np.allclose(out[""], out["no_tta"], rtol=0, atol=1e-9)


def test_fold_average_of_probabilities_or_logits():
    from shared.metrics import get_metric
    from shared.tables import fold_average

    folds = np.array([[[0.7, 0.2, 0.1]], [[0.1, 0.6, 0.3]]])
    metric = get_metric("accuracy")
    np.testing.assert_allclose(fold_average(folds, metric, ["a", "b", "c"]), [[0.4, 0.4, 0.2]])
    geometric = np.sqrt(folds[0] * folds[1])
    np.testing.assert_allclose(fold_average(folds, metric, ["a", "b", "c"], "logits"), geometric / geometric.sum())
    with pytest.raises(UserError, match="fold_average"):
        fold_average(folds, metric, ["a", "b", "c"], "median")


def test_run_writes_species_submission_tta_gain_and_each_fold_alone(leaves, tmp_path):
    rc, out, err = run_cli("run", "classify_leaves", "--data", leaves, "--recipe", "timm", "--folds", "3",
                              *SMALL, "--set", "tta=hflip,vflip", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    sub = pd.read_csv(run_dir / "submission.csv")
    test = pd.read_csv(leaves / "test.csv")
    assert list(sub.columns) == ["image", "label"] and sub["image"].tolist() == test["image"].tolist()
    assert set(sub["label"]) <= set(pd.read_csv(leaves / "train.csv")["label"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # The same models scored without TTA, from the same pass; and each fold's model alone on the holdout.
    assert set(metrics["variants"]) == {"no_tta"}
    assert 0 <= metrics["variants"]["no_tta"]["cv"] <= 1 and 0 <= metrics["variants"]["no_tta"]["holdout"] <= 1
    assert set(metrics["holdout_folds"]) == {"0", "1", "2"}
    with np.load(run_dir / "fold0" / "predictions.npz") as saved:
        assert {"valid", "test", "valid__no_tta", "test__no_tta"} <= set(saved.files)
        assert saved["test"].shape == saved["test__no_tta"].shape == (len(test), 6)
    assert (run_dir / "fold0" / "history.csv").is_file() and (run_dir / "fold0" / "curves.png").is_file()
    # Image runs blend through the ensemble command like tabular runs (a second member: the same recipe, no TTA).
    rc, out, err = run_cli("run", "classify_leaves", "--data", leaves, "--recipe", "timm", "--folds", "3",
                           *SMALL, "--set", "tta=none", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    other = Path(last_line(out))
    rc, out, err = run_cli("ensemble", run_dir, other, "--method", "mean", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    blend = pd.read_csv(Path(last_line(out)) / "oof.csv")
    members = [pd.read_csv(d / "oof.csv").set_index("image").loc[blend["image"]] for d in (run_dir, other)]
    column = next(c for c in blend.columns if c.startswith("proba_"))
    # the mean blend of two members' probabilities lies between them, row by row
    low = np.minimum(members[0][column].to_numpy(), members[1][column].to_numpy())
    high = np.maximum(members[0][column].to_numpy(), members[1][column].to_numpy())
    assert ((blend[column].to_numpy() >= low - 1e-9) & (blend[column].to_numpy() <= high + 1e-9)).all()


def test_unreadable_image_can_be_skipped_with_a_warning(leaves, tmp_path):
    data = _copy(leaves, tmp_path)
    (data / "images" / "5.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match=r"images/5\.jpg is .*replaced by a blank image \(bad_images=skip\)"):
        rc, out, err = run_cli("run", "classify_leaves", "--data", data, "--folds", "2", *SMALL,
                               "--set", "epochs=1", "--set", "bad_images=skip", "--out", tmp_path / "runs")
    assert rc == 0, err[-3000:]
    assert (Path(last_line(out)) / "submission.csv").is_file()


def test_automl_without_its_package_says_how_to_install_in_one_line(leaves, tmp_path):
    import importlib.util

    if importlib.util.find_spec("autogluon.multimodal") is not None:
        pytest.skip("AutoGluon multimodal is installed here")
    rc, out, err = run_cli("run", "classify_leaves", "--data", leaves, "--recipe", "automl",
                              "--out", tmp_path / "runs")
    line = assert_user_error(rc, err)
    assert "requirements-automm.txt" in line and not (tmp_path / "runs").exists()


def test_automl_wrapper_maps_autogluon_classes_to_ours(tmp_path, monkeypatch):
    """AutoGluon's multimodal package cannot be installed beside this environment's torch, so its predictor
    is stood in for here: the wrapper passes image paths and integer labels, honours the time budget, and
    puts each predicted class's probabilities in that class's column (a class absent from a fold's training
    rows keeps 0)."""
    import sys
    import types

    from competitions.classify_leaves.automl import AUTOMM_PARAMS, MultiModalModel
    from shared.models import ModelContext

    seen = {}

    class FakePredictor:
        def __init__(self, label, problem_type, eval_metric, path, verbosity):
            seen.update(label=label, problem_type=problem_type, path=path)
            Path(path).mkdir(parents=True)

        def fit(self, frame, presets, column_types, time_limit, hyperparameters, seed):
            seen.update(frame=frame.copy(), presets=presets, time_limit=time_limit, hyperparameters=hyperparameters)
            self.classes = sorted(frame["label"].unique())
            return self

        def predict_proba(self, frame, as_pandas):
            p = np.tile(np.linspace(1, 2, len(self.classes)), (len(frame), 1))
            return pd.DataFrame(p / p.sum(1, keepdims=True), columns=self.classes)

    package = types.ModuleType("autogluon.multimodal")
    package.MultiModalPredictor = FakePredictor
    monkeypatch.setitem(sys.modules, "autogluon.multimodal", package)
    ctx = ModelContext("multiclass", "accuracy", 4, 7, 90.0, tmp_path / "fold0", 1)
    model = MultiModalModel({**AUTOMM_PARAMS, "checkpoint": "convnext_tiny"}, ctx)
    X = pd.DataFrame({"image_path": [f"/data/images/{i}.jpg" for i in range(6)]})
    model.fit(X, np.array([0, 1, 3, 0, 1, 3]))  # class 2 is absent from this fold
    assert seen["frame"]["image"].tolist() == X["image_path"].tolist() and seen["time_limit"] == 90
    assert seen["hyperparameters"] == {"model.timm_image.checkpoint_name": "convnext_tiny"}
    proba = model.predict(X.iloc[:2])
    assert proba.shape == (2, 4) and (proba[:, 2] == 0).all() and np.allclose(proba.sum(1), 1)
    assert proba[0, 3] > proba[0, 1] > proba[0, 0]
    model.cleanup()
    assert not (tmp_path / "fold0" / "automm").exists()
