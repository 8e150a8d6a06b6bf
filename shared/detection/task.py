"""Detection competitions through the shared runner.

The runner keeps every prediction as a numeric table, one row per image; a detection table row holds the
image's detections padded to a fixed count: ``max_detections`` blocks of ``[x, y, w, h, score, label]`` (NaN
where there are fewer). So the fold loop, saved fold predictions, resume, TTA variants and partial runs work
unchanged; this module supplies what differs: reading the COCO layout, scoring folds by COCO mAP, averaging the
folds' test detections by Weighted Boxes Fusion, and writing the outputs (OOF detections, ``submission.zip``
holding ``answer.json``, metrics with AP50/AP75/per-class AP, a PNG of predicted vs true boxes)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shared.detection.boxes import MAX_DETECTIONS, ROW, pad, to_results, unpad, wbf_merge
from shared.detection.coco import Coco, evaluate, read_coco, read_image_list
from shared.errors import UserError
from shared.io import inside
from shared.metrics import Metric, register
from shared.results import FoldResults
from shared.spec import CompetitionSpec, Dataset


def _boxes_only(y_true, y_pred) -> float:
    raise UserError("mAP is scored from boxes against a COCO json: use scripts/score.py SUBMISSION.zip "
                    "--solution SOLUTION.json --competition NAME.")


MAP = register(Metric("map", _boxes_only, True, "detection", takes="boxes"))  # COCO mAP@[.5:.95]: coco.evaluate

PREDICT_SPLITS = ("test", "valid")


@dataclass
class DetectionSpec(CompetitionSpec):
    """A COCO-layout competition: ``train_file`` is the COCO json, the images to predict are listed in
    ``<predict>.csv`` (``id,file_name``; ``--set predict=test|valid``), the answers for local scoring are in
    ``solution_<predict>.json``. ``categories`` is the fixed id -> name set."""

    categories: dict[int, str] = field(default_factory=dict)
    image_dir: str = "images"
    max_detections: int = MAX_DETECTIONS

    def layout(self) -> list[str]:
        return [self.train_file, *(f"{split}.csv" for split in PREDICT_SPLITS), self.image_dir.rstrip("/") + "/"]

    def load(self, data_dir: Path, clean: bool = True, predict: str = "test") -> Dataset:
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise UserError(f"data folder {data_dir} does not exist: run `python scripts/make_demo.py {self.name}` "
                            "(demo) or put the competition's files there, or pass --data DIR.")
        if predict not in PREDICT_SPLITS:
            raise UserError(f"--set predict={predict!r}: choose test or valid.")
        coco = read_coco(data_dir / self.train_file, self.categories)
        images = data_dir / self.image_dir
        train = coco.images.copy()
        for image_id, name in zip(train["id"], train["file_name"]):
            if not inside(images, name, str(data_dir / self.train_file)).is_file():
                raise UserError(f"{data_dir / self.train_file} lists image {image_id} as {images / name}, which does "
                                "not exist; restore the image or remove it from the json.")
        by_image: dict[int, list] = {}
        for r in coco.annotations.itertuples():
            by_image.setdefault(r.image_id, []).append((r.bbox, coco.labels[r.category_id]))
        train["annotations"] = [
            (np.array([b for b, _ in by_image.get(i, [])], float).reshape(-1, 4),
             np.array([lab for _, lab in by_image.get(i, [])], np.int64)) for i in train["id"]]
        train["image_path"] = [str(images / name) for name in train["file_name"]]
        unsized = (train["width"] <= 0) | (train["height"] <= 0)  # a json without sizes: read them from the files
        if unsized.any():
            sizes = [_size(p) for p in train.loc[unsized, "image_path"]]
            train.loc[unsized, "width"] = [w for w, _ in sizes]
            train.loc[unsized, "height"] = [h for _, h in sizes]
        test = read_image_list(data_dir / f"{predict}.csv", images)
        both = sorted(set(test["id"]) & set(train["id"]))
        if both:
            raise UserError(f"image {both[0]} is in both {self.train_file} and {predict}.csv; use the files of one "
                            "download.")
        test["image_path"] = [str(images / name) for name in test["file_name"]]
        sizes = [_size(p) for p in test["image_path"]]
        test["width"], test["height"] = [w for w, _ in sizes], [h for _, h in sizes]
        return Dataset(train.reset_index(drop=True), test.reset_index(drop=True), None, data_dir,
                       extra={"coco": coco, "predict": predict})

    def load_run_data(self, data_dir: Path, config: dict) -> Dataset:
        return self.load(Path(data_dir), clean=config.get("clean_train", True), predict=config.get("predict", "test"))

    @property
    def outputs(self) -> DetectionOutputs:
        return DetectionOutputs(self)

    @property
    def wants_gpu(self) -> bool:
        return True if self.accelerator is None else self.accelerator


def _timing(run_dir: Path, folds: list[int], eval_s: float, n_images: int) -> dict:
    """Training speed (images per second over each fold's epochs), inference speed and the time pycocotools
    took to score the OOF detections, from the folds' ``history.csv`` / ``predict.json``."""
    train, predict = [], []
    for k in folds:
        history, speed = Path(run_dir) / f"fold{k}" / "history.csv", Path(run_dir) / f"fold{k}" / "predict.json"
        if history.is_file():
            train.append(float(pd.read_csv(history)["train_img_s"].mean()))
        if speed.is_file():
            predict.append(json.loads(speed.read_text())["img_s"])
    return {"train_img_s": float(np.mean(train)) if train else None,
            "predict_img_s": float(np.mean(predict)) if predict else None,
            "coco_eval_s": eval_s, "coco_eval_images": n_images}


def _size(path: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise UserError(f"image {path} is unreadable ({exc}); replace or remove it.") from None


class DetectionOutputs:
    """The ``Outputs`` (``shared.spec.Outputs``) of a competition whose predictions are boxes."""

    kind = "detection"
    submission_files = ("submission.zip", "answer.json")

    def __init__(self, spec: DetectionSpec):
        self.spec = spec

    def encode(self, data: Dataset, positive_class=None) -> tuple[np.ndarray, list]:
        if positive_class is not None:
            raise UserError("--set positive_class is for a binary target; detection has none: drop the setting.")
        targets = np.empty(len(data.train), dtype=object)
        targets[:] = list(data.train["annotations"])
        return targets, list(self.spec.categories)

    def check(self, data: Dataset, y: np.ndarray, classes: list, n_folds: int) -> None:
        """``load`` checked the json, the image lists and the images already."""

    def width(self, classes: list | None) -> int:
        return self.spec.max_detections * ROW

    def floor(self, y: np.ndarray) -> None:
        return None

    def _truth(self, data: Dataset, rows) -> Coco:
        return data.extra["coco"].subset(data.train["id"].iloc[rows])

    def _categories(self, data: Dataset) -> dict[int, int]:
        return {label: cid for cid, label in data.extra["coco"].labels.items()}

    def evaluate_rows(self, data: Dataset, rows: np.ndarray, table: np.ndarray) -> dict:
        ids = data.train["id"].iloc[rows].tolist()
        return evaluate(self._truth(data, rows), to_results(unpad(table), ids, self._categories(data)))

    def score(self, data: Dataset, y, rows: np.ndarray, table: np.ndarray) -> float:
        return self.evaluate_rows(data, rows, table)["mAP"]

    def average(self, data: Dataset, test_folds: np.ndarray, iou: float = 0.55) -> np.ndarray:
        """The folds' detections of each test image fused by Weighted Boxes Fusion."""
        if len(test_folds) == 1:
            return test_folds[0]
        per_fold = [unpad(t) for t in test_folds]
        merged = [wbf_merge([fold[i] for fold in per_fold], int(w), int(h), iou, self.spec.max_detections)
                  for i, (w, h) in enumerate(zip(data.test["width"], data.test["height"]))]
        return pad(merged, self.spec.max_detections)

    def holdout(self, data: Dataset, table: np.ndarray) -> dict | None:
        solution = data.data_dir / f"solution_{data.extra['predict']}.json"
        if not solution.is_file():
            return None
        truth = read_coco(solution, self.spec.categories)
        return evaluate(truth, to_results(unpad(table), data.test["id"].tolist(), self._categories(data)))

    def holdout_score(self, data: Dataset, test_folds: np.ndarray, classes=None, config=None) -> float | None:
        """The local-holdout mAP of the folds' test detections, fused; None without a solution file."""
        result = self.holdout(data, self.average(data, test_folds))
        return None if result is None else result["mAP"]

    def ensemble(self, run_dirs: list[Path], method: str, out_root: Path, data_dir: Path | None = None,
                 label: str | None = None) -> Path:
        from shared.detection import blend

        return blend.ensemble(self.spec, run_dirs, out_root, method, data_dir, label=label)

    def merge(self, run_dirs: list[Path], out_root: Path, data_dir: Path | None = None,
              label: str | None = None) -> Path:
        from shared.detection import blend

        return blend.merge(self.spec, run_dirs, out_root, data_dir, label)

    def score_file(self, file: Path, solution: Path, sample: Path | None = None, id_col: str | None = None) -> str:
        """A zip holding answer.json (or the json itself) against a COCO json of the answers."""
        from shared.detection import submission as boxes
        from shared.submission import require_file

        require_file(solution, "the solution", ("solution_test.json", "solution_valid.json"),
                     "the demos write solution_test.json and solution_valid.json in the data folder")
        truth = read_coco(solution, self.spec.categories)
        detections = boxes.read(file)
        boxes.check(detections, truth.images, truth.categories,
                    {i: (w, h) for i, w, h in zip(truth.images["id"], truth.images["width"], truth.images["height"])},
                    where=str(file))
        result = evaluate(truth, detections)
        per_class = ", ".join(f"{k} {'-' if v is None else f'{v:.4f}'}" for k, v in result["per_class_AP"].items())
        return (f"map {result['mAP']:.6f} (mAP@[.5:.95]); AP50 {result['AP50']:.6f}; AP75 {result['AP75']:.6f}; "
                f"per class: {per_class}")

    def check_submission(self, file: Path, data: Dataset) -> None:
        from shared.detection import submission as boxes

        boxes.check(boxes.read(file), data.test, self.spec.categories,
                    {i: (w, h) for i, w, h in zip(data.test["id"], data.test["width"], data.test["height"])},
                    where=str(file))

    def input_files(self, data: Dataset) -> list[str]:
        """The COCO json and the one image list the run predicts (test.csv or valid.csv)."""
        return [self.spec.train_file, f"{data.extra['predict']}.csv"]

    def fingerprinted_target(self, data: Dataset) -> None:
        return None  # the boxes are in the COCO json, among the input files

    def look(self, data: Dataset, png: Path, n: int = 6) -> pd.DataFrame:
        """The first ``n`` training images with their boxes; the images and boxes counted, by class."""
        from shared import plots
        from shared.look import facts

        shown = data.train.head(n)
        names = {label: self.spec.categories[cid] for cid, label in data.extra["coco"].labels.items()}
        plots.boxes_plot(png, shown["image_path"].tolist(), list(shown["annotations"]), None, names)
        boxes = data.extra["coco"].annotations
        per_class = boxes["category_id"].map(self.spec.categories).value_counts()
        return facts({"training images": len(data.train), f"{data.extra['predict']} images": len(data.test),
                      "boxes": len(boxes), "boxes per class": ", ".join(f"{k} {v}" for k, v in per_class.items()),
                      "metric": "COCO mAP@[.5:.95]"})

    def report_section(self, metrics: dict) -> str:
        """COCO's figures out of fold and on the local holdout (mAP, AP50, AP75, each class's AP), and the speeds."""
        from shared.report import values_section

        oof = metrics.get("oof")
        if not isinstance(oof, dict) or "per_class_AP" not in oof:
            return ""
        held = metrics.get("holdout_metrics") or {}
        rows = [[k, oof.get(k), held.get(k)] for k in ("mAP", "AP50", "AP75")]
        oof_ap, held_ap = oof["per_class_AP"], held.get("per_class_AP") or {}
        rows += [[f"AP {c}", oof_ap.get(c), held_ap.get(c)] for c in sorted(set(oof_ap) | set(held_ap))]
        timing = metrics.get("timing") or {}
        speeds = [f"{label} {timing[key]:.1f} img/s" for key, label in (("train_img_s", "training"),
                                                                        ("predict_img_s", "inference"))
                  if timing.get(key) is not None]
        return values_section("Detection (COCO)", ["", "out of fold", "local holdout"], rows, 4, ", ".join(speeds))

    def submission_preview(self, run_dir: Path, rows: int) -> tuple[str, pd.DataFrame, int] | None:
        from shared.detection import submission as boxes

        zipped = Path(run_dir) / self.submission_files[0]
        if not zipped.is_file():
            return None
        detections = boxes.read(zipped)
        head = pd.DataFrame([{k: (str(v) if k == "image_id" else v) for k, v in d.items()} for d in detections[:rows]])
        return f"{zipped.name} (answer.json)", head, len(detections)

    def write_results(self, run_dir: Path, data: Dataset, results: FoldResults) -> Path:
        from shared import report
        from shared.log import get_log, logging_to, start_log

        log = start_log(run_dir) if not logging_to(run_dir) else get_log()
        done = np.flatnonzero(np.isin(results.fold_of, results.folds_done))
        eval_started = time.time()
        oof_metrics = self.evaluate_rows(data, done, results.oof[done])
        eval_s = time.time() - eval_started
        test_table = self._write_predictions(run_dir, data, results, done)
        metrics = self._metrics(run_dir, data, results, oof_metrics, test_table, eval_s, len(done))
        self._pictures(run_dir, data, results, done, oof_metrics)
        self._log_scores(log, metrics)
        log.info(f"submission: {run_dir / 'submission.zip'} (answer.json for {len(data.test)} {data.extra['predict']} images)")
        log.info(f"report: {report.write(run_dir, self.spec)}")
        return run_dir

    def _write_predictions(self, run_dir: Path, data: Dataset, results: FoldResults, done: np.ndarray) -> np.ndarray:
        """OOF detections (json, with their fold), the padded tables blends read back, and ``submission.zip``;
        return the test table after fold fusion."""
        from shared.detection import submission
        from shared.io import write_npy, write_text

        categories = self._categories(data)
        oof_results = to_results(unpad(results.oof[done]), data.train["id"].iloc[done].tolist(), categories)
        fold_by_id = dict(zip(data.train["id"], results.fold_of))
        for r in oof_results:
            r["fold"] = int(fold_by_id[r["image_id"]])
        write_text(run_dir / "oof_detections.json", json.dumps(oof_results))
        write_npy(run_dir / "test_folds.npy", results.test_folds)
        test_table = self.average(data, results.test_folds)
        # The padded tables (see ``pad``) that blends read back: OOF per training image, test after fold fusion.
        write_npy(run_dir / "oof_table.npy", results.oof)
        write_npy(run_dir / "test_table.npy", test_table)
        test_results = to_results(unpad(test_table), data.test["id"].tolist(), categories)
        sizes = dict(zip(data.test["id"], zip(data.test["width"], data.test["height"])))
        submission.write(run_dir / "submission.zip", test_results, data.test, self.spec.categories, sizes)
        return test_table

    def _metrics(self, run_dir: Path, data: Dataset, results: FoldResults, oof_metrics: dict, test_table: np.ndarray,
                 eval_s: float, n_scored: int) -> dict:
        """metrics.json (written): the OOF and local-holdout COCO figures, the folds' mAP, wall time and speeds."""
        from shared.io import write_json

        fold_scores, folds_done = results.fold_scores, results.folds_done
        metrics = {"competition": self.spec.name, "metric": "map", "greater_is_better": True,
                   "predict": data.extra["predict"],
                   "cv": oof_metrics["mAP"], "cv_mean": float(np.mean(fold_scores)), "cv_std": float(np.std(fold_scores)),
                   "folds": dict(zip(map(str, folds_done), map(float, fold_scores))),
                   "oof": oof_metrics, "holdout": None, **results.extra}
        holdout = self.holdout(data, test_table)
        if holdout is not None:
            metrics["holdout"], metrics["holdout_metrics"] = holdout["mAP"], holdout
            if len(results.test_folds) > 1:
                metrics["holdout_folds"] = {str(k): self.holdout(data, results.test_folds[i])["mAP"]
                                            for i, k in enumerate(folds_done)}
        metrics["wall_time_s"] = time.time() - results.started
        metrics["timing"] = _timing(run_dir, folds_done, eval_s, n_scored)
        write_json(run_dir / "metrics.json", metrics)
        return metrics

    def _pictures(self, run_dir: Path, data: Dataset, results: FoldResults, done: np.ndarray,
                  oof_metrics: dict) -> None:
        """Predicted vs true boxes of a few training images, the folds' scores, the learning curves."""
        from shared import plots

        shown = done[:6]
        plots.boxes_plot(run_dir / "boxes.png", data.train["image_path"].iloc[shown].tolist(),
                         [data.train["annotations"].iloc[i] for i in shown], unpad(results.oof[shown]),
                         {label: self.spec.categories[cid] for label, cid in self._categories(data).items()},
                         title=f"{plots.run_title(run_dir)}: out-of-fold boxes of {len(shown)} training images, "
                               f"mAP CV {oof_metrics['mAP']:.4f}")
        plots.fold_scores_plot(run_dir / "fold_scores.png", MAP, results.folds_done, results.fold_scores,
                               plots.run_title(run_dir))
        plots.run_curves(run_dir)

    @staticmethod
    def _log_scores(log, metrics: dict) -> None:
        oof, holdout, timing = metrics["oof"], metrics.get("holdout_metrics"), metrics["timing"]
        held = "" if holdout is None else (f", local holdout ({metrics['predict']}) mAP {holdout['mAP']:.4f} "
                                           f"AP50 {holdout['AP50']:.4f}")
        log.info(f"OOF mAP@[.5:.95] {oof['mAP']:.4f}, AP50 {oof['AP50']:.4f} (folds "
                 f"{metrics['cv_mean']:.4f} ± {metrics['cv_std']:.4f}){held}; {metrics['wall_time_s']:.1f} s")
        if timing["train_img_s"] is not None and timing["predict_img_s"] is not None:
            log.info(f"training {timing['train_img_s']:.1f} img/s, inference {timing['predict_img_s']:.1f} img/s, "
                     f"COCO evaluation of {timing['coco_eval_images']} images {timing['coco_eval_s']:.2f} s")
        per_class = ", ".join(f"{k} {'—' if v is None else f'{v:.3f}'}" for k, v in oof["per_class_AP"].items())
        log.info(f"OOF AP per class: {per_class}")


def detection_features(train: pd.DataFrame, test: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model reads the images itself: the feature table is just their paths."""
    return train[["image_path"]].copy(), test[["image_path"]].copy()
