"""Score-map checks, normalisation and uint8 quantisation (wsolevaluation conventions)."""

from __future__ import annotations

import numpy as np


def check_scoremap(cam: np.ndarray, name: str = "cam") -> np.ndarray:
    """Check a 2-D float score map in [0, 1] and return it as an ndarray (H, W), not copied.

    Raises ``ValueError`` for NaN, values outside [0, 1], a wrong rank or a non-float dtype,
    as wsolevaluation's ``check_scoremap_validity`` does. Call :func:`normalize_scoremap` first
    for raw maps (it maps NaN and constant maps to zeros).
    """
    arr = np.asarray(cam)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D score map (H, W), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name}: expected a float score map, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty score map of shape {arr.shape}")
    lo, hi = float(arr.min()), float(arr.max())
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(
            f"{name}: score map contains NaN; normalise it with "
            "wsol.localize.normalize_scoremap (NaN maps become zeros, as in wsolevaluation)"
        )
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name}: score map values must be in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
            "normalise it with wsol.localize.normalize_scoremap"
        )
    return arr


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to [0, 1]: (H, W) float -> (H, W) float32.

    As wsolevaluation's ``normalize_scoremap``: a map containing NaN, or a constant map,
    becomes all zeros (so it yields the box ``[0, 0, 0, 0]`` at every threshold).
    """
    arr = np.asarray(cam, dtype=np.float32)
    if np.isnan(arr).any():
        return np.zeros_like(arr)
    lo, hi = arr.min(), arr.max()
    if lo == hi:
        return np.zeros_like(arr)
    out = arr - lo
    out /= out.max()
    return out


def zero_flat_maps(cams: np.ndarray) -> np.ndarray:
    """Class maps (K, H, W) with every plane holding NaN, or constant, replaced by zeros.

    The per-plane rule of :func:`normalize_scoremap` for maps that are only divided by their
    max (IRN seeds): such a plane says nothing about where the object is. Returns ``cams``
    itself (no copy) when no plane needs it.
    """
    arr = np.asarray(cams)
    if arr.ndim != 3 or arr.size == 0:
        return arr
    flat = arr.reshape(arr.shape[0], -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)  # NaN anywhere in a plane makes both NaN
    bad = np.isnan(lo) | np.isnan(hi) | (lo == hi)
    if not bad.any():
        return arr
    out = arr.copy()
    out[bad] = 0
    return out


def quantize_scoremap(cam: np.ndarray) -> np.ndarray:
    """``(cam * 255).astype(uint8)`` exactly as wsolevaluation: (H, W) float -> (H, W) uint8.

    The product is taken in the map's own dtype (float32 maps in float32), truncating.
    """
    return (np.asarray(cam) * 255).astype(np.uint8)
