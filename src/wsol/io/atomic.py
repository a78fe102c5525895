"""Atomic writes: a reader never sees a half-written file, a crash leaves the old one intact.

Every file wsol writes goes through :func:`atomic_write_with`: a temporary file beside the
target (made with mkstemp, given ordinary permissions), then one rename. A failure of the file
system (full disk, read-only mount, ...) is an :class:`~wsol.errors.OutputWriteError` naming the
file, its cause and the fix; JSON is written strictly (no NaN / Infinity, which JSON lacks).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from wsol.errors import OutputWriteError


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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=TMP_SUFFIX,
                                   dir=path.parent)
    except OSError as err:
        raise OutputWriteError(write_failure_message(path, err), path, err) from err
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OutputWriteError(write_failure_message(path, err), path, err) from err
        raise


def write_failure_message(path: Path, err: OSError) -> str:
    """One line: which file could not be written, why, and what to do."""
    code = err.errno or 0
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space on that disk, or write elsewhere (hydra.run.dir=DIR, paths.cache_dir=DIR)"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make the folder writable, or write elsewhere (hydra.run.dir=DIR)"
    elif code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        fix = "a file stands where a folder is needed (or the reverse): move it away"
    elif code == errno.ENAMETOOLONG:
        fix = "the name is longer than the file system allows: shorten it"
    else:
        fix = "check the file system"
    return (f"Cannot write {path}: {err.strerror or err} [{errno.errorcode.get(code, 'OSError')}]"
            f". To fix: {fix}; then rerun. No partial file was left (an older {path.name}, if "
            f"any, is intact).")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_with(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented, strict JSON atomically (ValueError for NaN or infinity:
    they are not JSON, and a number that is not finite here is a bug upstream)."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except ValueError as err:
        raise ValueError(f"refusing to write {path}: {err}") from None
    atomic_write_text(path, text + "\n")
