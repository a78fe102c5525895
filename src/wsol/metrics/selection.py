"""Operating thresholds chosen on one split (train-fullsup) and applied to another (test).

wsolevaluation's protocol (Choe et al., CVPR 2020): everything that needs localization labels
to be set — the CAM threshold a deployed model would use, and any hyperparameter — is chosen on
the small fully-supervised split, and ``test`` only reports. MaxBoxAcc / PxAP themselves are
threshold-free (each is a maximum or an area over every threshold of the split it scores);
these helpers give the operating-point numbers beside them: the threshold that is best on the
selection split, and what it scores on the test split.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def chosen_thresholds(curves: Mapping[str, np.ndarray], grid: np.ndarray) -> dict[str, float]:
    """Per IoU delta, the first threshold of ``grid`` (T,) reaching the best BoxAcc.

    curves: ``BoxEvaluator.curves()`` of the selection split ({"boxacc@50": (T,) %, ...}).
    Returns {"50": tau, ...} keyed by the delta's name.
    """
    return {name.split("@", 1)[1]: float(grid[int(np.argmax(values))])
            for name, values in curves.items() if name.startswith("boxacc@")}


def boxacc_at(curves: Mapping[str, np.ndarray], grid: np.ndarray,
              thresholds: Mapping[str, float]) -> dict[str, float]:
    """BoxAcc (%) of ``curves`` (the scored split) at each delta's chosen threshold.

    The grids of both splits are the same, so each threshold is looked up exactly.
    """
    out = {}
    for delta, tau in thresholds.items():
        index = int(np.flatnonzero(np.isclose(grid, tau))[0])
        out[delta] = float(curves[f"boxacc@{delta}"][index])
    return out


def pixel_iou_curve(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    """Foreground IoU (%) per threshold from precision and recall in % (PxAPEvaluator.curves):
    TP / (TP + FP + FN) = p r / (p + r - p r); 0 where nothing is predicted or found."""
    p, r = np.nan_to_num(precision / 100.0), np.nan_to_num(recall / 100.0)
    denominator = p + r - p * r
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(denominator > 0, p * r / np.where(denominator > 0, denominator, 1), 0.0)
    return 100.0 * iou
