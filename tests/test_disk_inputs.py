"""Files on disk that we write or read: a demo's marker vouches only for files whose content is still what the demo
wrote (a user's real data copied over a demo is theirs), a half-made folder of a killed command is removed by the
next one, ``download.py --check`` refuses what a run refuses, and the CSV and COCO files a user brings are read as
written (text ids and labels such as ``NA``, another separator, a byte-order mark) or refused in one line naming
the file, the column or entry, the row and the value. Commands run in-process (``run_cli``) on the session's demos."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_LINEAR, ROOT, assert_user_error, last_line, run_cli, snapshot
from test_trust import table

from shared import folders
from shared.errors import UserError


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.glob(f".{folder.name}.*"))


def _demo(out: Path) -> Path:
    rc, stdout, err = run_cli("make_demo", "house_prices", "--size", "small", "--out", out)
    assert rc == 0, err
    return out


# ------------------------------------------------------------------------------------------ demo markers

def test_make_demo_again_keeps_the_real_data_copied_over_a_demo(tmp_path):
    data = _demo(tmp_path / "house_prices")
    (data / "train.csv").write_text("Id,SalePrice\n1,208500\n2,181500\n")  # Kaggle's files unzipped over the demo
    before = snapshot(tmp_path)
    rc, out, err = run_cli("make_demo", "house_prices", "--size", "small", "--out", data)
    line = assert_user_error(rc, err)
    assert str(data / "train.csv") in line and "--force" in line and out == ""
    assert snapshot(tmp_path) == before and _hidden(data) == []
    rc, _, err = run_cli("make_demo", "house_prices", "--size", "small", "--out", data, "--force")
    assert rc == 0, err
    assert len(pd.read_csv(data / "train.csv")) == 500  # --force replaces it, as asked


def test_force_replaces_a_changed_file_of_a_demos_name(tmp_path):
    data = _demo(tmp_path / "data")
    (data / "data_description.txt").write_text("my notes on the columns\n")
    rc, _, err = run_cli("make_demo", "california_house_prices", "--size", "tiny", "--out", data, "--force")
    assert rc == 0, err
    assert (data / "data_description.txt").read_text() != "my notes on the columns\n"  # --force: same name replaced
    assert not (data / "solution.csv").read_text().startswith("Id,SalePrice")


@pytest.mark.parametrize("edit", ["damaged", "entries edited", "another kind"])
def test_a_marker_that_is_damaged_edited_or_old_vouches_for_nothing(edit, tmp_path):
    data = _demo(tmp_path / "house_prices")
    path = data / folders.MARKER
    found = json.loads(path.read_text())
    if edit == "damaged":
        path.write_text(path.read_text()[:40])
    elif edit == "entries edited":  # the user's own file claimed by hand: the checksum no longer matches
        found["entries"].append("notes.txt")
        found["digests"]["notes.txt"] = folders.digest(data / "train.csv")
        path.write_text(json.dumps(found))
    else:  # a whole marker of ours, of another output
        found["kind"] = "kernel bundle"
        found["checksum"] = folders._checksum({k: v for k, v in found.items() if k != "checksum"})
        path.write_text(json.dumps(found))
    before = snapshot(tmp_path)
    rc, _, err = run_cli("make_demo", "house_prices", "--size", "small", "--out", data)
    line = assert_user_error(rc, err)
    assert "not an earlier demo" in line and "--force" in line
    assert ("vouches for none" in line) == (edit != "another kind")
    assert snapshot(tmp_path) == before


def test_an_older_marker_lets_only_the_same_bytes_be_written_again(tmp_path):
    """A demo made before markers recorded content: rebuilt where each file would be byte for byte the same (no
    loss), refused as soon as one of its names holds other bytes (the real data)."""
    data = _demo(tmp_path / "house_prices")
    path = data / folders.MARKER
    found = json.loads(path.read_text())
    path.write_text(json.dumps({k: found[k] for k in ("kind", "competition", "size", "entries")}))  # names only
    files = {p.name: p.read_bytes() for p in data.iterdir() if p.name != folders.MARKER}
    _demo(data)  # the same demo again: allowed, nothing differs
    assert {p.name: p.read_bytes() for p in data.iterdir() if p.name != folders.MARKER} == files
    assert folders.marker(data) is not None  # now a marker that vouches by content
    path.write_text(json.dumps({k: found[k] for k in ("kind", "competition", "size", "entries")}))
    (data / "train.csv").write_text("Id,SalePrice\n1,208500\n")
    before = snapshot(tmp_path)
    rc, _, err = run_cli("make_demo", "house_prices", "--size", "small", "--out", data)
    line = assert_user_error(rc, err)
    assert "train.csv" in line and "--force" in line and snapshot(tmp_path) == before


def test_a_folder_entry_changed_inside_is_the_users(tmp_path):
    out = tmp_path / "leaves"
    for _ in range(2):  # the second build replaces the first, whose images are as written
        with folders.writing(out, "demo") as stage:
            (stage.path / "images").mkdir()
            (stage.path / "images" / "0.png").write_bytes(b"\x89PNG demo")
    (out / "images" / "my-leaf.jpg").write_bytes(b"\xff\xd8 a photo of my own")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match=f"{out / 'images'} is not the file the earlier demo wrote"):
        with folders.writing(out, "demo"):
            raise AssertionError("refused before building")
    assert snapshot(tmp_path) == before


KILLED = """
import os, signal, sys
from pathlib import Path
from shared import folders
from shared.errors import UserError
with folders.writing(Path(sys.argv[1]), "demo") as stage:
    (stage.path / "train.csv").write_text("Id,SalePrice\\n1,2\\n")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_half_made_demo_of_a_killed_command_is_removed_by_the_next(tmp_path):
    out = tmp_path / "house_prices"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(out)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -9
    [killed] = _hidden(out)
    mine = tmp_path / f".{out.name}.partial-mine"  # named like ours, but without our lock file: not ours
    mine.mkdir()
    (mine / "keep.txt").write_text("mine\n")
    with folders.writing(tmp_path / "other", "demo") as busy:  # a command still building, beside another output
        (tmp_path / ".house_prices.partial-busy").symlink_to(busy.path)
        _demo(out)
        assert busy.path.is_dir()  # in use: never removed
        (tmp_path / ".house_prices.partial-busy").unlink()
        (busy.path / "x.txt").write_text("x\n")
    assert _hidden(out) == [mine.name] and killed != mine.name
    assert (mine / "keep.txt").read_text() == "mine\n" and (tmp_path / "other" / "x.txt").is_file()
    assert len(pd.read_csv(out / "train.csv")) == 500


def test_a_staging_folder_in_use_is_not_removed(tmp_path):
    with folders.writing(tmp_path / "data", "demo") as stage:
        assert folders.remove_abandoned(tmp_path / "data") == []  # held by this command: in use
        assert stage.path.is_dir()
        (stage.path / "a.txt").write_text("a\n")
    assert (tmp_path / "data" / "a.txt").is_file() and _hidden(tmp_path / "data") == []


# ---------------------------------------------------------------------------------- --check is what a run reads

def _copy(demos, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demos(name), tmp_path / name))


def test_check_refuses_an_image_link_in_a_loop_as_a_run_does(demos, tmp_path):
    data = _copy(demos, "cifar10", tmp_path)
    image = data / "train" / f"{pd.read_csv(data / 'trainLabels.csv')['id'].iloc[0]}.png"
    image.unlink()
    image.symlink_to(image.name)  # a link to itself
    check = assert_user_error(*run_cli("download", "cifar10", "--check", data)[::2])
    rc, out, err = run_cli("run", "cifar10", "--data", data, "--folds", "2", "--set", "epochs=1",
                           "--out", tmp_path / "runs")
    assert assert_user_error(rc, err) == check  # the same line, before any work
    assert "in a loop" in check and str(image) in check and not (tmp_path / "runs").exists()


def test_check_decodes_every_image_as_training_does(demos, tmp_path):
    data = _copy(demos, "cifar10", tmp_path)
    broken = sorted((data / "test").iterdir())[3]
    broken.write_text("<html>404</html>")  # a page saved in place of the image
    line = assert_user_error(*run_cli("download", "cifar10", "--check", data)[::2])
    assert str(broken) in line and "unreadable" in line


def test_check_refuses_what_stratified_folds_refuse(tmp_path):
    data = table(tmp_path / "data", labels=lambda x: np.where(x > 1.2, "rare", "common"))
    train = pd.read_csv(data / "train.csv", dtype=str)
    train.loc[train.index[train["y"] == "rare"][3:], "y"] = "common"  # 3 of the rare class
    train.to_csv(data / "train.csv", index=False)
    from shared import kaggle_io
    from shared.tabular import generic

    spec = generic.spec_for(data, "y", "id", "accuracy")
    kaggle_io.check_layout(spec, data, n_folds=3)
    with pytest.raises(Exception, match="has 3 example"):
        kaggle_io.check_layout(spec, data)  # run.py's default 5 folds


# ------------------------------------------------------------------------------------------------- COCO

def _coco_case(demos, tmp_path, change) -> str:
    data = _copy(demos, "cowboy_outfits", tmp_path)
    coco = json.loads((data / "train.json").read_text())
    change(coco)
    (data / "train.json").write_text(json.dumps(coco))
    before = snapshot(tmp_path)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        rc, out, err = run_cli("download", "cowboy_outfits", "--check", data)
    assert not warned, [str(w.message) for w in warned]
    assert snapshot(tmp_path) == before
    return assert_user_error(rc, err)


def test_coco_category_listed_twice_is_refused(demos, tmp_path):
    line = _coco_case(demos, tmp_path, lambda c: c["categories"].append({**c["categories"][1], "name": "hat"}))
    assert "is listed more than once in 'categories'" in line


@pytest.mark.parametrize("box", [[float("nan"), 1, 20, 20], [1, 1, float("inf"), 20], ["1", 1, 20, 20], [1, 1, 20],
                                 None])
def test_coco_box_that_is_not_four_numbers_is_one_line_without_warning(box, demos, tmp_path):
    line = _coco_case(demos, tmp_path, lambda c: c["annotations"][2].update(bbox=box))
    assert "not four finite numbers" in line and "zero or negative" not in line


def test_coco_image_entry_without_its_file_name_is_one_line(demos, tmp_path):
    line = _coco_case(demos, tmp_path, lambda c: c["images"][1].pop("file_name"))
    assert "entry 1 of 'images' lacks ['file_name']" in line


# -------------------------------------------------------------------------------------------- CSV reading

def _generic(data: Path, tmp_path: Path, metric: str = "accuracy", *extra) -> tuple[int, str, str]:
    return run_cli("run", "tabular", "--data", data, "--target", "y", "--id", "id", "--metric", metric,
                   *FAST_LINEAR[:2], "--folds", "2", "--out", tmp_path / "runs", *extra)


def test_ids_and_labels_written_NA_or_None_are_text(tmp_path):
    ids = [f"{i:06d}" for i in range(160)]
    ids[3], ids[90], ids[100], ids[120] = "NA", "None", "null", "n/a"  # ids in train and in test
    data = table(tmp_path / "data", labels=lambda x: np.where(x > 0, "None", "NA"), ids=ids)
    rc, out, err = _generic(data, tmp_path)
    assert rc == 0, err
    sub = pd.read_csv(Path(last_line(out)) / "submission.csv", dtype=str, keep_default_na=False)
    assert sub["id"].tolist() == pd.read_csv(data / "sample_submission.csv", dtype=str,
                                             keep_default_na=False)["id"].tolist()
    assert set(sub["y"]) == {"None", "NA"}
    config = (Path(last_line(out)) / "config.yaml").read_text()
    assert "- None" in config or "- 'None'" in config  # the classes, as text


def test_an_empty_label_is_still_empty(tmp_path):
    data = table(tmp_path / "data", labels=lambda x: np.where(x > 0, "None", "Some"))
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    train.loc[5, "y"] = ""
    train.to_csv(data / "train.csv", index=False)
    assert "has 1 empty value(s)" in assert_user_error(*_generic(data, tmp_path)[::2])


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_csv_separated_by_semicolons_or_tabs_is_read(sep, tmp_path):
    data = table(tmp_path / "data")
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        frame = pd.read_csv(data / name, dtype=str)
        frame.to_csv(data / name, sep=sep, index=False)
    rc, out, err = _generic(data, tmp_path, "rmse")
    assert rc == 0, err
    written = (Path(last_line(out)) / "submission.csv").read_text().splitlines()
    assert written[0] == "id,y" and written[1].startswith("001080,")  # Kaggle's format: commas, ids as written


def test_a_sample_submission_in_another_row_order_is_valid(tmp_path):
    """Kaggle matches a submission's rows by id: a sample listing the test ids in another order is taken, and the
    submission follows the sample's order with each id's own prediction."""
    data = table(tmp_path / "data")
    rc, out, err = _generic(data, tmp_path, "rmse")
    assert rc == 0, err
    first = pd.read_csv(Path(last_line(out)) / "submission.csv", dtype={"id": str}).set_index("id")["y"]
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    sample.iloc[::-1].to_csv(data / "sample_submission.csv", index=False)
    rc, out, err = _generic(data, tmp_path, "rmse")
    assert rc == 0, err
    again = pd.read_csv(Path(last_line(out)) / "submission.csv", dtype={"id": str})
    assert again["id"].tolist() == sample["id"].tolist()[::-1]
    assert np.allclose(again.set_index("id")["y"].loc[first.index].to_numpy(), first.to_numpy())


def test_a_submission_separated_by_semicolons_is_refused(demo_dir, tmp_path):
    import competitions
    from shared import kaggle_io

    sub = tmp_path / "submission.csv"
    pd.read_csv(demo_dir / "sample_submission.csv").to_csv(sub, sep=";", index=False)
    with pytest.raises(Exception, match="separated by ';': write it with commas"):
        kaggle_io.check_submission(competitions.get("house_prices"), sub, demo_dir)


@pytest.mark.parametrize("file", ["test.csv", "train.csv"])
def test_a_number_written_with_a_thousands_comma_is_named(file, demo_copy, tmp_path):
    frame = pd.read_csv(demo_copy / file, dtype=str, keep_default_na=False)
    frame.loc[7, "LotArea"] = "11,050"
    frame.to_csv(demo_copy / file, index=False)
    before = snapshot(tmp_path)
    rc, _, err = run_cli("run", "house_prices", "--data", demo_copy, *FAST_LINEAR, "--out", tmp_path / "runs")
    line = assert_user_error(rc, err)
    assert f"{demo_copy / file}: column 'LotArea'" in line and f"'11,050' at id '{frame.loc[7, 'Id']}'" in line
    assert snapshot(tmp_path) == before


def test_a_text_column_with_numbers_in_it_is_still_text(tmp_path):
    data = table(tmp_path / "data")
    for name in ("train.csv", "test.csv"):
        frame = pd.read_csv(data / name, dtype=str)
        frame["street"] = [f"{i} Main St" if i % 3 else str(i) for i in range(len(frame))]  # a third are numbers
        frame.to_csv(data / name, index=False)
    rc, _, err = _generic(data, tmp_path, "rmse")
    assert rc == 0, err


def test_a_header_with_a_byte_order_mark_is_read(demo_copy, tmp_path):
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        (demo_copy / name).write_bytes(b"\xef\xbb\xbf" + (demo_copy / name).read_bytes())  # Excel's "CSV UTF-8"
    rc, out, err = run_cli("run", "house_prices", "--data", demo_copy, *FAST_LINEAR, "--out", tmp_path / "runs")
    assert rc == 0, err
    assert (Path(last_line(out)) / "submission.csv").read_bytes().startswith(b"Id,SalePrice\n")


@pytest.mark.parametrize("content,expect", [
    (b"", "is empty (0 bytes)"),
    (b"\nId,MSSubClass\n1,20\n", "starts with a blank line"),
    ("Id,Neighborhood\n1,Café\n".encode("latin-1"), "is not UTF-8 text (it holds the byte 0xe9)"),
])
def test_an_empty_blank_or_non_utf8_file_is_one_line(content, expect, demo_copy, tmp_path):
    (demo_copy / "test.csv").write_bytes(content)
    before = snapshot(tmp_path)
    line = assert_user_error(*run_cli("download", "house_prices", "--check", demo_copy)[::2])
    assert f"{demo_copy / 'test.csv'} {expect}" in line
    assert snapshot(tmp_path) == before
