"""The image engine: decoding of odd image modes, clear errors for broken files, the CIFAR-10 layout,
deterministic augmentation, exact resume of a killed training run, and a valid class-name submission."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, assert_user_error, last_line, run_cli, run_script
from PIL import Image

from shared.errors import UserError
from shared.runner import ModelContext
from shared.vision.augment import pipelines
from shared.vision.data import ImageDataset
from shared.vision.images import load_rgb
from shared.vision.train import VISION_PARAMS

# A CPU-sized configuration of the fast recipe for tests: seconds per epoch on the tiny demo.
TINY = {**VISION_PARAMS, "model": "airbench", "augment": "flip_translate", "opt": "sgd", "lr": 0.05,
        "epochs": 3, "batch_size": 32, "ema": True, "ema_decay": 0.9, "workers": 0}


@pytest.fixture(scope="module")
def cifar(demos) -> Path:
    return demos("cifar10")


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "CMYK", "I;16", "1"])
def test_every_image_mode_decodes_to_rgb(tmp_path, mode):
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (9, 7, 3), dtype=np.uint8))
    image = base.convert(mode) if mode != "I;16" else Image.fromarray(rng.integers(0, 65535, (9, 7)).astype(np.uint16))
    path = tmp_path / f"x.{'tiff' if mode in ('CMYK', 'I;16') else 'png'}"
    image.save(path)
    out = load_rgb(path)
    assert out.shape == (9, 7, 3) and out.dtype == np.uint8


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert (load_rgb(tmp_path / "t.png") == 255).all()


def test_truncated_or_missing_image_is_one_clear_error_or_a_warned_blank(tmp_path):
    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"cut\.png is unreadable"):
        load_rgb(tmp_path / "cut.png")
    with pytest.raises(UserError, match=r"gone\.png is missing"):
        load_rgb(tmp_path / "gone.png")
    with pytest.warns(UserWarning, match="cut.png"):
        blank = load_rgb(tmp_path / "cut.png", bad_images="skip")
    assert blank.shape == (32, 32, 3) and (blank == 0).all()


def test_augmentation_depends_only_on_seed_epoch_and_index():
    images = [np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8) for i in range(6)]
    train, _ = pipelines("flip_translate", 32)
    ds = ImageDataset([f"{i}.png" for i in range(6)], [0] * 6, train, seed=1)
    ds.images = images
    first = [ds[i][0] for i in (5, 2, 0)]
    again = [ds[i][0] for i in (0, 2, 5)][::-1]  # another order: same images
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    ds.epoch = 1
    assert not all(torch.equal(a, ds[i][0]) for a, i in zip(first, (5, 2, 0)))


def test_persistent_workers_draw_what_a_fresh_loader_draws_each_epoch(tmp_path):
    """One DataLoader kept for the whole fit (2 persistent workers, prefetching) gives, epoch by epoch, the
    batches a fresh single-process loader gives for (seed, epoch): the epoch travels with each index."""
    from shared.vision.data import EpochBatches, loader, persistent_loader

    paths = []
    for i in range(40):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    train, _ = pipelines("flip_translate", 16)
    dataset = ImageDataset(paths, np.arange(40), train, seed=3)
    kept, epochs = persistent_loader(dataset, 8, True, 2, seed=3, drop_last=True)
    assert isinstance(epochs, EpochBatches) and len(kept) == 5
    for epoch in (0, 1, 2):
        epochs.set_epoch(epoch)
        dataset.epoch = epoch
        fresh = list(loader(dataset, 8, True, 0, 3, epoch, drop_last=True))
        mine = list(kept)
        assert [y.tolist() for _, y in mine] == [y.tolist() for _, y in fresh]  # the same order ...
        assert all(torch.equal(a, b) for (a, _), (b, _) in zip(mine, fresh))  # ... and the same augmentations
    dataset.epoch = 0
    epochs.set_epoch(1)
    assert [y.tolist() for _, y in kept] != [y.tolist() for _, y in loader(dataset, 8, True, 0, 3, 0, drop_last=True)]


def test_cifar_layout_loads_with_paths_and_decoys(cifar):
    import competitions

    spec = competitions.get("cifar-10")
    data = spec.load(cifar)
    assert list(data.train.columns) == ["id", "label", "image_path"] and len(data.train) == 200
    assert data.train["image_path"][0].endswith("train/1.png")
    assert len(data.test) == 100 and data.test["image_path"].iloc[-1].endswith("test/100.png")
    solution = pd.read_csv(cifar / "solution.csv")
    assert 0 < len(solution) < 100  # decoys are not scored


def test_missing_image_names_the_row(cifar, tmp_path):
    import shutil

    data = Path(shutil.copytree(cifar, tmp_path / "cifar10"))
    (data / "train" / "7.png").unlink()
    rc, out, err = run_cli("run", "cifar10", "--data", data, "--out", tmp_path / "runs")
    line = assert_user_error(rc, err)
    assert "lists id '7'" in line and "train/7.png does not exist" in line
    assert not (tmp_path / "runs").exists()


def _ctx(workdir: Path, resume=False) -> ModelContext:
    return ModelContext("multiclass", "accuracy", 10, 0, None, workdir, 1, resume)


@pytest.mark.integration
@pytest.mark.parametrize("data_path", ["loader", "resident"])
def test_resume_after_a_kill_ends_with_the_same_weights(cifar, tmp_path, data_path):
    """Train 3 epochs straight; train again but SIGKILL the process in epoch 2, then resume: the final
    weights, EMA and per-epoch history are identical, on the loader's path and on the resident one."""
    script = tmp_path / "train.py"
    script.write_text(f"""
import sys, pandas as pd, numpy as np
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from shared.runner import ModelContext
from shared.vision.train import VisionModel
import json
TINY = {{**json.loads({json.dumps(TINY)!r}), "data_path": {data_path!r}}}
workdir, resume, slow = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
labels = pd.read_csv({str(cifar / 'trainLabels.csv')!r})
X = pd.DataFrame({{"image_path": [{str(cifar)!r} + f"/train/{{i}}.png" for i in labels["id"]]}})
y = pd.Categorical(labels["label"]).codes.astype(int)
if slow:  # make epoch 2 slow enough to be killed in the middle: its images (dataset.epoch == 1) load slowly
    import time
    from shared.vision.data import ImageDataset
    item = ImageDataset.__getitem__
    def slow_item(self, i):
        if self.epoch == 1:
            time.sleep(0.02)
        return item(self, i)
    ImageDataset.__getitem__ = slow_item
    from shared.vision.resident import ResidentImages
    epoch_of = ResidentImages.train_epoch
    def slow_epoch(self, batch, seed, epoch, **kw):
        batches = epoch_of(self, batch, seed, epoch, **kw)
        if epoch != 1:
            return batches
        class Slow:
            def __len__(self):
                return len(batches)
            def __iter__(self):
                for b in batches:
                    time.sleep(0.7)
                    yield b
        return Slow()
    ResidentImages.train_epoch = slow_epoch
ctx = ModelContext("multiclass", "accuracy", 10, 0, None, workdir, 1, resume)
model = VisionModel(TINY, ctx).fit(X, y)
np.save(workdir / "probs.npy", model.predict(X.iloc[:20]))
""")
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    full = tmp_path / "full"
    subprocess.run([sys.executable, script, full, "0", "0"], check=True, env=env, timeout=300)
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, script, cut, "0", "1"], env=env)
    deadline = time.time() + 200
    while time.time() < deadline and not (cut / "last.pt").exists():
        time.sleep(0.1)
    time.sleep(1.0)  # inside epoch 2 (its batches are slowed)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert torch.load(cut / "last.pt", weights_only=True)["epoch"] == 0  # killed during epoch 2
    subprocess.run([sys.executable, script, cut, "1", "0"], check=True, env=env, timeout=300)
    a, b = torch.load(full / "last.pt", weights_only=True), torch.load(cut / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2 and a["weights"] == b["weights"] == "ema"  # the finished fits' EMA weights
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    np.testing.assert_array_equal(np.load(full / "probs.npy"), np.load(cut / "probs.npy"))


def test_run_writes_class_name_submission_and_learning_curves(cifar, tmp_path):
    rc, out, err = run_cli("run", "cifar10", "--data", cifar, "--recipe", "fast", "--folds", "2",
                           "--set", "epochs=2", "--set", "batch_size=32", "--set", "lr=0.05", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    sub = pd.read_csv(run_dir / "submission.csv")
    assert list(sub.columns) == ["id", "label"] and list(sub["id"]) == list(range(1, 101))
    assert set(sub["label"]) <= {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                 "truck"}
    oof = pd.read_csv(run_dir / "oof.csv")
    assert [c for c in oof.columns if c.startswith("proba_")] == [f"proba_{c}" for c in sorted(
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])]
    assert (run_dir / "fold0" / "curves.png").stat().st_size > 5000
    assert (run_dir / "fold0" / "last.pt").is_file() and not (run_dir / "fold0" / "best.pt").exists()  # keep=last
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metric"] == "accuracy" and 0 <= metrics["holdout"] <= 1


@pytest.mark.integration
def test_torchrun_two_gloo_processes_write_one_run(cifar, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE", MPLBACKEND="Agg")
    proc = subprocess.run([str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node", "2",
                           "--master_port", "29517", "scripts/run.py", "cifar10", "--data", str(cifar),
                           "--recipe", "fast", "--folds", "2", "--set", "epochs=1", "--set", "batch_size=32",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [p for p in (tmp_path / "cifar10").iterdir() if p.name.startswith("fast-")]
    assert len(runs) == 1 and last_line(proc.stdout) == str(runs[0])  # rank 0 alone made and printed it
    assert "torchrun: 2 processes" in (runs[0] / "log.txt").read_text()
    sub = pd.read_csv(runs[0] / "submission.csv")
    assert len(sub) == 100 and sub["label"].notna().all()
    assert (runs[0] / "fold1" / "last.pt").is_file()


def test_csv_of_image_paths_layout(tmp_path):
    """The other Kaggle image layout (Classify Leaves): a CSV column of relative paths."""
    from shared.spec import CompetitionSpec

    (tmp_path / "images").mkdir()
    for i in range(6):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "images" / f"{i}.jpg")
    pd.DataFrame({"image": [f"images/{i}.jpg" for i in range(4)], "label": ["a", "b", "a", "b"]}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"image": ["images/4.jpg", "images/5.jpg"]}).to_csv(tmp_path / "test.csv", index=False)
    pd.DataFrame({"image": ["images/4.jpg", "images/5.jpg"], "label": "a"}).to_csv(
        tmp_path / "sample_submission.csv", index=False)
    spec = CompetitionSpec(name="leaves", slug="leaves", metric_name="accuracy", id_col="image", target_col="label",
                           recipes={}, default_recipe="", task="multiclass",
                           image_path=lambda frame, split: frame["image"])
    data = spec.load(tmp_path)
    assert data.train["image_path"].tolist() == [str(tmp_path / f"images/{i}.jpg") for i in range(4)]
    assert data.test["image_path"].tolist() == [str(tmp_path / f"images/{i}.jpg") for i in (4, 5)]
    (tmp_path / "images" / "5.jpg").unlink()
    with pytest.raises(UserError, match=r"test.csv lists id 'images/5.jpg'"):
        spec.load(tmp_path)


@pytest.mark.integration
def test_streaming_inference_memory_is_flat_and_the_bench_reports_it(tmp_path):
    rc, out, err = run_script("bench_vision", "--steps", "2", "--batch", "32", "--sizes", "500,3000",
                              "--probe-px", "64", "--tta-images", "200", "--out", tmp_path, timeout=600)
    assert rc == 0, err[-3000:]
    result = json.loads((Path(last_line(out)) / "bench.json").read_text())
    small, large = result["inference"]
    assert (small["images"], large["images"]) == (500, 3000)
    # 6x the images, (almost) the same peak: images are decoded batch by batch, never all at once.
    # Holding the 2,500 extra 64x64 images as float tensors would add ~120 MiB; RSS noise is ~20 MiB.
    assert large["peak_rss_mib"] - small["peak_rss_mib"] < 50
    assert {r["ema"] for r in result["training"]} == {False, True} and all(r["ratio"] > 0 for r in result["training"])
    assert result["decode_augment_img_s_per_core"] > 0
    # TTA: 1, 2, 4 and 8 views, and every setting decodes each of the 200 images exactly once.
    assert [r["views"] for r in result["tta"]] == [1, 2, 4, 8] and {r["decodes"] for r in result["tta"]} == {200}


def test_offline_weights_file_is_loaded_and_a_missing_one_is_an_error(tmp_path):
    import timm

    from shared.vision import nets

    source = timm.create_model("resnet18", pretrained=False)  # stands in for downloaded ImageNet weights
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    model = nets.create("resnet18", 7, weights=str(tmp_path / "resnet18.pth"))
    assert torch.equal(model.conv1.weight, source.conv1.weight)  # backbone from the file ...
    assert model.fc.out_features == 7  # ... with a fresh 7-class head
    with pytest.raises(UserError, match="no such file"):
        nets.create("resnet18", 7, weights=str(tmp_path / "missing.pth"))
    with pytest.raises(UserError, match="not a timm model"):
        nets.create("resnet_nonexistent", 7)


def test_small_data_shrinks_the_batch_and_lengthens_the_schedule_unless_stated():
    from competitions import get
    from shared.config import resolve
    from shared.vision.train import fit_schedule

    fast = get("cifar10").recipes["fast"]
    p = resolve(fast, {})["model"]
    # Real CIFAR-10 (40,000 training images per fold): the recipe as stated.
    assert fit_schedule(40_000, p) == (512, 0.2, 10)
    # 800 images: batch 32 (25 steps per epoch), lr 0.2 * sqrt(32 / 512) = 0.05, 20 epochs for 500 updates.
    batch, lr, epochs = fit_schedule(800, p)
    assert (batch, epochs) == (32, 20) and lr == pytest.approx(0.05)
    assert fit_schedule(100, p)[0] == 16  # never below 16
    assert fit_schedule(100, {**p, "batch_size": 8})[:2] == (8, 0.2)  # nor raised when the stated batch is smaller
    # A stated epoch count, batch or rate is kept as stated; the guards can still be set explicitly.
    assert fit_schedule(800, resolve(fast, {"epochs": 3})["model"]) == (32, pytest.approx(0.05), 3)
    assert fit_schedule(800, resolve(fast, {"batch_size": 64})["model"]) == (64, 0.2, 42)  # 12 updates per epoch
    assert fit_schedule(800, resolve(fast, {"epochs": 3, "min_updates": 100})["model"])[2] == 4
    assert fit_schedule(800, resolve(fast, {"min_steps_per_epoch": 0, "min_updates": 0})["model"]) == (512, 0.2, 10)


@pytest.mark.integration
def test_the_device_benchmark_runs_every_step_and_writes_its_table(tmp_path):
    """``bench_gpu.py --quick`` on the CPU: a recipe's row (engine and bare-loop speeds, their ratio, the projected
    5-fold time) and the fast recipe's epoch beside airbench's, in bench_gpu.md and bench_gpu.json."""
    rc, out, err = run_script("bench_gpu", "--quick", "--device", "cpu", "--only", "cifar10:fast",
                              "--fast-images", "256", "--out", tmp_path, timeout=600)
    assert rc == 0, err[-3000:]
    folder = Path(last_line(out))
    result = json.loads((folder / "bench_gpu.json").read_text())
    (row,) = result["rows"]
    assert (row["competition"], row["recipe"], row["data_path"]) == ("cifar10", "fast", "resident")
    assert row["train_img_s"] > 0 and row["bare_img_s"] > 0 and row["infer_img_s"] > 0 and row["busy"] is None
    assert result["fast"]["images"] == 256 and result["fast"]["epoch_s"] > 0 and result["projected_hours"][0] > 0
    table = (folder / "bench_gpu.md").read_text()
    assert "| cifar10 | fast | airbench | 32 | resident |" in table and "airbench94: 0.332 s per epoch" in table
    rc, _, err = run_script("bench_gpu", "--only", "cifar10:slow", "--out", tmp_path)
    assert rc != 0 and "--only 'cifar10:slow': choose from cifar10:fast" in err


def test_automatic_workers_fit_the_shared_memory_their_batches_pass_through(tmp_path):
    """A container's small /dev/shm kills data-loader workers with a bus error: automatic workers are as many as it
    holds (each keeps PREFETCH batches there), at most the number wanted; no such mount: the number wanted."""
    import shutil

    from shared.vision.data import PREFETCH, affordable_workers

    free = shutil.disk_usage(tmp_path).free
    assert affordable_workers(8, 1024, str(tmp_path)) == 8
    # 3.5 batches' room, not 3: the disk's free space may shrink a little between the two readings (other writers)
    assert affordable_workers(8, free / (2 * PREFETCH) / 3.5, str(tmp_path)) == 3
    assert affordable_workers(8, free, str(tmp_path)) == 0
    assert affordable_workers(5, 1e30, str(tmp_path / "no-such-mount")) == 5


def test_a_competitions_own_tta_view_and_augmentation_are_settings_of_its_recipes_only():
    """Parts a competition adds (a TTA view, an augmentation) become choices of its recipes' settings, checked
    before any work; the library's own recipes' settings do not take them."""
    import torch

    from shared.vision import tta
    from shared.vision.augment import PRESETS
    from shared.vision.train import VISION_RANGES, VisionParts

    def shift(x):
        return torch.roll(x, 1, dims=3)

    parts = VisionParts(augmentations={**PRESETS, "mine": PRESETS["flip"]}, tta_views={"shift": shift})
    ranges = parts.ranges()
    assert ranges["tta"].problem("shift,hflip") is None and ranges["augment"].problem("mine") is None
    assert ranges["tta"].problem("spin") and VISION_RANGES["tta"].problem("shift")
    assert VISION_RANGES["augment"].problem("mine")
    names = [name for name, _ in tta.views("shift,hflip", {"shift": shift})]
    assert names == ["identity", "shift", "hflip"]
    x = torch.arange(8.0).reshape(1, 1, 2, 4)
    assert torch.equal(dict(tta.views("shift", {"shift": shift}))["shift"](x), shift(x))
