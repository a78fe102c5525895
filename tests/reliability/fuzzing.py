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

from wsol.datasets.classes import COCO_CATEGORY_IDS, COCO_CLASSES
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


def coco_base(width: int, height: int) -> dict:
    """A small valid COCO instances dict: three images, three annotations, all 80 categories."""
    return {
        "images": [{"id": 1, "file_name": "one.jpg", "width": width, "height": height},
                   {"id": 2, "file_name": "two.jpg", "width": width, "height": height},
                   {"id": 3, "file_name": "three.jpg", "width": width, "height": height}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18, "bbox": [2.5, 3.0, 10.0, 8.0],
             "iscrowd": 0, "area": 80.0,
             "segmentation": [[2.5, 3.0, 12.5, 3.0, 12.5, 11.0, 2.5, 11.0]]},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [20, 5, 15, 20], "iscrowd": 1,
             "area": 300.0,
             "segmentation": {"counts": [height * width], "size": [height, width]}},
            {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, width, height],
             "iscrowd": 0, "area": 1200.0,
             "segmentation": {"counts": [0, height * width], "size": [height, width]}},
        ],
        "categories": [{"id": cid, "name": name, "supercategory": "x"}
                       for cid, name in zip(COCO_CATEGORY_IDS, COCO_CLASSES, strict=True)],
    }


def run_family(fuzz: Callable[[Path, random.Random, int], Outcomes], tmp_path: Path, *,
               cases: int, base: int, slow: bool, both: bool = True) -> None:
    """Run one family: one seed in the default run (both outcomes required unless ``both`` is
    False), SLOW_FACTOR seeds in the slow sweep; each seed in a fresh sandbox."""
    for seed in seeds(slow, base):
        sandbox = tmp_path / f"seed{seed}"
        sandbox.mkdir()
        outcomes = fuzz(sandbox, random.Random(seed), cases)
        if both and not slow:
            outcomes.require_both()
