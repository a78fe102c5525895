"""V2's hole contours at the levels whose components were settled without tracing.

A hole of ``q > c`` is a 4-connected component of ``q <= c`` that does not reach the image
border; ``cv2.findContours`` traces it along the foreground pixels around it, so its contour's
box is the hole's bounding box grown by one pixel (checked against OpenCV in the tests).

Let b > c be a traced level. Every hole of c lies in a hole of b or in b's outside (``q <= c``
is inside ``q <= b``), and every hole H of b that has pixels at or below c holds at least one
hole of c. The number of holes of c is C(c) - E(c): components from the settled boxes, Euler
number from bit-quads. When it equals the number of holes of b reaching down to c, each of
those holds exactly one hole of c, ``q <= c`` masked to H, and no other hole exists. Otherwise
the level is traced and serves the levels below it in turn.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

import cv2
import numpy as np

from wsol.localize.topology import sub_bboxes

if TYPE_CHECKING:
    from wsol.localize.level_solver import LevelSolver, Trace


def hole_masks(s: LevelSolver, t: Trace) -> tuple[list[tuple[np.ndarray, int, int]], np.ndarray]:
    """Each hole of a traced level as (uint8 (h, w) 0/1 on the hole's bounding rectangle, its
    image origin r0, c0), and its lowest value, int64 (m,). The filled hole contour holds the
    hole and its border (above the level); components inside the hole (islands) are cut out
    with whatever they enclose."""
    masks, lowest = [], []
    pts = t.points
    for contour, parent in t.holes:
        x, y, w, h = cv2.boundingRect(contour)
        mask = np.zeros((h, w), dtype=np.uint8)
        cv2.drawContours(mask, [contour], 0, 1, thickness=cv2.FILLED, offset=(-x, -y))
        if t.count > 1:
            near = (pts[:, 0] >= x) & (pts[:, 0] < x + w) & (pts[:, 1] >= y) & (pts[:, 1] < y + h)
            near[parent] = False  # the parent's first point may lie on a thin hole border
            for j in np.flatnonzero(near).tolist():
                if mask[pts[j, 1] - y, pts[j, 0] - x]:
                    cv2.drawContours(mask, t.outer, j, 0, thickness=cv2.FILLED, offset=(-x, -y))
        masks.append((mask, y, x))
        lowest.append(cv2.minMaxLoc(s.q[y : y + h, x : x + w], mask=mask)[0])
    return masks, np.asarray(lowest, dtype=np.int64)


def resolve_holes(s: LevelSolver) -> None:
    """Record the hole boxes of every untraced level (its component boxes being recorded)."""
    holes = s.ncomp - s.euler()
    traced = sorted(s.traces)
    flag = np.zeros(s.levels.size, dtype=bool)
    flag[traced] = True
    need = np.flatnonzero((holes > 0) & ~flag)[::-1]  # descending positions
    cache: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}
    while need.size:
        at = bisect.bisect_right(traced, int(need[0]))
        if at == len(traced):  # nothing traced above: trace it
            s.trace(int(need[0]), holes_only=True)
            traced.insert(at, int(need[0]))
            need = need[1:]
            continue
        ref = traced[at]
        group = need[need > (traced[at - 1] if at else -1)]
        if ref not in cache:
            cache[ref] = hole_masks(s, s.traces[ref])
        masks, lowest = cache[ref]
        levels = s.levels[group]
        reached = lowest[None, :] <= levels[:, None]  # (g, m): hole j of ref reaches level
        ok = reached.sum(axis=1) == holes[group]
        n_ok = int(np.argmin(ok)) if not ok.all() else group.size
        if n_ok:
            _emit_pieces(s, masks, group[:n_ok], levels[:n_ok], reached[:n_ok])
        if n_ok < group.size:
            s.trace(int(group[n_ok]), holes_only=True)
            bisect.insort(traced, int(group[n_ok]))
            need = need[n_ok + 1 :]
        else:
            need = need[group.size :]


def _emit_pieces(s, masks, idx, levels, reached) -> None:
    """Boxes of ``q <= c`` masked to each hole, grown by one pixel: the hole contours."""
    for j, (mask, r0, c0) in enumerate(masks):
        sel = reached[:, j]
        if sel.any():
            h, w = mask.shape
            b = sub_bboxes(s.q[r0 : r0 + h, c0 : c0 + w], mask, levels[sel])
            s.emit_holes(idx[sel], b + np.array([r0 - 1, r0 + 1, c0 - 1, c0 + 1]))
