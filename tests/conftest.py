"""Shared fixtures: the demo of every competition (built once per test session / xdist worker), a runner
for the scripts in-process and one as subprocesses, a generated table, and helpers to snapshot a folder byte for
byte."""
from __future__ import annotations

import hashlib
import os

# LightGBM uses every core and its OpenMP threads busy-wait between parallel regions. Two xdist workers
# on two cores then fight for the CPUs and a 300-row fit goes from ~0.05 s to minutes (measured: a
# 3-fold generic run 2.6 s alone, 138-330 s with a second run beside it). Passive waiting removes the
# contention without changing any result. It must be set before lightgbm's OpenMP runtime loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("MPLBACKEND", "Agg")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Fast recipe settings for end-to-end runs (seconds on the small demo).
FAST_GBM = ["--recipe", "gbm", "--folds", "3", "--set", "max_rounds=300"]
FAST_LINEAR = ["--recipe", "linear", "--folds", "3"]


def all_recipes():
    """(where, recipe) for every recipe of every competition and of the generic tabular path."""
    import competitions
    from shared.tabular import generic

    for name in competitions.names():
        for recipe in competitions.get(name).recipes.values():
            yield name, recipe
    for recipe in generic.RECIPES.values():
        yield "tabular", recipe


def run_script(script: str, *args, timeout: float = 300, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``scripts/<script>`` with this interpreter from the repo root (``env``: extra environment);
    (returncode, stdout, stderr)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", MPLBACKEND="Agg", **(env or {}))
    name = script if script.endswith(".py") else f"{script}.py"
    proc = subprocess.run([sys.executable, f"scripts/{name}", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def run_cli(script: str, *args) -> tuple[int, str, str]:
    """``scripts/<script>.py ARGS`` in this process, through the same ``shared.cli.main`` as the command line (no
    4-9 s of imports per call); (returncode, stdout, stderr) as ``run_script`` gives them. The run log, which goes
    to the stream the logger first saw, is not in ``stderr``: the ``error:`` line is."""
    import contextlib
    import importlib.util
    import io
    import logging

    from shared.cli import main

    name = script[:-3] if script.endswith(".py") else script
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    module = sys.modules.get(f"script_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[f"script_{name}"] = module
    entry = getattr(module, "bench" if name.startswith("bench") else name)
    from shared.log import LOGGER

    log = logging.getLogger(LOGGER)  # its console handler is made here, outside the capture below
    if not any(type(h) is logging.StreamHandler for h in log.handlers):
        log.addHandler(logging.StreamHandler(sys.stderr))
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(entry, [str(a) for a in args])
    finally:  # as at the end of a process: the run's log.txt is closed, so no later command writes into it
        for handler in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
            log.removeHandler(handler)
            handler.close()
    return rc, out.getvalue(), err.getvalue()


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "expected output on stdout, got nothing"
    return lines[-1].strip()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: relative path -> sha256 of its bytes ('dir' for folders)."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def assert_user_error(rc: int, stderr: str) -> str:
    """The CLI contract for a user-fixable error: exit 2 and exactly one stderr line, ``error: ...``."""
    lines = stderr.strip().splitlines()
    assert rc == 2, f"exit code {rc}, stderr:\n{stderr}"
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


# The demo size tests use for each competition: the smallest each has.
TEST_SIZES = {"house_prices": "small", "california_house_prices": "tiny", "cifar10": "tiny",
              "classify_leaves": "tiny", "cowboy_outfits": "tiny"}


@pytest.fixture(scope="session")
def demos(request, tmp_path_factory):
    """``demos(name, size=None)``: the demo of a competition (``TEST_SIZES`` by default), built the first time a
    test of this session asks for it. Read-only for tests: copy it before changing anything."""
    import competitions

    built = {}

    def get(name: str, size: str | None = None) -> Path:
        size = size or TEST_SIZES[name]
        if (name, size) not in built:
            if (name, size) == ("house_prices", "small"):
                built[name, size] = request.getfixturevalue("demo_dir")
            else:
                folder = tmp_path_factory.mktemp(f"{name}-{size}") / name
                built[name, size] = competitions.get(name).make_demo(folder, size=size)
        return built[name, size]

    return get


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The small House Prices demo (500 train / 500 test rows, real Ames data) in Kaggle's layout.
    Read-only for tests: copy it (``demo_copy``) before changing anything."""
    from competitions.house_prices import demo

    return demo.build(tmp_path_factory.mktemp("demo") / "house_prices", size="small")


@pytest.fixture
def demo_copy(demo_dir, tmp_path) -> Path:
    """A private, writable copy of the small demo."""
    return Path(shutil.copytree(demo_dir, tmp_path / "house_prices"))


@pytest.fixture(scope="session")
def linear_run(demo_dir, tmp_path_factory) -> tuple[Path, Path, str, str]:
    """One finished `run.py house_prices --recipe linear --folds 3` run: (out_root, run_dir, stdout, stderr)."""
    out = tmp_path_factory.mktemp("runs")
    rc, stdout, stderr = run_script("run", "house_prices", "--data", demo_dir, *FAST_LINEAR, "--out", out)
    assert rc == 0, stderr
    return out, Path(last_line(stdout)), stdout, stderr


def synthetic_classification(folder: Path, n_classes: int) -> Path:
    """A generic-path competition in ``folder`` with ``n_classes`` classes named alpha, beta, gamma (``target``,
    id ``row_id``): a number, a colour, a date and text with commas, quotes, newlines and accents."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], n)
    labels = np.array(["alpha", "beta", "gamma"])[:n_classes]
    score = x + (colour == "red") * 1.5
    y = labels[np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))]
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    text = [f"a lovely, \"quiet\" place near {c}\nwith {t} trees é" for c, t in zip(colour, rng.integers(0, 10**6, n))]
    df = pd.DataFrame({"row_id": np.arange(n) + 1000, "x": x, "colour": colour, "when": dates.strftime("%Y-%m-%d"),
                       "notes": text, "target": y})
    folder.mkdir(parents=True)
    df.iloc[:300].to_csv(folder / "train.csv", index=False)
    df.iloc[300:].drop(columns="target").to_csv(folder / "test.csv", index=False)
    df.iloc[300:][["row_id"]].assign(target=labels[0]).to_csv(folder / "sample_submission.csv", index=False)
    df.iloc[300:][["row_id", "target"]].to_csv(folder / "solution.csv", index=False)
    return folder


@pytest.fixture()
def log_lines():
    """The run log's lines while a test runs (a handler of its own on the run logger)."""
    import logging

    from shared.log import get_log

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = get_log()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def make_wheel(folder: Path, name: str, version: str = "1.0", requires=(), files: dict | None = None) -> Path:
    """A small wheel ``folder/<name>-<version>-py3-none-any.whl``: its METADATA (with ``Requires-Dist`` lines),
    WHEEL, RECORD and ``files`` (path inside -> bytes; default a one-line package)."""
    import zipfile

    dist = f"{name.replace('-', '_')}-{version}"
    files = files if files is not None else {f"{name.replace('-', '_')}/__init__.py": b""}
    meta = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                    *(f"Requires-Dist: {r}\n" for r in requires)])
    inside = {**files, f"{dist}.dist-info/METADATA": meta.encode(),
              f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},,\n" for path in [*inside, f"{dist}.dist-info/RECORD"])
    file = Path(folder) / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(file, "w") as whl:
        for path, data in {**inside, f"{dist}.dist-info/RECORD": record.encode()}.items():
            whl.writestr(path, data)
    return file
