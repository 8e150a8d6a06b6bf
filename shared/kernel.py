"""An offline Kaggle bundle for one competition: a dataset holding this project's code (``shared/`` and
``competitions/``), optional wheels for packages Kaggle's image lacks and optional weight files, and a
kernel — the competition's notebook from ``notebooks/`` with the chosen recipe — that attaches the dataset and
the competition and runs with the internet off.

    <out>/code/dataset-metadata.json, code/kaggle_templates/{shared,competitions}, code/wheels/, code/weights/
    <out>/kernel/kernel-metadata.json, kernel/<competition>.ipynb
    <out>/.kaggle-templates.json   marks the folder as a bundle (rebuilt in place; see shared.folders)
"""
from __future__ import annotations

import email.parser
import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

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
    """The pip command that fetches ``packages`` as wheels without their dependencies (``download_wheels`` walks
    those), for this interpreter or for ``python_version`` / ``platform`` (Kaggle's, e.g. 3.11 /
    manylinux2014_x86_64)."""
    target = [*(["--python-version", python_version] if python_version else []),
              *(["--platform", platform] if platform else [])]
    return [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *target, "--dest", str(dest),
            *packages]


def run_pip(command: list[str], check: bool = False) -> subprocess.CompletedProcess:
    """Runs a ``wheel_command`` (the one place the bundle reaches the network)."""
    return subprocess.run(command, check=check)


def wheel_name(file: Path) -> str:
    """The project name a wheel file installs (``ensemble_boxes-1.0.9-py3-none-any.whl`` -> ``ensemble_boxes``)."""
    return Path(file).name.split("-")[0]


# What Kaggle's Python image holds (Kaggle/docker-python, 2025: Colab's base image plus its kaggle_requirements.txt),
# by pip's normalised project name: --wheels leaves a dependency on one of these to the image instead of bundling a
# second copy (pandas 3 beside the image's pandas 2, numba and llvmlite again). A package named here that the image
# lacks after all makes the notebook's pip install stop naming it: bring it with --wheels NAME.
KAGGLE_HAS = frozenset(canonicalize_name(name) for name in """
    numpy pandas scipy scikit-learn scikit-image statsmodels joblib threadpoolctl polars pyarrow
    torch torchvision torchaudio timm transformers tokenizers datasets huggingface-hub safetensors accelerate
    opencv-python opencv-python-headless opencv-contrib-python pillow imageio tifffile albumentations kornia
    numba llvmlite matplotlib seaborn plotly tqdm pyyaml requests urllib3 certifi idna charset-normalizer
    lightgbm xgboost catboost optuna shap torchmetrics pytorch-lightning
    packaging typing-extensions six python-dateutil pytz tzdata filelock fsspec jinja2 markupsafe networkx sympy
    mpmath protobuf psutil regex setuptools wheel pip
""".split())


@dataclass(frozen=True)
class Wheel:
    file: Path
    name: str  # the project, as its METADATA spells it
    version: str
    requires: tuple[str, ...]  # its Requires-Dist lines (markers included)
    size: int  # bytes


def read_wheel(file: Path, shown: str | None = None) -> Wheel:
    """A wheel's project, version and requirements, from the METADATA inside it (nothing of it is installed)."""
    shown = shown or str(file)
    try:
        with zipfile.ZipFile(file) as whl:
            inside = next((n for n in whl.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None)
            text = whl.read(inside).decode("utf-8", "replace") if inside else None
    except (OSError, zipfile.BadZipFile):
        text = None
    if text is None:
        raise UserError(f"{shown} is not a wheel (a zip holding NAME.dist-info/METADATA); pass a .whl file that "
                        "pip download or pip wheel wrote.")
    meta = email.parser.Parser().parsestr(text, headersonly=True)
    return Wheel(Path(file), meta["Name"], meta["Version"], tuple(meta.get_all("Requires-Dist") or ()),
                 Path(file).stat().st_size)


def target_environment(python_version: str | None = None, platform: str | None = None) -> dict:
    """The marker environment of the interpreter the wheels are for: this one, or Kaggle's ``--python-version``
    (``3.11``) and ``--platform`` (``manylinux2014_x86_64``)."""
    env = default_environment()
    if python_version:
        env["python_version"] = ".".join(python_version.split(".")[:2])
        env["python_full_version"] = python_version if python_version.count(".") == 2 else python_version + ".0"
    if platform and "linux" in platform:
        env.update(sys_platform="linux", platform_system="Linux", os_name="posix",
                   platform_machine="aarch64" if "aarch64" in platform else "x86_64")
    return env


def needs(wheel: Wheel, env: dict, extras=()) -> list[Requirement]:
    """The requirements of ``wheel`` that apply in ``env`` (with the ``extras`` asked of it)."""
    out = []
    for line in wheel.requires:
        req = Requirement(line)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (*extras, "")):
            out.append(req)
    return out


def requirement(text: str) -> Requirement:
    """A ``--wheels`` item (``ensemble-boxes``, ``timm==1.0.9``) as a requirement; anything else is one line."""
    try:
        return Requirement(text)
    except InvalidRequirement:
        raise UserError(f"--wheels {text!r}: not a package (give a PyPI name such as ensemble-boxes, or "
                        "NAME==VERSION).") from None


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def download_wheels(packages, dest: Path, python_version: str | None = None, platform: str | None = None,
                    fetch=None) -> tuple[list[Wheel], dict[str, set[str]]]:
    """Download ``packages`` and, walking their wheels' requirements, the dependencies Kaggle's image lacks
    (``KAGGLE_HAS``), each alone (``pip download --no-deps``) at a version the requirement allows: the one
    installed here when it does. Returns the wheels and what was left to the image (name -> the specifiers
    asked of it)."""
    env, dest, fetch = target_environment(python_version, platform), Path(dest), fetch or run_pip
    dest.mkdir(parents=True, exist_ok=True)
    queue = [(requirement(p), None) for p in packages]  # (requirement, the project that needs it; None: asked)
    got: dict[str, Wheel] = {}
    left: dict[str, set[str]] = {}
    while queue:
        req, by = queue.pop(0)
        key = canonicalize_name(req.name)
        if key in got:
            if not req.specifier.contains(got[key].version, prereleases=True):
                raise UserError(f"{by or 'you'} ask{'s' if by else ''} for {req}, but {got[key].name} "
                                f"{got[key].version} is bundled for another package: pass the versions you want "
                                "to --wheels (e.g. NAME==VERSION).")
            continue
        if by is not None and key in KAGGLE_HAS:
            left.setdefault(req.name, set()).add(str(req.specifier))
            continue
        wheel = _download_one(req, dest, python_version, platform, fetch)
        got[key] = wheel
        queue += [(r, wheel.name) for r in needs(wheel, env, req.extras)]
    return list(got.values()), left


def _download_one(req: Requirement, dest: Path, python_version, platform, fetch) -> Wheel:
    """One wheel of ``req`` alone: the version installed here when ``req`` allows it, else pip's newest that does."""
    here = installed_version(req.name)
    tries = [f"{req.name}=={here}"] if here and req.specifier.contains(here, prereleases=True) else []
    for spec in [*tries, f"{req.name}{req.specifier}"]:
        before = set(dest.iterdir())
        done = fetch(wheel_command([spec], dest, python_version, platform), check=False)
        new = sorted(p for p in dest.iterdir() if p not in before and p.suffix == ".whl")
        if done.returncode == 0 and new:
            return read_wheel(new[0])
    raise UserError(f"pip could not download a wheel of {req} (tried {' and '.join([*tries, str(req)])}); build the "
                    "bundle online, or pass wheel files with --wheel-file.")


def build(spec, out: Path, user: str, recipe: str | None = None, settings: dict | None = None, folds: int = 5,
          seed: int = 42, wheels: list[str] = (), wheel_files: list[Path] = (), weights: list[Path] = (),
          gpu: bool | None = None, python_version: str | None = None, platform: str | None = None,
          fetch=None, force: bool = False, say: Callable[[str], None] | None = None) -> Path:
    """Write the bundle into ``out`` and return ``out``: a new or empty folder, or one holding an earlier bundle
    (which is replaced; other files there are kept); any other folder only with ``force`` (see shared.folders).
    ``say`` (default: stderr) gets what was bundled and left to Kaggle's image, and the warnings: a kernel that
    would start its network from scratch, a wheel file whose dependencies nothing brings."""
    say, fetch = say or (lambda line: print(line, file=sys.stderr)), fetch or run_pip
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
    config = resolve(spec.recipe(recipe), settings, spec.run_defaults(), competition=spec.name)  # an unknown --set key fails here, not on Kaggle
    _check_weights_package(config["model"], wheels, wheel_files)
    notebook = ROOT / "notebooks" / f"{spec.name}.ipynb"
    if not notebook.is_file():
        raise UserError(f"{notebook} does not exist: every competition's notebook lives in notebooks/.")
    weights = [Path(w) for w in weights]
    for file in [*weights, *map(Path, wheel_files)]:
        if not file.is_file():
            raise UserError(f"{file} does not exist; pass an existing file.")
    given = [read_wheel(f, f"--wheel-file {f}") for f in wheel_files]
    got, left = [], {}
    out = Path(out)
    with folders.writing(out, KIND, force=force, about={"competition": spec.name, "recipe": recipe}) as stage:
        code, kernel = stage.path / "code", stage.path / "kernel"
        for package in PACKAGES:
            shutil.copytree(ROOT / package, code / CODE_DIR / package, ignore=IGNORE)
        if wheels:
            got, left = download_wheels(wheels, code / "wheels", python_version, platform, fetch)
        for file in wheel_files:
            (code / "wheels").mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, code / "wheels" / Path(file).name)
        if wheels or wheel_files:  # what the notebook installs, at the bundled versions; dependencies from wheels/
            asked = {canonicalize_name(requirement(p).name) for p in wheels}  # or from the image, which holds them
            top = [w for w in got if canonicalize_name(w.name) in asked] + given
            write_text(code / "wheels" / "requirements.txt", "".join(f"{w.name}=={w.version}\n" for w in top))
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
    bundled = [*got, *given]
    env = target_environment(python_version, platform)
    for line in [*wheels_report(got, left), *unmet(given, bundled, env), scratch_warning(config["model"], bundled)]:
        if line:
            say(line)
    return out


def wheels_report(got: list[Wheel], left: dict[str, set[str]]) -> list[str]:
    """What ``--wheels`` bundled (with sizes) and what it left to Kaggle's image."""
    if not got:
        return []
    lines = [f"wheels bundled ({sum(w.size for w in got) / 1e6:.2f} MB): "
             + ", ".join(f"{w.name} {w.version} ({w.size / 1e6:.2f} MB)" for w in got)]
    if left:
        lines.append("left to Kaggle's image, which holds them (not bundled): "
                     + ", ".join(n + ",".join(sorted(s for s in specs if s)) for n, specs in sorted(left.items())))
    return lines


def unmet(given: list[Wheel], bundled: list[Wheel], env: dict) -> list[str]:
    """A warning per ``--wheel-file`` dependency that neither the bundle nor Kaggle's image holds."""
    have = {canonicalize_name(w.name) for w in bundled} | KAGGLE_HAS
    return [f"warning: --wheel-file {w.file.name} needs {req}, which neither the bundle nor Kaggle's image holds: "
            f"add --wheels {req.name} (or its wheel to --wheel-file), or the kernel's pip install stops there."
            for w in given for req in needs(w, env) if canonicalize_name(req.name) not in have]


def scratch_warning(model: dict, bundled: list[Wheel]) -> str | None:
    """One line when an image recipe would want hub weights in the kernel, which runs offline: ``pretrained``
    auto (the network then starts from scratch) or true (the run stops), with no ``weights`` (a file or pip:
    source) and, for auto, no bundled package whose weights fit the model (``pretrained=auto`` finds those)."""
    from shared.vision import pip_weights

    if "pretrained" not in model or model.get("weights"):
        return None  # not a network, or weights it brings (a missing pip: package is an error beforehand)
    from shared.vision.nets import pretrained_mode

    mode, name = pretrained_mode(model["pretrained"]), str(model.get("model", ""))
    have = {canonicalize_name(w.name) for w in bundled}
    fits = pip_weights.fitting(name)
    if mode == "false" or any(canonicalize_name(s.package) in have for s in fits.values()):  # auto and true find it
        return None
    ways = [f"--weights FILE (a state_dict of {name})"]
    ways += [f"--set weights={pip_weights.PREFIX}{k}" if canonicalize_name(s.package) in have else
             f"--wheels {s.package} ({s.model}'s ImageNet weights as a package)" for k, s in fits.items()]
    ways += [f"--set model={s.model} (the bundled {s.package}'s network)" for s in pip_weights.SOURCES.values()
             if canonicalize_name(s.package) in have and s.model != name.split(".")[0]]
    what = ("will stop: pretrained=true downloads the weights" if mode == "true" else
            f"will train {name} from scratch: pretrained=auto finds no weights")
    return (f"warning: the kernel {what}, and Kaggle kernels run offline (no hub); bring weights with "
            f"{', or '.join(ways)}, or add --set pretrained=false to train from scratch on purpose.")


def _check_weights_package(model: dict, wheels, wheel_files) -> None:
    """``--set weights=pip:NAME`` (in the resolved ``model`` settings) needs its package in the kernel, which
    Kaggle's image lacks, and the network the package's weights are for: else an error here, not on Kaggle."""
    from shared.vision import pip_weights

    if not pip_weights.is_pip(model.get("weights", "")):
        return
    # an unknown name, or weights of another network, fails here, not on Kaggle
    package = pip_weights.check_model(model["weights"], str(model.get("model", ""))).package
    asked = {*(requirement(p).name for p in wheels), *map(wheel_name, wheel_files)}
    if canonicalize_name(package) not in set(map(canonicalize_name, asked)):
        raise UserError(f"--set weights={model['weights']} needs the package {package}, which Kaggle's image "
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
