"""Classification-aware localization: top-k / GT-known localization and VOC07 CorLoc.

Protocol of the Grad-CAM and CAM papers (ILSVRC): each of the top-k predicted classes comes
with one box (e.g. from ``box_from_protocol``); a guess is correct when its class is a ground-
truth class and its box has IoU >= 0.5 with a GT box of that class. Top-k localization accuracy
is the percentage of images with a correct guess among the first k; the papers print the error,
100 - accuracy. GT-known localization scores the box of each GT class alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from wsol.metrics.iou import box_iou, check_boxes
from wsol.metrics.merge import merge_counts


def loc_correct(
    pred_box: np.ndarray | Sequence[int],
    pred_class: int,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray | Sequence[int],
    iou_threshold: float = 0.5,
) -> bool:
    """Whether one guess localizes: class among ``gt_labels`` and IoU >= threshold with a box of it.

    pred_box: (4,) inclusive x0, y0, x1, y1; gt_boxes: (M, 4); gt_labels: (M,) class per box.
    """
    gt = check_boxes(gt_boxes)
    labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
    if labels.size != gt.shape[0]:
        raise ValueError(f"gt_labels: expected {gt.shape[0]} labels, got {labels.size}")
    same = gt[labels == int(pred_class)]
    if same.shape[0] == 0:
        return False
    return bool(box_iou(np.asarray(pred_box).reshape(1, 4), same).max() >= iou_threshold)


class LocAccuracy:
    """Streaming top-k classification / localization accuracy and GT-known localization.

    topk: the k values to report (default 1 and 5). Results in percent, with errors
    (100 - accuracy) as the Grad-CAM / CAM papers print them.
    """

    def __init__(self, topk: Sequence[int] = (1, 5), iou_threshold: float = 0.5) -> None:
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f"topk: expected positive integers, got {topk!r}")
        self.iou_threshold = float(iou_threshold)
        self.cls_hits = np.zeros(len(self.topk), dtype=np.int64)
        self.loc_hits = np.zeros(len(self.topk), dtype=np.int64)
        self.num_images = 0
        self.gt_known_hits = 0
        self.gt_known_total = 0

    def accumulate(
        self,
        ranked_classes: Sequence[int] | np.ndarray,
        ranked_boxes: np.ndarray | None,
        gt_boxes: np.ndarray,
        gt_labels: Sequence[int] | np.ndarray,
        gt_known_boxes: Mapping[int, Sequence[int] | np.ndarray] | None = None,
    ) -> None:
        """Add one image.

        ranked_classes: (k,) predicted classes, best first (k >= max(topk) for full credit);
        ranked_boxes: (k, 4) one box per ranked class (None to score classification only);
        gt_boxes (M, 4) / gt_labels (M,): the image's annotated boxes and their classes;
        gt_known_boxes: {gt class: (4,) box from that class's map}, one GT-known trial each.
        """
        classes = np.asarray(ranked_classes, dtype=np.int64).reshape(-1)
        labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
        gt = check_boxes(gt_boxes)
        present = set(labels.tolist())
        cls_ok = np.array([c in present for c in classes.tolist()], dtype=bool)
        if ranked_boxes is None:
            loc_ok = np.zeros(classes.size, dtype=bool)
        else:
            boxes = np.asarray(ranked_boxes).reshape(-1, 4)
            if boxes.shape[0] != classes.size:
                raise ValueError("ranked_boxes: expected one box per ranked class")
            loc_ok = np.array(
                [
                    loc_correct(b, c, gt, labels, self.iou_threshold)
                    for b, c in zip(boxes, classes, strict=True)
                ],
                dtype=bool,
            )
        for j, k in enumerate(self.topk):
            self.cls_hits[j] += bool(cls_ok[:k].any())
            self.loc_hits[j] += bool(loc_ok[:k].any())
        self.num_images += 1
        for cls, box in (gt_known_boxes or {}).items():
            self.gt_known_total += 1
            self.gt_known_hits += loc_correct(box, cls, gt, labels, self.iou_threshold)

    def merge(self, other: LocAccuracy) -> None:
        """Add the counts of another evaluator with the same settings (a worker's)."""
        merge_counts(self, other, ("cls_hits", "loc_hits", "num_images", "gt_known_hits",
                                   "gt_known_total"), ("topk", "iou_threshold"))

    def compute(self) -> dict[str, float]:
        """Percentages: "top{k}_cls", "top{k}_cls_err", "top{k}_loc", "top{k}_loc_err" per k,
        and "gt_known_loc" / "gt_known_loc_err" when GT-known boxes were given (NaN if none)."""
        out: dict[str, float] = {}
        n = max(self.num_images, 1)
        for j, k in enumerate(self.topk):
            cls = 100.0 * self.cls_hits[j] / n if self.num_images else float("nan")
            loc = 100.0 * self.loc_hits[j] / n if self.num_images else float("nan")
            out[f"top{k}_cls"], out[f"top{k}_cls_err"] = cls, 100.0 - cls
            out[f"top{k}_loc"], out[f"top{k}_loc_err"] = loc, 100.0 - loc
        if self.gt_known_total:
            acc = 100.0 * self.gt_known_hits / self.gt_known_total
        else:
            acc = float("nan")
        out["gt_known_loc"], out["gt_known_loc_err"] = acc, 100.0 - acc
        return out


class CorLoc:
    """VOC 2007 CorLoc: per class, % of images containing it whose top box for it has IoU > 0.5
    with a GT box of that class; the mean over classes that occur.

    num_classes: classifier classes (0-based, no background). Pass non-difficult GT only if the
    protocol at hand excludes difficult objects.
    """

    def __init__(self, num_classes: int, iou_threshold: float = 0.5) -> None:
        self.num_classes = int(num_classes)
        self.iou_threshold = float(iou_threshold)
        self.hits = np.zeros(self.num_classes, dtype=np.int64)
        self.images = np.zeros(self.num_classes, dtype=np.int64)

    def accumulate(
        self,
        top_boxes: Mapping[int, Sequence[int] | np.ndarray],
        gt_boxes: np.ndarray,
        gt_labels: Sequence[int] | np.ndarray,
    ) -> None:
        """Add one image: top_boxes {class: (4,) top-scoring box}, gt_boxes (M,4), gt_labels (M,).

        Every class among ``gt_labels`` counts one image; a class without a box is a miss.
        """
        gt = check_boxes(gt_boxes)
        labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
        for cls in np.unique(labels).tolist():
            if not 0 <= cls < self.num_classes:
                raise ValueError(f"gt_labels: class {cls} outside 0..{self.num_classes - 1}")
            self.images[cls] += 1
            box = top_boxes.get(cls)
            if box is not None:
                iou = box_iou(np.asarray(box).reshape(1, 4), gt[labels == cls]).max()
                self.hits[cls] += bool(iou > self.iou_threshold)

    def merge(self, other: CorLoc) -> None:
        """Add the counts of another evaluator with the same settings (a worker's)."""
        merge_counts(self, other, ("hits", "images"), ("num_classes", "iou_threshold"))

    def compute(self) -> dict[str, float | np.ndarray]:
        """{"corloc": mean percent over classes with images, "corloc_per_class": (C,) percent,
        NaN for classes never seen}."""
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(self.images > 0, 100.0 * self.hits / self.images, np.nan)
        seen = self.images > 0
        mean = float(per_class[seen].mean()) if seen.any() else float("nan")
        return {"corloc": mean, "corloc_per_class": per_class}
