"""Pointing game (Zhang et al., ECCV 2016): does the map's maximum fall on the object?"""

from __future__ import annotations

import numpy as np

from wsol.metrics.iou import check_boxes


def boxes_to_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Union of inclusive x0, y0, x1, y1 boxes as a bool mask of ``shape`` (H, W)."""
    mask = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in check_boxes(boxes).tolist():
        mask[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
    return mask


def pointing_hit(cam: np.ndarray, region: np.ndarray, tolerance: int = 15) -> bool:
    """Whether the map's maximum lies within ``tolerance`` pixels (Euclidean) of the GT region.

    cam: float (H, W); region: bool (H, W) ground-truth pixels of the class. The maximum is the
    first one in raster order (``np.argmax``), so a constant map points at the top-left pixel.
    """
    arr = np.asarray(cam)
    region = np.asarray(region, dtype=bool)
    if arr.ndim != 2 or arr.shape != region.shape:
        raise ValueError(f"cam {arr.shape} and GT region {region.shape} must be equal 2-D shapes")
    if np.isnan(arr).any():
        raise ValueError("cam: map contains NaN; the pointing game needs a finite maximum")
    y, x = np.unravel_index(int(np.argmax(arr)), arr.shape)
    t = int(tolerance)
    y0, x0 = max(y - t, 0), max(x - t, 0)
    window = region[y0 : y + t + 1, x0 : x + t + 1]
    ys, xs = np.nonzero(window)
    return bool((((ys + y0 - y) ** 2 + (xs + x0 - x) ** 2) <= t * t).any())


class PointingGame:
    """Streaming pointing-game accuracy = hits / (hits + misses), in percent.

    num_classes: when given, per-class accuracies and their mean are reported too (TorchRay
    reports the class mean). tolerance: pixels, 15 by default.
    """

    def __init__(self, num_classes: int | None = None, tolerance: int = 15) -> None:
        self.tolerance = int(tolerance)
        self.num_classes = num_classes
        size = num_classes or 0
        self.hits = np.zeros(size, dtype=np.int64)
        self.trials = np.zeros(size, dtype=np.int64)
        self.total_hits = 0
        self.total_trials = 0

    def accumulate(
        self,
        cam: np.ndarray,
        gt_mask: np.ndarray | None = None,
        gt_boxes: np.ndarray | None = None,
        class_id: int | None = None,
    ) -> bool:
        """Score one (image, class) map against its GT mask or boxes.

        cam: float (H, W); gt_mask: bool (H, W), or uint8 with 1 = object; gt_boxes: (M, 4).

        Returns the hit. A trial needs a non-empty GT region: call it only for present classes.
        """
        shape = np.shape(cam)
        if gt_mask is not None:
            mask = np.asarray(gt_mask)
            region = mask if mask.dtype == bool else mask == 1  # 0 / 255 (ignore) are not object
        elif gt_boxes is not None:
            region = boxes_to_mask(gt_boxes, shape)
        else:
            raise ValueError("PointingGame.accumulate: give gt_mask or gt_boxes")
        if not np.any(region):
            raise ValueError("PointingGame.accumulate: the GT region is empty; skip absent classes")
        hit = pointing_hit(cam, region, self.tolerance)
        self.total_hits += hit
        self.total_trials += 1
        if self.num_classes:
            if class_id is None or not 0 <= int(class_id) < self.num_classes:
                raise ValueError(f"class_id: expected 0..{self.num_classes - 1}, got {class_id!r}")
            self.hits[int(class_id)] += hit
            self.trials[int(class_id)] += 1
        return hit

    def compute(self) -> dict[str, float | np.ndarray]:
        """{"pointing_acc": percent over all trials} plus, with classes, "pointing_acc_per_class"
        (C,) (NaN for unseen classes) and "pointing_acc_mean_class"."""
        acc = 100.0 * self.total_hits / self.total_trials if self.total_trials else float("nan")
        out: dict[str, float | np.ndarray] = {"pointing_acc": acc}
        if self.num_classes:
            with np.errstate(invalid="ignore", divide="ignore"):
                per = np.where(self.trials > 0, 100.0 * self.hits / self.trials, np.nan)
            seen = self.trials > 0
            out["pointing_acc_per_class"] = per
            out["pointing_acc_mean_class"] = float(per[seen].mean()) if seen.any() else float("nan")
        return out
