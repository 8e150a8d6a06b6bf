"""Detections as numbers: the padded table row the runner keeps per image (``max_detections`` blocks of
``[x, y, w, h, score, label]``, NaN where there are fewer), COCO results with the original ids, and Weighted
Boxes Fusion of several views', folds' or runs' detections. Used by the task, the model and the blends alike."""
from __future__ import annotations

import numpy as np

ROW = 6  # x, y, w, h, score, label

MAX_DETECTIONS = 100  # the width of a padded row, in detections (COCO scores at most 100 per image)



def pad(detections: list[np.ndarray], max_detections: int) -> np.ndarray:
    """Per-image detection rows -> one padded table row per image (best scores first)."""
    out = np.full((len(detections), max_detections * ROW), np.nan)
    for i, rows in enumerate(detections):
        rows = np.asarray(rows, float).reshape(-1, ROW)
        rows = rows[np.argsort(-rows[:, 4], kind="stable")][:max_detections]
        out[i, :rows.size] = rows.ravel()
    return out


def unpad(table: np.ndarray) -> list[np.ndarray]:
    table = np.asarray(table, float)
    rows = table.reshape(len(table), -1, ROW)
    return [r[~np.isnan(r[:, 4])] for r in rows]


def to_results(detections: list[np.ndarray], image_ids, label_to_category: dict[int, int]) -> list[dict]:
    """COCO results with the original image and category ids."""
    out = []
    for image_id, rows in zip(image_ids, detections):
        for x, y, w, h, score, label in rows:
            out.append({"image_id": image_id, "category_id": label_to_category[int(round(label))],
                        "bbox": [float(x), float(y), float(w), float(h)], "score": float(score)})
    return out


def wbf_merge(views: list[np.ndarray], width: int, height: int, iou: float, max_det: int,
              weights: list[float] | None = None) -> np.ndarray:
    """Weighted Boxes Fusion of the views' detections (rows [x, y, w, h, score, label]), each view weighted."""
    from ensemble_boxes import weighted_boxes_fusion

    boxes, scores, labels = [], [], []
    scale = np.array([width, height, width, height], np.float64)
    for v in views:
        v = np.asarray(v, float).reshape(-1, 6)
        xyxy = np.clip(np.concatenate([v[:, :2], v[:, :2] + v[:, 2:4]], axis=1) / scale, 0, 1)
        inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])  # boxes wholly outside the image go
        boxes.append(xyxy[inside].tolist())
        scores.append(v[inside, 4].tolist())
        labels.append(v[inside, 5].tolist())
    if not any(len(s) for s in scores):
        return np.zeros((0, 6))
    # box_and_model_avg: a fused box's score is the mean of its boxes' scores, scaled by the share of views that
    # found it; it stays in [0, 1] whatever the view weights ('avg' can exceed 1 with unequal weights).
    merged, merged_scores, merged_labels = weighted_boxes_fusion(boxes, scores, labels, weights=weights, iou_thr=iou,
                                                                 skip_box_thr=0.0, conf_type="box_and_model_avg")
    merged = np.asarray(merged) * scale
    out = np.column_stack([merged[:, :2], merged[:, 2:] - merged[:, :2], merged_scores, merged_labels])
    out = out[(out[:, 2] > 0) & (out[:, 3] > 0)]
    return out[np.argsort(-out[:, 4])][:max_det]
