"""scripts/score.py, the local private leaderboard: Kaggle's rules for the rows (ids as text, each once, none
missing, none unexpected), label submissions scored by exact match, a folder passed where a file belongs, the
checks of a detection answer.json, and the printed score of a real run of every competition equal to the
holdout score the run wrote. Every script runs in-process (shared.cli.main), so the module costs seconds."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

import competitions
from shared.cli import main


def script(name: str):
    """The module of ``scripts/<name>.py`` (its entry function is ``<name>``)."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.append(str(ROOT / "scripts"))  # for their ``import _bootstrap``
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


SCORE = script("score")


def score(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``score.py argv``."""
    capsys.readouterr()
    rc = main(SCORE, [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def error_line(rc: int, err: str) -> str:
    """The CLI contract: exit 2 and exactly one stderr line, ``error: ...``."""
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (rc, err)
    return lines[0]


def csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------- label submissions

def test_class_name_submissions_are_scored_by_exact_label_match(tmp_path, capsys):
    """CIFAR-10 and Classify Leaves submissions hold class names; 3 of 4 right is accuracy 0.75."""
    sol = csv(tmp_path / "solution.csv", "id,label\n1,horse\n2,cat\n3,ship\n4,cat\n")
    sub = csv(tmp_path / "submission.csv", "id,label\n3,ship\n1,horse\n2,dog\n4,cat\n")
    rc, out, err = score(capsys, sub, "--solution", sol, "--competition", "cifar10")
    assert rc == 0 and out.strip() == "accuracy 0.750000", err
    leaves_sol = csv(tmp_path / "leaves_solution.csv", "image,label\nimages/9.jpg,acer_ginnala\n"
                                                       "images/10.jpg,quercus_alba\n")
    leaves_sub = csv(tmp_path / "leaves.csv", "image,label\nimages/9.jpg,acer_ginnala\nimages/10.jpg,acer_ginnala\n")
    rc, out, err = score(capsys, leaves_sub, "--solution", leaves_sol, "--competition", "classify_leaves")
    assert rc == 0 and out.strip() == "accuracy 0.500000", err


def test_integer_labels_with_metric_accuracy_and_unknown_labels_count_as_wrong(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "id,label\n1,0\n2,1\n3,2\n4,2\n")
    rc, out, err = score(capsys, csv(tmp_path / "a.csv", "id,label\n1,0\n2,2\n3,2\n4,2\n"), "--solution", sol,
                         "--metric", "accuracy")
    assert rc == 0 and out.strip() == "accuracy 0.750000" and err == ""
    # a label the solution never has is scoreable (it is wrong), with one warning line that counts them
    rc, out, err = score(capsys, csv(tmp_path / "b.csv", "id,label\n1,0\n2,7\n3,2\n4,Cat\n"), "--solution", sol,
                         "--metric", "accuracy")
    assert rc == 0 and out.strip() == "accuracy 0.500000"
    assert err.strip() == (f"warning: {tmp_path / 'b.csv'}: 2 of 4 labels in column 'label' are not among the "
                           "solution's labels (first '7' at id 2); they count as wrong.")


def test_an_empty_label_is_refused(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "id,label\n1,cat\n2,dog\n")
    rc, _, err = score(capsys, csv(tmp_path / "s.csv", "id,label\n1,cat\n2,\n"), "--solution", sol,
                       "--competition", "cifar10")
    assert "column 'label' is empty at id 2" in error_line(rc, err)


# ------------------------------------------------------------------------------------------------ the rows

def test_an_extra_row_is_refused_naming_its_id(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "Id,SalePrice\n1,100\n2,200\n")
    sub = csv(tmp_path / "sub.csv", "Id,SalePrice\n1,100\n2,200\n77,300\n")
    rc, _, err = score(capsys, sub, "--solution", sol, "--competition", "house_prices")
    line = error_line(rc, err)
    assert "id '77' is not in the solution" in line and "Kaggle refuses rows it does not expect" in line
    # beside a sample submission the sample's ids are the expected ones: unscored ids (CIFAR-10's decoys) are
    # welcome, ids beyond them are not, and a missing decoy row is missing
    csv(tmp_path / "sample_submission.csv", "Id,SalePrice\n1,0\n2,0\n3,0\n")
    rc, out, err = score(capsys, csv(tmp_path / "ok.csv", "Id,SalePrice\n3,1\n1,100\n2,200\n"), "--solution", sol,
                         "--competition", "house_prices")
    assert rc == 0 and out.strip() == "rmsle 0.000000", err
    rc, _, err = score(capsys, csv(tmp_path / "x.csv", "Id,SalePrice\n3,1\n1,100\n2,200\n4,1\n"), "--solution", sol,
                       "--competition", "house_prices")
    assert f"id '4' is not in the sample submission {tmp_path / 'sample_submission.csv'}" in error_line(rc, err)
    rc, _, err = score(capsys, sub, "--solution", sol, "--metric", "rmsle", "--sample",
                       tmp_path / "sample_submission.csv")
    assert "id '77' is not in the sample submission" in error_line(rc, err)
    rc, _, err = score(capsys, csv(tmp_path / "short.csv", "Id,SalePrice\n1,100\n2,200\n"), "--solution", sol,
                       "--competition", "house_prices")
    assert "no row for id '3' of the sample submission" in error_line(rc, err)


def test_a_duplicated_row_is_refused_naming_its_id(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "id,label\n1,cat\n2,dog\n")
    sub = csv(tmp_path / "sub.csv", "id,label\n1,cat\n2,dog\n2,cat\n")
    rc, _, err = score(capsys, sub, "--solution", sol, "--competition", "cifar10")
    assert "id '2' appears 2 times (rows 1, 2)" in error_line(rc, err)
    rc, _, err = score(capsys, csv(tmp_path / "r.csv", "Id,y\n1,1.0\n1,1.0\n2,2.0\n"), "--solution",
                       csv(tmp_path / "rs.csv", "Id,y\n1,1\n2,2\n"), "--metric", "rmse")
    assert "id '1' appears 2 times" in error_line(rc, err)


def test_a_missing_row_is_refused_naming_its_id(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "Id,y\n1,1\n2,2\n")
    rc, _, err = score(capsys, csv(tmp_path / "s.csv", "Id,y\n1,1\n"), "--solution", sol, "--metric", "rmse")
    assert f"no row for id '2' of the solution {sol}" in error_line(rc, err)


def test_ids_are_text_so_leading_zeros_do_not_match_numbers(tmp_path, capsys):
    sol = csv(tmp_path / "solution.csv", "Id,SalePrice\n1001,100\n1002,200\n")
    sub = csv(tmp_path / "sub.csv", "Id,SalePrice\n001001,100\n1002,200\n")
    rc, out, err = score(capsys, sub, "--solution", sol, "--competition", "house_prices")
    line = error_line(rc, err)
    assert "id '001001' is not in the solution" in line and "there is '1001': ids are compared as text" in line
    # the same text on both sides matches, leading zeros and all
    padded = csv(tmp_path / "padded.csv", "Id,SalePrice\n001001,100\n1002,200\n")
    rc, out, err = score(capsys, sub, "--solution", padded, "--competition", "house_prices")
    assert rc == 0 and out.strip() == "rmsle 0.000000", err
    from shared import submission
    from shared.errors import UserError
    from shared.metrics import get_metric

    with pytest.raises(UserError, match="id '001001' is not in the solution"):
        submission.score_files(sub, sol, "Id", get_metric("rmse"))


# ------------------------------------------------------------------------------------ a folder for a file

def test_a_folder_passed_as_a_file_is_named_a_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    csv(run_dir / "submission.csv", "Id,SalePrice\n1,100\n")
    data = tmp_path / "data"
    data.mkdir()
    csv(data / "solution.csv", "Id,SalePrice\n1,100\n")
    rc, _, err = score(capsys, run_dir, "--solution", data / "solution.csv", "--competition", "house_prices")
    assert error_line(rc, err) == (f"error: {run_dir} is a folder; the submission is a file: pass "
                                   f"{run_dir / 'submission.csv'}, which that folder holds.")
    rc, _, err = score(capsys, run_dir / "submission.csv", "--solution", data, "--metric", "rmse")
    assert f"{data} is a folder; the solution is a file: pass {data / 'solution.csv'}" in error_line(rc, err)
    rc, _, err = score(capsys, tmp_path, "--solution", data / "solution.csv", "--metric", "rmse")
    assert f"{tmp_path} is a folder; the submission is a file (like submission.csv)" in error_line(rc, err)
    rc, _, err = score(capsys, tmp_path / "nope.csv", "--solution", data / "solution.csv", "--metric", "rmse")
    assert f"missing file {tmp_path / 'nope.csv'} (the submission)" in error_line(rc, err)


def test_a_folder_passed_as_a_detection_file_is_named_a_folder(cowboy, tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    rc, _, err = score(capsys, run_dir, "--solution", cowboy / "solution_test.json", "--competition",
                       "cowboy_outfits")
    assert f"{run_dir} is a folder; the submission is a file (like submission.zip or answer.json)" in \
        error_line(rc, err)
    (run_dir / "submission.zip").write_bytes(b"")
    rc, _, err = score(capsys, run_dir / "submission.zip", "--solution", cowboy, "--competition", "cowboy_outfits")
    assert f"{cowboy} is a folder; the solution is a file: pass {cowboy / 'solution_test.json'}" in \
        error_line(rc, err)


def test_submit_names_a_folder_passed_as_the_file(demo_dir, tmp_path, capsys):
    capsys.readouterr()
    rc = main(script("submit"), ["house_prices", str(tmp_path), "--dry-run", "--data", str(demo_dir)])
    assert f"{tmp_path} is a folder; the submission is a file" in error_line(rc, capsys.readouterr().err)


# ------------------------------------------------------------------------------------------ answer.json

@pytest.fixture(scope="module")
def cowboy(demos) -> Path:
    return demos("cowboy_outfits")


def _one(cowboy: Path, **change) -> list[dict]:
    """One true box of the test solution as a detection, with ``change`` applied."""
    ann = json.loads((cowboy / "solution_test.json").read_text())["annotations"][0]
    return [{"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": ann["bbox"], "score": 0.9,
             **change}]


MALFORMED = [
    ("an object, not a list", lambda c: _one(c)[0],
     r"answer\.json holds a JSON object \(keys \['image_id', 'category_id', 'bbox', 'score'\]\) where a list of "
     r"detections is expected: \[\{\"image_id\": 123, \"category_id\": 87, \"bbox\": \[x, y, w, h\]"),
    ("COCO ground truth, not results", lambda c: json.loads((c / "solution_test.json").read_text()),
     r"holds a JSON object \(keys \['images', 'annotations', 'categories'\]\).*looks like a COCO ground-truth file"),
    ("image id as text", lambda c: _one(c, image_id=str(_one(c)[0]["image_id"])),
     r'detection 0 has "image_id": "\d+" \(a string\); image_id must be a JSON integer, the image\'s id .*: '
     r"write \d+, without quotes"),
    ("category id as text", lambda c: _one(c, category_id="87"),
     r'detection 0 has "category_id": "87" \(a string\); category_id must be a JSON integer, one of the category '
     r"ids \[87, 131, 318, 588, 1034\]: write 87, without quotes"),
    ("image id as a float", lambda c: _one(c, image_id=float(_one(c)[0]["image_id"])),
     r'"image_id": [\d.e+]+ \(a number\); image_id must be a JSON integer.*without a decimal point'),
    ("a box of three numbers", lambda c: _one(c, bbox=[1, 2, 3]),
     r'detection 0 has "bbox": \[1, 2, 3\] \(3 value\(s\)\); expected four finite numbers \[x, y, w, h\]'),
    ("a box as text", lambda c: _one(c, bbox="1,2,3,4"),
     r'detection 0 has "bbox": "1,2,3,4" \(a string\); expected four finite numbers'),
    ("a box holding text", lambda c: _one(c, bbox=[1, "2", 3, 4]),
     r'detection 0 has bbox \[1, "2", 3, 4\] whose value 1 is a string "2"; expected four finite numbers'),
    ("a score above 1", lambda c: _one(c) + _one(c, score=1.5), r"detection 1 has score 1\.5; scores are in \[0, 1\]"),
    ("a score as text", lambda c: _one(c, score="0.9"),
     r'detection 0 has "score": "0\.9" \(a string\); expected a JSON number in \[0, 1\]'),
    ("a detection that is a list", lambda c: [[1, 87, [1, 2, 3, 4], 0.5]],
     r"detection 0 is a list \[1, 87, \[1, 2, 3, 4\], 0\.5\]; each detection is an object"),
    ("a field missing", lambda c: [{k: v for k, v in _one(c)[0].items() if k != "score"}],
     r"detection 0 has no 'score' \(it has \['bbox', 'category_id', 'image_id'\]\)"),
]


@pytest.mark.parametrize("make, message", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_answer_json_says_which_entry_which_field_and_what_is_expected(cowboy, tmp_path, capsys,
                                                                                   make, message):
    path = tmp_path / "submission.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("answer.json", json.dumps(make(cowboy)))
    rc, out, err = score(capsys, path, "--solution", cowboy / "solution_test.json", "--competition", "cowboy_outfits")
    line = error_line(rc, err)
    assert out == "" and str(path) in line
    assert re.search(message, line), line


def test_answer_json_in_a_folder_of_the_zip_is_named(cowboy, tmp_path, capsys):
    path = tmp_path / "submission.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("submission/answer.json", json.dumps(_one(cowboy)))
    rc, _, err = score(capsys, path, "--solution", cowboy / "solution_test.json", "--competition", "cowboy_outfits")
    assert "holds 'submission/answer.json', not answer.json at the top of the zip" in error_line(rc, err)


# ------------------------------------------------------------------------------- a real run of every competition

FAST_IMAGES = {"epochs": 1, "tta": "none", "workers": 0}
RUNS = {  # competition: (demo size, recipe, settings): the cheapest runs that write a real submission
    "house_prices": ("small", "linear", {}),
    "california_house_prices": ("tiny", "linear", {}),
    "cifar10": ("tiny", "fast", {**FAST_IMAGES, "model": "airbench_small"}),
    "classify_leaves": ("tiny", "timm", {**FAST_IMAGES, "model": "airbench_small", "pretrained": False,
                                         "img_size": 32, "mixup": 0, "cutmix": 0}),
    "cowboy_outfits": ("tiny", "mobile", {"epochs": 1, "tta": "none", "max_side": 96, "proposals": 100,
                                          "roi_batch": 32, "pretrained": False}),
}


@pytest.fixture(scope="module", params=list(RUNS))
def real_run(request, demos, tmp_path_factory) -> tuple[str, Path, Path]:
    """(competition, its demo folder, a finished 2-fold run on it), each made once."""
    from shared import runner

    name = request.param
    size, recipe, settings = RUNS[name]
    spec = competitions.get(name)
    root = tmp_path_factory.mktemp(name)
    data = demos(name, size)
    run_dir = runner.run(spec, recipe, data, n_folds=2, out_root=root / "runs", overrides=settings)
    return name, data, Path(run_dir)


def test_score_py_prints_the_holdout_score_of_a_real_run(real_run, capsys):
    name, data, run_dir = real_run
    spec = competitions.get(name)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    file = run_dir / ("submission.zip" if spec.metric.name == "map" else "submission.csv")
    rc, out, err = score(capsys, file, "--solution", data / spec.solution_file, "--competition", name)
    assert rc == 0 and err == "", err
    printed = out.split()
    assert printed[0] == metrics["metric"] == spec.metric.name
    assert printed[1] == f"{metrics['holdout']:.6f}"
    if name == "cowboy_outfits":  # the file scores exactly what the run reported (answer.json is not rounded)
        from shared.detection import submission as boxes
        from shared.detection.coco import evaluate, read_coco

        held = metrics["holdout_metrics"]
        assert out.split("; ")[1:3] == [f"AP50 {held['AP50']:.6f}", f"AP75 {held['AP75']:.6f}"]
        result = evaluate(read_coco(data / spec.solution_file), boxes.read(file))
        assert (result["mAP"], result["AP50"]) == (metrics["holdout"], held["AP50"])
