"""Boxes for the non-empty levels of one quantised map, tracing as few levels as provable.

See ``wsol.localize.sweep`` for the arguments behind each shortcut; the interval proofs are in
``wsol.localize.certify`` and V2's hole pass in ``wsol.localize.holes``.
"""

from __future__ import annotations

import cv2
import numpy as np

from wsol.localize.certify import certify_all, certify_largest, flood_short
from wsol.localize.holes import resolve_holes
from wsol.localize.topology import euler_numbers, fg_bboxes, regional_maxima

_SHORT_SPAN = 2  # gaps of at most this many positions are traced outright
_FILL_FLAGS = cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)


class Trace:
    """One traced level: its outer contours (image coordinates), for V1 their twice-areas and
    the index of the first largest, for V2 its holes (contour, index of the outer parent), and
    its foreground crop's ``origin`` (r0, c0). The binary itself is not kept (memory traffic)."""

    __slots__ = ("level", "outer", "areas2", "best", "holes", "origin", "_points", "_apart")

    def __init__(self, level: int, outer: list, origin: tuple[int, int]):
        self.level, self.outer, self.origin = level, outer, origin
        self.areas2: list[int] = []
        self.best = 0
        self.holes: list[tuple[np.ndarray, int]] = []
        self._points: np.ndarray | None = None
        self._apart: list[bool] | None = None

    def apart(self, j: int) -> bool:
        """Whether outer contour j's bounding rectangle meets no other one's: then every pixel
        of the level inside that rectangle belongs to component j."""
        if self._apart is None:
            r = np.array([cv2.boundingRect(c) for c in self.outer], dtype=np.int64)
            x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]
            meet = (x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None])
            meet &= (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None])
            self._apart = (meet.sum(axis=1) == 1).tolist()
        return self._apart[j]

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
        self.ncomp = np.zeros(levels.size, dtype=np.int64)  # component boxes emitted per level
        self.traces: dict[int, Trace] = {}  # by level position
        # boxes as inclusive pixel bounds r0, r1, c0, c1; converted once at the end
        self.bounds: list[np.ndarray] = []
        self.owner: list[np.ndarray] = []
        self.traced_bounds: list[tuple[int, int, int, int]] = []
        self.traced_owner: list[int] = []
        self.contours: list[np.ndarray] = []  # V2: every traced contour
        self.contour_owner: list[int] = []
        self.maxima, self.maxima_xy = regional_maxima(q)
        self._euler: np.ndarray | None = None
        # one buffer for every flood fill, cleared where the last fill wrote (memory traffic)
        self.fill_mask = np.zeros((q.shape[0] + 2, q.shape[1] + 2), dtype=np.uint8)
        self._filled = (0, 0, 0, 0)

    def emit(self, idx: np.ndarray, bounds: np.ndarray, r0: int = 0, c0: int = 0) -> None:
        """Record one component box per level: bounds (n, 4) r0, r1, c0, c1 (relative to r0, c0)
        for levels idx (n,), distinct."""
        self.record(idx, bounds, r0, c0)
        self.ncomp[idx] += 1
        self.done[idx] = True

    def record(self, idx: np.ndarray, bounds: np.ndarray, r0: int = 0, c0: int = 0) -> None:
        """Record boxes (n, 4) for levels idx (n,) without counting them as components."""
        if r0 or c0:
            bounds = bounds + np.array([r0, r0, c0, c0])
        self.bounds.append(bounds)
        self.owner.append(idx)

    def flood(self, x: int, y: int, level: int) -> tuple[int, int, int, int]:
        """Flood-fill the component of ``q > level`` holding pixel (x, y) (which must be in it):
        its rectangle x, y, w, h; it stays marked 1 in ``fill_mask`` (offset by one pixel)
        until the next ``clear_fill``, which this call starts with."""
        self.clear_fill()
        return self.fill(x, y, level + 1, 255, 8)

    def fill(self, x: int, y: int, low: int, high: int, conn: int) -> tuple[int, int, int, int]:
        """Flood-fill from pixel (x, y) (low <= q <= high there) the pixels in [low, high],
        ``conn``-connected, stopping at pixels already marked in ``fill_mask``: rectangle."""
        v = int(self.q[y, x])
        rect = cv2.floodFill(
            self.q, self.fill_mask, (x, y), 0, v - low, high - v, _FILL_FLAGS | conn
        )[3]
        fx, fy, fw, fh = self._filled
        if fw:  # grow the region to clear to cover this fill too
            x0, y0 = min(fx, rect[0]), min(fy, rect[1])
            x1, y1 = max(fx + fw, rect[0] + rect[2]), max(fy + fh, rect[1] + rect[3])
            self._filled = (x0, y0, x1 - x0, y1 - y0)
        else:
            self._filled = rect
        return rect

    def clear_fill(self) -> None:
        """Unmark every pixel filled since the last clear."""
        fx, fy, fw, fh = self._filled
        self.fill_mask[fy : fy + fh + 2, fx : fx + fw + 2] = 0
        self._filled = (0, 0, 0, 0)

    def euler(self) -> np.ndarray:
        """Euler numbers of all levels: int64 (n,)."""
        if self._euler is None:  # level 0 has the widest crop; the others nest inside
            r0, r1, c0, c1 = self._crop_list[0]
            self._euler = euler_numbers(self.q[r0 : r1 + 1, c0 : c1 + 1], self.levels)
        return self._euler

    def trace(self, i: int, holes_only: bool = False) -> Trace:
        """Trace level position i with ``cv2.findContours`` on its foreground crop and record its
        boxes (V2 with holes_only: the holes alone, its components being settled already)."""
        r0, r1, c0, c1 = self._crop_list[i]
        binary = np.greater(self.q[r0 : r1 + 1, c0 : c1 + 1], self._level_list[i]).view(np.uint8)
        found, hierarchy = cv2.findContours(
            binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE, offset=(c0, r0)
        )
        if len(found) == 1:
            outer, holes = list(found), []
        else:  # RETR_CCOMP: holes are the children of outer contours
            outer, holes, rank = [], [], {}
            for k, (c, p) in enumerate(zip(found, hierarchy[0, :, 3].tolist(), strict=True)):
                if p < 0:
                    rank[k] = len(outer)
                    outer.append(c)
                else:
                    holes.append((c, p))
            holes = [(c, rank[p]) for c, p in holes]
        t = Trace(self._level_list[i], outer, (r0, c0))
        if self.multi:
            t.holes = holes
            kept = [h for h, _ in holes] if holes_only else found
            self.contours.extend(kept)
            self.contour_owner.extend([i] * len(kept))
        else:
            t.areas2 = [round(2 * cv2.contourArea(c)) for c in outer]
            t.best = t.areas2.index(max(t.areas2))  # the first of largest area
            x, y, w, h = cv2.boundingRect(outer[t.best])
            self.traced_bounds.append((y, y + h - 1, x, x + w - 1))
            self.traced_owner.append(i)
        self.done[i] = True
        self.traces[i] = t
        return t

    def single(self, idx: np.ndarray) -> None:
        """Levels with one component: the foreground box (V2's holes come in the hole pass)."""
        idx = idx[~self.done[idx]]
        self.emit(idx, self.crop[idx])

    def certify(self, high: Trace, low: Trace, idx: np.ndarray) -> int:
        """Boxes of the levels ``idx`` (descending) between two traced levels, where provable;
        returns how many of idx, from the top, were settled."""
        if self.multi:
            return certify_all(self, high, low, idx)
        return certify_largest(self, high, low, idx)

    def solve(self, order: np.ndarray, i: int, j: int, start: int = -1) -> None:
        """Fill positions start..j-1 of ``order`` (descending levels; default start i + 1),
        given traced positions i < start and j."""
        traces, n_above = self.traces, self.n_above
        start = i + 1 if start < 0 else start
        while start < j and traces[order[i]].count == 1 and start == i + 1:
            # one component: so has every lower level with the same maxima above it
            r = i + 1
            while r < j and n_above[order[r]] == n_above[order[i]]:
                r += 1
            self.single(order[i + 1 : r])
            if r >= j:
                return
            if order[r] not in traces:
                self.trace(order[r])
            i, start = r, r + 1
        if start >= j:
            return
        if j - start <= _SHORT_SPAN:  # tracing beats a likely failed proof on short spans
            if not self.multi:  # ... but V1's flood fill is cheaper still
                start += flood_short(self, traces[order[i]], traces[order[j]], order[start:j])
            for k in range(start, j):
                self.trace(order[k])
            return
        settled = self.certify(traces[order[i]], traces[order[j]], order[start:j])
        if settled == j - start:
            return
        start += settled  # the upper part may be settled; bisect the rest
        m = (start + j) // 2
        self.trace(order[m])
        self.solve(order, i, m, start)
        self.solve(order, m, j)

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """Solve every level: (bounds (N, 4) r0, r1, c0, c1 inclusive, owner (N,) level
        position of each), in no particular order."""
        q, levels = self.q, self.levels
        self.n_above = self.maxima.size - np.searchsorted(self.maxima, levels, side="right")
        certain = self.n_above <= 1
        if not self.multi:
            border = int(min(q[0].min(), q[-1].min(), q[:, 0].min(), q[:, -1].min()))
            certain |= levels < border  # the outer contour is the image rectangle: the largest
        self.single(np.flatnonzero(certain))
        order = np.flatnonzero(~certain)[::-1]
        if order.size:
            stops = [0, order.size - 1] if order.size > 1 else [0]
            if self.multi:
                stops = sorted(set(stops) | set(self._merge_guesses(order)))
            for k in stops:
                self.trace(order[k])
            for i, j in zip(stops[:-1], stops[1:], strict=False):
                self.solve(order, i, j)
        if self.multi:
            resolve_holes(self)
            if self.contours:
                self._contour_bounds()
        if self.traced_owner:
            self.record(np.array(self.traced_owner), np.array(self.traced_bounds, dtype=np.int64))
        return np.concatenate(self.bounds), np.concatenate(self.owner)

    def _merge_guesses(self, order: np.ndarray) -> list[int]:
        """V2: indices into ``order`` of the levels just above a likely merge: where going one
        level down the Euler number falls short of the births (components merging, or holes
        appearing). Tracing there lets most intervals be proven; a wrong guess costs a trace."""
        e = self.euler()
        born = np.diff(np.searchsorted(self.maxima, self.levels, side="right"))
        # born[i]: maxima with value in (levels[i], levels[i + 1]], born going down to level i
        short = (born - (e[:-1] - e[1:])) > 0
        upper = np.flatnonzero(short) + 1  # positions of the upper levels
        at = np.full(self.levels.size, -1, dtype=np.int64)
        at[order] = np.arange(order.size)
        k = at[upper]
        return k[k >= 0].tolist()

    def _contour_bounds(self) -> None:
        """V2: pixel bounds of all traced contours at once."""
        n = len(self.contours)
        lens = np.fromiter((len(c) for c in self.contours), dtype=np.int64, count=n)
        starts = np.zeros(lens.size, dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        pts = np.concatenate(self.contours).reshape(-1, 2).astype(np.int64)
        x0, x1 = np.minimum.reduceat(pts[:, 0], starts), np.maximum.reduceat(pts[:, 0], starts)
        y0, y1 = np.minimum.reduceat(pts[:, 1], starts), np.maximum.reduceat(pts[:, 1], starts)
        owner = np.asarray(self.contour_owner, dtype=np.int64)
        self.record(owner, np.stack([y0, y1, x0, x1], axis=1))
