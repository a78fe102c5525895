"""wsolevaluation's box scoring written as plain loops, and random score-map cases: the
oracle of the BoxEvaluator tests and of the threshold-selection tests."""

from __future__ import annotations

import cv2
import numpy as np

from helpers.reference_wsolevaluation import boxes_at_thresholds, multiple_iou
from wsol.localize import normalize_scoremap


def reference_best_ious(cam, gt_boxes, thresholds, multi_contour):
    """wsolevaluation's BoxEvaluator.accumulate for one image: its boxes at every threshold,
    the best IoU of each threshold's boxes with the GT boxes."""
    gt = np.asarray(gt_boxes).reshape(-1, 4)
    return np.array([multiple_iou(boxes, gt).max()
                     for boxes in boxes_at_thresholds(cam, thresholds, multi_contour)])


def random_case(rng):
    h, w = (int(v) for v in rng.integers(8, 64, 2))
    low = rng.random((int(rng.integers(2, 7)), int(rng.integers(2, 7)))).astype(np.float32)
    cam = normalize_scoremap(cv2.resize(np.maximum(low - 0.4, 0), (w, h), cv2.INTER_CUBIC))
    if rng.random() < 0.2:
        cam = (rng.integers(0, 3, (h, w)) / 2).astype(np.float32)
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = sorted(rng.integers(0, w, 2).tolist())
        y0, y1 = sorted(rng.integers(0, h, 2).tolist())
        boxes.append([x0, y0, x1, y1])
    return cam, np.array(boxes)
