"""Inclusive-pixel box IoU (wsolevaluation's ``calculate_multiple_iou``) and box validation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_boxes(boxes: np.ndarray | Sequence[Sequence[int]], name: str = "gt_boxes") -> np.ndarray:
    """Validate inclusive x0, y0, x1, y1 boxes and return them as int64 (N, 4) (N may be 0)."""
    arr = np.asarray(boxes, dtype=np.int64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if arr.ndim == 1 and arr.size == 4:
        arr = arr.reshape(1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (N, 4), got {np.shape(boxes)}")
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        raise ValueError(f"{name}: boxes must be x0, y0, x1, y1 with x0 <= x1 and y0 <= y1")
    return arr


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of inclusive-pixel boxes: a (N, 4), b (M, 4) -> float64 (N, M).

    Areas count pixels: (x1 - x0 + 1) * (y1 - y0 + 1), as wsolevaluation's
    ``calculate_multiple_iou``; IoU([1,2,5,6], [3,1,4,5]) = 8/27.
    """
    return pairwise_iou(check_boxes(a, "a"), check_boxes(b, "b"))


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``box_iou`` for boxes already checked: int64 a (N, 4), b (M, 4) -> float64 (N, M)."""
    ix = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    iy = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.maximum(ix, 0) * np.maximum(iy, 0)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / union
