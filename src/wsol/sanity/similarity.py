"""How alike two saliency maps are, by the four measures of Adebayo et al. (2018).

- ``spearman``: Spearman rank correlation of the signed maps;
- ``spearman_abs``: the same of their absolute values (identical for CAMs, which are >= 0);
- ``ssim``: structural similarity (Wang et al. 2004) of the maps' absolute values, each
  divided by its maximum (so in [0, 1]);
- ``hog``: Pearson correlation of the histograms of oriented gradients of those [0, 1] maps.

A constant map (all zeros: a Grad-CAM whose ReLU kills everything after randomisation) ranks
nothing and has no gradients; its rank and HOG correlations with a varying map are 0 (no
agreement), never NaN, and with an identical map 1.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity

METRICS = ("spearman", "spearman_abs", "ssim", "hog")


def _constant(x: np.ndarray) -> bool:
    return bool(np.ptp(x) == 0)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps of equal shape; 1 when they are equal, else 0 when either
    is constant."""
    x, y = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if np.array_equal(x, y):
        return 1.0
    if _constant(x) or _constant(y):
        return 0.0
    return float(spearmanr(x, y).statistic)


def unit_abs(a: np.ndarray) -> np.ndarray:
    """|a| / max|a| as float64 in [0, 1] (zeros stay zeros)."""
    x = np.abs(np.asarray(a, dtype=np.float64))
    peak = x.max(initial=0.0)
    return x / peak if peak > 0 else x


def ssim_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the [0, 1] absolute maps (H, W); window 7 or the largest odd side below."""
    x, y = unit_abs(a), unit_abs(b)
    side = min(x.shape)
    window = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(x, y, data_range=1.0, win_size=window))


def hog_features(a: np.ndarray) -> np.ndarray:
    """HOG of the [0, 1] absolute map (H, W >= 8): 9 orientations, 2 x 2-cell blocks, cells
    of max(2, min(H, W) // 8) pixels."""
    x = unit_abs(a)
    cell = max(2, min(x.shape) // 8)
    return hog(x, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
               feature_vector=True)


def hog_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the HOG features of two maps; 1 when the features are equal,
    else 0 when either has none."""
    x, y = hog_features(a), hog_features(b)
    if np.array_equal(x, y):
        return 1.0
    if _constant(x) or _constant(y):
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def similarities(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Every measure of :data:`METRICS` between maps ``a`` and ``b`` (H, W)."""
    if np.shape(a) != np.shape(b) or np.ndim(a) != 2:
        raise ValueError(f"maps must be 2-D of one shape, got {np.shape(a)} and {np.shape(b)}")
    return {"spearman": rank_correlation(a, b),
            "spearman_abs": rank_correlation(np.abs(a), np.abs(b)),
            "ssim": ssim_similarity(a, b),
            "hog": hog_similarity(a, b)}
