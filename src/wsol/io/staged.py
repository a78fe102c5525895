"""A folder of outputs that appears whole or not at all (``seeds/``).

Files written one by one into their final folder leave a mix of old and new ones when a run
stops half-way (a full disk, a damaged input); a later reader cannot tell. The stage writes
into a fresh folder beside the target and swaps it in only when every file is there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from wsol.errors import OutputWriteError
from wsol.io.atomic import FILE_MODE, write_failure_message

DIR_MODE = 0o777 & ~(0o666 & ~FILE_MODE)  # what mkdir gives under the same umask


@contextlib.contextmanager
def staged_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty folder beside ``target``; when the block ends without an error it
    replaces ``target`` (the old folder is removed), else it is deleted and ``target`` is
    left as it was. File-system failures are :class:`~wsol.errors.OutputWriteError`."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp",
                                      dir=target.parent))
        os.chmod(stage, DIR_MODE)
    except OSError as err:
        raise OutputWriteError(write_failure_message(target, err), target, err) from err
    old = target.parent / f"{stage.name}.old"
    try:
        yield stage
        if os.path.lexists(target):
            os.rename(target, old)
        os.rename(stage, target)
    except BaseException as err:
        shutil.rmtree(stage, ignore_errors=True)
        if os.path.lexists(old) and not os.path.lexists(target):
            os.rename(old, target)  # the swap failed half-way: put the old folder back
        if isinstance(err, OSError):
            raise OutputWriteError(write_failure_message(target, err), target, err) from err
        raise
    if os.path.isdir(old) and not os.path.islink(old):
        shutil.rmtree(old, ignore_errors=True)
    elif os.path.lexists(old):
        os.unlink(old)
