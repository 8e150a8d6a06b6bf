"""Commands that write a folder of files (kernel bundles, demos, downloads) never destroy or half-overwrite
what a user keeps: a folder holding other files is refused in one line with every file left byte-identical,
an earlier output of ours is replaced cleanly (files of the user's beside it kept), and no staging folder is
left behind. Entry points run in-process."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, assert_user_error, last_line, make_wheel, snapshot

import competitions
from shared import folders, kaggle_io
from shared.cli import main
from shared.errors import UserError

if str(ROOT / "scripts") not in sys.path:
    sys.path.append(str(ROOT / "scripts"))


def _entry(script: str):
    """The entry function of ``scripts/<script>.py``, loaded under a name of its own."""
    spec = importlib.util.spec_from_file_location(f"_script_{script}", ROOT / "scripts" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, script)


def _run(capsys, script: str, *args) -> tuple[int, str, str]:
    rc = main(_entry(script), [str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _data_folder(path: Path) -> Path:
    """A user's data folder: the real competition files and notes of their own."""
    path.mkdir(parents=True)
    (path / "train.csv").write_text("Id,SalePrice\n1,208500\n2,181500\n")
    (path / "notes.txt").write_text("fold 3 looks odd; check the outliers\n")
    return path


def _leftovers(folder: Path) -> list[str]:
    """Hidden staging or set-aside folders beside ``folder``."""
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.*"))


# ---------------------------------------------------------------------------------------------- kernel bundle

def test_kernel_refuses_a_data_folder_and_changes_nothing(tmp_path, capsys):
    data = _data_folder(tmp_path / "house_prices")
    before = snapshot(tmp_path)
    rc, out, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--out", data)
    line = assert_user_error(rc, err)
    assert str(data) in line and "notes.txt" in line and "--force" in line and out == ""
    assert snapshot(tmp_path) == before  # nothing written, nothing removed, no staging folder left


def test_kernel_out_a_file_is_one_line(tmp_path, capsys):
    file = tmp_path / "bundle"
    file.write_text("not a folder\n")
    before = snapshot(tmp_path)
    rc, _, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--out", file)
    assert "is a file, not a folder" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before
    rc, _, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--out", file / "inside")
    assert "is a file, not a folder" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before


def test_kernel_over_an_earlier_bundle_replaces_it_and_keeps_the_users_files(tmp_path, capsys):
    out = tmp_path / "bundle"
    wheel = make_wheel(tmp_path, "ensemble_boxes", "1.0.9")
    rc, stdout, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--recipe", "gbm",
                           "--wheel-file", wheel, "--out", out)
    assert rc == 0, err
    assert json.loads((out / folders.MARKER).read_text())["kind"] == "kernel bundle"
    (out / "upload-log.txt").write_text("pushed version 3\n")  # the user's own file beside the bundle
    rc, stdout, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--recipe", "linear", "--out", out)
    assert rc == 0, err
    assert last_line(stdout) == str(out)
    assert json.loads((out / "kernel" / "kernel-metadata.json").read_text())["id"] == "alice/house-prices-linear"
    assert not (out / "code" / "wheels").exists()  # the earlier bundle is gone whole, not merged
    assert (out / "upload-log.txt").read_text() == "pushed version 3\n"
    assert sorted(p.name for p in out.iterdir()) == [folders.MARKER, "code", "kernel", "upload-log.txt"]
    assert _leftovers(out) == []


def test_kernel_force_replaces_only_the_bundles_names(tmp_path, capsys):
    folder = _data_folder(tmp_path / "mixed")
    (folder / "kernel").mkdir()
    (folder / "kernel" / "old.ipynb").write_text("{}")
    rc, _, err = _run(capsys, "kernel", "house_prices", "--user", "alice", "--out", folder, "--force")
    assert rc == 0, err
    assert sorted(p.name for p in (folder / "kernel").iterdir()) == ["house_prices.ipynb", "kernel-metadata.json"]
    assert (folder / "notes.txt").is_file() and (folder / "train.csv").is_file()
    assert _leftovers(folder) == []


def test_a_failed_bundle_leaves_nothing_behind(tmp_path):
    from shared import kernel

    out = tmp_path / "new" / "deeper" / "bundle"
    failed = type("Done", (), {"returncode": 1})()
    with pytest.raises(UserError, match="pip could not download"):
        kernel.build(competitions.get("house_prices"), out, "alice", wheels=["nothing"],
                     fetch=lambda cmd, check=False: failed)
    assert list(tmp_path.iterdir()) == []  # no staging folder, and not the parent folders made for it


# ---------------------------------------------------------------------------------------------------- demos

def test_make_demo_refuses_a_folder_with_real_data(tmp_path, capsys):
    data = _data_folder(tmp_path / "house_prices")
    before = snapshot(tmp_path)
    rc, out, err = _run(capsys, "make_demo", "house_prices", "--size", "small", "--out", data)
    line = assert_user_error(rc, err)
    assert "not an earlier demo" in line and "train.csv" in line and "--force" in line and out == ""
    assert snapshot(tmp_path) == before


def test_make_demo_force_replaces_the_data_and_keeps_other_files(tmp_path, capsys):
    data = _data_folder(tmp_path / "house_prices")
    notes = (data / "notes.txt").read_bytes()
    rc, out, err = _run(capsys, "make_demo", "house_prices", "--size", "small", "--out", data, "--force")
    assert rc == 0, err
    assert last_line(out) == str(data)
    assert len(pd.read_csv(data / "train.csv")) == 500  # the demo's, not the two rows that were there
    assert (data / "notes.txt").read_bytes() == notes
    kaggle_io.check_layout(competitions.get("house_prices"), data)
    assert _leftovers(data) == []


def test_make_demo_twice_replaces_the_earlier_demo_cleanly(tmp_path, capsys):
    out = tmp_path / "cifar10"
    rc, _, err = _run(capsys, "make_demo", "cifar10", "--size", "small", "--out", out)
    assert rc == 0, err
    (out / "my-notes.md").write_text("baseline 0.61\n")
    rc, _, err = _run(capsys, "make_demo", "cifar10", "--size", "tiny", "--out", out)
    assert rc == 0, err
    labels = pd.read_csv(out / "trainLabels.csv")
    assert len(list((out / "train").iterdir())) == len(labels) == 200  # no images left from the larger demo
    assert (out / "my-notes.md").read_text() == "baseline 0.61\n"
    assert kaggle_io.missing_files(competitions.get("cifar10"), out) == []
    assert json.loads((out / folders.MARKER).read_text())["size"] == "tiny"
    assert _leftovers(out) == []


def test_an_earlier_demo_never_replaces_a_users_entry_of_the_same_name(tmp_path, capsys):
    out = tmp_path / "leaves"
    assert _run(capsys, "make_demo", "california_house_prices", "--size", "tiny", "--out", out)[0] == 0
    (out / "images").mkdir()  # the user's own pictures, beside the earlier demo
    (out / "images" / "leaf.jpg").write_bytes(b"\xff\xd8 a photo")
    before = snapshot(tmp_path)
    rc, _, err = _run(capsys, "make_demo", "classify_leaves", "--size", "tiny", "--out", out)
    assert "images" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before  # refused after building, before touching the folder


def test_make_demo_out_a_file_is_one_line(tmp_path, capsys):
    file = tmp_path / "data"
    file.write_text("Id,SalePrice\n")
    before = snapshot(tmp_path)
    rc, _, err = _run(capsys, "make_demo", "house_prices", "--size", "small", "--out", file)
    assert "is a file, not a folder" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before


def test_a_demo_does_not_replace_a_kernel_bundle(tmp_path, capsys):
    out = tmp_path / "bundle"
    assert _run(capsys, "kernel", "house_prices", "--user", "alice", "--out", out)[0] == 0
    before = snapshot(tmp_path)
    rc, _, err = _run(capsys, "make_demo", "house_prices", "--size", "small", "--out", out)
    assert "not an earlier demo" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------------- downloads

class _Client:
    """Serves a zip of ``folder`` as the competition's download."""

    def __init__(self, folder: Path, archive: Path):
        with zipfile.ZipFile(archive, "w") as z:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    z.write(p, str(p.relative_to(folder)))
        self.archive = archive

    def competition_download_files(self, competition, path, quiet=False):
        shutil.copy(self.archive, Path(path) / f"{competition}.zip")


def test_download_force_keeps_files_of_other_names(demo_dir, tmp_path):
    spec = competitions.get("house_prices")
    dest = _data_folder(tmp_path / "house_prices")
    kaggle_io.download(spec, dest, force=True, client=_Client(demo_dir, tmp_path / "hp.zip"))
    assert (dest / "train.csv").read_bytes() == (demo_dir / "train.csv").read_bytes()
    assert (dest / "notes.txt").read_text() == "fold 3 looks odd; check the outliers\n"
    assert _leftovers(dest) == []


def test_download_out_a_file_is_one_line(tmp_path, capsys):
    file = tmp_path / "house_prices"
    file.write_text("x\n")
    before = snapshot(tmp_path)
    rc, _, err = _run(capsys, "download", "house_prices", "--out", file, "--force")
    assert "is a file, not a folder" in assert_user_error(rc, err)
    assert snapshot(tmp_path) == before
