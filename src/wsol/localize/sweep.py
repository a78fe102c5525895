"""Boxes of one uint8 map at many binarisation cutoffs, identical to a per-threshold loop.

wsolevaluation binarises the quantised map as ``q > c`` for every threshold, runs
``cv2.findContours`` and takes bounding rectangles: the first contour of largest area (V1) or
all contours (V2). This module gives the same boxes while tracing only a few levels:

1. A uint8 map has at most 256 distinct binarisations; cutoffs leaving the same number of pixels
   above them share one (level sets are nested).
2. Every 8-connected component of ``q > c`` contains a regional maximum above c; between two
   levels, a component is *born* at each maximum whose value lies between them, and going down
   components otherwise only merge. A level with one component has the foreground's bounding
   box as its only outer contour's box, read off row/column maxima without tracing; once a
   traced level has one component, so has every lower level with the same maxima above it.
   For V1, a level whose image border is all foreground has the image rectangle as outer
   contour, an area no other contour reaches.
3. Between two traced levels a < b, each component of c lies in a component W of a
   (``certify``): alone in W (W holds one component of b and no birth above c, or one maximum
   above c) it is ``q > c`` masked to W. V1 also needs it to be the largest: contour area only
   grows with the pixel set, so the component of a holding b's largest contour Z* must be the
   only one reaching Z*'s area. When W* holds more (a merge inside the interval), short spans
   are flood-filled from Z* level by level, proven the largest when 2 area(Z*) > area(W*) and
   its box touches the foreground's (no enclosing component). What cannot be proven is
   bisected: trace the middle level and recurse.
4. V2 traces first the levels just above where the Euler number (components minus holes, all
   levels at once from bit-quads) falls short of the births: likely merges, so most intervals
   have none and are proven per component, a flood fill checking that several components of b
   inside one W are joined at the interval's top. The holes of each untraced level (C - E of
   them) come from 4-connected fills of ``q <= c`` from near the holes of the traced level
   above (``holes``), or by tracing the level.
5. Traced levels use their foreground crop only (``findContours`` pads with zeros). Outer
   contours are the top level of ``RETR_CCOMP``, which finds the same contours as ``RETR_TREE``;
   holes and islands never win V1's area comparison, so the first largest outer contour is the
   reference's choice. The geometric facts used (areas of nested and of disjoint components,
   hole contour boxes, Euler numbers) are checked against OpenCV in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wsol.localize.level_solver import LevelSolver


@dataclass(frozen=True)
class LevelBoxes:
    """Boxes of every distinct binarisation of a map.

    boxes: int64 (N, 4) inclusive x0, y0, x1, y1 (``x1 = min(x + w, W - 1)`` as wsolevaluation).
    owner: int64 (N,) the binarisation (group) each box belongs to, non-decreasing.
    group_of_cutoff: int64 (L,) the group of each requested cutoff.
    num_groups: number of groups G; every group owns at least one box ([0,0,0,0] if empty).
    """

    boxes: np.ndarray
    owner: np.ndarray
    group_of_cutoff: np.ndarray
    num_groups: int


def _group_cutoffs(q: np.ndarray, cutoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group cutoffs by the binarisation they produce: (rep (G,), count_above (G,), group (L,)).

    Two cutoffs binarise alike iff no pixel value lies between them, i.e. iff as many of the
    map's values are <= each. Groups are ordered by decreasing foreground size (rep ascending);
    rep is each group's smallest cutoff.
    """
    hist = cv2.calcHist([q], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    values = np.flatnonzero(hist)  # the values present, ascending
    rank = values.searchsorted(cutoffs, side="right")  # how many present values are <= c
    used = np.zeros(values.size + 1, dtype=bool)
    used[rank] = True
    group_of_rank = np.cumsum(used) - 1
    group = group_of_rank[rank]
    ranks = np.flatnonzero(used)
    rep = np.full(ranks.size, 256, dtype=np.int64)
    np.minimum.at(rep, group, cutoffs)
    below = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(hist[values], out=below[1:])
    return rep, q.size - below[ranks], group


def sweep_boxes(q: np.ndarray, cutoffs: np.ndarray, multi_contour: bool = False) -> LevelBoxes:
    """Contour boxes of ``q > c`` for every cutoff c, exactly as wsolevaluation computes them.

    q: uint8 (H, W) quantised map. cutoffs: int (L,) binarisation cutoffs (any order, repeats
    allowed). multi_contour=False keeps the first contour of largest ``cv2.contourArea`` (V1);
    True keeps every contour, external and nested (V2). A binarisation without foreground gives
    the single box [0, 0, 0, 0].
    """
    q = np.ascontiguousarray(q, dtype=np.uint8)
    height, width = q.shape
    cutoffs = np.asarray(cutoffs, dtype=np.int64).ravel()
    rep, count, group_of_cutoff = _group_cutoffs(q, cutoffs)
    filled = np.flatnonzero(count > 0)
    if filled.size:
        bounds, at = LevelSolver(q, rep[filled], multi_contour).run()
        # wsolevaluation's box from boundingRect (x, y, w, h): x, y, min(x + w, W - 1), ...
        boxes = bounds[:, [2, 0, 3, 1]]
        boxes[:, 2:] += 1
        np.minimum(boxes, [width, height, width - 1, height - 1], out=boxes)
        owner = filled[at]
        if filled.size < rep.size:  # no foreground: the box [0, 0, 0, 0]
            empty = np.flatnonzero(count == 0)
            boxes = np.concatenate([np.zeros((empty.size, 4), dtype=np.int64), boxes])
            owner = np.concatenate([empty, owner])
        order = np.argsort(owner, kind="stable")
        boxes, owner = boxes[order], owner[order]
    else:
        boxes, owner = np.zeros((rep.size, 4), dtype=np.int64), np.arange(rep.size)
    return LevelBoxes(boxes, owner, group_of_cutoff, rep.size)
