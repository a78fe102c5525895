"""Class maps to segmentation seeds and pseudo-labels (IRN protocol, no CRF).

Labels: 0 background, k + 1 for classifier class k, 255 unlabelled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsol.errors import ConfigError
from wsol.localize.scoremap import zero_flat_maps
from wsol.localize.thresholds import check_thresholds

UNLABELLED = 255


def class_winner(cams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the highest class value and its plane: (H, W) in the maps' dtype, (H, W) intp.

    cams: float (K >= 1, H, W). The first plane wins ties, as ``np.argmax`` (one pass per plane,
    much faster than ``argmax(axis=0)``). A NaN anywhere makes the value NaN.
    """
    value = cams[0].copy()
    index = np.zeros(value.shape, dtype=np.intp)
    for k in range(1, cams.shape[0]):
        np.copyto(index, k, where=cams[k] > value)
        np.maximum(value, cams[k], out=value)
    return value, index


def _winner(cams: np.ndarray, class_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Highest class value (H, W) and its seg label (H, W) int64; first plane wins ties."""
    if cams.ndim != 3 or cams.shape[0] != class_ids.size or class_ids.size == 0:
        raise ValueError(f"cams: expected ({class_ids.size}, H, W) with K >= 1, got {cams.shape}")
    value, win = class_winner(cams)
    if np.isnan(value).any():
        raise ValueError("cams: maps contain NaN; normalise them before making seeds")
    return value, class_ids[win] + 1


def _prepare(
    cams: np.ndarray, class_ids: Sequence[int] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(cams)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    arr = zero_flat_maps(arr)  # NaN or constant planes -> zeros, as normalize_scoremap
    ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() > 253):
        raise ValueError(f"class_ids: expected 0-based classes below 254, got {ids.tolist()}")
    return arr, ids


def seed_from_cams(
    cams: np.ndarray,
    class_ids: Sequence[int] | np.ndarray,
    bg_threshold: float,
) -> np.ndarray:
    """IRN seed: argmax over [background plane tau, class maps]: uint8 (H, W), 0 or k + 1.

    cams: float (K, H, W), each class map divided by its max (values in [0, 1]); class_ids: (K,)
    0-based classes of the planes; a plane holding NaN, or constant, counts as zeros. A pixel
    is foreground when its highest class value is strictly above tau (the background plane
    comes first, so it wins ties; tau is compared in the maps' dtype as IRN's ``np.pad``
    does); among classes the first plane wins ties. K = 0
    (an image without classes) needs ``cams`` of shape (0, H, W) and gives all background.
    """
    arr, ids = _prepare(cams, class_ids)
    tau = check_thresholds(bg_threshold, "eval.bg_threshold")[0]
    if ids.size == 0:
        return np.zeros(arr.shape[1:], dtype=np.uint8)
    value, label = _winner(arr, ids)
    return np.where(value > arr.dtype.type(tau), label, 0).astype(np.uint8)


def pseudo_label_from_cams(
    cams: np.ndarray,
    class_ids: Sequence[int] | np.ndarray,
    fg: float = 0.30,
    bg: float = 0.05,
) -> np.ndarray:
    """IRN pseudo-label without CRF: uint8 (H, W), 0 / k + 1 / 255.

    Foreground label where the seed at tau_fg (``fg``) is foreground, background where the seed
    at tau_bg (``bg``) is background, 255 in between (IRN's ``cam_to_ir_label`` minus the CRF).
    """
    fg_tau = check_thresholds(fg, "pseudo_label.fg")[0]
    bg_tau = check_thresholds(bg, "pseudo_label.bg")[0]
    if bg_tau > fg_tau:
        raise ConfigError(f"pseudo_label.bg ({bg_tau}) must not exceed pseudo_label.fg ({fg_tau})")
    fg_seed = seed_from_cams(cams, class_ids, fg_tau)
    bg_seed = seed_from_cams(cams, class_ids, bg_tau)
    out = np.where(fg_seed > 0, fg_seed, UNLABELLED).astype(np.uint8)
    out[(fg_seed == 0) & (bg_seed == 0)] = 0
    return out
