"""Detection data: the COCO-layout demo, exact 64-bit ids end to end, pycocotools scoring that equals a
direct pycocotools run, the answer.json submission and its checks, and the bad-input handling."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from shared.detection import submission
from shared.detection.coco import Coco, evaluate, read_coco, read_image_list
from shared.errors import UserError

INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def cowboy(demos) -> Path:
    return demos("cowboy_outfits")


def test_demo_has_the_exact_layout_with_ids_beyond_int64(cowboy):
    raw = json.loads((cowboy / "train.json").read_text())
    assert {c["id"]: c["name"] for c in raw["categories"]} == {87: "belt", 1034: "sunglasses", 131: "boot",
                                                               318: "cowboy_hat", 588: "jacket"}
    ids = [im["id"] for im in raw["images"]]
    assert any(i > INT64_MAX for i in ids) and all(0 <= i < 2**64 for i in ids)
    assert all(len(im["file_name"]) == 20 and im["file_name"].endswith(".jpg") and
               int(im["file_name"][:16], 16) >= 0 for im in raw["images"])
    for ann in raw["annotations"]:
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0
    for name in ("valid", "test"):
        frame = pd.read_csv(cowboy / f"{name}.csv", dtype=str)
        assert list(frame.columns) == ["id", "file_name"]
        listed = read_image_list(cowboy / f"{name}.csv", cowboy / "images")
        solution = json.loads((cowboy / f"solution_{name}.json").read_text())
        assert listed["id"].tolist() == [im["id"] for im in solution["images"]]  # exact, beyond int64 too


def _noisy_detections(truth: Coco, seed: int) -> list[dict]:
    """Ground truth jittered, some missed, some false alarms, random scores: a realistic detector's output."""
    rng = np.random.default_rng(seed)
    out = []
    for r in truth.annotations.itertuples():
        if rng.random() < 0.2:
            continue
        x, y, w, h = r.bbox
        out.append({"image_id": r.image_id, "category_id": r.category_id,
                    "bbox": [x + rng.normal(0, 0.08 * w), y + rng.normal(0, 0.08 * h), w * rng.uniform(0.85, 1.15),
                             h * rng.uniform(0.85, 1.15)], "score": float(rng.uniform(0.3, 1.0))})
    for image_id in truth.images["id"]:
        out.append({"image_id": image_id, "category_id": int(rng.choice(list(truth.categories))),
                    "bbox": [10.0, 10.0, 30.0, 20.0], "score": float(rng.uniform(0, 0.6))})
    return out


def _pycocotools_direct(gt: dict, dets: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def test_our_map_equals_pycocotools_including_ids_beyond_int64(cowboy):
    truth = read_coco(cowboy / "solution_valid.json")
    assert any(i > INT64_MAX for i in truth.images["id"])
    dets = _noisy_detections(truth, 0)
    ours = evaluate(truth, dets)
    # The same data with small ids, scored by pycocotools directly.
    small = {i: k + 1 for k, i in enumerate(truth.images["id"])}
    gt = truth.to_json()
    for im in gt["images"]:
        im["id"] = small[im["id"]]
    for ann in gt["annotations"]:
        ann["image_id"] = small[ann["image_id"]]
    direct = _pycocotools_direct(gt, [{**d, "image_id": small[d["image_id"]]} for d in dets])
    assert ours["mAP"] == pytest.approx(direct[0], abs=1e-12) and ours["AP50"] == pytest.approx(direct[1], abs=1e-12)
    assert ours["AP75"] == pytest.approx(direct[2], abs=1e-12)
    assert 0.2 < ours["mAP"] < 0.95  # noisy, not perfect, not empty
    present = {truth.categories[c] for c in truth.annotations["category_id"]}
    assert {k for k, v in ours["per_class_AP"].items() if v is not None} == present
    # Perfect detections score 1; none score 0.
    perfect = [{"image_id": r.image_id, "category_id": r.category_id, "bbox": r.bbox, "score": 1.0}
               for r in truth.annotations.itertuples()]
    assert evaluate(truth, perfect)["mAP"] == pytest.approx(1.0)
    assert evaluate(truth, [])["mAP"] == 0.0


def _write_coco(path: Path, raw: dict) -> Path:
    path.write_text(json.dumps(raw))
    return path


def test_degenerate_boxes_are_dropped_and_outside_boxes_clipped_with_one_warning(cowboy, tmp_path):
    raw = json.loads((cowboy / "train.json").read_text())
    image = raw["images"][0]
    raw["annotations"] += [
        {"id": 90001, "image_id": image["id"], "category_id": 87, "bbox": [5, 5, 0, 10]},
        {"id": 90002, "image_id": image["id"], "category_id": 87, "bbox": [5, 5, 10, -3]},
        {"id": 90003, "image_id": image["id"], "category_id": 87, "bbox": [image["width"] - 10, 5, 50, 10]},
    ]
    with pytest.warns(UserWarning, match=r"2 annotation\(s\) with zero or negative width or height dropped, "
                                         r"1 box\(es\) reaching outside their image clipped"):
        coco = read_coco(_write_coco(tmp_path / "train.json", raw))
    assert len(coco.annotations) == len(raw["annotations"]) - 2
    x, y, w, h = coco.annotations["bbox"].iloc[-1]
    assert (x, w) == (image["width"] - 10, 10)


@pytest.mark.parametrize("edit,message", [
    (lambda raw: raw["annotations"].append({"id": 7, "image_id": raw["images"][0]["id"], "category_id": 999,
                                            "bbox": [1, 1, 5, 5]}), r"annotation 7 has category id 999"),
    (lambda raw: raw["annotations"].append({"id": 8, "image_id": 12345, "category_id": 87, "bbox": [1, 1, 5, 5]}),
     r"annotation 8 is of image 12345, which 'images' does not list"),
    (lambda raw: raw["images"].append(dict(raw["images"][0])), r"image id \d+ is listed more than once"),
    (lambda raw: raw.pop("annotations"), r"has no 'annotations' list"),
])
def test_bad_coco_files_are_one_clear_error(cowboy, tmp_path, edit, message):
    raw = json.loads((cowboy / "train.json").read_text())
    edit(raw)
    with pytest.raises(UserError, match=message):
        read_coco(_write_coco(tmp_path / "train.json", raw))


def test_an_image_list_naming_a_missing_file_is_an_error(cowboy, tmp_path):
    frame = pd.read_csv(cowboy / "valid.csv", dtype=str)
    frame.loc[len(frame)] = ["18065680256228130812", "ffffffffffffffff.jpg"]
    frame.to_csv(tmp_path / "valid.csv", index=False)
    with pytest.raises(UserError, match=r"valid.csv lists id 18065680256228130812 but its image .*ffffffffffffffff.jpg "
                                        r"does not exist"):
        read_image_list(tmp_path / "valid.csv", cowboy / "images")


def test_submission_keeps_ids_beyond_int64_exactly_and_refuses_bad_detections(cowboy, tmp_path):
    truth = read_coco(cowboy / "solution_test.json")
    images = read_image_list(cowboy / "test.csv", cowboy / "images")
    sizes = {r.id: (r.width, r.height) for r in truth.images.itertuples()}
    dets = [{"image_id": r.image_id, "category_id": r.category_id, "bbox": list(r.bbox), "score": 0.9}
            for r in truth.annotations.itertuples()]
    path = submission.write(tmp_path / "submission.zip", dets, images, truth.categories, sizes)
    with zipfile.ZipFile(path) as z:
        assert z.namelist() == ["answer.json"]
        text = z.read("answer.json").decode()
    big = next(i for i in truth.images["id"] if i > INT64_MAX)
    assert str(big) in text  # written as the exact integer, not a float or a wrapped int64
    back = submission.read(path)
    assert {d["image_id"] for d in back} <= set(images["id"]) and evaluate(truth, back)["mAP"] == pytest.approx(1.0)

    def bad(**change):
        return [copy.deepcopy(dets[0]) | change]
    for detections, message in [
        (bad(score=1.5), r"score 1.5; scores are in \[0, 1\]"),
        (bad(category_id=5), r"category id 5, not one of"),
        (bad(image_id=3), r"image id 3, which the image list lacks"),
        (bad(bbox=[1, 1, -4, 5]), r"width -4 and height 5; both must be positive"),
        (bad(bbox=[1, 1, float("nan"), 5]), r"expected four finite numbers"),
        (bad(bbox=[0, 0, 5000, 5]), r"reaches outside its"),
    ]:
        with pytest.raises(UserError, match=message):
            submission.write(tmp_path / "bad.zip", detections, images, truth.categories, sizes)
    assert not (tmp_path / "bad.zip").exists()


# ------------------------------------------------------------------------------------ model pieces
def test_repeat_factor_sampling_repeats_images_of_rare_classes():
    from shared.detection.model import epoch_indices, repeat_factors

    labels = [[1]] * 90 + [[1, 2]] * 10  # class 2 is on 10% of the images
    factors = repeat_factors(labels, threshold=0.4)
    assert factors[0] == 1.0 and factors[-1] == pytest.approx(2.0)  # sqrt(0.4 / 0.1)
    assert (repeat_factors(labels, 0.0) == 1).all()
    order = epoch_indices(repeat_factors([[1]] * 8 + [[2]] * 2, 0.8), seed=0, epoch=0)
    counts = np.bincount(order, minlength=10)
    assert (counts[:8] == 1).all() and (counts[8:] == 2).all()  # sqrt(0.8 / 0.2) = 2 exactly
    np.testing.assert_array_equal(order, epoch_indices(repeat_factors([[1]] * 8 + [[2]] * 2, 0.8), 0, 0))


def test_box_augmentation_mirrors_boxes_and_drops_the_ones_cut_away(tmp_path):
    import albumentations as A

    from shared.detection.model import DetectionDataset, train_transform

    path = tmp_path / "box.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    flip = A.Compose([A.HorizontalFlip(p=1.0)], bbox_params=A.BboxParams(format="coco", label_fields=["labels"]))
    ds = DetectionDataset([path], [(np.array([[5.0, 10.0, 20.0, 8.0]]), np.array([3]))], flip)
    _, target = ds[0]
    torch.testing.assert_close(target["boxes"], torch.tensor([[35.0, 10.0, 55.0, 18.0]]))  # x' = 60 - 5 - 20
    crop = A.Compose([A.Crop(0, 0, 30, 40)], bbox_params=A.BboxParams(format="coco", label_fields=["labels"],
                                                                      min_visibility=0.3, clip=True))
    boxes = np.array([[2.0, 2.0, 10.0, 10.0], [25.0, 2.0, 30.0, 10.0], [40.0, 2.0, 10.0, 10.0]])
    ds = DetectionDataset([path], [(boxes, np.array([1, 2, 3]))], crop)
    _, target = ds[0]
    assert target["labels"].tolist() == [1]  # 1/6 of the second box is left (< 0.3), the third is gone
    assert train_transform("flip_scale", 0.3) is not None
    with pytest.raises(UserError, match="augment='spin'"):
        train_transform("spin", 0.3)


class _BrightBox(torch.nn.Module):
    """A stand-in detector that is exactly mirror-equivariant: one box around the bright pixels."""

    def forward(self, images):
        out = []
        for im in images:
            ys, xs = torch.nonzero(im.sum(0) > 1.5, as_tuple=True)
            box = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()[None]
            out.append({"boxes": box, "scores": torch.tensor([0.9]), "labels": torch.tensor([2])})
        return out


def test_flip_tta_unmirrors_boxes_and_merges_them_with_wbf(tmp_path):
    from shared.detection.model import DETECTION_PARAMS, DetectionModel
    from shared.runner import ModelContext

    image = np.zeros((30, 50, 3), np.uint8)
    image[5:15, 8:20] = 255  # off-centre: a wrongly un-mirrored box would land elsewhere
    Image.fromarray(image).save(tmp_path / "a.png")
    model = DetectionModel({**DETECTION_PARAMS, "tta": "hflip"},
                           ModelContext("detection", "map", 3, 0, None, tmp_path, 1))
    model.device_, model.net_ = torch.device("cpu"), _BrightBox()
    out = model.detect(pd.DataFrame({"image_path": [str(tmp_path / "a.png")]}))
    np.testing.assert_allclose(out["no_tta"][0], [[8, 5, 12, 10, 0.9, 2]], atol=1e-5)
    np.testing.assert_allclose(out[""][0], [[8, 5, 12, 10, 0.9, 2]], atol=1e-3)  # both views agree exactly


def test_detector_trains_checkpoints_and_predicts_rows(cowboy, tmp_path):
    from shared.detection.model import DETECTION_PARAMS, DetectionModel
    from shared.runner import ModelContext

    coco = read_coco(cowboy / "train.json").subset(read_coco(cowboy / "train.json").images["id"][:6])
    labels = coco.labels
    X = pd.DataFrame({"image_path": [str(cowboy / "images" / f) for f in coco.images["file_name"]]})
    y = []
    for image_id in coco.images["id"]:
        rows = coco.annotations[coco.annotations["image_id"].map(lambda v, i=image_id: v == i)]
        y.append((np.array(rows["bbox"].tolist()).reshape(-1, 4), np.array([labels[c] for c in rows["category_id"]])))
    ctx = ModelContext("detection", "map", 5, 0, None, tmp_path / "fold0", 1)
    model = DetectionModel({**DETECTION_PARAMS, "epochs": 1, "batch_size": 3, "max_side": 96, "proposals": 100,
                            "roi_batch": 32, "score_threshold": 0.0}, ctx).fit(X, y)
    assert len(model.history_) == 1 and np.isfinite(model.history_[0]["train_loss"])
    assert (tmp_path / "fold0" / "last.pt").is_file() and (tmp_path / "fold0" / "history.csv").is_file()
    from shared.detection.boxes import unpad

    out = unpad(model.predict(X.iloc[:2]))
    assert len(out) == 2 and all(o.ndim == 2 and o.shape[1] == 6 for o in out)
    for rows in out:
        assert ((rows[:, 4] >= 0) & (rows[:, 4] <= 1)).all() and set(rows[:, 5]) <= {1, 2, 3, 4, 5}


@pytest.mark.integration  # a detection run end to end
def test_run_writes_answer_json_with_exact_ids_and_scores_it_like_score_py(cowboy, tmp_path):
    from conftest import last_line, run_cli

    rc, out, err = run_cli("run", "cowboy_outfits", "--data", cowboy, "--folds", "2", "--set", "epochs=1",
                           "--set", "max_side=96", "--set", "proposals=100", "--set", "roi_batch=32",
                           "--set", "pretrained=false", "--set", "predict=valid", "--out", tmp_path)
    assert rc == 0, err[-3000:]
    run_dir = Path(last_line(out))
    valid = read_image_list(cowboy / "valid.csv", cowboy / "images")
    answer = submission.read(run_dir / "submission.zip")
    assert answer and {d["image_id"] for d in answer} <= set(valid["id"])
    assert {d["category_id"] for d in answer} <= {87, 1034, 131, 318, 588}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["metric"] == "map" and metrics["predict"] == "valid" and set(metrics["folds"]) == {"0", "1"}
    assert set(metrics["oof"]) >= {"mAP", "AP50", "AP75", "per_class_AP"} and "no_tta" in metrics["variants"]
    timing = metrics["timing"]  # speeds from the folds' histories and prediction passes
    assert timing["train_img_s"] > 0 and timing["predict_img_s"] > 0 and timing["coco_eval_s"] > 0
    assert timing["coco_eval_images"] == sum(1 for _ in open(run_dir / "folds.csv")) - 1
    assert json.loads((run_dir / "fold0" / "predict.json").read_text())["views"] == 2
    truth = read_coco(cowboy / "solution_valid.json")
    assert metrics["holdout"] == pytest.approx(evaluate(truth, answer)["mAP"], abs=1e-12)  # answer.json: full precision
    oof = json.loads((run_dir / "oof_detections.json").read_text())
    train_ids = set(read_coco(cowboy / "train.json").images["id"])
    assert oof and {d["image_id"] for d in oof} <= train_ids and {d["fold"] for d in oof} <= {0, 1}
    folds = pd.read_csv(run_dir / "folds.csv", dtype=str)
    assert {int(i) for i in folds["id"]} == train_ids  # ids beyond int64 written exactly
    assert (run_dir / "boxes.png").stat().st_size > 5000 and (run_dir / "fold0" / "curves.png").is_file()
    rc, out, err = run_cli("score", run_dir / "submission.zip", "--solution", cowboy / "solution_valid.json",
                           "--competition", "cowboy_outfits")
    assert rc == 0, err
    assert float(out.split()[1]) == pytest.approx(evaluate(truth, answer)["mAP"], abs=1e-6)


def _fake_detection_run(cowboy, out_root: Path, name: str, noise: float, seed: int) -> Path:
    """A detection run directory from synthetic detections: the true boxes moved by ``noise`` (in box sizes)."""
    import competitions
    from shared.cv import assign_folds
    from shared.detection.boxes import pad
    from shared.results import FoldResults
    from shared.runs import new_run_dir, save_config

    spec = competitions.get("cowboy_outfits")
    data = spec.load(cowboy, predict="valid")
    rng = np.random.default_rng(seed)

    def detections(boxes_labels):
        out = []
        for boxes, labels in boxes_labels:
            rows = []
            for (x, y, w, h), label in zip(boxes, labels):
                rows.append([x + rng.normal(0, noise * w), y + rng.normal(0, noise * h), w, h, rng.uniform(0.5, 1), label])
            rows.append([1.0, 1.0, 20.0, 20.0, rng.uniform(0, 0.5), rng.integers(1, 6)])  # a false alarm
            out.append(np.array(rows))
        return pad(out, spec.max_detections)

    truth = read_coco(cowboy / "solution_valid.json")
    labels = truth.labels
    valid_truth = []
    for image_id in data.test["id"]:
        rows = truth.annotations[truth.annotations["image_id"].map(lambda v, i=image_id: v == i)]
        valid_truth.append((np.array(rows["bbox"].tolist()).reshape(-1, 4), [labels[c] for c in rows["category_id"]]))
    fold_of = assign_folds(len(data.train), 2, 42, "kfold")
    run_dir = new_run_dir(out_root, "cowboy_outfits", name)
    save_config(run_dir, {"competition": "cowboy_outfits", "id_col": "id", "task": "detection", "metric": "map",
                          "seed": 42, "n_folds": 2, "fold_kind": "kfold", "data_dir": str(cowboy), "predict": "valid",
                          "recipe": name})
    pd.DataFrame({"id": data.train["id"], "fold": fold_of}).to_csv(run_dir / "folds.csv", index=False)
    oof = detections(list(data.train["annotations"]))
    test = np.stack([detections(valid_truth), detections(valid_truth)])
    scores = [spec.outputs.score(data, None, np.flatnonzero(fold_of == k), oof[fold_of == k]) for k in (0, 1)]
    spec.outputs.write_results(run_dir, data, FoldResults(fold_of, oof, [0, 1], scores, test, 0.0,
                                                          {"recipe": name, "complete": True},
                                                          config={"predict": "valid"}))
    return run_dir


def test_detection_runs_blend_by_weighted_boxes_fusion_with_nested_weights(cowboy, tmp_path):
    from conftest import last_line, run_cli

    good = _fake_detection_run(cowboy, tmp_path, "good", 0.03, 1)
    bad = _fake_detection_run(cowboy, tmp_path, "bad", 0.6, 2)
    rc, out, err = run_cli("ensemble", good, bad, "--out", tmp_path)
    assert rc == 0, err[-3000:]
    blend_dir = Path(last_line(out))
    metrics = json.loads((blend_dir / "metrics.json").read_text())
    good_m = json.loads((good / "metrics.json").read_text())
    bad_m = json.loads((bad / "metrics.json").read_text())
    assert good_m["cv"] > bad_m["cv"] + 0.2  # the synthetic runs differ as meant
    w_good, w_bad = metrics["weights"]
    assert w_good > w_bad and abs(w_good + w_bad - 1) < 1e-9  # the tuned weights favour the better run
    assert metrics["cv"] > bad_m["cv"] and metrics["holdout"] > bad_m["holdout"]
    assert set(metrics["weights_by_fold"]) == {"0", "1"} and (blend_dir / "submission.zip").is_file()
    assert "ensemble" in (blend_dir / "members.md").read_text()
    # Refusals: runs on different folds, and a mix of detection and table runs.
    folds = pd.read_csv(bad / "folds.csv", dtype=str)
    folds["fold"] = folds["fold"].map({"0": "1", "1": "0"})
    folds.to_csv(bad / "folds.csv", index=False)
    rc, out, err = run_cli("ensemble", good, bad, "--out", tmp_path)
    assert "folds.csv differs" in err and rc == 2


def test_weighted_box_fusion_keeps_scores_in_range_with_unequal_weights():
    from shared.detection.boxes import wbf_merge

    a = np.array([[10, 10, 20, 20, 0.9, 1], [11, 10, 20, 20, 0.8, 1]], float)  # two overlapping boxes of one run
    fused = wbf_merge([a, np.zeros((0, 6))], 100, 100, 0.55, 100, [0.9, 0.1])
    assert len(fused) == 1 and 0 < fused[0, 4] <= 1
    both = wbf_merge([a[:1], a[:1]], 100, 100, 0.55, 100, [0.5, 0.5])
    np.testing.assert_allclose(both, a[:1], atol=1e-4)  # two views agreeing: the same box and score


@pytest.mark.integration  # three trainings
def test_merged_partial_detection_runs_equal_a_full_run(cowboy, tmp_path):
    from conftest import assert_user_error, last_line, run_script

    fast = ["--folds", "2", "--set", "epochs=1", "--set", "max_side=96", "--set", "proposals=100", "--set",
            "roi_batch=32", "--set", "pretrained=false", "--set", "tta=none", "--data", cowboy, "--out", tmp_path,
            "--threads", "1"]  # torch on CPU sums in a thread-count-dependent order; one thread is one order
    dirs = []
    for only in (None, "0", "1"):
        rc, out, err = run_script("run", "cowboy_outfits", *fast, *(["--only-folds", only] if only else []), timeout=900)
        assert rc == 0, err[-3000:]
        dirs.append(Path(last_line(out)))
    full, part0, part1 = dirs
    rc, out, err = run_script("merge", part0, part1, "--out", tmp_path)
    assert rc == 0, err[-3000:]
    merged = Path(last_line(out))
    for name in ("oof_table.npy", "test_table.npy", "test_folds.npy"):
        np.testing.assert_array_equal(np.load(merged / name), np.load(full / name), err_msg=name)
    m, f = (json.loads((d / "metrics.json").read_text()) for d in (merged, full))
    assert m["complete"] and m["cv"] == f["cv"] and m["holdout"] == f["holdout"] and m["folds"] == f["folds"]
    assert (merged / "submission.zip").is_file() and (merged / "fold1" / "history.csv").is_file()
    rc, _, err = run_script("merge", part0, part0, "--out", tmp_path)
    assert "fold 0 is in both" in assert_user_error(rc, err)
    rc, _, err = run_script("merge", part0, "--out", tmp_path)
    assert "fold(s) [1] are in none" in assert_user_error(rc, err)


@pytest.mark.parametrize("edit", ["pickle", "short", "other width"])
def test_a_detection_members_arrays_are_read_back_checked(cowboy, tmp_path, edit):
    """A blend's member whose oof_table.npy / test_folds.npy is not what its run wrote is one line naming the file;
    nothing in it runs, nothing is made."""
    from conftest import assert_user_error, run_cli

    good = _fake_detection_run(cowboy, tmp_path, "good", 0.03, 1)
    other = _fake_detection_run(cowboy, tmp_path, "other", 0.1, 2)
    oof = np.load(other / "oof_table.npy")
    if edit == "pickle":
        np.save(other / "oof_table.npy", oof.astype(object), allow_pickle=True)
        file = other / "oof_table.npy"
    elif edit == "short":
        np.save(other / "oof_table.npy", oof[:-1])
        file = other / "oof_table.npy"
    else:
        test = np.load(other / "test_folds.npy")
        np.save(other / "test_folds.npy", test[..., :-1])
        file = other / "test_folds.npy"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    rc, _, err = run_cli("ensemble", good, other, "--out", tmp_path)
    line = assert_user_error(rc, err)
    assert str(file) in line and "restore it or rerun" in line
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
