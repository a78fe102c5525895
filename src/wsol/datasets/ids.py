"""Image-id lists read from data files: text that decodes, ids that are safe file names, no id
twice (an id listed twice would be scored twice and skew every mean)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from wsol.errors import DataError
from wsol.io.paths import entry_problem


def read_text_lines(path: Path, what: str, fix: str = "") -> list[str]:
    """The lines of a UTF-8 text file, a leading byte-order mark (as Windows editors write it)
    dropped, since it would sit invisibly in the first id; DataError naming the file when it
    cannot be read or decoded.

    what: the file's role for the message (``"split file"``); fix: what to do instead of the
    generic advice (restore the file, check it is readable).
    """
    try:
        return Path(path).read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{what[0].upper()}{what[1:]} {path} is not UTF-8 text (byte "
                        f"{err.start}: {err.reason}); {fix or 'restore the file'}.") from None
    except OSError as err:
        raise DataError(f"Cannot read {what} {path} ({err.strerror or err}); "
                        f"{fix or 'check it is a readable file'}.") from None


def checked_ids(entries: Iterable[tuple[int, str]], source: Path) -> list[str]:
    """The ids of ``(line number, id)`` pairs in order, each a safe relative file name
    (:func:`wsol.io.paths.entry_problem`) listed once; DataError naming ``source``, the line
    and the id otherwise."""
    seen: dict[str, int] = {}
    ids = []
    for number, image_id in entries:
        problem = entry_problem(image_id)
        if problem:
            shown = image_id if len(image_id) <= 80 else image_id[:77] + "..."
            raise DataError(f"{source}:{number}: image id {shown!r} {problem}; ids name files "
                            f"inside the dataset. Correct or remove that line.")
        if image_id in seen:
            raise DataError(f"{source}:{number}: image id {image_id!r} is listed again (first "
                            f"on line {seen[image_id]}); an id listed twice would be scored "
                            f"twice. Remove the duplicate line.")
        seen[image_id] = number
        ids.append(image_id)
    return ids
