"""Merging the partial state of streaming evaluators (one per worker) into one.

Counts are integers, so adding them in any order gives what one evaluator fed every image would
hold. A float running sum is not order-free; :class:`ExactSum` keeps it as exact partials
(Shewchuk's algorithm, as ``math.fsum``), so its value is the correctly rounded sum of every
term whatever the order and grouping of additions and merges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def merge_counts(into: object, other: object, counts: Sequence[str],
                 settings: Sequence[str]) -> None:
    """Add ``other``'s ``counts`` attributes (ints or int arrays) into ``into``'s, after
    checking that their ``settings`` attributes are equal (ValueError otherwise)."""
    kind = type(into).__name__
    if type(other) is not type(into):
        raise ValueError(f"{kind}.merge: got a {type(other).__name__}")
    for name in settings:
        mine, theirs = getattr(into, name), getattr(other, name)
        if np.shape(mine) != np.shape(theirs) or not np.array_equal(mine, theirs):
            raise ValueError(f"{kind}.merge: the evaluators differ in {name}")
    for name in counts:
        setattr(into, name, getattr(into, name) + getattr(other, name))


class ExactSum:
    """A float sum kept exactly: ``add`` terms, ``merge`` other sums, ``value`` rounds once."""

    def __init__(self) -> None:
        self.partials: list[float] = []  # non-overlapping, increasing magnitude; exact total

    def add(self, x: float) -> None:
        """Add one finite term."""
        x = float(x)
        kept = 0
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                self.partials[kept] = low
                kept += 1
            x = high
        self.partials[kept:] = [x]

    def merge(self, other: ExactSum) -> None:
        """Add every term ``other`` was given."""
        for part in other.partials:
            self.add(part)

    @property
    def value(self) -> float:
        """The correctly rounded sum of every term added."""
        return math.fsum(self.partials)
