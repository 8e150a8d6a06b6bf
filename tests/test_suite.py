"""The public tabular suite's data sets: real data written once as a competition folder in the Kaggle layout from
a fixed split, reused as they are, never overwritten; the suite script refuses what it cannot run."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import assert_user_error, run_cli, snapshot

from shared.errors import UserError
from shared.tabular import suite


def test_a_data_set_is_written_once_in_the_kaggle_layout(tmp_path):
    entry = suite.SUITE["breast_cancer"]
    folder = suite.write(entry, tmp_path)
    train = pd.read_csv(folder / "train.csv", dtype={"id": str})
    test = pd.read_csv(folder / "test.csv", dtype={"id": str})
    sample = pd.read_csv(folder / "sample_submission.csv", dtype={"id": str})
    solution = pd.read_csv(folder / "solution.csv", dtype={"id": str})
    assert len(train) + len(test) == 569 and len(test) == pytest.approx(0.25 * 569, abs=2)
    assert entry.target not in test.columns and list(sample.columns) == ["id", entry.target]
    assert list(sample["id"]) == list(test["id"]) == list(solution["id"])
    assert train["id"].str.len().eq(5).all() and not set(train["id"]) & set(test["id"])
    shares = [frame[entry.target].value_counts(normalize=True)["malignant"] for frame in (train, solution)]
    assert shares[0] == pytest.approx(shares[1], abs=0.01)  # stratified
    before = snapshot(tmp_path)
    assert suite.write(entry, tmp_path) == folder and snapshot(tmp_path) == before  # reused, not rewritten


def test_the_split_is_fixed(tmp_path):
    a = pd.read_csv(suite.write(suite.SUITE["diabetes"], tmp_path / "a") / "solution.csv")
    b = pd.read_csv(suite.write(suite.SUITE["diabetes"], tmp_path / "b") / "solution.csv")
    assert a.equals(b)


def test_another_split_or_a_foreign_folder_is_refused_and_kept(tmp_path):
    entry = suite.SUITE["diabetes"]
    folder = suite.write(entry, tmp_path)
    marker = folder / "split.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "split_seed": 1}))
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="holds another split of diabetes"):
        suite.write(entry, tmp_path)
    (tmp_path / "breast_cancer").mkdir()
    (tmp_path / "breast_cancer" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="is not a benchmark folder"):
        suite.write(suite.SUITE["breast_cancer"], tmp_path)
    assert snapshot(tmp_path) == {**before, "breast_cancer": "dir",
                                  "breast_cancer/notes.txt": snapshot(tmp_path)["breast_cancer/notes.txt"]}


def test_the_suite_covers_every_kind_of_task():
    metrics = {e.metric for e in suite.SUITE.values()}
    assert {"rmsle", "rmse", "auc", "accuracy"} <= metrics and len(suite.SUITE) >= 8


@pytest.mark.parametrize("args, says", [
    (["--suite", "--datasets", "nope"], "--datasets 'nope'"),
    (["--suite", "house_prices"], "leave out the competition"),
    ([], "name a competition, or pass --suite"),
])
def test_bad_suite_arguments_are_one_line(args, says, tmp_path):
    rc, _, stderr = run_cli("bench_tabular", *args, "--out", tmp_path)
    if rc == 2 and stderr.startswith("usage"):  # argparse's own error: usage line, then the error line
        assert says in stderr
    else:
        assert says in assert_user_error(rc, stderr)


def test_an_interrupted_write_is_redone_but_a_staging_folder_with_other_files_is_kept(tmp_path):
    entry = suite.SUITE["diabetes"]
    partial = tmp_path / ".diabetes.partial"
    partial.mkdir()
    (partial / "train.csv").write_text("half")  # ours, cut short: redone
    (partial / ".test.csv.abc.tmp").write_text("half")
    folder = suite.write(entry, tmp_path)
    assert not partial.exists() and len(pd.read_csv(folder / "train.csv")) > 100
    other = suite.SUITE["breast_cancer"]
    partial = tmp_path / ".breast_cancer.partial"
    partial.mkdir()
    (partial / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"holds files this benchmark did not write \(\['notes.txt'\]\)"):
        suite.write(other, tmp_path)
    assert (partial / "notes.txt").read_text() == "mine" and not (tmp_path / "breast_cancer").exists()


def _bench_tabular():
    import importlib.util
    import sys

    from conftest import ROOT
    if "script_bench_tabular" not in sys.modules:
        spec = importlib.util.spec_from_file_location("script_bench_tabular", ROOT / "scripts" / "bench_tabular.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["script_bench_tabular"] = module
    return sys.modules["script_bench_tabular"]


@pytest.mark.parametrize("args, command", [
    (["--suite", "--out", "elsewhere", "--readme", "docs/tabular.md", "--data-root", "d"],
     "python scripts/bench_tabular.py --suite"),
    (["--suite", "--floor-skip", "leaves:catboost_defaults", "--time-limit", "90", "--folds", "3"],
     "python scripts/bench_tabular.py --suite --time-limit 90 --folds 3 --floor-skip leaves:catboost_defaults"),
    (["--suite", "--datasets", "diabetes", "--recipe", "linear", "--automl", "", "--no-floor", "--test-share", "0.3"],
     "python scripts/bench_tabular.py --suite --datasets diabetes --recipe linear --test-share 0.3 --automl '' "
     "--no-floor"),
])
def test_the_suite_s_reproduce_line_names_every_option_that_changes_its_figures(args, command):
    bench = _bench_tabular()
    parser = bench.parser()
    assert bench.reproduce(parser.parse_args(args), parser) == command


@pytest.mark.integration
def test_a_suite_run_writes_its_table_and_how_to_reproduce_it_into_the_readme_block(tmp_path):
    readme = tmp_path / "R.md"
    readme.write_text("before\n<!-- tabular-suite:start -->\nold table\n<!-- tabular-suite:end -->\nafter\n")
    rc, _, stderr = run_cli("bench_tabular", "--suite", "--datasets", "diabetes", "--recipe", "linear", "--automl",
                            "", "--no-floor", "--folds", "2", "--data-root", tmp_path / "data", "--out",
                            tmp_path / "runs", "--readme", readme)
    assert rc == 0, stderr
    text = readme.read_text()
    assert text.startswith("before\n<!-- tabular-suite:start -->\nHoldout scores") and text.endswith("end -->\nafter\n")
    assert "old table" not in text and "| diabetes | rmse ↓ | 332 |" in text
    line = next(line for line in text.splitlines() if line.startswith("Reproduce: "))
    assert line.startswith("Reproduce: `python scripts/bench_tabular.py --suite --datasets diabetes --recipe linear "
                           "--folds 2 --automl '' --no-floor` (this run took ")
    assert line.endswith(" s).")
