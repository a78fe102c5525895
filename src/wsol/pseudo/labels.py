"""IRN's pseudo-labels (``step/cam_to_ir_label.py``): confident foreground and background.

For each threshold tau in (tau_fg, tau_bg) the seed is the argmax over [a constant plane tau,
the class maps] (:func:`wsol.localize.seed_from_cams`), each seed is refined in the image's
local label space (0 background, l for its l-th class; IRN: a dense CRF), and the two are
combined: the class the tau_fg side
gives where it gives one; background where both sides say background; 255 (ignored) where
the tau_fg side says background but the tau_bg side says foreground.
"""

from __future__ import annotations

import numpy as np

from wsol.errors import ConfigError
from wsol.localize.seeds import UNLABELLED, seed_from_cams
from wsol.pseudo.refiners import RefineInput, Refiner


def combine(fg_side: np.ndarray, bg_side: np.ndarray) -> np.ndarray:
    """IRN's combination of two label maps (H, W) in one label space -> uint8 (H, W)."""
    out = np.where(fg_side > 0, fg_side, UNLABELLED).astype(np.uint8)
    out[(fg_side == 0) & (bg_side == 0)] = 0
    return out


def check_band(fg: float, bg: float) -> None:
    """Both thresholds in [0, 1] with bg <= fg (ConfigError naming ``pseudo.*`` otherwise)."""
    if not (0.0 <= bg <= fg <= 1.0):
        raise ConfigError(f"pseudo.bg_threshold={bg} and pseudo.fg_threshold={fg}: need "
                          "0 <= bg_threshold <= fg_threshold <= 1.")


def pseudo_label(item: RefineInput, fg: float, bg: float,
                 refiner: Refiner) -> tuple[np.ndarray, np.ndarray]:
    """``(refined, unrefined)`` pseudo-labels, uint8 (H, W): 0 background, k + 1 class k,
    255 ignored. ``item.cams`` (K, H, W) are each divided by their max; K = 0 gives all
    background."""
    check_band(fg, bg)
    ids = np.asarray(item.class_ids, np.int64).reshape(-1)
    fg_seed = seed_from_cams(item.cams, ids, fg)  # 0 or k + 1; NaN / flat maps count as 0
    bg_seed = seed_from_cams(item.cams, ids, bg)
    unrefined = combine(fg_seed, bg_seed)
    if ids.size == 0:
        return unrefined, unrefined.copy()
    keys = np.concatenate([[0], ids + 1]).astype(np.uint8)  # local label -> seg label
    local = np.zeros(256, np.int64)
    local[keys] = np.arange(keys.size)
    refined = refiner(item, local[np.stack([fg_seed, bg_seed])])
    return combine(keys[refined[0]], keys[refined[1]]), unrefined
