"""A "did you mean" for a dataset root that does not exist (``VOC2O12`` for ``VOC2012``)."""

from __future__ import annotations

import difflib
from pathlib import Path


def near_match(path: str | Path, cutoff: float = 0.75) -> Path | None:
    """The existing directory whose path is closest to ``path``, or None.

    Walks ``path`` from its root; each component that does not exist is replaced by the most
    similar sibling directory (``difflib``, similarity >= ``cutoff``). Returns None when
    ``path`` exists or some component has no close sibling.
    """
    path = Path(path).absolute()
    if path.exists():
        return None
    current = Path(path.anchor)
    for part in path.parts[1:]:
        candidate = current / part
        if not candidate.is_dir():
            try:
                siblings = [p.name for p in current.iterdir() if p.is_dir()]
            except OSError:
                return None
            close = difflib.get_close_matches(part, siblings, n=1, cutoff=cutoff)
            if not close:
                return None
            candidate = current / close[0]
        current = candidate
    return current


def root_hint(path: str | Path) -> str:
    """`` (did you mean /x/VOC2012?)`` for a mistyped root, else an empty string."""
    match = near_match(path)
    return f" (did you mean {match}?)" if match is not None else ""
