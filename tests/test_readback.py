"""Files read back from a run folder or given as weights are checked before they are used (``shared.readback``):
a resumed run's saved fold that is not what this code wrote is fitted again with one warning; ``--resume`` keeps
what the run was made with and refuses a flag that would change it; ``--set weights`` loads a file covering the
whole backbone, or says how much of it the file covers. Scripts run in-process (``run_cli``)."""
from __future__ import annotations

import io
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, assert_user_error, last_line, run_cli, snapshot

from shared.errors import UserError
from shared.readback import Unreadable, read_arrays

LINEAR = ["--recipe", "linear", "--folds", "2"]
RESULTS = ("metrics.json", "oof.csv", "test_pred.csv", "submission.csv", "test_folds.npy")


@pytest.fixture(scope="module")
def finished(demo_dir, tmp_path_factory) -> Path:
    """A finished 2-fold linear House Prices run: what a resumed copy must end up equal to."""
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *LINEAR, "--out", tmp_path_factory.mktemp("runs"))
    assert rc == 0, err
    return Path(last_line(out))


def interrupted(finished: Path, tmp_path: Path) -> Path:
    """A copy of the run as if killed after both folds were saved, before its results were written."""
    run_dir = Path(shutil.copytree(finished, tmp_path / "runs" / "house_prices" / finished.name))
    for name in RESULTS:
        (run_dir / name).unlink()
    return run_dir


def _npy(shape, descr: str = "<f8", data: bytes = b"") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": shape})
    return out.getvalue() + data


def _resaved(path: Path, **changes) -> None:
    arrays = dict(np.load(path))
    arrays.update(changes)
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in arrays.items() if v is not None})


FOREIGN_FOLDS = {  # case -> (how fold0/predictions.npz is spoiled, what the warning says)
    "pickle": (lambda p: p.write_bytes(pickle.dumps({"valid": [1.0]})), "is not an .npz archive"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:3000]), "is not an .npz archive"),
    "foreign keys": (lambda p: _resaved(p, valid=None, preds=np.zeros(3)), "lacks ['valid']"),
    "wrong length": (lambda p: _resaved(p, valid=np.zeros(7)), "of shape (7,), not"),
    "object array": (lambda p: p.write_bytes(_complete(_npy((250,), "|O"))), "holds object values"),
    "non-finite": (lambda p: _resaved(p, test=np.full(500, np.inf)), "500 non-finite value(s) in 'test'"),
    "huge header": (lambda p: p.write_bytes(_complete(_npy((250, 10**11)))), "(250, 100000000000)"),
}


def _complete(valid: bytes) -> bytes:
    """An .npz of our names, whose 'valid' is ``valid`` (the demo's 500 test rows, zeros)."""
    return _zip({"valid.npy": valid, "test.npy": _npy((500,), data=bytes(4000)), "seconds.npy": _npy((), data=bytes(8))})


def _zip(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("case", FOREIGN_FOLDS, ids=list(FOREIGN_FOLDS))
def test_a_saved_fold_that_is_not_ours_is_set_aside_with_one_warning(finished, tmp_path, case):
    """What ``--resume`` reads of each finished fold (the run end to end: the test below)."""
    from shared.runner import _kept_folds

    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    saved = run_dir / "fold0" / "predictions.npz"
    spoil, said = FOREIGN_FOLDS[case]
    spoil(saved)
    fold_of = np.loadtxt(run_dir / "folds.csv", delimiter=",", skiprows=1, usecols=1, dtype=int)
    kept, refit = _kept_folds(run_dir, [0, 1], fold_of, 500, 1, finite=True)
    assert list(kept) == [1] and len(refit) == 1, refit
    assert refit[0].startswith(f"{saved} ") and said in refit[0] and refit[0].endswith("fitting fold 0 again (its "
                                                                                      "file is replaced)")


@pytest.mark.parametrize("case", ["pickle", "wrong length"])
def test_resume_fits_again_a_fold_whose_saved_predictions_are_not_ours(finished, tmp_path, case):
    run_dir = interrupted(finished, tmp_path)
    saved = run_dir / "fold0" / "predictions.npz"
    spoil, said = FOREIGN_FOLDS[case]
    spoil(saved)
    rc, out, err = run_cli("run", "house_prices", "--resume", run_dir)
    assert rc == 0 and last_line(out) == str(run_dir), err
    log = (run_dir / "log.txt").read_text()
    warning = [line for line in log.splitlines() if str(saved) in line and "fitting fold 0 again" in line]
    assert len(warning) == 1 and said in warning[0], log
    assert "fold 1: kept from" in log and "fold 0: kept from" not in log  # the other finished fold is kept
    for name in ("oof.csv", "test_pred.csv", "submission.csv"):  # exactly the uninterrupted run's results
        assert (run_dir / name).read_bytes() == (finished / name).read_bytes(), name
    np.load(saved, allow_pickle=False)["valid"]  # the fold's file is ours again


def test_a_huge_array_header_is_refused_before_anything_is_allocated(tmp_path):
    """Under a 1.5 GB address-space cap a file claiming 800 GB of floats is one Unreadable, in well under a second."""
    path = tmp_path / "predictions.npz"
    path.write_bytes(_zip({"valid.npy": _npy((100, 10**11)), "test.npy": _npy((5,)), "seconds.npy": _npy(())}))
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20,) * 2)\n"
            "from shared.readback import Unreadable, read_arrays\n"
            f"try: read_arrays({str(path)!r}, {{'valid': (100, 1), 'test': (5, 1), 'seconds': ()}}, 'fix')\n"
            "except Unreadable as exc: print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "holds 'valid' of shape (100, 100000000000), not (100, 1)" in proc.stdout


def test_read_arrays_takes_what_we_write_and_names_what_is_not(tmp_path):
    path = tmp_path / "a.npz"
    with open(path, "wb") as f:
        np.savez(f, valid=np.arange(4.0), seconds=np.float64(1.5))
    got = read_arrays(path, {"valid": (4, 1), "seconds": ()}, "fix", required=["valid"])
    assert got["valid"].shape == (4, 1) and got["seconds"] == 1.5
    with pytest.raises(Unreadable, match=r"a\.npz holds \['seconds'\] besides what this code writes; fix"):
        read_arrays(path, {"valid": (4, 1)}, "fix")
    with pytest.raises(Unreadable, match="holds 1 non-finite"):
        np.save(tmp_path / "b.npy", np.array([1.0, np.nan]))
        read_arrays(tmp_path / "b.npy", {"": (2,)}, "fix")
    assert np.isnan(read_arrays(tmp_path / "b.npy", {"": (2,)}, "fix", finite=False)[""]).sum() == 1


# ------------------------------------------------------------------------------------------- flags with --resume

def _unfinished_partial(finished: Path, tmp_path: Path) -> Path:
    run_dir = interrupted(finished, tmp_path)
    (run_dir / "fold1" / "predictions.npz").unlink()
    return run_dir


REFUSED = {  # flags given with --resume that differ from the run's own -> what the line says of the run's value
    "--seed": (["--seed", "7"], "was made with --seed 42"),
    "--recipe": (["--recipe", "gbm"], "was made with --recipe linear"),
    "--folds": (["--folds", "3"], "was made with --folds 2"),
    "--set": (["--set", "alpha=5"], "was made with alpha=0.0005"),
    "--time-limit": (["--time-limit", "60"], "was made without --time-limit"),
    "--only-folds": (["--only-folds", "0"], "was made without --only-folds"),
    "--target": (["--target", "LotArea"], "was made with --target SalePrice"),
    "--id": (["--id", "Order"], "was made with --id Id"),
    "--metric": (["--metric", "rmse"], "was made with --metric rmsle"),
    "--out": (["--out", "elsewhere"], "writes into its own folder, under"),
}


@pytest.mark.parametrize("flag", REFUSED, ids=list(REFUSED))
def test_resume_refuses_a_flag_that_would_change_the_run(finished, tmp_path, flag):
    run_dir = _unfinished_partial(finished, tmp_path)
    before = snapshot(run_dir.parents[1])
    argv, said = REFUSED[flag]
    rc, out, err = run_cli("run", "house_prices", "--resume", run_dir, *argv)
    line = assert_user_error(rc, err)
    assert line.startswith(f"error: {flag} ") and said in line and str(run_dir) in line, line
    assert "start a new run without --resume" in line and out == ""
    assert snapshot(run_dir.parents[1]) == before


def test_resume_refuses_other_data_and_honours_the_same_data_moved(finished, demo_dir, tmp_path):
    run_dir = _unfinished_partial(finished, tmp_path)
    moved = Path(shutil.copytree(demo_dir, tmp_path / "moved" / "house_prices"))
    other = Path(shutil.copytree(demo_dir, tmp_path / "other" / "house_prices"))
    (other / "test.csv").write_text("\n".join((other / "test.csv").read_text().splitlines()[:-1]) + "\n")
    before = snapshot(run_dir)
    rc, _, err = run_cli("run", "house_prices", "--resume", run_dir, "--data", other)
    assert "test.csv" in assert_user_error(rc, err) and snapshot(run_dir) == before
    # flags equal to the run's own change nothing; how it runs (--threads) is honoured; the data, moved, are found
    rc, out, err = run_cli("run", "house_prices", "--resume", run_dir, "--data", moved, *LINEAR, "--seed", "42",
                           "--set", "alpha=0.0005", "--threads", "1", "--out", run_dir.parents[1])
    assert rc == 0 and last_line(out) == str(run_dir), err
    for name in ("oof.csv", "test_pred.csv", "submission.csv"):
        assert (run_dir / name).read_bytes() == (finished / name).read_bytes(), name


def test_the_parser_tells_typed_flags_from_defaults():
    from shared.cli import ArgumentParser, add_data_args

    p = ArgumentParser()
    add_data_args(p)
    args = p.parse_args(["house_prices"])
    assert (args.folds, args.seed, args.out, args.given) == (5, 42, Path("runs"), set())
    args = p.parse_args(["house_prices", "--folds", "5", "--out", "runs"])
    assert args.given == {"folds", "out"} and args.folds == 5


BAD_CONFIG_VALUES = {"n_folds": -3, "seed": "42", "only_folds": "0,1", "time_limit": -1, "model": [1]}


@pytest.mark.parametrize("key", BAD_CONFIG_VALUES, ids=list(BAD_CONFIG_VALUES))
def test_resume_of_a_hand_edited_config_names_the_value(finished, tmp_path, key):
    run_dir = _unfinished_partial(finished, tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config[key] = BAD_CONFIG_VALUES[key]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = snapshot(run_dir)
    rc, _, err = run_cli("run", "house_prices", "--resume", run_dir)
    line = assert_user_error(rc, err)
    assert f"{run_dir / 'config.yaml'}: {key} is {BAD_CONFIG_VALUES[key]!r}" in line
    assert snapshot(run_dir) == before


def test_resume_keeps_the_runs_own_folds_and_refuses_an_edited_folds_file(finished, tmp_path):
    run_dir = _unfinished_partial(finished, tmp_path)
    folds = (run_dir / "folds.csv").read_text().splitlines()
    folds[1] = folds[1].rsplit(",", 1)[0] + ",7"  # a fold the 2-fold run does not have
    (run_dir / "folds.csv").write_text("\n".join(folds) + "\n")
    before = snapshot(run_dir)
    rc, _, err = run_cli("run", "house_prices", "--resume", run_dir)
    line = assert_user_error(rc, err)
    assert str(run_dir / "folds.csv") in line and "every fold from 0 to 1" in line
    assert snapshot(run_dir) == before


def test_merge_names_a_pickled_or_short_test_folds_file(demo_dir, tmp_path):
    parts = []
    for k in ("0", "1"):
        rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *LINEAR, "--only-folds", k, "--out",
                               tmp_path / "runs")
        assert rc == 0, err
        parts.append(Path(last_line(out)))
    for content in (pickle.dumps([1, 2]), _npy((1, 3, 1), data=b"\0" * 24)):
        (parts[1] / "test_folds.npy").write_bytes(content)
        rc, out, err = run_cli("merge", *parts, "--out", tmp_path / "merged")
        assert str(parts[1] / "test_folds.npy") in assert_user_error(rc, err)
    assert not (tmp_path / "merged").exists()


# ----------------------------------------------------------------------------------------------- --set weights

class _Payload:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_weights_of_another_network_are_refused_with_how_much_matched(tmp_path):
    """A CIFAR-10 run's airbench weights given to a resnet18 (classify_leaves' timm recipe): no silent scratch start."""
    from shared.vision import nets

    cifar = nets.create("airbench_small", 10)
    torch.save({"model": cifar.state_dict(), "weights": "raw", "epoch": 0}, tmp_path / "last.pt")
    with pytest.raises(UserError, match=r"last\.pt: 0 of the 100 tensors of resnet18's backbone are in it"):
        nets.create("resnet18", 176, weights=str(tmp_path / "last.pt"))
    half = {k: v for i, (k, v) in enumerate(nets.create("resnet18", 5).state_dict().items()) if i % 2}
    torch.save(half, tmp_path / "half.pt")
    with pytest.raises(UserError, match=r"of the 100 tensors of resnet18's backbone"):
        nets.create("resnet18", 176, weights=str(tmp_path / "half.pt"))


def test_weights_of_the_same_network_load_with_a_fresh_head_said_in_the_log(tmp_path, caplog):
    from shared.vision import nets

    cifar = nets.create("airbench_small", 10)  # was ignored for airbench nets before: now loaded like any other
    torch.save({"model": cifar.state_dict(), "weights": "raw"}, tmp_path / "last.pt")
    with caplog.at_level("INFO"):
        leaves = nets.create("airbench_small", 176, weights=str(tmp_path / "last.pt"))
    assert torch.equal(leaves.features[0].weight, cifar.features[0].weight) and leaves.head.out_features == 176
    assert "airbench_small's head.weight start fresh" in caplog.text


@pytest.mark.parametrize("case", ["pickle", "text", "folder", "missing"])
def test_a_weights_file_that_is_not_tensors_is_one_line_and_never_runs(tmp_path, case):
    from shared.detection.model import create as detector
    from shared.vision import nets

    marker, path = tmp_path / "payload-ran", tmp_path / "weights.pt"
    if case == "pickle":
        torch.save({"model": _Payload(marker)}, path)
    elif case == "text":
        path.write_text("resnet18 weights, see the README\n")
    elif case == "folder":
        path.mkdir()
    said = {"pickle": "holds objects other than tensors", "text": "is not a weights file PyTorch reads",
            "folder": "is a folder", "missing": "no such file"}[case]
    for make in (lambda: nets.create("resnet18", 7, weights=str(path)),
                 lambda: detector("fasterrcnn_mobilenet_v3_large_fpn", 5, weights=str(path), max_side=64)):
        with pytest.raises(UserError, match=said) as caught:
            make()
        assert f"--set weights={path}" in str(caught.value) and "\n" not in str(caught.value)
    assert not marker.exists()


def test_a_detector_takes_a_detectors_weights_and_refuses_a_classifiers(tmp_path):
    from shared.detection.model import create as detector
    from shared.vision import nets

    source = detector("fasterrcnn_mobilenet_v3_large_fpn", 3, max_side=64)
    torch.save(source.state_dict(), tmp_path / "det.pt")
    model = detector("fasterrcnn_mobilenet_v3_large_fpn", 5, weights=str(tmp_path / "det.pt"), max_side=64)
    own = model.state_dict()
    assert torch.equal(own["backbone.body.0.0.weight"], source.state_dict()["backbone.body.0.0.weight"])
    torch.save(nets.create("resnet18", 5).state_dict(), tmp_path / "r18.pt")
    with pytest.raises(UserError, match=r"0 of the \d+ tensors of fasterrcnn_mobilenet_v3_large_fpn's backbone"):
        detector("fasterrcnn_mobilenet_v3_large_fpn", 5, weights=str(tmp_path / "r18.pt"), max_side=64)


def test_resume_refuses_a_folder_where_a_folds_predictions_belong(finished, tmp_path):
    """It could not be replaced by the fold's file: said before any fold is fitted, the run left as it was."""
    run_dir = interrupted(finished, tmp_path)
    (run_dir / "fold0" / "predictions.npz").unlink()
    (run_dir / "fold0" / "predictions.npz").mkdir()
    before = snapshot(run_dir)
    rc, _, err = run_cli("run", "house_prices", "--resume", run_dir)
    assert "predictions.npz is not a file (a folder?)" in assert_user_error(rc, err)
    assert snapshot(run_dir) == before


def test_merge_names_metrics_whose_folds_are_not_fold_numbers(finished, tmp_path):
    import json

    part = Path(shutil.copytree(finished, tmp_path / "part"))
    metrics = json.loads((part / "metrics.json").read_text())
    metrics["folds"] = {"zero": 0.1, "1": 0.2}
    (part / "metrics.json").write_text(json.dumps(metrics))
    rc, _, err = run_cli("merge", finished, part, "--out", tmp_path / "merged")
    assert f"{part / 'metrics.json'}: 'folds' is not a mapping of fold number to score" in assert_user_error(rc, err)
    assert not (tmp_path / "merged").exists()


# A flag that would do nothing where it is typed -> what the one line says (shared.cli.refuse_typed).
IGNORED = {
    "--metric on a named competition": (["run", "house_prices", "--data", "DATA", *LINEAR, "--metric", "accuracy"],
                                        "--metric accuracy is for the generic path (`tabular`): house_prices has "
                                        "its own target 'SalePrice', id 'Id' and metric 'rmsle'"),
    "--target on adversarial": (["adversarial", "house_prices", "--data", "DATA", "--target", "LotArea"],
                                "--target LotArea is for the generic path"),
    "--time-limit, no budget": (["run", "house_prices", "--data", "DATA", *LINEAR, "--time-limit", "60"],
                                "--time-limit 60.0 is a time budget, and no budget reaches the fits of "
                                "house_prices's recipe 'linear'"),
    "--time-limit, no recipe's": (["compare", "house_prices", "--data", "DATA", "--recipes", "linear,svr",
                                   "--time-limit", "60"], "recipes 'linear', 'svr' (they run as long as"),
    "--time-limit on adversarial": (["adversarial", "house_prices", "--data", "DATA", "--time-limit", "60"],
                                    "--time-limit 60.0 is a training budget; the adversarial check has none"),
    "--folds on a leaderboard": (["compare", "house_prices", "--runs", "RUN", "--folds", "3"],
                                 "--folds 3 is for running recipes; --runs and --from tabulate runs"),
    "--threads on a leaderboard": (["compare", "house_prices", "--from", "RUN", "--threads", "2"],
                                   "--threads 2 is for running recipes"),
    "--recipes with an empty name": (["compare", "house_prices", "--data", "DATA", "--recipes", "linear,"],
                                     "--recipes 'linear,' has an empty name: give each recipe to compare once"),
    "--recipes naming one twice": (["compare", "house_prices", "--data", "DATA", "--recipes", "linear,linear"],
                                   "--recipes 'linear,linear' names 'linear' twice"),
    "--platform without --wheels": (["kernel", "house_prices", "--user", "me", "--platform", "manylinux2014_x86_64"],
                                    "--platform manylinux2014_x86_64 says which wheels --wheels downloads, and no "
                                    "--wheels is given"),
}


@pytest.mark.parametrize("case", IGNORED, ids=list(IGNORED))
def test_a_flag_that_would_do_nothing_is_refused_naming_it(case, demo_dir, finished, tmp_path):
    """Each of these once ran and ignored the flag (a house_prices run scored rmsle under --metric accuracy, a
    linear run took no notice of --time-limit, a leaderboard of --folds) or misread it (--recipes linear, also ran
    the default recipe); now each is one line, nothing written."""
    argv, said = IGNORED[case]
    argv = [str(demo_dir) if a == "DATA" else str(finished) if a == "RUN" else a for a in argv]
    rc, out, err = run_cli(*argv, "--out", tmp_path / "out")
    assert said in assert_user_error(rc, err) and out == ""
    assert not (tmp_path / "out").exists()


def test_the_flags_a_script_reads_are_taken(demo_dir, tmp_path):
    """A named competition's own target, id and metric are accepted; adversarial.py's --folds is honoured;
    --recipes takes names with spaces around them."""
    rc, out, err = run_cli("run", "house_prices", "--data", demo_dir, *LINEAR, "--metric", "rmsle", "--id", "Id",
                           "--target", "SalePrice", "--out", tmp_path)
    assert rc == 0, err
    rc, out, err = run_cli("adversarial", "house_prices", "--data", demo_dir, "--folds", "3", "--out", tmp_path)
    report = yaml.safe_load((Path(last_line(out)) / "report.json").read_text())
    assert rc == 0 and report["folds"] == 3 and len(report["fold_aucs"]) == 3
    rc, out, err = run_cli("compare", "house_prices", "--data", demo_dir, "--folds", "2", "--recipes", " linear , svr",
                           "--out", tmp_path)
    rows = yaml.safe_load((Path(last_line(out)) / "compare.json").read_text()) if rc == 0 else []
    assert sorted(r["recipe"] for r in rows) == ["linear", "svr"], err


EDITED_METRICS = {"cv as text": ("cv", "0.1", "cv is '0.1', not a finite number"),
                  "cv NaN": ("cv", float("nan"), "cv is nan, not a finite number"),
                  "a fold's score inf": ("folds", {"0": float("inf"), "1": 0.1}, "'folds' is not a mapping of fold "
                                                                                  "number to score (each a finite "
                                                                                  "number)"),
                  "direction as text": ("greater_is_better", "no", "greater_is_better is 'no', not true or false")}


@pytest.mark.parametrize("case", EDITED_METRICS, ids=list(EDITED_METRICS))
def test_a_hand_edited_score_is_named_never_ranked_or_blended(case, demo_dir, finished, tmp_path):
    """A metrics.json whose cv was edited to text once crashed compare with a TypeError; a NaN cv was ranked first
    and blended as a member 'at nan'. The blend refuses it in one line; a leaderboard leaves it out with that note."""
    import json

    key, value, said = EDITED_METRICS[case]
    edited = Path(shutil.copytree(finished, tmp_path / "runs" / "house_prices" / "edited"))
    metrics = json.loads((edited / "metrics.json").read_text())
    (edited / "metrics.json").write_text(json.dumps({**metrics, key: value}))
    before = snapshot(tmp_path / "runs")
    rc, out, err = run_cli("ensemble", edited, finished, "--out", tmp_path / "blend")
    assert f"{edited / 'metrics.json'}: {said}" in assert_user_error(rc, err)
    rc, out, err = run_cli("compare", "house_prices", "--runs", edited, finished, "--out", tmp_path / "board")
    assert rc == 0 and f"note: {edited} skipped: {edited / 'metrics.json'}: {said}" in err, err
    assert edited.name not in (Path(last_line(out)) / "compare.json").read_text()
    assert snapshot(tmp_path / "runs") == before and not (tmp_path / "blend").exists()


@pytest.mark.parametrize("edit", [
    lambda f: f.assign(fold=0), lambda f: f.assign(fold=np.where(f.index == 0, 7, f["fold"])),
    lambda f: f.assign(fold="x"), lambda f: f.assign(extra=1), lambda f: f.iloc[:-1], lambda f: f[["fold"]],
], ids=["every row in fold 0", "a fold beyond k", "no numbers", "another column", "a row short", "no id column"])
def test_a_cached_folds_file_is_reused_only_for_what_it_holds(edit, tmp_path):
    """The folds cache (runs/<competition>/folds/) was trusted by its name: every row put in fold 0 failed inside
    the first fit with a traceback, and a fold 7 in a 2-fold run ran and scored 'fold 7'. A file that is not valid
    folds for these rows is made again."""
    from shared.cv import assign_folds, load_or_make_folds

    ids, target = np.arange(100, 160), np.linspace(0, 1, 60)
    made = load_or_make_folds(tmp_path, ids, 2, 42, "kfold", target, id_col="Id")
    (path,) = tmp_path.glob("*.csv")
    edit(pd.read_csv(path)).to_csv(path, index=False)
    again = load_or_make_folds(tmp_path, ids, 2, 42, "kfold", target, id_col="Id")
    assert again.equals(made) and np.array_equal(again["fold"], assign_folds(60, 2, 42))
    assert pd.read_csv(path).equals(pd.read_csv(io.StringIO(made.to_csv(index=False))))


def test_the_same_rows_under_another_id_name_share_the_cached_folds(demo_dir, tmp_path):
    """The cache is found by the rows' content: the same file with its id column renamed was refused ('folds-...csv
    is missing column(s) ['Ident']... use the competition's original file'); it now runs on the same folds."""
    renamed = Path(shutil.copytree(demo_dir, tmp_path / "renamed"))
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        frame = pd.read_csv(renamed / name, dtype=str, keep_default_na=False)
        frame.rename(columns={"Id": "Ident"}).to_csv(renamed / name, index=False)
    folds = []
    for data, id_col in ((demo_dir, "Id"), (renamed, "Ident")):
        rc, out, err = run_cli("run", "tabular", "--data", data, "--target", "SalePrice", "--id", id_col, "--metric",
                               "rmse", *LINEAR, "--out", tmp_path / "runs")
        assert rc == 0, err
        folds.append(pd.read_csv(Path(last_line(out)) / "folds.csv", dtype=str))
    assert list(folds[1].columns) == ["Ident", "fold"] and (folds[1].to_numpy() == folds[0].to_numpy()).all()
