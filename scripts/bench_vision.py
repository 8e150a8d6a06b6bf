#!/usr/bin/env python
"""Image-engine benchmark on this machine (CPU, and the GPU when one is visible):

* training throughput (img/s) of our loop (``shared.vision.training.Stepper``: timm optimizer + per-update
  scheduler, AMP/channels_last on CUDA, optional EMA) against a bare PyTorch loop (forward, loss,
  backward, step) on the same model, batch and in-memory tensors;
* decode + augment throughput of one core (PNG files -> augmented tensors, the recipe's preset);
* inference throughput and peak memory of streaming test inference from PNG files at two test-set
  sizes (memory must stay flat as the count grows);
* the cost of test-time augmentation: prediction time and decodes with 1, 2, 4 and 8 views.

Writes bench.json, bench.md and bench.png in runs/cifar10/bench-<timestamp>/ (printed last).

    python scripts/bench_vision.py [--model airbench] [--batch 256] [--steps 10] [--sizes 5000,20000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import REPO_ROOT, ArgumentParser, main, whole, wholes


def train_throughput(model_name: str, batch: int, steps: int, device: str, ema: bool) -> dict:
    """img/s of a bare loop and of our Stepper on identical random in-memory batches."""
    import torch
    import torch.nn.functional as F
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import ModelEmaV3

    from shared.vision import nets
    from shared.vision.train import to_device, train_epoch
    from shared.vision.training import Stepper, amp_dtype, memory_format

    dev = torch.device(device)
    amp = amp_dtype(dev, "auto")
    fmt = memory_format(dev, "auto")
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g))
            for _ in range(4)]
    data = [(x.to(dev, memory_format=fmt), y.to(dev)) for x, y in data]

    def batches(n):
        return (data[i % len(data)] for i in range(n))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def make():
        torch.manual_seed(0)
        net = nets.create(model_name, 10, stem=model_name.startswith("resnet")).to(dev, memory_format=fmt)
        opt = create_optimizer_v2(net, opt="sgd", lr=0.05, weight_decay=5e-4, momentum=0.9)
        return net, opt

    net, opt = make()  # bare PyTorch: the same optimizer and autocast, nothing else
    net.train()
    for i, (x, y) in enumerate(batches(steps + 2)):
        if i == 2:
            sync()
            t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None):
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync()
    bare = steps * batch / (time.perf_counter() - t0)

    net, opt = make()
    sched, _ = create_scheduler_v2(opt, sched="cosine", num_epochs=1, step_on_epochs=False, updates_per_epoch=steps + 2)
    stepper = Stepper(net=net, optimizer=opt, scheduler=sched, ema=ModelEmaV3(net, decay=0.99) if ema else None,
                      scaler=torch.amp.GradScaler("cuda") if amp == torch.float16 else None, device=dev, amp=amp)
    loss = torch.nn.CrossEntropyLoss()

    def loop(epoch):
        train_epoch(epoch, net, loss)

    net.train()
    stepper.epoch(batches(2), 2, 0, loop, to_device(dev, fmt))  # warm-up
    sync()
    t0 = time.perf_counter()
    stepper.epoch(batches(steps), steps, 2, loop, to_device(dev, fmt))
    sync()
    ours = steps * batch / (time.perf_counter() - t0)
    return {"device": device, "model": model_name, "batch": batch, "ema": ema, "bare_img_s": bare, "ours_img_s": ours,
            "ratio": ours / bare}


def decode_augment_per_core(folder: Path, preset: str, n: int) -> float:
    """img/s of PNG decode + the preset's train augmentation in this one process (one core)."""
    import torch

    from shared.vision.augment import pipelines
    from shared.vision.data import ImageDataset

    torch.set_num_threads(1)
    paths = sorted(folder.glob("*.png"))[:n]
    dataset = ImageDataset(paths, [0] * len(paths), pipelines(preset, 32)[0])
    t0 = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - t0)


def tta_cost(folder: Path, model_name: str, n: int, batch: int, settings=("none", "flip", "hflip,vflip,rot90",
                                                                          "dihedral")) -> list[dict]:
    """Seconds to predict ``n`` PNG files with each TTA setting, the decodes it made (counted), and the time of
    decoding alone: n views should cost about n forward passes on top of one decode per image."""
    import numpy as np
    import pandas as pd
    import torch

    import shared.vision.data as data_module
    from shared.models import ModelContext
    from shared.vision import nets, tta
    from shared.vision.augment import pipelines
    from shared.vision.data import ImageDataset
    from shared.vision.train import VISION_PARAMS, VisionModel

    paths = [str(folder / f"{i}.png") for i in range(1, n + 1)]
    eval_tf = pipelines("none", 32)[1]
    t0 = time.perf_counter()
    for i in range(n):
        ImageDataset(paths, None, eval_tf)[i]
    decode_s = time.perf_counter() - t0
    real, decodes = data_module.load_rgb, [0]

    def counting(path, policy="error", size=None):
        decodes[0] += 1
        return real(path, policy, size)

    rows = []
    for setting in settings:
        ctx = ModelContext("multiclass", "accuracy", 10, 0, None, Path(folder), torch.get_num_threads())
        model = VisionModel({**VISION_PARAMS, "model": model_name, "img_size": 32, "tta": setting, "workers": 0,
                             "batch_size": batch // 2, "cifar_stem": model_name.startswith("resnet")}, ctx)
        torch.manual_seed(0)
        model.device_, model.net_, model.eval_tf_ = torch.device("cpu"), nets.create(
            model_name, 10, stem=model_name.startswith("resnet")).eval(), eval_tf
        decodes[0] = 0
        data_module.load_rgb = counting
        try:
            t0 = time.perf_counter()
            out = model.predict(pd.DataFrame({"image_path": paths}))
            seconds = time.perf_counter() - t0
        finally:
            data_module.load_rgb = real
        assert np.isfinite(out).all()
        rows.append({"tta": setting, "views": len(tta.views(setting)), "seconds": seconds, "decodes": decodes[0],
                     "decode_s": decode_s, "forward_s_per_view": (seconds - decode_s) / len(tta.views(setting))})
    return rows


MEMORY_PROBE = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import numpy as np, pandas as pd
from shared.models import ModelContext
from shared.vision.train import VISION_PARAMS, VisionModel

folder, n, model_name, batch = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
size = int(sys.argv[7])
paths = [str(folder / f"{i}.png") for i in range(1, n + 1)]
params = {**VISION_PARAMS, "model": model_name, "cifar_stem": model_name.startswith("resnet"), "epochs": 1,
          "img_size": size,
          "batch_size": batch, "augment": "flip_translate", "workers": 0, "cache_images": "off"}
ctx = ModelContext("multiclass", "accuracy", 10, 0, None, Path(sys.argv[6]), 2)
model = VisionModel(params, ctx).fit(pd.DataFrame({"image_path": paths[:64]}), np.arange(64) % 10)

def hwm_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])

try:
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter: measure inference alone
    reset = True
except OSError:  # not permitted here: the peak then also covers the short fit before
    reset = False
before = hwm_kib()
t0 = time.perf_counter()
probs = model.predict(pd.DataFrame({"image_path": paths}))
seconds = time.perf_counter() - t0
print(json.dumps({"images": n, "peak_rss_mib": hwm_kib() / 1024, "rss_before_mib": before / 1024,
                  "img_s": n / seconds, "predictions_mib": probs.nbytes / 2**20, "peak_reset": reset}))
"""


def render_test_set(folder: Path, n: int, size: int) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    from competitions.cifar10.demo import render

    digits, rng = load_digits(), np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        image = Image.fromarray(render(digits.images[i % len(digits.images)], rng))
        (image if size == 32 else image.resize((size, size), Image.BILINEAR)).save(folder / f"{i}.png")


def bench(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="airbench", help="airbench (the fast recipe) or a timm name (resnet18, ...)")
    p.add_argument("--batch", type=whole(1, 65536, "a batch size"), default=256)
    p.add_argument("--steps", type=whole(1, 100_000, "a step count"), default=10, help="timed training steps per measurement")
    p.add_argument("--sizes", type=wholes(1, 1_000_000, "a test-set size", most=2), default=[5000, 20000], help="two test-set sizes for the inference memory probe")
    p.add_argument("--probe-px", type=whole(8, 4096, "a side in pixels"), default=32, help="side of the probe's test images in pixels")
    p.add_argument("--tta-images", type=whole(1, 1_000_000, "an image count"), default=2000, help="test images for the TTA cost measurement")
    p.add_argument("--out", type=Path, default=Path("runs"))
    args = p.parse_args(argv)
    import pandas as pd
    import torch

    from shared import plots
    from shared.compare import markdown_table
    from shared.io import write_json, write_text
    from shared.runs import new_run_dir

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    training = [train_throughput(args.model, args.batch, args.steps, d, ema) for d in devices for ema in (False, True)]
    sizes = args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "test"
        print(f"rendering {max(sizes)} test images ...", file=sys.stderr)
        render_test_set(folder, max(sizes), args.probe_px)
        decode = decode_augment_per_core(folder, "flip_translate", 2000)
        print("timing test-time augmentation ...", file=sys.stderr)
        tta_rows = tta_cost(folder, args.model, args.tta_images, args.batch)
        inference = []
        for n in sizes:
            # Large blocks straight from mmap: freed activations leave RSS at once, so the peak measures what
            # inference holds rather than how glibc's heap happens to fragment over more batches.
            env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
            proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(REPO_ROOT), str(folder), str(n), args.model,
                                   str(args.batch), str(Path(tmp) / f"work{n}"), str(args.probe_px)],
                                  capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            inference.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    out = new_run_dir(args.out, "cifar10", "bench")
    result = {"training": training, "decode_augment_img_s_per_core": decode, "inference": inference, "tta": tta_rows,
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    write_json(out / "bench.json", result)
    text = ("Training throughput, in-memory 32x32 tensors (our loop = timm optimizer + per-update scheduler"
            " [+ EMA]; bare = forward, loss, backward, step):\n\n" + markdown_table(pd.DataFrame(training))
            + f"\nDecode + augment (PNG -> flip_translate tensors), one core: {decode:.0f} img/s\n\n"
            f"Streaming inference from {args.probe_px}x{args.probe_px} PNG files (peak RSS measured during "
            "inference alone):\n\n"
            + markdown_table(pd.DataFrame(inference))
            + f"\nTest-time augmentation: {args.tta_images} PNG files; views are made from each decoded batch, so "
            "decodes stay one per image and each view adds one forward pass:\n\n" + markdown_table(pd.DataFrame(tta_rows)))
    write_text(out / "bench.md", text)
    plots.throughput_plot(out / "bench.png", training, inference)
    print(text, file=sys.stderr)
    print(out)


if __name__ == "__main__":
    sys.exit(main(bench))
