"""Atomic files for the CAM store, with temporary names that say who is writing them.

A temporary file is ``.<name>.<host>-<pid>.<random>.tmp`` beside its target. A run killed
mid-write leaves one behind; :func:`remove_stale_temps` removes those whose writer is gone
(same host, dead pid) and, on shared disks, other hosts' ones older than a day, so a store
opened while another process is still writing into it (two sweep jobs with the same key, DDP
ranks) never loses a live writer's file.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from wsol.io.atomic import TMP_SUFFIX, atomic_write_with

STALE_AFTER_S = 24 * 3600
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"
_OWNER = re.compile(r"\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


def is_temp(name: str) -> bool:
    """True for a temporary file the store writes (never a stored map, never someone else's
    ``.x.tmp`` in a folder named by ``cam.store_dir``)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX) \
        and (".npz" in name or name.startswith(".manifest.json."))


def atomic_write(path: Path, payload: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``payload`` (bytes, or a function writing to a binary file) to ``path`` atomically
    and durably, under a temporary name that says who writes it.

    On any failure (a full disk included) the temporary file is removed and the old ``path``,
    if any, is left intact; the error propagates.
    """
    write = payload if callable(payload) else (lambda handle: handle.write(payload))
    atomic_write_with(path, write, prefix=f".{path.name}.{_HOST}-{os.getpid()}.", durable=True)


def _writer_alive(host: str, pid: int) -> bool:
    if host != _HOST:
        return True  # cannot tell: leave it to the age rule
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temps(directory: Path, now: float | None = None) -> list[str]:
    """Delete temporary files in ``directory`` left by dead writers; returns their names."""
    now = time.time() if now is None else now
    removed = []
    for entry in os.scandir(directory):
        if not is_temp(entry.name):
            continue
        owner = _OWNER.search(entry.name)
        if entry.is_dir(follow_symlinks=False):
            continue  # not a file we wrote
        with contextlib.suppress(FileNotFoundError):
            old = now - entry.stat().st_mtime > STALE_AFTER_S
            if (owner and not _writer_alive(owner["host"], int(owner["pid"]))) or old:
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed
