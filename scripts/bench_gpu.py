#!/usr/bin/env python
"""The prepared accelerator check: one command, a few minutes on one GPU (at most about 8; 2026-12-02), on
synthetic images written in each image competition's real layout and pixel size. For every image and detection
recipe:

* training images/s of the engine (its loader or resident path, its loop: optimizer, scheduler, EMA, AMP,
  channels_last) and of a bare loop (forward, loss, backward, step) over tensors already on the device, and their
  ratio: what the data path and the loop's extras cost;
* inference images/s with the recipe's TTA views, from files;
* peak GPU memory, and the GPU's busy fraction over the last training epoch (NVML utilisation samples);
* the projected 5-fold wall time of the competition at its real size (training, out-of-fold and test prediction).

And the ``fast`` CIFAR recipe's seconds per epoch over 50,000 32-px images, beside airbench94's published figure
(3.29 s for about 10 epochs on one A100). Writes bench_gpu.md and bench_gpu.json in ``--out`` (printed last).

    python scripts/bench_gpu.py [--out DIR] [--device cuda] [--only cifar10:fast,cowboy_outfits:mobile]
    python scripts/bench_gpu.py --quick --device cpu    # every step with tiny counts and sides: minutes on a CPU

On a machine without PyPI, carry the wheels of what its Python lacks (``bash scripts/gpu_wheels.sh``).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import ArgumentParser, main, whole

# The competitions' real sizes (competitions.md): training images, images predicted per fold besides the fold's own
# held-out ones (the test set), image side.
REAL = {"cifar10": {"train": 50_000, "test": 300_000, "side": 32, "classes": 10},
        "classify_leaves": {"train": 18_353, "test": 8_800, "side": 224, "classes": 176},
        "cowboy_outfits": {"train": 3_062, "test": 1_000, "side": 1024, "classes": 5}}
# airbench94 (Jordan 2024, github.com/KellerJordan/cifar10-airbench): 94% in 3.29 s on one A100, 9.9 epochs.
AIRBENCH_SECONDS, AIRBENCH_EPOCHS = 3.29, 9.9
FOLDS = 5


class Busy:
    """The GPU's utilisation (NVML, sampled every 20 ms in a thread) between ``start`` and ``stop``; ``fraction(t0,
    t1)`` is the mean over a window. None on a CPU, or where NVML cannot be read."""

    def __init__(self, device):
        import torch

        self.samples: list[tuple[float, float]] = []
        self.ok = device.type == "cuda"
        if self.ok:
            try:
                torch.cuda.utilization(device)
            except Exception:  # no NVML (nvidia-ml-py) in this Python
                self.ok = False
        self.device, self._stop = device, threading.Event()

    def __enter__(self):
        import torch

        def sample():
            while not self._stop.is_set():
                self.samples.append((time.time(), torch.cuda.utilization(self.device) / 100))
                time.sleep(0.02)

        if self.ok:
            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.ok:
            self._thread.join()

    def fraction(self, start: float, end: float) -> float | None:
        window = [u for t, u in self.samples if start <= t <= end]
        return sum(window) / len(window) if self.ok and window else None


def write_images(folder: Path, names: list[str], side: int, seed: int, jpeg: bool, height: int | None = None
                 ) -> list[str]:
    """Smooth random images (photo-like: low-frequency colour fields, so files and decodes cost what real ones do)
    at ``side`` x ``height`` px, as PNG or JPEG, written by threads."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    height = height or side

    def one(k: int) -> str:
        rng = np.random.default_rng(seed * 1_000_003 + k)
        small = rng.integers(0, 256, (max(2, height // 8), max(2, side // 8), 3), dtype=np.uint8)
        image = cv2.resize(small, (side, height), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image.astype(np.int16) + rng.integers(-12, 13, image.shape), 0, 255).astype(np.uint8)
        path = folder / names[k]
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90] if jpeg else [])
        return str(path)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return list(pool.map(one, range(len(names))))


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gb(device) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def timed_steps(loss_of, net, amp, batch: int, steps: int, warm: int, device) -> float:
    """img/s of ``steps`` training steps (``loss_of()`` under autocast, backward, SGD step; fp16 through a grad
    scaler) of ``batch`` images each, after ``warm`` untimed ones."""
    import torch

    from shared.vision.training import autocast

    optimizer = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9, nesterov=True)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None

    def step():
        with autocast(device, amp):
            loss = loss_of()
        (scaler.scale(loss) if scaler else loss).backward()
        (scaler.step(optimizer) if scaler else optimizer.step())
        if scaler:
            scaler.update()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warm):
        step()
    sync(device)
    t0 = time.time()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.time() - t0)


def bare_classifier(params: dict, n_classes: int, side: int, batch: int, steps: int, device) -> float:
    """img/s of forward, loss, backward and a step on one batch already on the device (same net, precision and
    memory format as the recipe)."""
    import torch
    import torch.nn.functional as F

    from shared.vision import nets
    from shared.vision.training import amp_dtype, memory_format

    fmt, amp = memory_format(device, params["channels_last"]), amp_dtype(device, params["amp"])
    net = nets.create(params["model"], n_classes, "false", "", params["cifar_stem"], 0.0).to(device, memory_format=fmt)
    x = torch.randn(batch, 3, side, side, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, n_classes, (batch,), device=device)
    return timed_steps(lambda: F.cross_entropy(net(x), y), net, amp, batch, steps, 3, device)


def bare_detector(params: dict, n_classes: int, side: int, height: int, batch: int, steps: int, device) -> float:
    """img/s of the recipe's torchvision detector training on one batch of images and boxes already on the device."""
    import torch

    from shared.detection.model import create
    from shared.vision.training import amp_dtype

    net = create(params["model"], n_classes, "false", "", params["max_side"], params["proposals"],
                 params["roi_batch"], params["score_threshold"], params["max_detections"]).to(device).train()
    images = [torch.rand(3, height, side, device=device) for _ in range(batch)]
    targets = [{"boxes": torch.tensor([[10.0, 20.0, side / 2, height / 2], [side / 3, height / 3, side - 5, height - 5]],
                                      device=device),
                "labels": torch.tensor([1, 2], device=device)} for _ in range(batch)]
    return timed_steps(lambda: sum(net(images, targets).values()), net, amp_dtype(device, params["amp"]), batch,
                       steps, 2, device)


def engine_fit(model_class, params: dict, X, y, n_classes: int, workdir: Path, device):
    """Fit the engine's model (``params`` forced to ``device``, fresh weights, nothing kept); returns (model,
    history, the (start, end) times of each epoch's training updates, busy meter). The updates' own times, not the
    epoch's: validation, checkpoints and plots after them are no training time."""
    from shared.models import ModelContext, available_cores
    from shared.vision.training import Stepper

    ctx = ModelContext("multiclass", "accuracy", n_classes, 0, None, workdir, available_cores())
    model = model_class({**params, "device": str(device)}, ctx)
    reset_peak(device)
    spans, stepper_epoch = [], Stepper.epoch

    def timed(self, *args, **kwargs):  # Stepper.epoch ends on a float of the loss: the GPU has finished by then
        start = time.time()
        out = stepper_epoch(self, *args, **kwargs)
        spans.append((start, time.time()))
        return out

    Stepper.epoch = timed
    try:
        with Busy(device) as busy:
            model.fit(X, y)
            sync(device)
    finally:
        Stepper.epoch = stepper_epoch
    return model, model.history_, spans, busy


def classifier_row(competition: str, recipe_name: str, n: int, n_test: int, epochs: int, root: Path, device,
                   quick: bool) -> dict:
    import numpy as np
    import pandas as pd

    import competitions

    spec = competitions.get(competition)
    recipe = spec.recipes[recipe_name]
    real = REAL[competition]
    side = real["side"] if not quick else min(real["side"], 64)
    params = {**recipe.model_params, "pretrained": "false", "weights": "", "epochs": epochs, "keep": "none",
              "min_steps_per_epoch": 0, "min_updates": 0, "img_size": side}
    from shared.vision.data import CACHE_LIMIT_BYTES

    if real["train"] * (FOLDS - 1) / FOLDS * real["side"] ** 2 * 3 > CACHE_LIMIT_BYTES:
        params["cache_images"] = "off"  # as at the real size: a fold's images do not fit in memory, the loader decodes
    folder = root / competition
    ext = "png" if competition == "cifar10" else "jpg"
    paths = write_images(folder / ("train" if competition == "cifar10" else "images"),
                         [f"{k}.{ext}" for k in range(n + n_test)], side, seed=1, jpeg=ext == "jpg")
    classes = min(real["classes"], 10 if quick else real["classes"])
    y = np.arange(n) % classes
    X, X_test = pd.DataFrame({"image_path": paths[:n]}), pd.DataFrame({"image_path": paths[n:]})
    from shared.vision.train import VisionModel

    model, speeds = measure(VisionModel, params, X, y, X_test, classes, root / "work" / recipe_name, device,
                            lambda m: bare_classifier(m.params, classes, side, m.batch_size_, 5 if quick else 20,
                                                      device))
    return {"competition": competition, "recipe": recipe_name, "model": params["model"], "side": side,
            "data_path": "resident" if getattr(model, "resident_", False) else "loader",
            "batch": model.batch_size_, **speeds, "tta_views": len(_views(params)),
            "epochs": recipe.model_params["epochs"]}


def measure(model_class, params: dict, X, y, X_test, n_classes: int, workdir: Path, device, bare_of
            ) -> tuple[object, dict]:
    """Fit, then predict ``X_test``: (the model, its training and inference img/s, peak GPU memory of the fit, the
    GPU's busy fraction over the last epoch, and ``bare_of(model)``'s bare-loop img/s beside them)."""
    model, history, spans, busy = engine_fit(model_class, params, X, y, n_classes, workdir, device)
    last = history[-1]
    train_peak = peak_gb(device)
    t0 = time.time()
    model.predict(X_test)
    sync(device)
    infer = len(X_test) / (time.time() - t0)
    bare = bare_of(model)
    return model, {"train_img_s": last["train_img_s"], "bare_img_s": bare, "vs_bare": last["train_img_s"] / bare,
                   "infer_img_s": infer, "peak_gb": train_peak, "busy": busy.fraction(*spans[-1]),
                   "epoch_s_measured": spans[-1][1] - spans[-1][0]}


def _views(params: dict) -> list:
    from shared.vision import tta

    return tta.views(params.get("tta", "none"))


def detector_row(recipe_name: str, n: int, n_test: int, epochs: int, root: Path, device, quick: bool) -> dict:
    import numpy as np
    import pandas as pd

    import competitions
    from shared.detection.model import DetectionModel

    recipe = competitions.get("cowboy_outfits").recipes[recipe_name]
    side, height = (1024, 683) if not quick else (256, 171)
    params = {**recipe.model_params, "pretrained": "false", "weights": "", "epochs": epochs, "keep": "none"}
    if quick:  # the detector's own resize would bring the small images back up to max_side
        params["max_side"] = min(params["max_side"], side)
    paths = write_images(root / "cowboy_outfits" / "images", [f"{k:016x}.jpg" for k in range(n + n_test)], side,
                         seed=2, jpeg=True, height=height)
    rng = np.random.default_rng(0)
    targets = []
    for _ in range(n):  # two to four boxes per image, of the five classes
        k = int(rng.integers(2, 5))
        xy = rng.uniform(0, 0.6, (k, 2)) * [side, height]
        wh = rng.uniform(0.1, 0.35, (k, 2)) * [side, height]
        targets.append((np.column_stack([xy, wh]).astype(np.float32), rng.integers(1, 6, k)))
    y = np.empty(n, dtype=object)
    y[:] = targets
    X, X_test = pd.DataFrame({"image_path": paths[:n]}), pd.DataFrame({"image_path": paths[n:]})
    _, speeds = measure(DetectionModel, params, X, y, X_test, 5, root / "work" / recipe_name, device,
                        lambda m: bare_detector(m.params, 5, side, height, params["batch_size"], 2 if quick else 10,
                                                device))
    return {"competition": "cowboy_outfits", "recipe": recipe_name, "model": params["model"], "side": side,
            "data_path": "loader", "batch": params["batch_size"], **speeds,
            "tta_views": 2 if params["tta"] == "hflip" else 1, "epochs": recipe.model_params["epochs"]}


def projected_hours(row: dict) -> float:
    """5 folds at the competition's real size: each trains its recipe's epochs on 4/5 of the images and predicts
    the other 1/5 and the test set (with the TTA views the inference speed already includes)."""
    real = REAL[row["competition"]]
    train = FOLDS * row["epochs"] * real["train"] * (FOLDS - 1) / FOLDS / row["train_img_s"]
    predict = FOLDS * (real["train"] / FOLDS + real["test"]) / row["infer_img_s"]
    return (train + predict) / 3600


def fast_epoch(n: int, root: Path, device) -> dict:
    """Seconds per epoch of the fast recipe over ``n`` 32-px images: the training updates of the last of three
    epochs (warm), the time to decode the images once and set up beside it."""
    import numpy as np
    import pandas as pd

    import competitions
    from shared.vision.train import VisionModel

    recipe = competitions.get("cifar10").recipes["fast"]
    params = {**recipe.model_params, "pretrained": "false", "epochs": 3, "keep": "none", "min_steps_per_epoch": 0,
              "min_updates": 0}
    paths = write_images(root / "cifar50k" / "train", [f"{k + 1}.png" for k in range(n)], 32, seed=3, jpeg=False)
    X, y = pd.DataFrame({"image_path": paths}), np.arange(n) % 10
    started = time.time()
    model, history, spans, busy = engine_fit(VisionModel, params, X, y, 10, root / "work" / "fast50k", device)
    total = time.time() - started
    per_epoch = spans[-1][1] - spans[-1][0]
    return {"images": n, "epoch_s": per_epoch, "first_epoch_s": spans[0][1] - spans[0][0],
            "other_s": total - sum(b - a for a, b in spans), "img_s": n / per_epoch,
            "busy": busy.fraction(*spans[-1]), "data_path": "resident" if model.resident_ else "loader",
            "airbench_epoch_s": AIRBENCH_SECONDS / AIRBENCH_EPOCHS,
            # per 50,000 images, as airbench's epoch
            "vs_airbench": per_epoch * 50_000 / n / (AIRBENCH_SECONDS / AIRBENCH_EPOCHS)}


def markdown(rows: list[dict], fast: dict, about: str) -> str:
    def num(v, fmt):
        return "—" if v is None else format(v, fmt)

    def rate(v):  # images per second: whole numbers, three significant digits below 100
        return f"{v:.0f}" if v >= 100 else f"{v:.3g}"

    lines = [about, "",
             "| competition | recipe | model | side | data path | batch | train img/s | bare loop img/s | engine / bare "
             "| infer img/s (TTA views) | peak GPU GiB | GPU busy | projected 5-fold at real size |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hours = projected_hours(r)
        lines.append(f"| {r['competition']} | {r['recipe']} | {r['model']} | {r['side']} | {r['data_path']} | "
                     f"{r['batch']} | {rate(r['train_img_s'])} | {rate(r['bare_img_s'])} | {r['vs_bare']:.2f} | "
                     f"{rate(r['infer_img_s'])} ({r['tta_views']}) | {num(r['peak_gb'], '.2f')} | "
                     f"{num(r['busy'], '.0%')} | {f'{hours * 60:.0f} min' if hours < 2 else f'{hours:.1f} h'} |")
    if fast:
        lines += ["", f"`fast` recipe, one epoch over {fast['images']:,} 32-px images ({fast['data_path']} path): "
                      f"{fast['epoch_s']:.2f} s ({fast['img_s']:.0f} img/s, GPU busy {num(fast['busy'], '.0%')}; "
                      f"first epoch {fast['first_epoch_s']:.2f} s; decoding, set-up and the rest of the fit "
                      f"{fast['other_s']:.1f} s). "
                      f"airbench94: {fast['airbench_epoch_s']:.3f} s per epoch on one A100 ({AIRBENCH_SECONDS} s for "
                      f"{AIRBENCH_EPOCHS} epochs); ours / airbench = {fast['vs_airbench']:.1f}x."]
    lines += ["", "Training img/s: the last measured epoch of the engine's fit (its data path and loop); bare loop: "
                  "forward, loss, backward and step on one batch already on the device, same net, precision and "
                  "memory format. GPU busy: NVML utilisation over that epoch. Projected: 5 folds, each training the "
                  "recipe's epochs on 4/5 of the real training set and predicting the other 1/5 and the test set (detection: "
                  "without the images repeat-factor sampling adds to an epoch)."]
    return "\n".join(lines) + "\n"


CASES = [("cifar10", "fast"), ("cifar10", "timm"), ("cifar10", "baseline"), ("classify_leaves", "baseline"),
         ("classify_leaves", "timm"), ("cowboy_outfits", "mobile"), ("cowboy_outfits", "baseline"),
         ("cowboy_outfits", "strong")]


def bench(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="auto (CUDA when visible), cuda, cuda:N or cpu")
    p.add_argument("--only", default="", help="competition:recipe pairs, comma-separated (default: all)")
    p.add_argument("--quick", action="store_true", help="tiny counts and sides: checks every step (minutes on a CPU)")
    p.add_argument("--fast-images", type=whole(0, 10_000_000, "an image count"), default=None, help="images of the fast-recipe epoch (default 50,000)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="runs folder (default runs/)")
    args = p.parse_args(argv)
    import tempfile  # after parsing: --help and a mistyped flag answer without loading torch

    import torch

    from shared.errors import UserError
    from shared.io import write_json, write_text
    from shared.runs import new_run_dir
    from shared.vision.training import pick_device

    device = pick_device(args.device)
    cases = CASES
    if args.only:
        wanted = [tuple(item.split(":", 1)) for item in args.only.split(",") if item]
        unknown = [":".join(w) for w in wanted if w not in CASES]
        if unknown:
            raise UserError(f"--only {unknown[0]!r}: choose from {', '.join(':'.join(c) for c in CASES)}.")
        cases = [c for c in CASES if c in wanted]
    quick = args.quick
    n_fast = args.fast_images if args.fast_images is not None else (512 if quick else 50_000)
    counts = {"cifar10": (16_384, 4096, 2), "classify_leaves": (4096, 1024, 2), "cowboy_outfits": (160, 24, 2)}
    if quick:
        counts = {"cifar10": (128, 64, 1), "classify_leaves": (32, 16, 1), "cowboy_outfits": (4, 2, 1)}
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    out = new_run_dir(args.out, "gpu", "bench")
    rows, failed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for competition, recipe in cases:
            n, n_test, epochs = counts[competition]
            t0 = time.time()
            try:  # one case that breaks is reported and the others still run: the check is run once
                row = (detector_row(recipe, n, n_test, epochs, root, device, quick) if competition == "cowboy_outfits"
                       else classifier_row(competition, recipe, n, n_test, epochs, root, device, quick))
            except Exception as exc:
                failed.append(f"{competition}:{recipe}: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
                print(f"error: {failed[-1]}", flush=True)
                traceback.print_exc()
                continue
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            row["bench_s"] = time.time() - t0
            rows.append(row)
            print(f"{competition}:{recipe}: train {row['train_img_s']:.3g} img/s (bare {row['bare_img_s']:.3g}), "
                  f"infer {row['infer_img_s']:.3g} img/s, {row['bench_s']:.0f} s", flush=True)
            write_json(out / "bench_gpu.json", {"device": card, "rows": rows, "failed": failed})
        fast = {}
        try:
            fast = fast_epoch(n_fast, root, device) if n_fast else {}
        except Exception as exc:
            failed.append(f"fast epoch: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}")
            print(f"error: {failed[-1]}", flush=True)
            traceback.print_exc()
    about = (f"Device check on {card}, torch {torch.__version__}"
             f"{', CUDA ' + torch.version.cuda if device.type == 'cuda' and torch.version.cuda else ''}, "
             f"{time.strftime('%Y-%m-%d')}{' (--quick: tiny counts and sides)' if quick else ''}: "
             f"`python scripts/bench_gpu.py{' --quick' if quick else ''}`.")
    write_json(out / "bench_gpu.json", {"device": card, "rows": rows, "fast": fast, "failed": failed,
                                        "projected_hours": [projected_hours(r) for r in rows]})
    text = markdown(rows, fast, about) + "".join(f"\nFailed: {line}\n" for line in failed)
    write_text(out / "bench_gpu.md", text)
    print(text)
    print(out)
    if failed:
        raise UserError(f"{len(failed)} case(s) failed, the others are in {out / 'bench_gpu.md'}: {failed[0]}")


if __name__ == "__main__":
    sys.exit(main(bench))
