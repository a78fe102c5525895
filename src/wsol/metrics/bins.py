"""Exact threshold binning of many values: how many thresholds lie strictly below each value."""

from __future__ import annotations

import numpy as np

_CELLS = 4096  # a power of two, so v * _CELLS is exact in floating point


class ThresholdBinner:
    """``count_below(values)`` = #(thresholds < v) per value, compared in the values' dtype.

    thresholds: (T,) ascending. For values in [0, 1] a lookup table over 4096 equal cells is
    used (each cell holds at most one distinct threshold, so one comparison finishes the count);
    otherwise, or for grids finer than a cell, ``np.searchsorted``. Both give identical counts.
    """

    def __init__(self, thresholds: np.ndarray) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self._tables: dict[np.dtype, tuple[np.ndarray, ...] | None] = {}

    def _table(self, dtype: np.dtype) -> tuple[np.ndarray, ...] | None:
        if dtype not in self._tables:
            t = self.thresholds.astype(dtype)
            cell = np.floor(t.astype(np.float64) * _CELLS).astype(np.int64)
            table = None
            if t.size and t.min() >= 0 and t.max() <= 1:
                distinct = np.unique(np.stack([cell, t.astype(np.float64)]), axis=1)
                if np.unique(distinct[0]).size == distinct.shape[1]:  # one value per cell
                    base = np.searchsorted(cell, np.arange(_CELLS + 1), side="left")
                    count = np.bincount(cell, minlength=_CELLS + 1)
                    value = np.full(_CELLS + 1, np.inf, dtype=dtype)
                    value[cell] = t
                    table = (base.astype(np.int32), count.astype(np.int32), value)
            self._tables[dtype] = table
        return self._tables[dtype]

    def count_below(self, values: np.ndarray) -> np.ndarray:
        """values: float (N,) without NaN -> int (N,) in 0..T."""
        table = self._table(values.dtype)
        if table is None or values.size == 0 or values.min() < 0 or values.max() > 1:
            return np.searchsorted(self.thresholds.astype(values.dtype), values, side="left")
        base, count, value = table
        cell = (values * values.dtype.type(_CELLS)).astype(np.intp)
        return base[cell] + count[cell] * (values > value[cell])
