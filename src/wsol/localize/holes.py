"""V2's hole contours at the levels whose components were settled without tracing.

A hole of ``q > c`` is a 4-connected component of ``q <= c`` not reaching the image border;
``cv2.findContours`` traces it along the foreground pixels around it, so its contour's box is
the hole's bounding box grown by one pixel (checked against OpenCV in the tests). A level c
has C(c) - E(c) holes: components from the settled boxes, Euler number from bit-quads.

Below a traced level b, holes are found by filling ``q <= c`` (4-connected) from a low pixel
near each hole of b (``hole_seeds``): a fill not reaching the border is a hole, fills are
told apart by the mask they share, and when the holes found number C(c) - E(c) they are all
of them. Otherwise (a hole of b split, or one cut off from b's outside) the level is traced
and serves the levels below.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from wsol.localize.level_solver import LevelSolver, Trace


def hole_seeds(s: LevelSolver, t: Trace) -> list[tuple[int, int, int]]:
    """A low pixel near each hole of a traced level: (value, x, y), ascending by value: the
    lowest of the hole contour's rectangle, so in the hole unless something lower lies in the
    rectangle (the fill from it then finds another hole, or the outside, which is not
    counted)."""
    out = []
    for contour, _ in t.holes:
        x, y, w, h = cv2.boundingRect(contour)
        low, _, (mx, my), _ = cv2.minMaxLoc(s.q[y : y + h, x : x + w])
        out.append((int(low), x + mx, y + my))
    return sorted(out)


def resolve_holes(s: LevelSolver) -> None:
    """Record the hole boxes of every untraced level (its component boxes being recorded)."""
    holes = s.ncomp - s.euler()
    traced = sorted(s.traces)
    flag = np.zeros(s.levels.size, dtype=bool)
    flag[traced] = True
    height, width = s.q.shape
    seeds: dict[int, list[tuple[int, int, int]]] = {}
    for i in np.flatnonzero((holes > 0) & ~flag)[::-1].tolist():
        at = bisect.bisect_right(traced, i)
        found: list[tuple[int, int, int, int]] = []
        if at < len(traced):
            ref = traced[at]
            if ref not in seeds:
                seeds[ref] = hole_seeds(s, s.traces[ref])
            level = s._level_list[i]
            s.clear_fill()
            for value, x, y in seeds[ref]:
                if value > level or len(found) == holes[i]:
                    break
                if not s.fill_mask[y + 1, x + 1]:  # else in a hole found already
                    fx, fy, fw, fh = s.fill(x, y, 0, level, 4)
                    if fx > 0 and fy > 0 and fx + fw < width and fy + fh < height:  # a hole
                        found.append((fy - 1, fy + fh, fx - 1, fx + fw))
        if len(found) == holes[i]:
            s.record(np.full(len(found), i), np.array(found, dtype=np.int64))
        else:
            s.trace(i, holes_only=True)
            bisect.insort(traced, i)
