"""Submissions: build in the sample's order, every validation refusal, atomic write, scoring."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from shared import submission
from shared.errors import UserError
from shared.metrics import get_metric

RMSLE, RMSE, ACC, AUC = (get_metric(n) for n in ("rmsle", "rmse", "accuracy", "auc"))


@pytest.fixture
def sample():
    return pd.DataFrame({"Id": [13, 11, 12], "SalePrice": [1.0, 1.0, 1.0]})


def good(sample):
    return pd.DataFrame({"Id": [13, 11, 12], "SalePrice": [300.0, 100.0, 200.0]})


def test_build_reorders_to_the_sample_order(sample):
    sub = submission.build(sample, "Id", [11, 12, 13], [100.0, 200.0, 300.0])
    assert list(sub.columns) == ["Id", "SalePrice"]
    assert sub["Id"].tolist() == [13, 11, 12]
    assert sub["SalePrice"].tolist() == [300.0, 100.0, 200.0]
    submission.validate(sub, sample, "Id", RMSLE)  # and the result is valid


def test_build_keeps_string_labels_and_multi_columns():
    sample = pd.DataFrame({"id": ["b", "a"], "label": ["x", "x"]})
    sub = submission.build(sample, "id", ["a", "b"], np.array(["cat", "dog"], dtype=object))
    assert sub.to_dict("list") == {"id": ["b", "a"], "label": ["dog", "cat"]}
    sample2 = pd.DataFrame({"id": [2, 1], "p0": [0.5, 0.5], "p1": [0.5, 0.5]})
    sub2 = submission.build(sample2, "id", [1, 2], [[0.1, 0.9], [0.8, 0.2]])
    assert sub2.values.tolist() == [[2, 0.8, 0.2], [1, 0.1, 0.9]]


def test_build_refusals(sample):
    with pytest.raises(UserError, match="no prediction for test id '13'"):
        submission.build(sample, "Id", [11, 12], [1.0, 2.0])
    with pytest.raises(UserError, match="repeat"):
        submission.build(sample, "Id", [11, 12, 12, 13], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(UserError, match="2 column"):
        submission.build(sample, "Id", [11, 12, 13], np.ones((3, 2)))


def test_validate_accepts_a_good_submission(sample):
    submission.validate(good(sample), sample, "Id", RMSLE)


def test_validate_accepts_the_rows_in_another_order_as_kaggle_matches_them_by_id(sample):
    submission.validate(good(sample).iloc[[1, 0, 2]].reset_index(drop=True), sample, "Id", RMSLE)


def _with(sample, **changes):
    sub = good(sample)
    for col, values in changes.items():
        sub[col] = values
    return sub


@pytest.mark.parametrize("make_bad, message", [
    (lambda s: good(s).rename(columns={"SalePrice": "Price"}),
     r"columns \['Id', 'Price'\]; expected \['Id', 'SalePrice'\], those of the sample submission"),
    (lambda s: good(s)[["SalePrice", "Id"]], r"expected \['Id', 'SalePrice'\].*\(the same columns in another order\)"),
    (lambda s: good(s).assign(extra=1), r"has columns \['Id', 'SalePrice', 'extra'\]; expected \['Id', 'SalePrice'\]"),
    (lambda s: good(s).rename(columns={"SalePrice": "saleprice"}),
     r"column 'saleprice' is 'SalePrice' there: names differ in case"),
    (lambda s: good(s).iloc[:2], r"no row for id '12' of the sample submission \(1 missing: 2 rows, the sample"),
    (lambda s: pd.concat([good(s), good(s).iloc[:1]]), r"id '13' appears 2 times \(rows 0, 3\)"),
    (lambda s: _with(s, Id=[13, 11, 99]), "id '99' is not in the sample submission"),
    (lambda s: _with(s, SalePrice=[300.0, np.nan, 200.0]), r"column 'SalePrice' is not a number \(nan\) at id 11"),
    (lambda s: _with(s, SalePrice=["300", "", "200"]), "column 'SalePrice' is empty at id 11"),
    (lambda s: _with(s, SalePrice=["300", "NaN", "200"]), r"is not a number \('NaN'\) at id 11 \(1 such row"),
    (lambda s: _with(s, SalePrice=["300", "-inf", "inf"]), r"is infinite \('-inf'\) at id 11 \(2 such row"),
    (lambda s: _with(s, SalePrice=[300.0, np.inf, 200.0]), r"infinite \(inf\) at id 11"),
    (lambda s: _with(s, SalePrice=[300.0, -np.inf, 200.0]), "infinite"),
    (lambda s: _with(s, SalePrice=[300.0, 100.0, 0.0]), "non-positive value 0.0 at id 12"),
    (lambda s: _with(s, SalePrice=[-5.0, 100.0, 200.0]), "non-positive value -5.0 at id 13"),
    (lambda s: _with(s, SalePrice=["300", "abc", "200"]), "non-numeric value 'abc'"),
])
def test_validate_refusals(sample, make_bad, message):
    with pytest.raises(UserError, match=message) as info:
        submission.validate(make_bad(sample), sample, "Id", RMSLE)
    assert "\n" not in str(info.value)


def test_zero_is_fine_for_rmse_but_not_for_rmsle(sample):
    sub = _with(sample, SalePrice=[0.0, -1.5, 2.0])
    submission.validate(sub, sample, "Id", RMSE)
    with pytest.raises(UserError, match="must be > 0"):
        submission.validate(sub, sample, "Id", RMSLE)


def test_validate_labels_for_accuracy():
    sample = pd.DataFrame({"id": [1, 2, 3], "label": ["cat"] * 3})
    ok = pd.DataFrame({"id": [1, 2, 3], "label": ["cat", "dog", "bird"]})
    submission.validate(ok, sample, "id", ACC, labels=["bird", "cat", "dog"])
    bad = ok.assign(label=["cat", "cow", "dog"])
    with pytest.raises(UserError, match="unknown label 'cow' at id 2"):
        submission.validate(bad, sample, "id", ACC, labels=["bird", "cat", "dog"])
    # integer labels compare as text: 1 and '1' are the same label
    submission.validate(pd.DataFrame({"id": [1, 2, 3], "label": [0, 1, 1]}), sample, "id", ACC, labels=[0, 1])
    with pytest.raises(UserError, match="unknown label 2"):
        submission.validate(pd.DataFrame({"id": [1, 2, 3], "label": [0, 2, 1]}), sample, "id", ACC, labels=[0, 1])


def test_validate_probabilities_in_unit_interval():
    sample = pd.DataFrame({"id": [1, 2], "target": [0.5, 0.5]})
    submission.validate(pd.DataFrame({"id": [1, 2], "target": [0.0, 1.0]}), sample, "id", AUC)
    with pytest.raises(UserError, match=r"outside \[0, 1\]"):
        submission.validate(pd.DataFrame({"id": [1, 2], "target": [0.2, 1.5]}), sample, "id", AUC)


def test_write_refuses_bad_input_and_keeps_the_good_file(sample, tmp_path):
    path = tmp_path / "submission.csv"
    submission.write(path, good(sample), sample, "Id", RMSLE)
    before = path.read_bytes()
    assert pd.read_csv(path).equals(good(sample))
    for bad in (good(sample).iloc[:2], _with(sample, SalePrice=[1.0, np.nan, 2.0]),
                _with(sample, SalePrice=[1.0, 0.0, 2.0]), _with(sample, Id=[11, 11, 12])):
        with pytest.raises(UserError):
            submission.write(path, bad, sample, "Id", RMSLE)
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.csv"]  # no temp files left


def test_write_refuses_and_creates_nothing_when_no_file_yet(sample, tmp_path):
    with pytest.raises(UserError):
        submission.write(tmp_path / "s.csv", good(sample).iloc[:1], sample, "Id", RMSLE)
    assert list(tmp_path.iterdir()) == []


def test_score_against_a_solution_in_another_order():
    sub = pd.DataFrame({"Id": [1, 2, 3], "SalePrice": [1.0, 3.0, 7.0]})
    solution = pd.DataFrame({"Id": [3, 1, 2], "SalePrice": [7.0, 1.0, 7.0], "Usage": ["Private"] * 3})
    # pairs by id: (1,1), (3,7), (7,7) -> only id 2 errs: log 4 - log 8 = -log 2 over 3 rows
    assert submission.score(sub, solution, "Id", RMSLE) == pytest.approx(math.sqrt(math.log(2) ** 2 / 3))
    # rmse: only id 2 errs by 4 -> sqrt(16 / 3)
    assert submission.score(sub, solution, "Id", RMSE) == pytest.approx(math.sqrt(16 / 3))


def test_score_accuracy_with_string_labels_and_extra_submission_rows():
    sub = pd.DataFrame({"id": ["a", "b", "c", "z"], "label": ["cat", "dog", "dog", "cat"]})
    solution = pd.DataFrame({"id": ["c", "b", "a"], "label": ["cat", "dog", "cat"]})
    assert submission.score(sub, solution, "id", ACC) == pytest.approx(2 / 3)  # a, b right; c wrong


def test_score_refusals():
    solution = pd.DataFrame({"Id": [1, 2], "SalePrice": [1.0, 2.0]})
    with pytest.raises(UserError, match="no row for solution id '2'"):
        submission.score(pd.DataFrame({"Id": [1], "SalePrice": [1.0]}), solution, "Id", RMSE)
    with pytest.raises(UserError, match="lacks column"):
        submission.score(pd.DataFrame({"Id": [1, 2], "Price": [1.0, 2.0]}), solution, "Id", RMSE)


def test_score_files(tmp_path):
    pd.DataFrame({"Id": [2, 1], "SalePrice": [2.0, 1.0]}).to_csv(tmp_path / "sub.csv", index=False)
    pd.DataFrame({"Id": [1, 2], "SalePrice": [1.0, 5.0]}).to_csv(tmp_path / "sol.csv", index=False)
    # id 2: 2 vs 5 -> rmse sqrt(9 / 2)
    assert submission.score_files(tmp_path / "sub.csv", tmp_path / "sol.csv", "Id", RMSE) == pytest.approx(
        math.sqrt(4.5))
    with pytest.raises(UserError, match="missing file"):
        submission.score_files(tmp_path / "nope.csv", tmp_path / "sol.csv", "Id", RMSE)
