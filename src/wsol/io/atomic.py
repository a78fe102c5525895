"""Atomic writes: a reader never sees a half-written file, a crash leaves the old one intact.

Every file wsol writes goes through :func:`atomic_write_with`: a temporary file beside the
target (made with mkstemp, given ordinary permissions), then one rename.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


# mkstemp creates files 0600; the renamed result must get the permissions an ordinary write
# would (0666 minus the umask), or collaborators on a shared cluster cannot read results.
FILE_MODE = 0o666 & ~_umask()
TMP_SUFFIX = ".tmp"


def atomic_write_with(path: Path, write: Callable[[BinaryIO], None], *,
                      prefix: str | None = None, durable: bool = False) -> None:
    """Call ``write(file)`` on a binary temporary file beside ``path``, then rename it into
    place; on any failure the temporary file is removed and the error propagates.

    prefix: the temporary name's start (default ``.<name>.``; it always ends ``.tmp``).
    durable: fsync before the rename, so a crash can never expose a file whose data is not
    on disk (the CAM store, which a resumed run trusts).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=TMP_SUFFIX,
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_with(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
