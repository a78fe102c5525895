"""All evaluators of the evaluate stage, fed one image at a time (memory does not grow with N).

Localization is scored per (image, ground-truth class) pair: the class's map against the boxes
of that class (for single-object datasets this is the usual per-image protocol). Ranked
top-k maps (``cam.classes=topk``) also give the Grad-CAM paper's top-1 / top-5 localization
error from their ranked prefix, while the maps of labelled classes outside the top k keep every
labelled class in the GT-known metrics (:mod:`wsol.app.map_classes`); CorLoc (VOC07) uses the
protocol box of each class present, against its non-difficult boxes.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from wsol.app.map_classes import predicted
from wsol.app.schema import CamConfig, EvalConfig
from wsol.datasets.records import ImageAnnotation
from wsol.errors import DataError
from wsol.localize import (
    box_from_protocol,
    check_thresholds,
    normalize_scoremap,
    seed_from_cams,
    threshold_grid,
)
from wsol.metrics import (
    BoxEvaluator,
    CorLoc,
    LocAccuracy,
    PxAPEvaluator,
    SegEvaluator,
    box_iou,
    center_baseline_map,
)
from wsol.metrics.merge import ExactSum

log = logging.getLogger(__name__)


def sweep_grid(explicit, step: float, key: str, must_include: float | None = None,
               must_include_key: str | None = None) -> np.ndarray:
    """The thresholds of one sweep: ``explicit`` (a list) if set, else ``arange(0, 1, step)``
    as wsolevaluation builds it; ``must_include`` (the single-threshold setting, config key
    ``must_include_key``) is added."""
    grid = check_thresholds(list(explicit), key) if explicit is not None else \
        threshold_grid(step, key=key.replace("thresholds", "threshold_step"))
    if must_include is not None and not np.isclose(grid, must_include).any():
        extra = check_thresholds([must_include], must_include_key or key)
        grid = np.sort(np.append(grid, extra))
    return grid


def score_size(ev: EvalConfig) -> tuple[int, int] | None:
    """``eval.score_size``: None (each image's own size) or (N, N)."""
    return None if ev.score_size is None else (int(ev.score_size), int(ev.score_size))


def class_mask(mask: np.ndarray, class_id: int) -> np.ndarray:
    """Binary GT for one class: 1 on the class, 0 elsewhere, 255 where the GT says ignore."""
    out = (mask == class_id + 1).astype(np.uint8)
    out[mask == 255] = 255
    return out


def class_iou(seed: np.ndarray, mask: np.ndarray, class_id: int) -> float:
    """IoU in percent of class ``class_id``'s seed pixels with its GT pixels (255 ignored);
    NaN when neither has any."""
    valid = mask != 255
    pred, gt = (seed == class_id + 1) & valid, (mask == class_id + 1) & valid
    union = int((pred | gt).sum())
    return 100.0 * int((pred & gt).sum()) / union if union else float("nan")


def finite_metrics(metrics: dict[str, float | str]) -> dict[str, float | str]:
    """``metrics`` without the values that are undefined on this split (NaN: e.g. seed mIoU
    when every mask pixel is ignore), each named in one warning: a number is never NaN.
    Text values (e.g. ``protocol/chosen_on``) are kept."""
    undefined = sorted(k for k, v in metrics.items()
                       if not isinstance(v, str) and not math.isfinite(v))
    if undefined:
        log.warning("left out of metrics.json, undefined on this split (no ground-truth pixel "
                    "of a scored class, or no prediction): %s", ", ".join(undefined))
    return {k: v for k, v in metrics.items() if k not in undefined}


class EvaluationSuite:
    """Streams (maps, annotation, mask) per image into every evaluator the config asks for.

    Besides the dataset metrics it keeps per-class counts (pairs, box hits at IoU 0.5 at every
    threshold, PxAP histograms; the dataset's PxAP is their merge) and hands each pair scored
    against boxes to ``pairs`` (``add(image_id, class_id, ious (T,), protocol_iou, seed_iou)``,
    e.g. a :class:`wsol.app.stages.pairs.PairLog`) when given.
    """

    def __init__(self, ev: EvalConfig, cam: CamConfig, num_classes: int, pairs=None) -> None:
        self.ev, self.cam = ev, cam
        self.cam_grid = sweep_grid(ev.cam_thresholds, ev.cam_threshold_step,
                                   "eval.cam_thresholds")
        self.bg_grid = sweep_grid(ev.bg_thresholds, ev.bg_threshold_step,
                                  "eval.bg_thresholds", must_include=ev.bg_threshold,
                                  must_include_key="eval.bg_threshold")
        deltas = tuple(ev.iou_thresholds)
        self.boxes = BoxEvaluator(self.cam_grid, iou_thresholds=deltas,
                                  multi_contour=ev.multi_contour)
        self.center = BoxEvaluator(self.cam_grid, iou_thresholds=deltas,
                                   multi_contour=ev.multi_contour)
        self.class_pxap: dict[int, PxAPEvaluator] = {}
        self.class_pairs = np.zeros(num_classes, np.int64)
        self.class_hits = np.zeros((num_classes, self.cam_grid.size), np.int64)  # IoU >= 0.5
        # the headline MaxBoxAcc is at IoU 0.5 whatever eval.iou_thresholds lists
        self.center_hits = np.zeros(self.cam_grid.size, np.int64)
        self.pairs_log = pairs
        self.center_pxap = PxAPEvaluator(self.cam_grid)
        self.seg = SegEvaluator(num_classes + 1, self.bg_grid)
        self.corloc = CorLoc(num_classes)
        ranked = cam.classes == "topk"
        topk = cam.topk
        self.loc_accuracy = LocAccuracy(topk=(1, 5) if topk >= 5 else (1,)) if ranked else None
        self.pairs = 0  # (image, class) pairs scored against boxes
        self.mask_pairs = 0  # ... against masks (PxAP)
        self.protocol_hits = 0
        self.protocol_iou_sum = ExactSum()  # exact: a merge of workers' sums equals one pass
        self.has_masks = False

    def add(self, image_id: str, cams: np.ndarray, class_ids: np.ndarray,
            ann: ImageAnnotation, mask: np.ndarray | None, mask_path: str = "") -> None:
        """One image: cams float32 (K, H, W) at image size, class_ids (K,), its annotation and
        mask uint8 (H, W) or None."""
        if mask is not None and mask.shape != cams.shape[-2:]:
            raise DataError(
                f"mask {mask_path or image_id} is {mask.shape[1]}x{mask.shape[0]} but the CAMs of "
                f"{image_id} were made for a {cams.shape[-1]}x{cams.shape[-2]} image; the mask "
                f"and the image must be the same size (fix or remove the mask)."
            )
        ev = self.ev
        protocol_boxes = [box_from_protocol(cam, ev.box_protocol, threshold=ev.box_threshold)
                          for cam in cams]
        center_map = center_baseline_map(*cams.shape[-2:])  # once per image, not per class
        guess_cams, guess_ids = predicted(cams, class_ids, self.cam)  # seeds and top-k error
        seed = (seed_from_cams(guess_cams, guess_ids, ev.bg_threshold)
                if mask is not None and self.pairs_log is not None and len(guess_ids) else None)
        for cam, class_id, box in zip(cams, class_ids.tolist(), protocol_boxes, strict=True):
            gt = ann.boxes[ann.box_labels == class_id]
            # masks alone localize on OpenImages (wsolevaluation), which has no boxes
            masked = mask is not None and (len(gt) or (mask == class_id + 1).any())
            if len(gt) == 0 and not masked:
                continue  # a predicted (top-k / all) class that is not in the image
            score_map = normalize_scoremap(cam)
            if masked:
                self.mask_pairs += 1
                if class_id not in self.class_pxap:
                    self.class_pxap[class_id] = PxAPEvaluator(self.cam_grid)
                self.class_pxap[class_id].accumulate(score_map, class_mask(mask, class_id))
                self.center_pxap.accumulate(center_map, class_mask(mask, class_id))
            if len(gt) == 0:
                continue
            ious = self.boxes.best_ious(score_map, gt)
            self.boxes.add_best_ious(ious)
            center_ious = self.center.best_ious(center_map, gt)
            self.center.add_best_ious(center_ious)
            self.center_hits += center_ious >= 0.5
            iou = float(box_iou(box[None], gt).max())
            self.pairs += 1
            self.protocol_hits += iou >= 0.5
            self.protocol_iou_sum.add(iou)
            self.class_pairs[class_id] += 1
            self.class_hits[class_id] += ious >= 0.5
            if self.pairs_log is not None:
                seed_iou = class_iou(seed, mask, class_id) if seed is not None else float("nan")
                self.pairs_log.add(image_id, class_id, ious, 100.0 * iou, seed_iou)
        easy = ~ann.difficult
        top_box = dict(zip(class_ids.tolist(), protocol_boxes, strict=True))
        if easy.any():
            self.corloc.accumulate(top_box, ann.boxes[easy], ann.box_labels[easy])
        if self.loc_accuracy is not None and len(ann.boxes):
            ranked = np.stack(protocol_boxes[: len(guess_ids)]) if len(guess_ids) else \
                np.zeros((0, 4), np.int64)
            self.loc_accuracy.accumulate(guess_ids, ranked, ann.boxes, ann.box_labels)
        if mask is not None:
            self.has_masks = True
            self.seg.accumulate(guess_cams, guess_ids, mask)

    def merge(self, other: EvaluationSuite) -> None:
        """Add what ``other`` (the same settings, other images: a worker's) accumulated; every
        count is an integer and the IoU sum exact, so the result equals one suite fed both."""
        for name in ("boxes", "center", "center_pxap", "seg", "corloc"):
            getattr(self, name).merge(getattr(other, name))
        for class_id, part in other.class_pxap.items():
            if class_id in self.class_pxap:
                self.class_pxap[class_id].merge(part)
            else:
                self.class_pxap[class_id] = part
        self.class_pairs += other.class_pairs
        self.class_hits += other.class_hits
        self.center_hits += other.center_hits
        if self.loc_accuracy is not None:
            self.loc_accuracy.merge(other.loc_accuracy)
        self.pairs += other.pairs
        self.mask_pairs += other.mask_pairs
        self.protocol_hits += other.protocol_hits
        self.protocol_iou_sum.merge(other.protocol_iou_sum)
        self.has_masks = self.has_masks or other.has_masks

    def compute(self) -> dict[str, float]:
        """metrics.json entries (percent; ``*threshold`` keys are thresholds in [0, 1])."""
        if self.pairs == 0 and self.mask_pairs == 0:
            raise DataError(
                "No scored image has a ground-truth box or mask of a class it has CAMs for "
                "(empty annotations, or cam.classes picked no annotated class); check the "
                "split's annotations and cam.classes."
            )
        metrics = self._box_metrics() if self.pairs else {}
        if self.has_masks:
            seg_result = self.seg.compute()
            metrics.update({
                "seg/miou": self.seg.miou_at(self.ev.bg_threshold),
                "seg/miou_best": seg_result["miou_best"],
                "seg/best_threshold": seg_result["best_threshold"],
            })
        if self.mask_pairs:
            metrics["loc/pxap"] = self._pxap(self.pxap)
            metrics["baseline/center/pxap"] = self._pxap(self.center_pxap)
            metrics["loc/mask_pairs"] = float(self.mask_pairs)
        return finite_metrics({k: round(float(v), 4 if "threshold" in k else 2)
                               for k, v in metrics.items()})

    def _box_metrics(self) -> dict[str, float]:
        box_result, center = self.boxes.compute(), self.center.compute()
        best = int(np.argmax(self.class_hits.sum(axis=0)))  # first maximum, as BoxEvaluator
        metrics = {
            "loc/gt_known": 100.0 * self.protocol_hits / self.pairs,
            "loc/mean_iou": 100.0 * self.protocol_iou_sum.value / self.pairs,
            "loc/maxboxacc": self.class_hits.sum(axis=0)[best] * 100.0 / self.pairs,
            "loc/best_threshold": float(self.cam_grid[best]),
            "baseline/center/maxboxacc": self.center_hits.max() * 100.0 / self.pairs,
            "loc/pairs": float(self.pairs),
        }
        if "maxboxacc_v2" in box_result:  # only all contours with IoU {30, 50, 70} is V2
            metrics["loc/maxboxacc_v2"] = box_result["maxboxacc_v2"]
            metrics["baseline/center/maxboxacc_v2"] = center["maxboxacc_v2"]
        for delta in self.ev.iou_thresholds:
            metrics[f"loc/maxboxacc@{delta}"] = box_result[f"maxboxacc@{delta}"]
        corloc = self.corloc.compute()["corloc"]
        if corloc == corloc:  # NaN when no image had a non-difficult box
            metrics["loc/corloc"] = corloc
        if self.loc_accuracy is not None:
            acc = self.loc_accuracy.compute()
            for k in self.loc_accuracy.topk:
                metrics[f"loc/top{k}_loc_err"] = acc[f"top{k}_loc_err"]
                metrics[f"cls/top{k}_err"] = acc[f"top{k}_cls_err"]
        return metrics

    @staticmethod
    def _pxap(evaluator: PxAPEvaluator) -> float:
        """PxAP in percent; NaN when undefined (no ground-truth pixel of a scored class, every
        one ignored, or maps that are zero everywhere), which :func:`finite_metrics` reports."""
        try:
            return evaluator.compute()["pxap"]
        except ValueError:  # its two documented cases: no foreground, nothing predicted
            return float("nan")

    @property
    def pxap(self) -> PxAPEvaluator:
        """The split's PxAP evaluator: the merge of the per-class ones (built on access)."""
        merged = PxAPEvaluator(self.cam_grid)
        for part in self.class_pxap.values():
            merged.merge(part)
        return merged

    def per_class(self, best_threshold: float | None, seg_best_threshold: float | None
                  ) -> dict[int, dict[str, float]]:
        """Per class with at least one scored pair, in percent: ``pairs``, ``maxboxacc`` (its
        own best threshold, ``best_threshold``), ``boxacc`` at the dataset's best threshold
        ``best_threshold`` (IoU 0.5), and with masks ``pxap``, ``seed_iou`` at
        eval.bg_threshold and ``seed_iou_best`` at ``seg_best_threshold``. Classes scored
        against masks only (no boxes) have the mask columns alone."""
        at = None if best_threshold is None else \
            int(np.argmin(np.abs(self.cam_grid - best_threshold)))
        seed_at = seed_best = None
        if self.has_masks:
            seed_at = self.seg.iou_at(self.ev.bg_threshold)[1:]
            seed_best = self.seg.iou_at(seg_best_threshold)[1:] \
                if seg_best_threshold is not None else None
        out = {}
        scored = set(np.flatnonzero(self.class_pairs).tolist()) | set(self.class_pxap)
        for c in sorted(scored):
            row: dict[str, float] = {}
            if self.class_pairs[c]:
                acc = 100.0 * self.class_hits[c] / self.class_pairs[c]
                best = int(np.argmax(acc))
                row.update({"pairs": float(self.class_pairs[c]), "maxboxacc": float(acc[best]),
                            "best_threshold": float(self.cam_grid[best])})
                if at is not None:
                    row["boxacc"] = float(acc[at])
            part = self.class_pxap.get(c)
            if part is not None:
                pxap = self._pxap(part)
                if math.isfinite(pxap):
                    row["pxap"] = pxap
            if seed_at is not None:
                row["seed_iou"] = float(seed_at[c])
            if seed_best is not None:
                row["seed_iou_best"] = float(seed_best[c])
            out[c] = {k: round(v, 4 if "threshold" in k else 2) for k, v in row.items()}
        return out

    def seg_curve(self) -> np.ndarray | None:
        """Seed mIoU (percent) per background threshold, or None without masks."""
        return self.seg.compute()["miou_per_threshold"] if self.has_masks else None
