"""The CAM store's two user-facing messages: settings that differ, and a failed write."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsol.io.manifest import flatten, jsonable


def mismatch_message(path: Path, stored: Any, wanted: Mapping[str, Any]) -> str:
    """Which settings differ, and the two ways out."""
    old, new = flatten(stored if stored is not None else {}), flatten(jsonable(wanted))
    diff = [f"{k}: stored {old.get(k, '<unset>')!r}, requested {new.get(k, '<unset>')!r}"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    shown = "; ".join(diff[:4]) + ("; ..." if len(diff) > 4 else "")
    return (f"{path} was written with other settings ({shown or 'unknown provenance'}). "
            "Leave cam.store_dir unset so the content-keyed cache picks a fresh directory, "
            "point cam.store_dir elsewhere, or delete that directory to recompute the maps.")


def write_error_message(directory: Path, exc: OSError, stored: int) -> str:
    """One message for a failed store write: where, why, and how to go on."""
    cause = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space there"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make it writable"
    else:
        fix = "fix the file system"
    return (f"Cannot write CAMs to the store {directory}: {cause} "
            f"[{errno.errorcode.get(exc.errno or 0, 'OSError')}]. To fix: {fix}, or put the "
            "cache elsewhere with paths.cache_dir=DIR (or WSOL_CACHE=DIR, or cam.store_dir=DIR). "
            f"Rerunning the same command resumes after the {stored} images already stored; "
            "no partial file was left.")
