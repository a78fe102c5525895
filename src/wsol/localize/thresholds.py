"""Threshold grids for sweeps: validation and the wsolevaluation default grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsol.errors import ConfigError


def check_thresholds(values: float | Sequence[float] | np.ndarray, key: str) -> np.ndarray:
    """Validate a threshold grid and return it as a float64 array of shape (T,).

    Thresholds are fractions in [0, 1]; order is kept and duplicates are allowed. ``key``
    names the config entry (e.g. ``eval.cam_thresholds``) so the error says what to fix.
    """
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}: thresholds must be numbers in [0, 1], got {values!r}") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(f"{key}: expected a non-empty flat list of thresholds, got {values!r}")
    bad = ~np.isfinite(arr) | (arr < 0.0) | (arr > 1.0)
    if bad.any():
        raise ConfigError(
            f"{key}: thresholds must lie in [0, 1] (fractions of the map's maximum); "
            f"got {arr[bad][:5].tolist()}. Fix the values in the config."
        )
    return arr


def threshold_grid(interval: float, key: str = "eval.cam_curve_interval") -> np.ndarray:
    """``np.arange(0, 1, interval)``, wsolevaluation's CAM threshold list: (T,) float64."""
    if not (0.0 < interval <= 1.0):
        raise ConfigError(f"{key}: interval must be in (0, 1], got {interval!r}")
    return np.arange(0.0, 1.0, interval, dtype=np.float64)
