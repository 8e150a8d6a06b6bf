"""An offline Kaggle bundle for one competition: a dataset holding this project's code (``shared/`` and
``competitions/``), optional wheels for packages Kaggle's image lacks and optional weight files, and a
kernel — the competition's notebook from ``notebooks/`` with the chosen recipe — that attaches the dataset and
the competition and runs with the internet off.

    <out>/code/dataset-metadata.json, code/kaggle_templates/{shared,competitions}, code/wheels/, code/weights/
    <out>/kernel/kernel-metadata.json, kernel/<competition>.ipynb
    <out>/.kaggle-templates.json   marks the folder as a bundle (rebuilt in place; see shared.folders)
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from shared import folders
from shared.errors import UserError
from shared.io import write_json, write_text
from shared.notebook import CODE_DIR

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shared", "competitions")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
KIND = "kernel bundle"  # what its folder's marker says it holds (shared.folders)
# Packages our code imports that a Kaggle notebook image may not have: worth bundling as wheels (--wheels).
MAYBE_MISSING = {"cowboy_outfits": ["ensemble-boxes"], "cifar10": ["py7zr"]}


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def kaggle_user(env=None) -> str | None:
    """The Kaggle user name from the legacy credentials (KAGGLE_USERNAME or kaggle.json), if any."""
    import os

    from shared.kaggle_io import config_dir

    env = os.environ if env is None else env
    if env.get("KAGGLE_USERNAME"):
        return env["KAGGLE_USERNAME"]
    try:
        return json.loads((config_dir(env) / "kaggle.json").read_text()).get("username")
    except (OSError, ValueError):
        return None


def code_slug(spec) -> str:
    """The code dataset's slug: one per competition, so that updating one bundle never changes another's."""
    return f"kaggle-templates-{slugify(spec.name)}"


def wheel_command(packages: list[str], dest: Path, python_version: str | None = None,
                  platform: str | None = None, python: str = sys.executable) -> list[str]:
    """The pip command that fetches ``packages`` and their dependencies as wheels, for this interpreter or for
    ``python_version`` / ``platform`` (Kaggle's, e.g. 3.11 / manylinux2014_x86_64)."""
    target = [*(["--python-version", python_version] if python_version else []),
              *(["--platform", platform] if platform else [])]
    return [python, "-m", "pip", "download", "--only-binary=:all:", *target, "--dest", str(dest), *packages]


def wheel_name(file: Path) -> str:
    """The project name a wheel file installs (``ensemble_boxes-1.0.9-py3-none-any.whl`` -> ``ensemble_boxes``)."""
    return Path(file).name.split("-")[0]


def build(spec, out: Path, user: str, recipe: str | None = None, settings: dict | None = None, folds: int = 5,
          seed: int = 42, wheels: list[str] = (), wheel_files: list[Path] = (), weights: list[Path] = (),
          gpu: bool | None = None, python_version: str | None = None, platform: str | None = None,
          fetch=subprocess.run, force: bool = False) -> Path:
    """Write the bundle into ``out`` and return ``out``: a new or empty folder, or one holding an earlier bundle
    (which is replaced; other files there are kept); any other folder only with ``force`` (see shared.folders)."""
    from shared.config import resolve

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", user or ""):
        raise UserError(f"--user {user!r}: give your Kaggle user name (letters, digits, - and _).")
    recipe = spec.recipe(recipe).name  # an unknown recipe is an error naming the known ones
    settings = dict(settings or {})
    if len(weights) == 1 and "weights" not in settings:
        settings["weights"] = f"weights/{Path(weights[0]).name}"  # resolved against the bundle by the notebook
    if "weights" in settings and "weights" not in spec.recipe(recipe).model_params:
        raise UserError(f"recipe {recipe!r} of {spec.name} takes no weights file; bundle weights for a recipe "
                        "with a `weights` setting (the image and detection recipes).")
    resolve(spec.recipe(recipe), settings, spec.run_defaults(), competition=spec.name)  # an unknown --set key fails here, not on Kaggle
    _check_weights_package(settings, wheels, wheel_files)
    notebook = ROOT / "notebooks" / f"{spec.name}.ipynb"
    if not notebook.is_file():
        raise UserError(f"{notebook} does not exist: every competition's notebook lives in notebooks/.")
    weights = [Path(w) for w in weights]
    for file in [*weights, *map(Path, wheel_files)]:
        if not file.is_file():
            raise UserError(f"{file} does not exist; pass an existing file.")
    out = Path(out)
    with folders.writing(out, KIND, force=force, about={"competition": spec.name, "recipe": recipe}) as stage:
        code, kernel = stage.path / "code", stage.path / "kernel"
        for package in PACKAGES:
            shutil.copytree(ROOT / package, code / CODE_DIR / package, ignore=IGNORE)
        if wheels:
            (code / "wheels").mkdir(parents=True, exist_ok=True)
            done = fetch(wheel_command(list(wheels), code / "wheels", python_version, platform), check=False)
            if done.returncode != 0:
                raise UserError(f"pip could not download wheels for {list(wheels)} (exit {done.returncode}); "
                                "build the bundle online, or pass wheel files with --wheel-file.")
        for file in wheel_files:
            (code / "wheels").mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, code / "wheels" / Path(file).name)
        if wheels or wheel_files:  # what the notebook installs; pip takes dependencies from wheels/ only when missing
            write_text(code / "wheels" / "requirements.txt",
                       "".join(f"{name}\n" for name in [*wheels, *map(wheel_name, wheel_files)]))
        for file in weights:
            (code / "weights").mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, code / "weights" / file.name)
        dataset_id = f"{user}/{code_slug(spec)}"
        write_json(code / "dataset-metadata.json", {
            "title": code_slug(spec).replace("-", " "), "id": dataset_id, "licenses": [{"name": "CC0-1.0"}],
        })
        title = f"{spec.name.replace('_', ' ')} {recipe}"
        uses_gpu = spec.wants_gpu if gpu is None else gpu
        write_json(kernel / "kernel-metadata.json", {
            "id": f"{user}/{slugify(title)}", "title": title, "code_file": notebook.name, "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_gpu": bool(uses_gpu), "enable_internet": False,
            "dataset_sources": [dataset_id], "competition_sources": [spec.slug] if spec.on_kaggle else [], "kernel_sources": [],
            "model_sources": [],
        })
        write_text(kernel / notebook.name, _with_parameters(notebook, recipe, settings, folds, seed))
    return out


def _check_weights_package(settings: dict, wheels, wheel_files) -> None:
    """``--set weights=pip:NAME`` needs its package in the kernel, which Kaggle's image lacks: bundled, or an error."""
    from shared.vision import pip_weights

    if not pip_weights.is_pip(settings.get("weights", "")):
        return
    package = pip_weights.source(settings["weights"]).package  # an unknown name fails here, not on Kaggle

    def norm(name: str) -> str:  # pip's normalised project name
        return re.sub(r"[-_.]+", "_", name).lower()
    if norm(package) not in {*map(norm, wheels), *(norm(wheel_name(f)) for f in wheel_files)}:
        raise UserError(f"--set weights={settings['weights']} needs the package {package}, which Kaggle's image "
                        f"lacks: add --wheels {package} (or --wheel-file with its wheel).")


def _with_parameters(notebook: Path, recipe: str, settings: dict, folds: int, seed: int) -> str:
    """The notebook, without outputs, with its ``parameters`` cell set to this bundle's recipe and settings."""
    nb = set_parameters(json.loads(notebook.read_text()),
                        {"RECIPE": recipe, "SETTINGS": settings, "FOLDS": folds, "SEED": seed}, where=notebook)
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def set_parameters(nb: dict, values: dict, where="the notebook") -> dict:
    """Set ``NAME = value`` lines of the notebook's cell tagged ``parameters`` (in place; returns ``nb``)."""
    cell = next((c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise UserError(f"{where} has no cell tagged 'parameters'.")
    source = "".join(cell["source"])
    for name, value in values.items():
        source, n = re.subn(rf"^{name} = [^#\n]*?\s*(#|$)",
                            lambda m, v=value, k=name: f"{k} = {v!r}" + ("  #" if m.group(1) else ""),
                            source, count=1, flags=re.M)
        if n != 1:
            raise UserError(f"{where}: its parameters cell lacks {name}.")
    cell["source"] = source
    return nb


def files(out: Path) -> list[Path]:
    """The bundle's files: those of its code dataset and its kernel (not what else its folder holds)."""
    return sorted(p for part in ("code", "kernel") for p in (Path(out) / part).rglob("*") if p.is_file())


def steps(out: Path) -> list[str]:
    """The commands that put the bundle on Kaggle."""
    return [f"kaggle datasets create -p {out / 'code'} --dir-mode zip   # the first time; afterwards: "
            f"kaggle datasets version -p {out / 'code'} --dir-mode zip -m 'new code'",
            f"kaggle kernels push -p {out / 'kernel'}",
            f"kaggle kernels status {json.loads((out / 'kernel' / 'kernel-metadata.json').read_text())['id']}"]
