"""Box localization metrics: inclusive-pixel IoU and MaxBoxAcc over a CAM-threshold sweep.

``BoxEvaluator`` follows wsolevaluation (Choe et al., CVPR 2020): per image and threshold the
best IoU over predicted x GT boxes is compared with each delta; BoxAcc(tau, delta) is the
percentage of images reaching it, MaxBoxAcc(delta) its maximum over tau. The other WSOL metrics
(top-k / GT-known localization, CorLoc, pointing game, centre baseline) live in sibling modules
and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsol.errors import ConfigError
from wsol.localize.boxes import sweep_cam
from wsol.localize.scoremap import check_scoremap
from wsol.localize.thresholds import check_thresholds
from wsol.metrics.baselines import center_baseline_map
from wsol.metrics.iou import box_iou, check_boxes, pairwise_iou
from wsol.metrics.loc_accuracy import CorLoc, LocAccuracy, loc_correct
from wsol.metrics.parallel import WorkerPool
from wsol.metrics.pointing import PointingGame, pointing_hit

__all__ = [
    "BoxEvaluator",
    "CorLoc",
    "LocAccuracy",
    "PointingGame",
    "best_ious",
    "box_iou",
    "center_baseline_map",
    "check_boxes",
    "loc_correct",
    "pointing_hit",
]


def _check_iou_thresholds(values: Sequence[float]) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all((arr > 0) & (arr <= 100)):
        raise ConfigError(
            f"eval.iou_thresholds: expected percentages in (0, 100] such as [30, 50, 70], "
            f"got {values!r}"
        )
    return arr


def _delta_name(delta: float) -> str:
    return f"{delta:g}"


def best_ious(
    cam: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray, multi_contour: bool
) -> np.ndarray:
    """Best IoU over predicted x GT boxes at every CAM threshold: float64 (T,).

    cam: float (H, W) in [0, 1]; gt_boxes: (M, 4) inclusive boxes in the map's pixels (none:
    zeros); thresholds: (T,) fractions. The per-image step of ``BoxEvaluator``.
    """
    swept = sweep_cam(cam, thresholds, multi_contour)
    gt = check_boxes(gt_boxes)
    if gt.shape[0] == 0:
        return np.zeros(thresholds.size)
    per_box = pairwise_iou(swept.boxes, gt).max(axis=1)
    starts = np.searchsorted(swept.owner, np.arange(swept.num_groups))
    per_group = np.maximum.reduceat(per_box, starts)
    return per_group[swept.group_of_cutoff]


class BoxEvaluator:
    """Streaming MaxBoxAcc over a CAM-threshold grid, every threshold scored in one pass.

    cam_thresholds: (T,) fractions in [0, 1] (e.g. ``threshold_grid(0.001)``); iou_thresholds:
    deltas in percent; multi_contour: False for MaxBoxAcc (largest contour), True for the
    MaxBoxAccV2 protocol (all contours). Results equal wsolevaluation's per-threshold loop exactly.
    An image without GT boxes counts as a miss at every threshold. workers > 0 spreads images
    over that many spawned processes (inputs are checked here first, so errors stay immediate);
    call ``close()`` or use ``with`` to stop them.
    """

    def __init__(
        self,
        cam_thresholds: Sequence[float] | np.ndarray,
        iou_thresholds: Sequence[float] = (30, 50, 70),
        multi_contour: bool = False,
        workers: int = 0,
    ) -> None:
        self.cam_thresholds = check_thresholds(cam_thresholds, "eval.cam_thresholds")
        self.iou_thresholds = _check_iou_thresholds(iou_thresholds)
        self.multi_contour = bool(multi_contour)
        if int(workers) < 0:
            raise ConfigError(f"eval.workers: expected >= 0, got {workers}")
        self._pool = WorkerPool(best_ious, int(workers)) if int(workers) > 0 else None
        self.reset()

    @property
    def is_v2(self) -> bool:
        """True for wsolevaluation's MaxBoxAccV2 setting: all contours, IoU {30, 50, 70}."""
        return self.multi_contour and sorted(self.iou_thresholds.tolist()) == [30, 50, 70]

    def close(self) -> None:
        """Collect pending results and stop worker processes (if any)."""
        self._drain()
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> BoxEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self) -> None:
        if self._pool is not None:
            for best in self._pool.drain():
                self.add_best_ious(best)

    def reset(self) -> None:
        """Forget all accumulated images."""
        if getattr(self, "_pool", None) is not None:
            for _ in self._pool.drain():  # discard work still in flight
                pass
        self.num_correct = np.zeros((self.iou_thresholds.size, self.cam_thresholds.size), np.int64)
        self.num_images = 0

    def best_ious(self, cam: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
        """Best IoU over predicted x GT boxes at every CAM threshold: float64 (T,).

        cam: float (H, W) in [0, 1]; gt_boxes: (M, 4) inclusive boxes in the map's pixels.
        """
        return best_ious(cam, gt_boxes, self.cam_thresholds, self.multi_contour)

    def accumulate(self, cam: np.ndarray, gt_boxes: np.ndarray) -> None:
        """Add one image: cam float (H, W) in [0, 1], gt_boxes (M, 4) inclusive x0, y0, x1, y1."""
        if self._pool is None:
            self.add_best_ious(self.best_ious(cam, gt_boxes))
            return
        cam = check_scoremap(cam)
        gt = check_boxes(gt_boxes)
        for best in self._pool.submit(cam, gt, self.cam_thresholds, self.multi_contour):
            self.add_best_ious(best)

    def add_best_ious(self, best: np.ndarray) -> None:
        """Add one image's per-threshold best IoU (T,), e.g. computed by ``best_ious`` elsewhere."""
        best = np.asarray(best, dtype=np.float64)
        if best.shape != self.cam_thresholds.shape:
            raise ValueError(
                f"best IoUs: expected shape {self.cam_thresholds.shape}, got {best.shape}"
            )
        self.num_correct += best[None, :] >= (self.iou_thresholds[:, None] / 100)
        self.num_images += 1

    def merge(self, other: BoxEvaluator) -> None:
        """Add the counts of another evaluator with the same settings (e.g. from a worker)."""
        if not (
            np.array_equal(other.cam_thresholds, self.cam_thresholds)
            and np.array_equal(other.iou_thresholds, self.iou_thresholds)
            and other.multi_contour == self.multi_contour
        ):
            raise ValueError("BoxEvaluator.merge: the evaluators have different settings")
        self._drain()
        other._drain()
        self.num_correct += other.num_correct
        self.num_images += other.num_images

    def curves(self) -> dict[str, np.ndarray]:
        """BoxAcc in percent per threshold: {"cam_threshold": (T,), "boxacc@30": (T,), ...}."""
        self._drain()
        if self.num_images == 0:
            raise ValueError("BoxEvaluator: no images accumulated")
        acc = self.num_correct * 100.0 / self.num_images
        out = {"cam_threshold": self.cam_thresholds.copy()}
        for delta, row in zip(self.iou_thresholds, acc, strict=True):
            out[f"boxacc@{_delta_name(delta)}"] = row
        return out

    def compute(self) -> dict[str, float]:
        """MaxBoxAcc per delta (percent), their mean, and the best threshold per delta (fraction).

        Keys: "maxboxacc@30", ..., "maxboxacc_mean" (mean over the deltas), "maxboxacc_v2"
        (the same mean, present only when it is the paper's MaxBoxAccV2: all contours and
        deltas {30, 50, 70}), "best_threshold@30", ..., "num_images". The best threshold is
        the first one reaching the maximum.
        """
        curves = self.curves()
        out: dict[str, float] = {}
        maxima = []
        for delta in self.iou_thresholds:
            row = curves[f"boxacc@{_delta_name(delta)}"]
            best = int(np.argmax(row))
            out[f"maxboxacc@{_delta_name(delta)}"] = float(row[best])
            out[f"best_threshold@{_delta_name(delta)}"] = float(self.cam_thresholds[best])
            maxima.append(row[best])
        out["maxboxacc_mean"] = float(np.mean(maxima))
        if self.is_v2:
            out["maxboxacc_v2"] = out["maxboxacc_mean"]
        out["num_images"] = float(self.num_images)
        return out
