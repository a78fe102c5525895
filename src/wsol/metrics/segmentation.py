"""Seed mIoU over a background-threshold sweep (IRN protocol), every threshold in one pass.

IRN's seed: prepend a constant background plane tau to the image's class maps and take the
argmax; ``np.argmax`` keeps the first maximum, so the background wins ties and a pixel is
foreground exactly when its highest class map is strictly above tau. Per pixel, the winning
class and its value v do not depend on tau, so one histogram of v per (GT label, winning class)
over the threshold bins, cumulated from the top, gives the confusion matrix at every tau.

IoU_c = TP / (TP + FP + FN); mIoU is the mean over classes with TP + FP + FN > 0 (chainercv's
``eval_semantic_segmentation`` as used by IRN: ``np.nanmean`` of IoU, where 0/0 is NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from wsol.errors import ConfigError
from wsol.localize.scoremap import zero_flat_maps
from wsol.localize.seeds import class_winner
from wsol.localize.thresholds import check_thresholds
from wsol.metrics.bins import ThresholdBinner
from wsol.metrics.merge import merge_counts

IGNORE = 255


def scores_from_confusion(conf: np.ndarray) -> dict[str, np.ndarray | float]:
    """Per-class IoU / precision / recall and mIoU (percent) from confusion (C, C) [gt, pred].

    Arrays are (C,) with NaN where undefined; "miou" is the mean IoU over classes with
    TP + FP + FN > 0 (NaN if none).
    """
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    gt = conf.sum(axis=1)
    pred = conf.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = 100.0 * tp / (gt + pred - tp)
        precision = 100.0 * tp / pred
        recall = 100.0 * tp / gt
    occurs = ~np.isnan(iou)
    miou = float(iou[occurs].mean()) if occurs.any() else float("nan")
    return {"miou": miou, "iou": iou, "precision": precision, "recall": recall}


def _check_gt(gt: np.ndarray, num_classes: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Label counts (256,) of a uint8 GT map after checking its labels and shape."""
    arr = np.asarray(gt)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"gt: expected a uint8 (H, W) label map, got {arr.dtype} {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"gt shape {arr.shape} differs from the prediction's {shape}")
    if arr.size < 2**24:  # float32 histogram counts are exact below 2^24
        counts = cv2.calcHist([arr], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    else:
        counts = np.bincount(arr.ravel(), minlength=256)
    if counts[num_classes:IGNORE].any():
        bad = np.flatnonzero(counts[num_classes:IGNORE])[:5] + num_classes
        raise ValueError(
            f"gt: labels {bad.tolist()} outside 0..{num_classes - 1} (255 = ignore); "
            "check num_classes (background included)"
        )
    return counts


class SegEvaluator:
    """Streaming seed mIoU at every background threshold.

    num_classes: segmentation classes including background (21 for VOC, 81 for COCO);
    bg_thresholds: (T,) background scores tau in [0, 1] (config key ``eval.bg_thresholds``).
    """

    def __init__(self, num_classes: int, bg_thresholds: float | Sequence[float] | np.ndarray):
        if int(num_classes) < 2:
            raise ConfigError(
                f"num_classes: expected >= 2 (background included), got {num_classes}"
            )
        self.num_classes = int(num_classes)
        self.thresholds = check_thresholds(bg_thresholds, "eval.bg_thresholds")
        self._order = np.argsort(self.thresholds, kind="stable")
        self._sorted = self.thresholds[self._order]
        self._binner = ThresholdBinner(self._sorted)
        c, t = self.num_classes, self.thresholds.size
        # fg[g, l, b]: pixels of GT g won by label l whose value exceeds exactly b sorted thresholds
        self.fg = np.zeros((c, c, t + 1), dtype=np.int64)
        self.gt_count = np.zeros(c, dtype=np.int64)
        self.num_images = 0

    def accumulate(
        self,
        cams: np.ndarray,
        class_ids: Sequence[int] | np.ndarray,
        gt: np.ndarray,
    ) -> None:
        """Add one image.

        cams: float (K, H, W), each class map already divided by its max (K may be 0: every
        pixel is background; a plane holding NaN, or constant, counts as zeros); class_ids:
        (K,) distinct 0-based classes of the planes; gt: uint8 (H, W), 0 background, k + 1
        class k, 255 ignored. Thresholds are compared in the maps' dtype, as IRN's background
        plane (np.pad of the float32 maps) is.
        """
        ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
        arr = np.asarray(cams)
        if arr.ndim != 3 or arr.shape[0] != ids.size:
            raise ValueError(
                f"cams: expected ({ids.size}, H, W) for {ids.size} class ids, got {arr.shape}"
            )
        if ids.size and (ids.min() < 0 or ids.max() > self.num_classes - 2):
            raise ValueError(f"class_ids: expected 0..{self.num_classes - 2}, got {ids.tolist()}")
        if np.unique(ids).size != ids.size:
            raise ValueError(f"class_ids: repeated classes {ids.tolist()}")
        counts = _check_gt(gt, self.num_classes, arr.shape[1:])
        self.gt_count += counts[: self.num_classes]
        self.num_images += 1
        if ids.size == 0:
            return
        if not np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float32)
        arr = zero_flat_maps(arr)  # NaN or constant planes score as zeros, never as NaN
        value, win = class_winner(arr)
        if np.isnan(value).any():
            raise ValueError("cams: maps contain NaN; normalise them before scoring")
        nbins = self._sorted.size + 1
        # b = number of thresholds strictly below v: foreground at sorted thresholds 0..b-1
        b = self._binner.count_below(value.ravel())
        present = np.flatnonzero(counts[: self.num_classes])
        row_of = np.full(256, present.size, dtype=np.uint8)  # 255 and absent labels -> spare row
        row_of[present] = np.arange(present.size)
        k = ids.size
        rows = cv2.LUT(np.asarray(gt), row_of).ravel().astype(np.int32)
        index = (rows * k + win.ravel()) * nbins + b
        hist = np.bincount(index, minlength=(present.size + 1) * k * nbins)
        hist = hist.reshape(present.size + 1, k, nbins)[: present.size]
        self.fg[np.ix_(present, ids + 1)] += hist

    def merge(self, other: SegEvaluator) -> None:
        """Add the counts of another evaluator with the same settings (a worker's)."""
        merge_counts(self, other, ("fg", "gt_count", "num_images"),
                     ("num_classes", "thresholds"))

    def _confusions(self) -> np.ndarray:
        """Confusion matrices (T, C, C) [threshold in user order, gt, pred]."""
        above = np.cumsum(self.fg[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]  # (C, C, T) sorted
        conf = np.moveaxis(above, 2, 0).copy()
        conf[:, :, 0] = self.gt_count[None, :] - conf[:, :, 1:].sum(axis=2)
        out = np.empty_like(conf)
        out[self._order] = conf
        return out

    def miou_per_threshold(self) -> np.ndarray:
        """mIoU in percent at each threshold (T,), thresholds in the given order."""
        conf = self._confusions().astype(np.float64)
        tp = np.diagonal(conf, axis1=1, axis2=2)
        union = conf.sum(axis=2) + conf.sum(axis=1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = np.where(union > 0, 100.0 * tp / union, np.nan)
        occurs = union > 0
        n = occurs.sum(axis=1)
        total = np.where(occurs, iou, 0.0).sum(axis=1)
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)

    def compute(self) -> dict[str, float | np.ndarray]:
        """Sweep results in percent.

        Keys: "thresholds" (T,), "miou_per_threshold" (T,), "miou_best", "best_threshold"
        (fraction; the first best in the given order), and at the best threshold "iou",
        "precision", "recall" (C,) with NaN for undefined classes, and "confusion" (C, C).
        """
        if self.num_images == 0:
            raise ValueError("SegEvaluator: no images accumulated")
        mious = self.miou_per_threshold()
        best = int(np.nanargmax(mious)) if not np.isnan(mious).all() else 0
        conf = self._confusions()[best]
        scores = scores_from_confusion(conf)
        return {
            "thresholds": self.thresholds.copy(),
            "miou_per_threshold": mious,
            "miou_best": float(mious[best]),
            "best_threshold": float(self.thresholds[best]),
            "iou": scores["iou"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "confusion": conf,
        }

    def _index_of(self, threshold: float) -> int:
        hits = np.flatnonzero(np.isclose(self.thresholds, threshold, rtol=0.0, atol=1e-9))
        if hits.size == 0:
            raise ConfigError(
                f"eval.bg_thresholds: {threshold} is not in the evaluated grid; add it to the list"
            )
        return int(hits[0])

    def miou_at(self, threshold: float) -> float:
        """mIoU in percent at one threshold of the grid (``ConfigError`` if it is not in it)."""
        return float(self.miou_per_threshold()[self._index_of(threshold)])

    def iou_at(self, threshold: float) -> np.ndarray:
        """Per-class IoU in percent (C,) at one threshold of the grid, background first, NaN
        for a class with no pixel in the GT or the seeds (``ConfigError`` off the grid)."""
        conf = self._confusions()[self._index_of(threshold)]
        return np.asarray(scores_from_confusion(conf)["iou"])


class LabelEvaluator:
    """Streaming mIoU of ready-made label maps (e.g. seed PNGs from any method).

    Prediction pixels equal to 255 (unlabelled, as in IRN pseudo-labels) are left out of the
    confusion matrix; "coverage" reports the labelled share of the scored GT pixels.
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.scored = 0
        self.unlabelled = 0
        self.num_images = 0

    def accumulate(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one image: pred uint8 (H, W) labels (255 = unlabelled), gt uint8 (H, W)."""
        c = self.num_classes
        p = np.asarray(pred)
        _check_gt(p, c)
        g = np.asarray(gt)
        _check_gt(g, c, p.shape)
        valid = g != IGNORE
        self.unlabelled += int((valid & (p == IGNORE)).sum())
        valid &= p != IGNORE
        self.scored += int(valid.sum())
        pairs = g[valid].astype(np.int64) * c + p[valid]
        self.confusion += np.bincount(pairs, minlength=c * c).reshape(c, c)
        self.num_images += 1

    def compute(self) -> dict[str, float | np.ndarray]:
        """{"miou", "iou", "precision", "recall", "confusion", "coverage"} in percent."""
        out = dict(scores_from_confusion(self.confusion))
        total = self.scored + self.unlabelled
        out["coverage"] = 100.0 * self.scored / total if total else float("nan")
        out["confusion"] = self.confusion.copy()
        return out
