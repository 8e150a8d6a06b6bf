"""Fold assignment: every kind's guarantees, and the folds.csv cache."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.cv import assign_folds, load_or_make_folds
from shared.errors import UserError


def test_kfold_every_row_in_exactly_one_fold_balanced():
    folds = assign_folds(103, 5, seed=0)
    assert folds.shape == (103,)
    assert set(folds) == {0, 1, 2, 3, 4}  # each row gets one fold number in range; none left at -1
    sizes = np.bincount(folds)
    assert sizes.sum() == 103 and sizes.max() - sizes.min() <= 1  # 21,21,21,20,20


def test_kfold_is_deterministic_for_a_seed_and_differs_across_seeds():
    a, b, c = assign_folds(200, 5, seed=7), assign_folds(200, 5, seed=7), assign_folds(200, 5, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, np.arange(200) * 5 // 200)  # shuffled, not consecutive blocks


def test_stratified_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 40 + [2] * 20)  # 4 : 2 : 1
    folds = assign_folds(len(y), 4, seed=1, kind="stratified", y=y)
    for k in range(4):
        counts = np.bincount(y[folds == k], minlength=3)
        assert counts.tolist() == [20, 10, 5], (k, counts)


def test_group_folds_never_split_a_group():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 40, 300)
    folds = assign_folds(300, 5, seed=3, kind="group", groups=groups)
    per_group = pd.DataFrame({"g": groups, "f": folds}).groupby("g")["f"].nunique()
    assert (per_group == 1).all()
    assert set(folds) == set(range(5))
    # another seed changes which groups go together, still without splitting any
    other = assign_folds(300, 5, seed=4, kind="group", groups=groups)
    assert (pd.DataFrame({"g": groups, "f": other}).groupby("g")["f"].nunique() == 1).all()


def test_time_folds_are_consecutive_blocks_last_is_latest():
    rng = np.random.default_rng(5)
    order = rng.permutation(100)  # row i happens at time order[i]
    folds = assign_folds(100, 4, seed=0, kind="time", order=order)
    assert np.bincount(folds).tolist() == [25, 25, 25, 25]
    # fold k holds times 25k .. 25k+24: later rows are in later folds
    assert np.array_equal(folds, order // 25)
    latest = np.argsort(order)[-25:]
    assert (folds[latest] == 3).all()
    for k in range(3):
        assert order[folds == k].max() < order[folds == k + 1].min()


def test_time_folds_accept_dates():
    dates = pd.to_datetime(["2021-03-01", "2020-01-01", "2022-06-01", "2020-06-01"])
    folds = assign_folds(4, 2, seed=0, kind="time", order=dates)
    assert folds.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("kwargs, message", [
    ({"n_rows": 10, "n_folds": 1}, "at least 2"),
    ({"n_rows": 3, "n_folds": 5}, "cannot make 5 folds from 3 rows"),
    ({"n_rows": 10, "n_folds": 2, "kind": "stratified"}, "class labels"),
    ({"n_rows": 10, "n_folds": 2, "kind": "group"}, "group column"),
    ({"n_rows": 10, "n_folds": 2, "kind": "time"}, "ordering column"),
    ({"n_rows": 10, "n_folds": 2, "kind": "random"}, "unknown fold kind"),
])
def test_assign_folds_refusals(kwargs, message):
    with pytest.raises(UserError, match=message):
        assign_folds(seed=0, **kwargs)


def test_load_or_make_folds_writes_once_then_reuses(tmp_path):
    ids = np.arange(1, 61)
    target = np.linspace(0, 1, 60)
    first = load_or_make_folds(tmp_path, ids, 3, 42, "kfold", target, id_col="Id")
    files = list(tmp_path.glob("*.csv"))
    assert len(files) == 1 and files[0].name.startswith("folds-kfold-k3-seed42-")
    saved = pd.read_csv(files[0])
    assert list(saved.columns) == ["Id", "fold"]
    assert saved["Id"].tolist() == ids.tolist()
    assert np.array_equal(saved["fold"], first["fold"])
    assert np.array_equal(first["fold"], assign_folds(60, 3, 42))

    # the second call reads the file: prove it by changing the saved folds (same ids) on disk
    tampered = saved.assign(fold=(saved["fold"] + 1) % 3)
    tampered.to_csv(files[0], index=False)
    before = files[0].read_bytes()
    second = load_or_make_folds(tmp_path, ids, 3, 42, "kfold", target, id_col="Id")
    assert np.array_equal(second["fold"], tampered["fold"])
    assert files[0].read_bytes() == before
    assert len(list(tmp_path.glob("*.csv"))) == 1


def test_load_or_make_folds_same_content_on_a_second_call(tmp_path):
    ids, target = np.arange(40), np.arange(40) % 2
    a = load_or_make_folds(tmp_path, ids, 4, 1, "stratified", target, id_col="id")
    path = next(tmp_path.glob("*.csv"))
    content = path.read_bytes()
    b = load_or_make_folds(tmp_path, ids, 4, 1, "stratified", target, id_col="id")
    assert np.array_equal(a["fold"], b["fold"]) and path.read_bytes() == content


def test_load_or_make_folds_different_data_gets_a_different_file(tmp_path):
    ids = np.arange(50)
    load_or_make_folds(tmp_path, ids, 5, 0, "kfold", np.zeros(50), id_col="id")
    load_or_make_folds(tmp_path, ids, 5, 0, "kfold", np.ones(50), id_col="id")  # another target
    load_or_make_folds(tmp_path, np.arange(1, 51), 5, 0, "kfold", np.zeros(50), id_col="id")  # other ids
    load_or_make_folds(tmp_path, ids, 5, 1, "kfold", np.zeros(50), id_col="id")  # other seed
    load_or_make_folds(tmp_path, ids, 4, 0, "kfold", np.zeros(50), id_col="id")  # other k
    assert len(list(tmp_path.glob("folds-*.csv"))) == 5


def test_load_or_make_folds_ignores_a_stale_file_for_other_ids(tmp_path):
    ids, target = np.arange(30), np.zeros(30)
    load_or_make_folds(tmp_path, ids, 3, 0, "kfold", target, id_col="id")
    path = next(tmp_path.glob("*.csv"))
    pd.DataFrame({"id": np.arange(100, 110), "fold": 0}).to_csv(path, index=False)  # wrong content
    folds = load_or_make_folds(tmp_path, ids, 3, 0, "kfold", target, id_col="id")
    assert folds["id"].tolist() == ids.tolist()
    assert np.array_equal(folds["fold"], assign_folds(30, 3, 0))
    assert pd.read_csv(path)["id"].tolist() == ids.tolist()  # rewritten


def test_load_or_make_folds_reuses_the_file_for_zero_padded_string_ids(tmp_path):
    ids = pd.Series([f"{i:03d}" for i in range(30)])
    target = np.zeros(30)
    load_or_make_folds(tmp_path, ids, 3, 0, "kfold", target, id_col="id")
    path = next(tmp_path.glob("*.csv"))
    saved = pd.read_csv(path, dtype={"id": str})
    saved.assign(fold=(saved["fold"] + 1) % 3).to_csv(path, index=False)
    tampered = path.read_bytes()
    load_or_make_folds(tmp_path, ids, 3, 0, "kfold", target, id_col="id")
    assert path.read_bytes() == tampered  # reused, not rewritten
