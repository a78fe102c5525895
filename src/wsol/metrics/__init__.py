"""Evaluators for WSOL / WSSS: boxes (MaxBoxAcc), pixels (PxAP), seeds (mIoU) and friends.

All are streaming (``accumulate`` per image, ``compute`` at the end) and score every threshold
of a sweep in the same pass.
"""

from wsol.metrics.baselines import center_baseline_map
from wsol.metrics.iou import box_iou, check_boxes
from wsol.metrics.loc_accuracy import CorLoc, LocAccuracy, loc_correct
from wsol.metrics.localization import BoxEvaluator
from wsol.metrics.pixel import PxAPEvaluator
from wsol.metrics.pointing import PointingGame, boxes_to_mask, pointing_hit
from wsol.metrics.segmentation import LabelEvaluator, SegEvaluator, scores_from_confusion

__all__ = [
    "BoxEvaluator",
    "CorLoc",
    "LabelEvaluator",
    "LocAccuracy",
    "PointingGame",
    "PxAPEvaluator",
    "SegEvaluator",
    "box_iou",
    "boxes_to_mask",
    "center_baseline_map",
    "check_boxes",
    "loc_correct",
    "pointing_hit",
    "scores_from_confusion",
]
