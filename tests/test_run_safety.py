"""What a run folder can do to the code that reads it back: nothing. A crafted checkpoint does not run; a resume or
merge on data other than the run's is refused (the run records a fingerprint of its inputs); a corrupt config.yaml
or metrics.json is one line naming the file. Scripts are called in-process (``shared.cli.main``)."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, assert_user_error, last_line, snapshot

import competitions
from shared import fingerprint
from shared.cli import main
from shared.errors import UserError

LINEAR = ["--recipe", "linear", "--folds", "2"]


def script(name: str):
    """The entry function of ``scripts/<name>.py``."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def call(name: str, *argv) -> tuple[int, str, str]:
    """``scripts/<name>.py ARGV`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(script(name), [str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def error_line(rc: int, stderr: str) -> str:
    """A refusal met after the run's log started: exit 2, no traceback, one ``error:`` line and it is the last."""
    lines = stderr.strip().splitlines()
    assert rc == 2 and "Traceback" not in stderr, stderr
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], stderr
    return lines[-1]


def partial_run(data: Path, out: Path, folds: str = "0") -> Path:
    """A finished partial House Prices run (``--only-folds``)."""
    rc, stdout, stderr = call("run", "house_prices", "--data", data, *LINEAR, "--only-folds", folds, "--out", out)
    assert rc == 0, stderr
    return Path(last_line(stdout))


def unfinished(run_dir: Path) -> Path:
    """The partial run as a run interrupted before it wrote its results (what ``--resume`` continues)."""
    (run_dir / "metrics.json").unlink()
    return run_dir


@pytest.fixture(scope="module")
def house_partial(demo_dir, tmp_path_factory) -> Path:
    """A partial run on the shared demo (fold 0 of 2), copied by the tests that change it."""
    return partial_run(demo_dir, tmp_path_factory.mktemp("runs"))


def test_a_run_records_the_fingerprint_of_its_data(house_partial, demo_dir):
    recorded = yaml.safe_load((house_partial / "config.yaml").read_text())[fingerprint.KEY]
    assert set(recorded["files"]) == {"train.csv", "test.csv", "sample_submission.csv"}
    spec = competitions.get("house_prices")
    assert fingerprint.differences(recorded, fingerprint.of(spec, spec.load(demo_dir))) == []
    assert recorded["train_rows"]["count"] == len(spec.load(demo_dir).train)


# ------------------------------------------------------------------------------------------------- checkpoints

class _Payload:
    """Unpickling this creates ``marker``: what a crafted checkpoint would do (here, harmlessly)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def cifar_partial(demos, tmp_path_factory) -> Path:
    """A tiny image run of fold 0 of 2 (one epoch), with its ``fold0/last.pt``."""
    data = demos("cifar10")
    out = tmp_path_factory.mktemp("runs")
    rc, stdout, stderr = call("run", "cifar10", "--data", data, "--recipe", "fast", "--folds", "2", "--only-folds",
                              "0", "--set", "model=airbench_small", "--set", "epochs=1", "--set", "batch_size=32",
                              "--out", out)
    assert rc == 0, stderr
    return Path(last_line(stdout))


def test_a_checkpoint_holds_tensors_and_plain_values_only(cifar_partial):
    checkpoint = torch.load(cifar_partial / "fold0" / "last.pt", weights_only=True)  # would raise otherwise
    assert checkpoint["epoch"] == 0 and isinstance(checkpoint["history"][0]["train_loss"], float)
    assert isinstance(checkpoint["rng"]["numpy"]["keys"], torch.Tensor)


def test_a_crafted_checkpoint_is_refused_and_never_runs(cifar_partial, tmp_path):
    run_dir = Path(shutil.copytree(cifar_partial, tmp_path / "runs" / "cifar10" / cifar_partial.name))
    unfinished(run_dir)
    (run_dir / "fold0" / "predictions.npz").unlink()  # fold 0 was under way: resume reads its checkpoint
    marker = tmp_path / "payload-ran"
    torch.save({"model": _Payload(marker), "epoch": 0}, run_dir / "fold0" / "last.pt")
    shutil.copy(run_dir / "fold0" / "last.pt", tmp_path / "proof.pt")

    rc, _, err = call("run", "cifar10", "--resume", run_dir)
    assert not marker.exists()  # the payload never ran
    line = error_line(rc, err)
    assert str(run_dir / "fold0" / "last.pt") in line and "delete it" in line
    torch.load(tmp_path / "proof.pt", weights_only=False)  # the same file, unpickled blindly, does run it
    assert marker.exists()


# ------------------------------------------------------------------------------------------------ changed data

def _change_one_value(data: Path, column: str = "LotArea") -> None:
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    train.loc[0, column] = str(int(train.loc[0, column]) + 1)
    train.to_csv(data / "train.csv", index=False)


def test_resume_on_changed_data_is_refused_and_leaves_the_run_untouched(demo_copy, tmp_path):
    run_dir = unfinished(partial_run(demo_copy, tmp_path / "runs"))
    train = pd.read_csv(demo_copy / "train.csv", dtype=str, keep_default_na=False)
    train.loc[:, "SalePrice"] = train["SalePrice"].iloc[::-1].to_numpy()  # the prices moved to other houses
    train.to_csv(demo_copy / "train.csv", index=False)
    before = snapshot(run_dir)

    rc, _, err = call("run", "house_prices", "--resume", run_dir)
    line = assert_user_error(rc, err)
    assert "train.csv changed" in line and str(run_dir) in line
    assert "test.csv" not in line  # only what changed is named
    assert snapshot(run_dir) == before


def test_resume_on_the_same_data_continues(house_partial, tmp_path):
    run_dir = unfinished(Path(shutil.copytree(house_partial, tmp_path / "runs" / "house_prices" / house_partial.name)))
    rc, out, err = call("run", "house_prices", "--resume", run_dir)
    assert rc == 0, err
    assert last_line(out) == str(run_dir) and (run_dir / "metrics.json").is_file()


def test_a_run_without_a_data_fingerprint_is_not_resumed(house_partial, tmp_path):
    run_dir = unfinished(Path(shutil.copytree(house_partial, tmp_path / "runs" / "house_prices" / house_partial.name)))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    del config[fingerprint.KEY]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = snapshot(run_dir)
    rc, _, err = call("run", "house_prices", "--resume", run_dir)
    assert f"lacks ['{fingerprint.KEY}']" in assert_user_error(rc, err)
    assert snapshot(run_dir) == before


def test_merge_of_partial_runs_made_on_different_data_is_refused(demo_copy, tmp_path):
    out = tmp_path / "runs"
    part_a = partial_run(demo_copy, out, folds="0")
    _change_one_value(demo_copy)  # same ids, same target, so the same folds: only the fingerprint tells
    part_b = partial_run(demo_copy, out, folds="1")
    rc, _, err = call("merge", part_a, part_b, "--out", tmp_path / "merged")
    line = assert_user_error(rc, err)
    assert "train.csv changed" in line and str(part_b) in line
    assert not (tmp_path / "merged").exists()


def test_merge_on_data_changed_since_the_runs_is_refused(demo_copy, tmp_path):
    out = tmp_path / "runs"
    parts = [partial_run(demo_copy, out, folds=k) for k in ("0", "1")]
    _change_one_value(demo_copy)
    rc, _, err = call("merge", *parts, "--out", tmp_path / "merged")
    line = assert_user_error(rc, err)
    assert "train.csv changed" in line and "--data" in line


def test_merge_of_runs_without_a_data_fingerprint_is_refused(demo_copy, tmp_path):
    out = tmp_path / "runs"
    parts = [partial_run(demo_copy, out, folds=k) for k in ("0", "1")]
    for part in parts:
        config = yaml.safe_load((part / "config.yaml").read_text())
        del config[fingerprint.KEY]
        (part / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    rc, _, err = call("merge", *parts, "--out", tmp_path / "merged")
    line = assert_user_error(rc, err)
    assert "records no data fingerprint" in line and str(parts[0]) in line
    assert not (tmp_path / "merged").exists()


# --------------------------------------------------------------------------------------- corrupt run folders

CORRUPT_CONFIGS = {
    "invalid YAML": "competition: house_prices\nmodel: {unclosed: [1, 2\n",
    "not a mapping": "- house_prices\n- linear\n",
    "empty": "",
    "missing keys": "competition: house_prices\nrecipe: linear\n",
    "python tag": "competition: !!python/object/apply:os.system ['touch pwned']\n",
}


@pytest.mark.parametrize("content", CORRUPT_CONFIGS.values(), ids=CORRUPT_CONFIGS.keys())
def test_resume_with_a_corrupt_config_is_one_line(house_partial, tmp_path, content):
    run_dir = unfinished(Path(shutil.copytree(house_partial, tmp_path / "runs" / "house_prices" / house_partial.name)))
    (run_dir / "config.yaml").write_text(content)
    rc, _, err = call("run", "house_prices", "--resume", run_dir)
    assert str(run_dir / "config.yaml") in assert_user_error(rc, err)


@pytest.mark.parametrize("content", CORRUPT_CONFIGS.values(), ids=CORRUPT_CONFIGS.keys())
def test_merge_with_a_corrupt_config_is_one_line(house_partial, tmp_path, content):
    part = Path(shutil.copytree(house_partial, tmp_path / "part"))
    (part / "config.yaml").write_text(content)
    rc, _, err = call("merge", house_partial, part, "--out", tmp_path / "merged")
    assert str(part / "config.yaml") in assert_user_error(rc, err)


@pytest.mark.parametrize("content", ['{"cv": 0.1, "folds": {"1": 0.1', '[1, 2]', '{"cv": 0.1}', "\xff\xfe"],
                         ids=["invalid JSON", "not an object", "missing keys", "not text"])
def test_merge_with_corrupt_metrics_is_one_line(house_partial, tmp_path, content):
    part = Path(shutil.copytree(house_partial, tmp_path / "part"))
    (part / "metrics.json").write_bytes(content.encode("latin-1"))
    rc, _, err = call("merge", house_partial, part, "--out", tmp_path / "merged")
    assert str(part / "metrics.json") in assert_user_error(rc, err)


def test_ensemble_and_compare_loaders_name_the_corrupt_file(house_partial, tmp_path):
    from shared.runs import load_run, load_summary

    run_dir = Path(shutil.copytree(house_partial, tmp_path / "run"))
    (run_dir / "config.yaml").write_text("a: [\n")
    for load in (load_run, load_summary):
        with pytest.raises(UserError, match=r"config\.yaml is not readable YAML"):
            load(run_dir)


def test_fingerprint_names_what_changed():
    base = {"files": {"train.csv": "a", "test.csv": "b"}, "train_rows": {"count": 3, "sha256": "x"},
            "test_rows": {"count": 2, "sha256": "y"}}
    assert fingerprint.differences(base, base) == []
    other = {**base, "files": {"train.csv": "a", "test.csv": "c"}, "train_rows": {"count": 2, "sha256": "z"}}
    assert fingerprint.differences(base, other) == [
        "test.csv changed", "the training rows changed (3 then, 2 now; ids in order after cleaning)"]
    assert fingerprint.differences("garbage", base) == ["the recorded data fingerprint is unreadable"]


def test_image_fingerprint_lists_images_without_reading_them(demos, tmp_path):
    data = Path(shutil.copytree(demos("cifar10"), tmp_path / "cifar10"))
    spec = competitions.get("cifar10")
    before = fingerprint.of(spec, spec.load(data))
    assert before["images"]["count"] == len(spec.load(data).train) + len(spec.load(data).test)
    image = next((data / "train").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")  # one image replaced by another of another size
    assert fingerprint.differences(before, fingerprint.of(spec, spec.load(data))) == [
        "the image files changed ({0} then, {0} now; names or sizes)".format(before["images"]["count"])]
