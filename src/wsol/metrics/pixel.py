"""PxAP (Choe et al., CVPR 2020): pixel-wise average precision of a score map against a mask.

Dataset-level histograms of map values over GT-foreground and GT-background pixels (255 is
ignored) give precision and recall at every threshold; AP = sum_i precision_i (recall_i -
recall_{i-1}) without interpolation, thresholds from high to low. As in wsolevaluation the bins
are [t_0, t_1), ..., [t_{T-1}, 1), [1, 2), [2, 3]: a pixel is positive at t_i when its value is
>= t_i, values below t_0 fall outside every bin, and the [2, 3] bin (never filled) is the empty
first step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsol.errors import ConfigError
from wsol.localize.scoremap import check_scoremap
from wsol.localize.thresholds import check_thresholds
from wsol.metrics.merge import merge_counts


class PxAPEvaluator:
    """Streaming PxAP over a threshold grid: ``accumulate(cam, gt_mask)``, ``compute()``.

    cam_thresholds: (T,) ascending fractions in [0, 1], e.g. ``threshold_grid(0.001)``.
    """

    def __init__(self, cam_thresholds: Sequence[float] | np.ndarray) -> None:
        thr = check_thresholds(cam_thresholds, "eval.cam_thresholds")
        if np.any(np.diff(thr) < 0):
            raise ConfigError("eval.cam_thresholds: PxAP needs thresholds in ascending order")
        self.cam_thresholds = thr
        self.edges = np.append(thr, [1.0, 2.0, 3.0])
        self.fg_hist = np.zeros(thr.size + 2, dtype=np.int64)
        self.bg_hist = np.zeros(thr.size + 2, dtype=np.int64)
        self.num_images = 0

    def _hist(self, values: np.ndarray) -> np.ndarray:
        # bin i holds edges[i] <= v < edges[i+1], as np.histogram (maps are <= 1 < 3, so the
        # closed right end of the last bin never matters); values below edges[0] are dropped
        idx = np.searchsorted(self.edges, values, side="right") - 1
        idx = idx[idx >= 0]
        return np.bincount(idx, minlength=self.edges.size - 1)

    def accumulate(self, cam: np.ndarray, gt_mask: np.ndarray) -> None:
        """Add one image: cam float (H, W) in [0, 1], gt_mask uint8 (H, W) 1 fg/0 bg/255 ignore."""
        arr = check_scoremap(cam)
        mask = np.asarray(gt_mask)
        if mask.shape != arr.shape:
            raise ValueError(f"gt_mask shape {mask.shape} differs from the map's {arr.shape}")
        bad = (mask != 0) & (mask != 1) & (mask != 255)
        if bad.any():
            raise ValueError(
                f"gt_mask: values must be 0, 1 or 255, found {np.unique(mask[bad])[:5]}"
            )
        self.fg_hist += self._hist(arr[mask == 1])
        self.bg_hist += self._hist(arr[mask == 0])
        self.num_images += 1

    def merge(self, other: PxAPEvaluator) -> None:
        """Add the histograms of an evaluator over the same thresholds (a worker's, or one per
        class: their merge is the dataset's PxAP)."""
        merge_counts(self, other, ("fg_hist", "bg_hist", "num_images"), ("cam_thresholds",))

    def curves(self) -> dict[str, np.ndarray]:
        """Precision and recall in percent per threshold: "cam_threshold", "precision", "recall".

        Precision is NaN where no pixel is predicted positive.
        """
        tp = np.cumsum(self.fg_hist[::-1])[::-1][: self.cam_thresholds.size]
        fp = np.cumsum(self.bg_hist[::-1])[::-1][: self.cam_thresholds.size]
        num_fg = self.fg_hist.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = 100.0 * tp / (tp + fp)
            recall = 100.0 * tp / num_fg if num_fg else np.full(tp.shape, np.nan)
        return {
            "cam_threshold": self.cam_thresholds.copy(),
            "precision": precision,
            "recall": recall,
        }

    def compute(self) -> dict[str, float]:
        """{"pxap": percent}; ``ValueError`` if no foreground or no positive pixel was seen."""
        tp = np.cumsum(self.fg_hist[::-1]).astype(np.float64)  # >= 2, >= 1, >= t_{T-1}, ..., >= t_0
        fp = np.cumsum(self.bg_hist[::-1]).astype(np.float64)
        num_fg = self.fg_hist.sum()
        if num_fg == 0:
            raise ValueError("PxAP: no ground-truth foreground pixel in the accumulated masks")
        if (tp + fp == 0).all():
            raise ValueError("PxAP: no pixel is predicted positive at any threshold")
        predicted = tp + fp > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = tp / (tp + fp)
        recall = tp / num_fg
        steps = (precision[1:] * np.diff(recall))[predicted[1:]]
        return {"pxap": float(steps.sum() * 100.0)}
