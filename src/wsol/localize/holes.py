"""V2's hole contours at the levels whose components were settled without tracing.

A level c has C(c) - E(c) holes: its components from the settled boxes, its Euler number from
bit-quads (``topology.euler_numbers``). Levels with holes are traced for them; deriving hole
boxes from a traced level above (each hole of c lies in a hole of the level above, or escapes
to the outside) cost more than tracing in measurements on CAM-like maps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from wsol.localize.level_solver import LevelSolver


def resolve_holes(s: LevelSolver) -> None:
    """Record the hole boxes of every untraced level (its component boxes being recorded)."""
    holes = s.ncomp - s.euler()
    flag = np.zeros(s.levels.size, dtype=bool)
    flag[list(s.traces)] = True
    for i in np.flatnonzero((holes > 0) & ~flag).tolist():
        s.trace(i, holes_only=True)
