"""Data-free baseline score maps for calibrating localization metrics."""

from __future__ import annotations

import numpy as np

from wsol.localize.scoremap import normalize_scoremap


def center_baseline_map(height: int, width: int, sigma: float = 1.0) -> np.ndarray:
    """Isotropic Gaussian centred on the image, min-max normalised: float32 (H, W) in [0, 1].

    Coordinates are scaled so each half side spans 1 (the image is [-1, 1]^2); ``sigma`` is the
    standard deviation in those units (1, as wsolevaluation's centre-Gaussian baseline). A
    threshold sweep turns it into centred boxes, so sigma hardly changes MaxBoxAcc.
    """
    if height < 1 or width < 1 or sigma <= 0:
        raise ValueError(f"center_baseline_map: bad size {height}x{width} or sigma {sigma}")
    v = (np.arange(height, dtype=np.float64) - (height - 1) / 2) / (height / 2)
    u = (np.arange(width, dtype=np.float64) - (width - 1) / 2) / (width / 2)
    g = np.exp(-(v[:, None] ** 2 + u[None, :] ** 2) / (2 * sigma**2))
    return normalize_scoremap(g)
