"""Boxes for the non-empty levels of one quantised map, tracing as few levels as provable.

See ``wsol.localize.sweep`` for the arguments behind each shortcut.
"""

from __future__ import annotations

import cv2
import numpy as np

from wsol.localize.topology import euler_numbers, fg_bboxes, regional_maxima

_MAX_V2_MASKS = 8  # above this many components, V2 traces instead of masking each one
_SHORT_SPAN = 2  # gaps of at most this many positions are traced outright


class _Trace:
    """One traced level: its outer contours (image coordinates), their twice-areas, the index
    of the first largest, and the level's foreground ``binary`` on its crop at ``origin``."""

    __slots__ = ("level", "outer", "areas2", "best", "binary", "origin", "_points")

    def __init__(self, level: int, outer, areas2: list[int], best: int, binary, origin) -> None:
        self.level, self.outer, self.areas2, self.best = level, outer, areas2, best
        self.binary, self.origin = binary, origin
        self._points: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.outer)

    @property
    def points(self) -> np.ndarray:
        """int64 (k, 2) x, y of each outer contour's first point, a pixel of its component."""
        if self._points is None:
            self._points = np.array([c[0, 0] for c in self.outer], dtype=np.int64)
        return self._points


class LevelSolver:
    """Boxes for the non-empty levels of one map (levels ascending, all distinct)."""

    def __init__(self, q: np.ndarray, levels: np.ndarray, multi: bool) -> None:
        self.q, self.levels, self.multi = q, levels, multi
        self.crop = fg_bboxes(q, levels)
        self._crop_list = self.crop.tolist()
        self._level_list = levels.tolist()
        self.done = np.zeros(levels.size, dtype=bool)
        # boxes as inclusive pixel bounds r0, r1, c0, c1; converted once at the end
        self.bounds: list[np.ndarray] = []
        self.owner: list[np.ndarray] = []
        self.traced_bounds: list[tuple[int, int, int, int]] = []
        self.traced_owner: list[int] = []
        self.contours: list[np.ndarray] = []  # V2: every traced contour
        self.contour_owner: list[int] = []
        self._euler: np.ndarray | None = None

    def emit(self, idx: np.ndarray, bounds: np.ndarray, r0: int = 0, c0: int = 0) -> None:
        """Record bounds (n, 4) r0, r1, c0, c1 (relative to r0, c0) for levels idx (n,)."""
        if r0 or c0:
            bounds = bounds + np.array([r0, r0, c0, c0])
        self.bounds.append(bounds)
        self.owner.append(idx)
        self.done[idx] = True

    def euler(self) -> np.ndarray:
        if self._euler is None:  # level 0 has the widest crop; the others nest inside
            r0, r1, c0, c1 = self.crop[0]
            self._euler = euler_numbers(self.q[r0 : r1 + 1, c0 : c1 + 1], self.levels)
        return self._euler

    def trace(self, i: int) -> _Trace:
        r0, r1, c0, c1 = self._crop_list[i]
        binary = np.greater(self.q[r0 : r1 + 1, c0 : c1 + 1], self._level_list[i]).view(np.uint8)
        found, hierarchy = cv2.findContours(
            binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE, offset=(c0, r0)
        )
        if len(found) == 1:
            outer = found
        else:
            top = (hierarchy[0, :, 3] < 0).tolist()
            outer = [c for c, t in zip(found, top, strict=True) if t]
        areas2 = [round(2 * cv2.contourArea(c)) for c in outer]
        best = areas2.index(max(areas2))  # the first of largest area
        if self.multi:
            self.contours.extend(found)
            self.contour_owner.extend([i] * len(found))
        else:
            x, y, w, h = cv2.boundingRect(outer[best])
            self.traced_bounds.append((y, y + h - 1, x, x + w - 1))
            self.traced_owner.append(i)
        self.done[i] = True
        return _Trace(self._level_list[i], outer, areas2, best, binary, (r0, c0))

    def single(self, idx: np.ndarray) -> None:
        """Levels with one component: the foreground box (V2 only without holes)."""
        idx = idx[~self.done[idx]]
        if self.multi:
            holed = self.euler()[idx] != 1
            for i in idx[holed].tolist():
                self.trace(i)
            idx = idx[~holed]
        self.emit(idx, self.crop[idx])

    def _component_mask(self, low: _Trace, j: int) -> np.ndarray:
        """Pixels of outer component j of a traced level, as uint8 (h, w) 0/1 on its crop.

        Filling the outer contour covers the component and its holes; hole pixels are at or
        below the level, so they never count at the higher levels this mask serves. Components
        nested inside its holes (islands) are removed with a labelling, the rare case.
        """
        r0, c0 = low.origin
        mask = np.zeros(low.binary.shape, dtype=np.uint8)
        cv2.drawContours(mask, low.outer, j, 1, thickness=cv2.FILLED, offset=(-c0, -r0))
        others = low.points[np.arange(low.count) != j]
        if others.size and mask[others[:, 1] - r0, others[:, 0] - c0].any():
            _, labels = cv2.connectedComponents(low.binary, connectivity=8, ltype=cv2.CV_32S)
            x, y = low.points[j]
            mask = (labels == labels[y - r0, x - c0]).view(np.uint8)
        return mask

    def _certify_largest(self, high: _Trace, low: _Trace, idx: np.ndarray) -> int:
        """V1 part of ``certify``; cheap tests first, as most attempts fail."""
        target = high.areas2[high.best]
        # contour area grows with the pixel set, so W* (holding Z*) has at least Z*'s area:
        # dominance means it is the only component of the lower level reaching that area
        big = [k for k, a in enumerate(low.areas2) if a >= target]
        if len(big) != 1:
            return 0
        star = big[0]
        lo, hi = np.searchsorted(self.maxima, [low.level, high.level], side="right")
        # with no birth between (no maximum in (low, high]) and equal counts, each lower
        # component holds exactly one higher component; otherwise test W* for a second one
        if hi > lo or high.count != low.count:
            contour = low.outer[star]
            inside = sum(
                cv2.pointPolygonTest(contour, (float(c[0, 0, 0]), float(c[0, 0, 1])), False) >= 0
                for c in high.outer
            )
            if inside != 1:
                return 0
        r0, c0 = low.origin
        h, w = low.binary.shape
        mask = self._component_mask(low, star)
        # a component born inside W* (a maximum there with value v in (low, high]) exists only
        # below v: levels >= the highest such v are still safe
        levels = self.levels[idx]
        if hi > lo:
            pts = self.maxima_xy[lo:hi]
            born = self.maxima[lo:hi][mask[pts[:, 1] - r0, pts[:, 0] - c0] > 0]
            if born.size:
                idx, levels = idx[levels >= born.max()], levels[levels >= born.max()]
        if idx.size:
            masked = self.q[r0 : r0 + h, c0 : c0 + w] * mask
            self.emit(idx, fg_bboxes(masked, levels), r0, c0)
        return idx.size

    def certify(self, high: _Trace, low: _Trace, idx: np.ndarray) -> int:
        """Boxes of the levels ``idx`` (descending) between two traced levels, where provable.

        Returns how many of idx, from the top, were settled. V1: the lower level's component W*
        holding the higher level's largest contour Z* must hold no other component of the
        higher level, every other component must have a smaller area than Z*, and levels below
        a birth inside W* are left out. V2: equal component counts and no birth between
        (checked by the caller); levels with holes are traced.
        """
        if not self.multi:
            return self._certify_largest(high, low, idx)
        k = low.count
        if k > _MAX_V2_MASKS:
            return 0
        r0, c0 = low.origin
        h, w = low.binary.shape
        region = self.q[r0 : r0 + h, c0 : c0 + w]
        levels = self.levels[idx]
        holed = self.euler()[idx] != k
        for i in idx[holed].tolist():
            self.trace(i)
        idx, levels = idx[~holed], levels[~holed]
        if idx.size:
            for j in range(k):
                masked = region * self._component_mask(low, j)
                self.emit(idx, fg_bboxes(masked, levels), r0, c0)
        return len(holed)

    def solve(
        self, order: np.ndarray, traces: dict[int, _Trace], i: int, j: int, start: int = -1
    ) -> None:
        """Fill positions start..j-1 of ``order`` (descending levels; default start i + 1),
        given traced positions i < start and j."""
        n_above = self.n_above
        start = i + 1 if start < 0 else start
        while start < j and traces[i].count == 1 and start == i + 1:
            # one component: so has every lower level with the same maxima above it
            r = i + 1
            while r < j and n_above[order[r]] == n_above[order[i]]:
                r += 1
            self.single(order[i + 1 : r])
            if r >= j:
                return
            if r not in traces:
                traces[r] = self.trace(order[r])
            i, start = r, r + 1
        if start >= j:
            return
        high, low = traces[i], traces[j]
        if j - start <= _SHORT_SPAN:  # tracing beats a likely failed proof on short spans
            for k in range(start, j):
                traces[k] = self.trace(order[k])
            return
        if self.multi:  # V2: no birth between (same maxima above) and equal counts
            ok = n_above[order[i]] == n_above[order[j]] and high.count == low.count
        else:
            ok = True
        settled = self.certify(high, low, order[start:j]) if ok else 0
        if settled == j - start:
            return
        start += settled  # the upper part may be settled; bisect the rest
        m = (start + j) // 2
        traces[m] = self.trace(order[m])
        self.solve(order, traces, i, m, start)
        self.solve(order, traces, m, j)

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        q, levels = self.q, self.levels
        maxima, self.maxima_xy = regional_maxima(q)
        self.maxima = maxima
        self.n_above = maxima.size - np.searchsorted(maxima, levels, side="right")
        certain = self.n_above <= 1
        if not self.multi:
            border = int(min(q[0].min(), q[-1].min(), q[:, 0].min(), q[:, -1].min()))
            certain |= levels < border  # the outer contour is the image rectangle: the largest
        self.single(np.flatnonzero(certain))
        order = np.flatnonzero(~certain)[::-1]
        if order.size:
            traces = {0: self.trace(order[0])}
            if order.size > 1:
                traces[order.size - 1] = self.trace(order[-1])
                self.solve(order, traces, 0, order.size - 1)
        if self.contours:
            self._contour_bounds()
        if self.traced_owner:
            self.emit(np.array(self.traced_owner), np.array(self.traced_bounds, dtype=np.int64))
        b = np.concatenate(self.bounds)
        # wsolevaluation's box from boundingRect (x, y, w, h) is x, y, x + w, y + h
        boxes = np.stack([b[:, 2], b[:, 0], b[:, 3] + 1, b[:, 1] + 1], axis=1)
        return boxes, np.concatenate(self.owner)

    def _contour_bounds(self) -> None:
        """V2: pixel bounds of all traced contours at once."""
        n = len(self.contours)
        lens = np.fromiter((len(c) for c in self.contours), dtype=np.int64, count=n)
        starts = np.zeros(lens.size, dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        pts = np.concatenate(self.contours).reshape(-1, 2).astype(np.int64)
        x0, x1 = np.minimum.reduceat(pts[:, 0], starts), np.maximum.reduceat(pts[:, 0], starts)
        y0, y1 = np.minimum.reduceat(pts[:, 1], starts), np.maximum.reduceat(pts[:, 1], starts)
        self.bounds.append(np.stack([y0, y1, x0, x1], axis=1))
        self.owner.append(np.asarray(self.contour_owner, dtype=np.int64))
