"""Shared pieces of the hostile-input fuzzers (``test_fuzz_*.py``).

Every fuzz case must end in one of two ways: success with numbers the case's oracle accepts,
or one :class:`~wsol.errors.WsolError` whose message is a single line. Any other exception
fails the test with the case that caused it (seeded: rerun with the printed seed).
"""

from __future__ import annotations

import os
import random
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wsol.errors import WsolError, user_message

# Default run: a few hundred cases per family (the whole fuzz suite in a few seconds);
# `pytest -m slow -k fuzz` sweeps SLOW_FACTOR times more with other seeds.
SLOW_FACTOR = 20

PIECES = ["..", ".", "", "/", "//", "\\", "%2F", "%2f", "%5C", "%2e%2e", "%00", "\x00", "\n",
          "\r", "\t", " ", "~", "a", "b7", "2007_000032", "名前", "😀", "$", "$^{", "{", "}",
          "*", "?", ":", "'", '"', "<", "&", "-", "_", "x" * 40, "x" * 130, "\u202e", "é",
          "\ud800", "\udcff"]


def hostile_string(rng: random.Random) -> str:
    """A random id / file name built from separators, dots, encodings, control and unicode
    characters and ordinary ids."""
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))


class Outcomes:
    """Counts ``ok`` / ``error`` outcomes of a family (printed by the test on failure)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.counts: Counter[str] = Counter()

    def run(self, case: str, action: Callable[[], Any]) -> tuple[str, Any]:
        """``("ok", result)`` or ``("error", one-line message)``; anything else fails."""
        try:
            result = action()
        except WsolError as err:
            message = user_message(err)
            if not message or "\n" in message:
                pytest.fail(f"{self.family} case {case!r}: message is not one line: {message!r}")
            self.counts["error"] += 1
            return "error", message
        except Exception as err:  # noqa: BLE001 - exactly what the fuzzer hunts
            pytest.fail(f"{self.family} case {case!r} raised {type(err).__name__}: {err}\n"
                        f"{traceback.format_exc()}")
        self.counts["ok"] += 1
        return "ok", result

    def require_both(self) -> None:
        """The family exercised both outcomes (a fuzzer that only ever fails, or only ever
        succeeds, is not testing what it claims)."""
        assert self.counts["ok"] and self.counts["error"], (self.family, dict(self.counts))


def files_under(root: Path) -> set[str]:
    """Every path below ``root`` (files, folders and links), relative."""
    out = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(folder, name), root))
    return out


def assert_nothing_outside(sandbox: Path, allowed: list[Path], before: set[str]) -> None:
    """No path appeared under ``sandbox`` except below one of ``allowed``."""
    allowed_rel = [os.path.relpath(a, sandbox) for a in allowed]
    new = files_under(sandbox) - before
    stray = [p for p in new if not any(p == a or p.startswith(a + os.sep) for a in allowed_rel)]
    assert not stray, f"files written outside their root: {sorted(stray)[:5]}"


def seeds(slow: bool, base: int) -> range:
    """The seeds of a fuzz test: one in the default run, SLOW_FACTOR in the slow sweep."""
    return range(base + 1, base + 1 + SLOW_FACTOR) if slow else range(base, base + 1)
