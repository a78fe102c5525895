"""Score maps to boxes: the wsolevaluation sweep and the Grad-CAM / CAM paper protocols."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from wsol.errors import ConfigError
from wsol.localize.scoremap import check_scoremap, quantize_scoremap
from wsol.localize.sweep import LevelBoxes, sweep_boxes
from wsol.localize.thresholds import check_thresholds

# Fraction of the map's maximum kept by each paper's box protocol.
PROTOCOLS: dict[str, float] = {
    "gradcam": 0.15,  # Selvaraju et al.: pixels >= 15 % of max, largest connected segment
    "cam": 0.20,  # Zhou et al.: 20 % of max, largest connected component
}


def cutoffs_for(q: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """wsolevaluation's cutoffs ``int(tau * max(q))`` for float64 thresholds: int64 (T,)."""
    return (thresholds * float(q.max())).astype(np.int64)


def sweep_cam(
    cam: np.ndarray,
    thresholds: Sequence[float] | np.ndarray,
    multi_contour: bool = False,
    key: str = "eval.cam_thresholds",
) -> LevelBoxes:
    """Check, quantise and sweep a map: grouped boxes for every threshold (see ``sweep_boxes``).

    cam: float (H, W) in [0, 1]; thresholds: (T,) fractions, validated under config ``key``.
    ``group_of_cutoff`` of the result is indexed by threshold.
    """
    thr = check_thresholds(thresholds, key)
    q = quantize_scoremap(check_scoremap(cam))
    return sweep_boxes(q, cutoffs_for(q, thr), multi_contour)


def boxes_from_cam(
    cam: np.ndarray,
    thresholds: Sequence[float] | np.ndarray,
    multi_contour: bool = False,
) -> list[np.ndarray]:
    """Boxes of a score map at every threshold, with the wsolevaluation semantics.

    cam: float (H, W) in [0, 1] (NaN or out-of-range values raise ``ValueError``; normalise raw
    maps with ``normalize_scoremap``). The map is quantised as ``(cam * 255).astype(uint8)``,
    binarised as ``q > int(tau * q.max())`` (strictly greater), contours are found with
    ``RETR_TREE`` / ``CHAIN_APPROX_SIMPLE``; V1 (``multi_contour=False``) keeps the first contour of
    largest ``cv2.contourArea``, V2 keeps all. Each contour's ``boundingRect`` (x, y, w, h) gives
    ``[x, y, min(x + w, W - 1), min(y + h, H - 1)]``; no contour gives ``[0, 0, 0, 0]``.

    Returns one int64 array (N_t, 4) of inclusive x0, y0, x1, y1 boxes per threshold (N_t = 1 for
    V1). Thresholds outside [0, 1] raise ``ConfigError`` naming ``eval.cam_thresholds``.
    """
    swept = sweep_cam(cam, thresholds, multi_contour)
    bounds = np.searchsorted(swept.owner, np.arange(swept.num_groups + 1))
    per_group = [swept.boxes[bounds[g] : bounds[g + 1]] for g in range(swept.num_groups)]
    return [per_group[g].copy() for g in swept.group_of_cutoff]


def protocol_threshold(protocol: str, threshold: float | None = None) -> float:
    """The fraction of the map's maximum a protocol box keeps: ``threshold`` when given (an
    explicit ``eval.box_threshold``), else the protocol's own (``PROTOCOLS``: "gradcam" 0.15,
    "cam" 0.20). The one place the box threshold is resolved (boxes, scores, report labels)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(
            f"eval.box_protocol: unknown protocol {protocol!r}; choose one of "
            f"{sorted(PROTOCOLS)}"
        )
    if threshold is None:
        threshold = PROTOCOLS[protocol]
    return float(check_thresholds(threshold, "eval.box_threshold")[0])


def box_from_protocol(
    cam: np.ndarray,
    protocol: str = "gradcam",
    threshold: float | None = None,
) -> np.ndarray:
    """One box per map by a paper's protocol: int64 (4,) inclusive x0, y0, x1, y1.

    cam: float (H, W), non-negative, any scale (the float map is used, no quantisation).
    Keeps pixels ``>= fraction * cam.max()`` (fraction: ``protocol_threshold(protocol,
    threshold)``, the protocol's own unless ``threshold`` is given), takes the largest 8-connected
    segment by pixel count (OpenCV's lowest label on ties) and returns its tight box.
    An all-zero map keeps every pixel and so gives the whole-image box; so does a map holding
    NaN, which counts as all zeros (wsolevaluation's ``normalize_scoremap``).
    """
    threshold = protocol_threshold(protocol, threshold)
    arr = np.asarray(cam)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"cam: expected a non-empty 2-D map (H, W), got shape {arr.shape}")
    peak, low = arr.max(), arr.min()
    if np.isnan(peak) or np.isnan(low):  # wsolevaluation: a NaN map counts as all zeros
        arr = np.zeros(arr.shape, np.float32)
        peak = low = arr.dtype.type(0)
    if low < 0:
        raise ValueError(f"cam: map must be non-negative (ReLU'd), got minimum {low:.4g}")
    mask = (arr >= threshold * peak).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # label 0 is the background; the largest foreground label wins, lowest label on ties
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[best, :4])
    return np.array([x, y, x + w - 1, y + h - 1], dtype=np.int64)
