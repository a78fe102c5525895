"""Topology of the level sets ``q > c`` of a uint8 map, for all levels at once."""

from __future__ import annotations

import cv2
import numpy as np

_KERNEL3 = np.ones((3, 3), np.uint8)


def fg_bboxes(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Bounding box of ``q > c`` per level (each non-empty): int64 (n, 4) as r0, r1, c0, c1."""
    out = np.empty((levels.size, 4), dtype=np.int64)
    for axis, col in ((1, 0), (0, 2)):
        prof = q.max(axis=axis).astype(np.int64)
        out[:, col] = np.searchsorted(np.maximum.accumulate(prof), levels, side="right")
        rev = np.searchsorted(np.maximum.accumulate(prof[::-1]), levels, side="right")
        out[:, col + 1] = prof.size - 1 - rev
    return out


def regional_maxima(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regional maxima of q, at least one entry per maximum: values int64 (k,) ascending and a
    pixel of each, int64 (k, 2) as x, y.

    A regional maximum is an 8-connected plateau whose neighbours are all lower; every
    8-connected component of ``q > c`` contains one with value > c, so the number of entries
    above c bounds the number of components. Plateau interiors (pixels whose 8 neighbours all
    share their value) are skipped for speed: a maximum then counts once per piece of its rim,
    which only loosens the bound; a rim piece touching a pixel that has a higher neighbour is
    on a non-maximal plateau and is dropped.
    """
    border = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}
    flat = q == cv2.dilate(q, _KERNEL3, **border)  # no neighbour is higher
    rim = flat & (q != cv2.erode(q, _KERNEL3, **border))
    # q = 255 is always flat, so non-flat values + 1 fit in uint8; the wrap to 0 marks q = 255
    q1 = q + np.uint8(1)
    lifted = np.where(flat, np.uint8(0), q1)
    spoiled = (cv2.dilate(lifted, _KERNEL3, **border) == q1) & (q1 != 0) & rim
    n, labels = cv2.connectedComponents(rim.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    good = np.ones(n, dtype=bool)
    good[0] = False
    good[labels[spoiled]] = False
    ys, xs = np.nonzero(rim)
    label_of = labels[ys, xs]
    keep = good[label_of]
    _, first = np.unique(label_of[keep], return_index=True)  # one pixel per kept label
    ys, xs = ys[keep][first], xs[keep][first]
    value = q[ys, xs].astype(np.int64)
    order = np.argsort(value, kind="stable")
    return value[order], np.stack([xs[order], ys[order]], axis=1).astype(np.int64)


def regional_max_values(q: np.ndarray) -> np.ndarray:
    """Values of ``regional_maxima``: int64 (k,) ascending."""
    return regional_maxima(q)[0]


def euler_numbers(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Euler number (8-connected components minus holes) of ``q > c`` per level c >= 0: (n,) int.

    Gray's bit-quad counts over the zero-padded image, for all levels at once: each 2x2 window
    is a one-pixel quad on [3rd, 4th largest), a three-pixel quad on [min, 2nd smallest), and
    a diagonal pair on [max(other two), min(pair)); E = (Q1 - Q3 - 2 QD) / 4.
    """
    p = np.zeros((q.shape[0] + 2, q.shape[1] + 2), dtype=np.uint8)
    p[1:-1, 1:-1] = q
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    hi_ab, lo_ab = np.maximum(a, b), np.minimum(a, b)
    hi_cd, lo_cd = np.maximum(c, d), np.minimum(c, d)
    mid_hi, mid_lo = np.minimum(hi_ab, hi_cd), np.maximum(lo_ab, lo_cd)
    s4, s3 = np.maximum(hi_ab, hi_cd), np.maximum(mid_hi, mid_lo)
    s1, s2 = np.minimum(lo_ab, lo_cd), np.minimum(mid_hi, mid_lo)
    lo1, hi1 = np.maximum(b, c), np.minimum(a, d)
    lo2, hi2 = np.maximum(a, d), np.minimum(b, c)
    hi1 = np.maximum(lo1, hi1)  # empty intervals cancel
    hi2 = np.maximum(lo2, hi2)

    def count(x: np.ndarray) -> np.ndarray:
        return np.bincount(x.ravel(), minlength=257)

    diff = count(s3) - count(s4) - count(s1) + count(s2)
    diff -= 2 * (count(lo1) - count(hi1) + count(lo2) - count(hi2))
    four_e = np.cumsum(diff)
    return four_e[levels] // 4
