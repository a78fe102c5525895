"""wsolevaluation's box scoring written as plain loops, and random score-map cases: the
oracle of the BoxEvaluator tests and of the threshold-selection tests."""

from __future__ import annotations

import cv2
import numpy as np

from wsol.localize import normalize_scoremap


def reference_best_ious(cam, gt_boxes, thresholds, multi_contour):
    """wsolevaluation's BoxEvaluator.accumulate for one image, written as a plain loop."""
    height, width = cam.shape
    image = np.expand_dims((cam * 255).astype(np.uint8), 2)
    best = []
    for tau in thresholds:
        _, binary = cv2.threshold(image, int(tau * np.max(image)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes = [[0, 0, 0, 0]]
        else:
            if not multi_contour:
                contours = [max(contours, key=cv2.contourArea)]
            boxes = []
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        ious = []
        for bx in boxes:
            for gx in gt_boxes:
                ix = max(0, min(bx[2], gx[2]) - max(bx[0], gx[0]) + 1)
                iy = max(0, min(bx[3], gx[3]) - max(bx[1], gx[1]) + 1)
                area_b = (bx[2] - bx[0] + 1) * (bx[3] - bx[1] + 1)
                area_g = (gx[2] - gx[0] + 1) * (gx[3] - gx[1] + 1)
                ious.append(ix * iy / (area_b + area_g - ix * iy))
        best.append(max(ious))
    return np.array(best)


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
