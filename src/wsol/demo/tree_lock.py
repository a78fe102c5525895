"""Locks that keep a generated demo tree from changing under a run that reads it.

Two lock files in the tree's root:

- ``.lock``, held exclusively while the tree is checked or generated, so parallel processes
  (DDP ranks, two runs) generate it once;
- ``.readers``, held shared by every process that reads the tree, for as long as its run lasts
  (:func:`hold_for_reading` until :func:`release_all`). A tree may be regenerated only when no
  other process holds it, so a run that asks for other ``data.generate`` settings stops with a
  clear message instead of rewriting images another run is reading.

Advisory ``flock`` locks (POSIX); where ``fcntl`` does not exist they do nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from wsol.errors import DataError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; each file is still written atomically
    fcntl = None

_HELD: dict[Path, IO] = {}  # resolved root -> this process's open ``.readers`` handle


@contextlib.contextmanager
def generation_lock(root: Path) -> Iterator[None]:
    """Hold ``root/.lock`` exclusively (waiting for another holder) for the block; DataError
    naming the folder when it cannot be made or written (a read-only datasets mount)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        handle = open(root / ".lock", "a+")  # noqa: SIM115 - closed by the with below
    except OSError as err:
        raise DataError(
            f"The demo dataset cannot be written at {root} (data.root, under paths.data_dir / "
            f"WSOL_DATA): {err.strerror or err}. Point WSOL_DATA (or data.root) at a folder "
            "you can write.") from None
    with handle:
        if fcntl is None:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_by_others(root: Path) -> bool:
    """Whether another process holds ``root`` for reading (call under the generation lock,
    after :func:`release` of this process's own hold)."""
    if fcntl is None:
        return False
    with open(root / ".readers", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def hold_for_reading(root: Path) -> None:
    """Hold ``root`` shared until :func:`release` / :func:`release_all` (once per process)."""
    key = root.resolve()
    if key in _HELD or fcntl is None:
        return
    handle = open(root / ".readers", "a+")  # noqa: SIM115 - held open on purpose
    fcntl.flock(handle, fcntl.LOCK_SH)
    _HELD[key] = handle


def release(root: Path) -> None:
    """Drop this process's hold on ``root`` (its earlier run is over), if any."""
    handle = _HELD.pop(root.resolve(), None)
    if handle is not None:
        handle.close()  # closing the last descriptor releases the flock


def release_all() -> None:
    """Drop every hold of this process (the end of a run)."""
    for root in list(_HELD):
        release(root)
