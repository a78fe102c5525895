"""Interval proofs of the sweep: boxes of the levels between two traced levels a < b.

Every component of ``q > c`` for a < c < b lies in one component W of a, and holds a component
Z of b or a regional maximum with value in (c, b] (a *birth*). So the components of c inside W
number at most the maxima entries of W above c, and exactly one when W holds one Z (or several
joined at c) and no birth above c; a lone component inside W is ``q > c`` masked to W. V1 adds
area arguments and flood fills (``certify_largest``). See ``wsol.localize.sweep``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from wsol.localize.topology import fg_bboxes

if TYPE_CHECKING:
    from wsol.localize.level_solver import LevelSolver, Trace

_MAX_V2_MASKS = 8  # above this many components, V2 bisects instead of masking each one
_FLOOD_SPAN = 16  # V1 flood-fills at most this many levels per interval, one fill per level


def component_mask(q: np.ndarray, low: Trace, j: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pixels of outer component j of the traced level ``low`` of map q: uint8 (h, w) 0/1 on
    the component's bounding rectangle, and that rectangle's image origin (r0, c0).

    Filling the outer contour covers the component and its holes; hole pixels are at or
    below the level, so they never count at the higher levels this mask serves. Components
    nested inside its holes (islands) are removed with a labelling, the rare case.
    """
    x, y, w, h = cv2.boundingRect(low.outer[j])
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.drawContours(mask, low.outer, j, 1, thickness=cv2.FILLED, offset=(-x, -y))
    if low.count > 1:
        pts = low.points
        near = (pts[:, 0] >= x) & (pts[:, 0] < x + w) & (pts[:, 1] >= y) & (pts[:, 1] < y + h)
        near[j] = False
        if near.any() and mask[pts[near, 1] - y, pts[near, 0] - x].any():
            binary = np.greater(q[y : y + h, x : x + w], low.level).view(np.uint8)
            _, labels = cv2.connectedComponents(binary, connectivity=8, ltype=cv2.CV_32S)
            px, py = low.points[j]
            mask = (labels == labels[py - y, px - x]).view(np.uint8)
    return mask, (y, x)


def _inside(mask: np.ndarray, origin: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """bool (k,): which points (k, 2) x, y in image coordinates lie on the mask at origin."""
    ys, xs = pts[:, 1] - origin[0], pts[:, 0] - origin[1]
    h, w = mask.shape
    out = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    out[out] = mask[ys[out], xs[out]] > 0
    return out


def _masked_bboxes(s: LevelSolver, mask: np.ndarray, origin: tuple[int, int], levels) -> np.ndarray:
    """Image bounds (n, 4) r0, r1, c0, c1 of ``q > c`` on the mask at origin, per level."""
    r0, c0 = origin
    h, w = mask.shape
    return fg_bboxes(s.q[r0 : r0 + h, c0 : c0 + w] * mask, levels) + np.array([r0, r0, c0, c0])


def certify_largest(s: LevelSolver, high: Trace, low: Trace, idx: np.ndarray) -> int:
    """V1: the boxes of the levels idx (descending) between two traced levels, where provable;
    returns how many, from the top, were settled.

    Let Z* be the higher level's largest contour and W* the lower level's component holding
    it; every other component of the lower level must have a smaller area than Z* (contour
    area grows with the pixel set). Then, if W* holds no other component of the higher level,
    the levels above every birth inside W* have ``q > c`` masked to W* as their box. Below, on
    short spans and when 2 area(Z*) > area(W*), a level's box is the flood fill of Z* (see
    ``_flood_boxes``)."""
    target = high.areas2[high.best]
    big = [k for k, a in enumerate(low.areas2) if a >= target]
    if len(big) != 1:
        return 0
    star = big[0]
    lo, hi = np.searchsorted(s.maxima, [low.level, high.level], side="right")
    # with no birth between (no maximum in (low, high]) and equal counts, each lower
    # component holds exactly one higher component; otherwise test W* for a second one
    alone = True
    if hi > lo or high.count != low.count:
        contour = low.outer[star]
        inside = sum(
            cv2.pointPolygonTest(contour, (float(c[0, 0, 0]), float(c[0, 0, 1])), False) >= 0
            for c in high.outer
        )
        alone = inside == 1
    settled = 0
    if alone:
        levels = s.levels[idx]
        settled = idx.size
        if hi > lo:  # a component born inside W* exists only below its maximum
            born = s.maxima[lo:hi]
            if low.count > 1:
                mask, origin = component_mask(s.q, low, star)
                born = born[_inside(mask, origin, s.maxima_xy[lo:hi])]
            if born.size:
                settled = int(np.count_nonzero(levels >= born[-1]))
        if settled:
            _emit_component(s, low, star, idx[:settled], levels[:settled])
    rest = idx.size - settled
    if 0 < rest <= _FLOOD_SPAN and 2 * target > low.areas2[star]:
        settled += _flood_boxes(s, high, idx[settled:])
    return settled


def flood_short(s: LevelSolver, high: Trace, low: Trace, idx: np.ndarray) -> int:
    """V1 on a short span: ``certify_largest``'s flood fills alone (no masks)."""
    target = high.areas2[high.best]
    big = [k for k, a in enumerate(low.areas2) if a >= target]
    if len(big) != 1 or 2 * target <= low.areas2[big[0]]:
        return 0
    return _flood_boxes(s, high, idx)


def _flood_boxes(s: LevelSolver, high: Trace, idx: np.ndarray) -> int:
    """Boxes of the component Y* of ``q > c`` holding Z* (the higher level's largest contour),
    for the levels idx (descending) from the top while provable; returns how many.

    The caller has checked that W* (the lower level's component holding Z*) is the only lower
    component reaching area(Z*) and that 2 area(Z*) > area(W*). A component S != Y* inside W*
    then loses to Y* unless it encloses Y*: either Y* encloses S (so S is smaller), or their
    interiors are disjoint inside W*, so area(S) <= area(W*) - area(Y*) < area(Z*) <= area(Y*).
    A component enclosing Y* reaches beyond every side of Y*'s box, which cannot happen when
    that box touches a side of the foreground's box. Then Y* is the unique largest, and its
    box is the flood fill's rectangle.
    """
    best = high.outer[high.best]
    x, y = (int(v) for v in best[0, 0])
    bx, by, bw, bh = cv2.boundingRect(best)
    known = [by, by + bh - 1, bx, bx + bw - 1]  # Y*'s box at the lowest level filled so far
    out: list[list[int]] = []
    for i in idx.tolist():
        fg = s._crop_list[i]
        if fg != known:  # else Y*'s box, between known's and the foreground's, is both
            bx, by, bw, bh = s.flood(x, y, s._level_list[i])
            known = [by, by + bh - 1, bx, bx + bw - 1]
            if not any(a == b for a, b in zip(known, fg, strict=True)):
                break
        out.append(known)
    if out:
        s.emit(idx[: len(out)], np.array(out, dtype=np.int64))
    return len(out)


def certify_all(s: LevelSolver, high: Trace, low: Trace, idx: np.ndarray) -> int:
    """V2's components: a level c is settled when every component W of the lower level holds
    at most one maxima entry above c, or higher components that are connected at the top level
    of idx (so at c too) and no birth in (c, high]; W then holds one component at c (none if
    its maximum is <= c). Returns how many of idx (descending), from the top, were settled;
    their component boxes are recorded (holes come in the hole pass)."""
    k = low.count
    if k > _MAX_V2_MASKS:
        return 0
    lo, hi = np.searchsorted(s.maxima, [low.level, high.level], side="right")
    if hi == lo and high.count == k:  # no birth: each W holds exactly one Z
        floor, parts = -1, [(j, 256) for j in range(k)]
    else:
        found = _per_component(s, high, low, int(lo), s._level_list[idx[0]])
        if found is None:
            return 0
        floor, parts = found
    levels = s.levels[idx]
    settled = int(np.count_nonzero(levels >= floor))
    if settled:
        idx, levels = idx[:settled], levels[:settled]
        for j, top in parts:
            keep = levels < top
            if keep.all():
                _emit_component(s, low, j, idx, levels)
            elif keep.any():
                _emit_component(s, low, j, idx[keep], levels[keep])
    return settled


def _emit_component(s: LevelSolver, low: Trace, j: int, idx: np.ndarray, levels) -> None:
    """Record, for levels idx above the traced level ``low``, the box of ``q > c`` inside its
    component j: the foreground's box when that component is the only one. (Above ``low``,
    ``q > c`` lies inside ``low``'s components.)"""
    if low.count == 1:
        s.emit(idx, s.crop[idx])
    elif low.apart(j):  # no other component's pixels inside its rectangle: no mask needed
        x, y, w, h = cv2.boundingRect(low.outer[j])
        s.emit(idx, fg_bboxes(s.q[y : y + h, x : x + w], levels) + np.array([y, y, x, x]))
    else:
        mask, origin = component_mask(s.q, low, j)
        s.emit(idx, _masked_bboxes(s, mask, origin, levels))


def _per_component(
    s: LevelSolver, high: Trace, low: Trace, lo: int, top_level: int
) -> tuple[int, list[tuple[int, int]]] | None:
    """For ``certify_all``: the lowest settled level and, per lower component j, the level
    from which it is empty (256: never); None when a component holds higher components that
    are apart at ``top_level``."""
    values = s.maxima[lo:].tolist()  # entries above the lower level, ascending
    points = s.maxima_xy[lo:]
    if low.count == 1:
        lab_w, lab_z, lab_m = [0], [0] * high.count, [0] * len(values)
    else:  # which W holds each point (W's index; a W without entries is impossible)
        n_births = sum(v <= high.level for v in values)  # only births can lie outside the Zs
        lab_w = list(range(low.count))
        lab_z = _holder(low, high.points)
        lab_b = _holder(low, points[:n_births])
        if lab_z is None or lab_b is None:  # contours nest: label the lower level instead
            binary = np.greater(s.q, low.level).view(np.uint8)
            _, labels = cv2.connectedComponents(binary, connectivity=8, ltype=cv2.CV_32S)

            def label(pts: np.ndarray) -> list[int]:
                return labels[pts[:, 1], pts[:, 0]].tolist()

            lab_w, lab_z, lab_b = label(low.points), label(high.points), label(points[:n_births])
        # entries above the higher level lie in some Z: their W counts its births only
        lab_m = lab_b + [None] * (len(values) - n_births)
    floor, parts = -1, []
    for j, lab in enumerate(lab_w):
        zs = [i for i, z in enumerate(lab_z) if z == lab]
        v = [x for x, m in zip(values, lab_m, strict=True) if m == lab]  # ascending
        if len(zs) > 1 and not _connected(s, high, zs, top_level):
            return None
        if zs:
            births = [x for x in v if x <= high.level]
            lowest = births[-1] if births else -1
            parts.append((j, 256))
        else:  # only births (at least one): at most one entry above c, at most one component
            lowest = v[-2] if len(v) > 1 else -1
            parts.append((j, v[-1]))  # W's maximum: empty from there up
        floor = max(floor, lowest)
    return floor, parts


def _holder(low: Trace, pts: np.ndarray) -> list[int] | None:
    """Index of the lower component holding each point (k, 2) x, y (pixels of the lower
    level's foreground); None when a point falls inside two outer contours (an island in a
    hole), which ``pointPolygonTest`` cannot tell apart."""
    out = []
    for x, y in pts.tolist():
        at = [j for j, c in enumerate(low.outer) if cv2.pointPolygonTest(c, (x, y), False) >= 0]
        if len(at) != 1:
            return None
        out.append(at[0])
    return out


def _connected(s: LevelSolver, high: Trace, zs: list[int], level: int) -> bool:
    """Whether the components ``zs`` of a traced level lie in one component of ``q > level``."""
    pts = high.points[zs]
    s.flood(int(pts[0, 0]), int(pts[0, 1]), level)
    return bool(s.fill_mask[pts[1:, 1] + 1, pts[1:, 0] + 1].all())
