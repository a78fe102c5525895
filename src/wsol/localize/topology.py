"""Topology of the level sets ``q > c`` of a uint8 map, for all levels at once."""

from __future__ import annotations

import cv2
import numpy as np

_KERNEL3 = np.ones((3, 3), np.uint8)
_BORDER = {"borderType": cv2.BORDER_CONSTANT, "borderValue": 0}


def fg_bboxes(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Bounding box of ``q > c`` per level (each non-empty): int64 (n, 4) as r0, r1, c0, c1."""
    out = np.empty((levels.size, 4), dtype=np.int64)
    for axis, col in ((1, 0), (0, 2)):
        prof = q.max(axis=axis)
        out[:, col] = np.maximum.accumulate(prof).searchsorted(levels, side="right")
        rev = np.maximum.accumulate(prof[::-1]).searchsorted(levels, side="right")
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
    on a non-maximal plateau and is dropped (other pieces of such a plateau may stay: extra
    entries, with values of pixels without a higher neighbour, only loosen the bound too).
    """
    flat = cv2.compare(q, cv2.dilate(q, _KERNEL3, **_BORDER), cv2.CMP_EQ)  # no higher neighbour
    rim = cv2.bitwise_and(flat, cv2.compare(q, cv2.erode(q, _KERNEL3, **_BORDER), cv2.CMP_NE))
    # pixels with a higher neighbour carry q + 1 (<= 255, as they are < 255), flat ones 0: a rim
    # pixel sees its own value + 1 around it iff an equal neighbour has a higher neighbour
    q1 = cv2.add(q, np.ones_like(q))  # array operands: OpenCV reads an int as a Scalar
    spoiled = cv2.compare(cv2.dilate(cv2.subtract(q1, flat), _KERNEL3, **_BORDER), q1, cv2.CMP_EQ)
    n, labels = cv2.connectedComponents(rim, connectivity=8, ltype=cv2.CV_32S)
    at = np.flatnonzero(rim.view(bool))  # rim pixels, raster order
    label_of = labels.ravel()[at]
    value = q.ravel()[at]
    good = np.ones(n, dtype=bool)
    good[label_of[spoiled.ravel()[at].view(bool) & (value != 255)]] = False  # q1 saturates
    keep = good[label_of]
    first = np.full(n, -1, dtype=np.int64)
    first[label_of[keep][::-1]] = np.flatnonzero(keep)[::-1]  # last write wins: first pixel
    pick = first[first >= 0]
    value = value[pick].astype(np.int64)
    order = np.argsort(value, kind="stable")
    ys, xs = np.divmod(at[pick[order]], q.shape[1])
    return value[order], np.stack([xs, ys], axis=1)


def regional_max_values(q: np.ndarray) -> np.ndarray:
    """Values of ``regional_maxima``: int64 (k,) ascending."""
    return regional_maxima(q)[0]


_KERNEL2 = np.ones((2, 2), np.uint8)


def _histogram(x: np.ndarray) -> np.ndarray:
    return cv2.calcHist([x], [0], None, [256], [0, 256]).ravel()  # float32, exact below 2^24


def euler_numbers(q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Euler number (8-connected components minus holes) of ``q > c`` per level c >= -1: (n,)
    int64 (at -1 the whole image: 1).

    Gray's bit-quads over the zero-padded image, for all levels at once: with s1 <= .. <= s4
    the values of a 2x2 window, it is a one-pixel quad on [s3, s4), a three-pixel quad on
    [s1, s2), a diagonal pair on [max(other two), min(pair)); E = (Q1 - Q3 - 2 QD) / 4. The
    windows' four values together are each pixel four times plus the padding, so
    hist(s3) - hist(s4) - hist(s1) + hist(s2) = 4 hist(q) + pad - 2 hist(s1) - 2 hist(s4).
    """
    height, width = q.shape
    p = cv2.copyMakeBorder(q, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    s1 = cv2.erode(p, _KERNEL2, anchor=(0, 0), **_BORDER)[:-1, :-1]  # window minima
    s4 = cv2.dilate(p, _KERNEL2, anchor=(0, 0), **_BORDER)[:-1, :-1]  # window maxima
    a, b, c, d = p[:-1, :-1], p[:-1, 1:], p[1:, :-1], p[1:, 1:]
    lo1, lo2 = cv2.max(b, c), cv2.max(a, d)
    hi1 = cv2.max(lo1, cv2.min(a, d))  # empty intervals cancel
    hi2 = cv2.max(lo2, cv2.min(b, c))
    h = _histogram
    diff = 4 * h(q)
    diff[0] += 4 * (height + width + 1)  # padding pixels, all 0, in the windows
    diff -= 2 * (h(s1) + h(s4) + h(lo1) - h(hi1) + h(lo2) - h(hi2))
    four_e = np.empty(257, dtype=np.int64)
    four_e[0] = 4  # level -1: the image rectangle
    np.cumsum(diff.astype(np.int64), out=four_e[1:])
    return four_e[np.asarray(levels) + 1] // 4
