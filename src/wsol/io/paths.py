"""Paths built from data (image ids, file names, store entries) stay inside their folder.

An id comes from a file someone else wrote (a split list, an annotation JSON, a store
directory); joined to a folder without a check, ``../../x`` or ``/tmp/x`` reads or writes
anywhere. :func:`confined_path` is the one gate: it refuses an entry that is empty, absolute,
climbs with ``..``, hides a separator as ``%2F`` / ``%5C`` or a backslash, holds a control
character (NUL included), or has a name longer than file systems allow, and — after
resolution — one whose file or folder is a symlink leading out of the folder. The folder
itself may be a symlink (a dataset on another disk): only what the entry adds is checked.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from wsol.errors import DataError

NAME_MAX = 255  # bytes per path component on ext4, xfs, btrfs, NFS, ...
_ENCODED = re.compile(r"%(2f|5c|2e|00)", re.IGNORECASE)  # "/", "\", ".", NUL once decoded
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON "\\ud800" is no file name on any disk
DEFAULT_FIX = "correct or remove that entry"


def entry_problem(entry: str, *, encoded: bool = False) -> str | None:
    """Why ``entry`` (a relative path from data) cannot name a file inside a folder, or None.

    encoded: the entry is already percent-encoded by us (the CAM store's file names), so
    ``%2F`` is expected there and not refused.
    """
    if not isinstance(entry, str):
        return f"is a {type(entry).__name__}, not a file name"
    if not entry:
        return "is empty"
    if _CONTROL.search(entry):
        return "holds a control character (NUL, newline, ...)"
    if _SURROGATE.search(entry):
        return "holds a lone surrogate (not valid Unicode text)"
    if entry.startswith("/"):
        return "is an absolute path"
    if "\\" in entry:
        return "holds a backslash (a Windows separator)"
    if not encoded and _ENCODED.search(entry):
        return "holds a percent-encoded separator or dot (%2F, %5C, %2E, %00)"
    parts = entry.split("/")
    if ".." in parts:
        return "climbs out of its folder with '..'"
    if "." in parts:
        return "has a '.' component (it would name a folder, not a file)"
    if any(len(part.encode("utf-8")) > NAME_MAX for part in parts):
        return f"has a name longer than {NAME_MAX} bytes"
    return None


def _message(source: str, entry: str, root: Path, problem: str, fix: str) -> str:
    shown = entry if len(entry) <= 80 else entry[:77] + "..."
    return (f"{source}: entry {shown!r} {problem}, so it cannot name a file inside {root}; "
            f"{fix}.")


def confined_path(root: str | os.PathLike, entry: str, source: str, *, suffix: str = "",
                  fix: str = DEFAULT_FIX, encoded: bool = False) -> Path:
    """``root / (entry + suffix)``, checked to stay inside ``root``.

    Args:
        root: the folder the entry must stay in (JPEGImages/, seeds/, the store, ...).
        entry: the relative name from data (an image id, a COCO ``file_name``).
        source: where the entry came from, for the message (a file, a config key).
        suffix: appended to the entry (``".jpg"``); checked with it.
        fix: what the user should do, for the message.
        encoded: see :func:`entry_problem`.

    Raises:
        DataError naming ``source``, the entry and ``fix`` when the entry is unsafe or a
        symlink on its way resolves outside ``root``.
    """
    root = Path(root)
    problem = entry_problem(entry, encoded=encoded) or entry_problem(entry + suffix,
                                                                     encoded=encoded)
    if problem:
        raise DataError(_message(source, entry, root, problem, fix))
    path = root / (entry + suffix)
    # One lstat for a plain name (the common case); a link or a nested entry is resolved.
    if "/" in entry + suffix or os.path.islink(path):
        inside = os.path.realpath(root)
        target = os.path.realpath(path)
        if os.path.commonpath([inside, target]) != inside:
            raise DataError(_message(source, entry, root,
                                     f"is (or passes through) a symlink to {target}", fix))
    return path


def file_in_the_way(folder: str | os.PathLike) -> Path | None:
    """The file that keeps ``folder`` from being a folder, or None.

    That is ``folder`` itself or its nearest existing parent when that is not a directory
    (``WSOL_DATA`` naming a file makes ``<file>/demo/VOCshapes``); None when the nearest
    existing one is a directory (the folder exists, or can be made).
    """
    path = Path(folder)
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if candidate.is_dir() else candidate
    return None
