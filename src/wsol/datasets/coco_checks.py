"""Field checks of a COCO instances file, each failure one DataError naming the file, the
entry and the fix (a hand-edited or generated JSON has missing fields, strings for numbers,
NaN boxes, ids listed twice, file names that leave the image folder)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsol.errors import DataError
from wsol.io.paths import entry_problem

FIX = "Restore the file (download it again) or correct that entry."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_ids(dataset: dict, path: Path) -> None:
    """Image and category ids are integers, each listed once (pycocotools keys them in dicts,
    so a repeated id would silently replace the earlier entry)."""
    for section in ("images", "categories"):
        seen: set[int] = set()
        for entry in dataset.get(section) or []:
            value = entry.get("id") if isinstance(entry, dict) else None
            if not _is_int(value):
                raise DataError(f"{path}: an entry of {section!r} has id {value!r}; ids must be "
                                f"integers. {FIX}")
            if value in seen:
                raise DataError(f"{path}: {section} id {value} is listed twice; an image or "
                                f"category listed twice would be scored twice. {FIX}")
            seen.add(value)


def image_entry(info: dict, path: Path, max_pixels: int) -> tuple[str, int, int]:
    """``(file_name, width, height)`` of one ``images`` entry, checked: a safe relative file
    name, positive integer sizes, at most ``max_pixels`` pixels (the mask is built from them)."""
    coco_id = info.get("id")
    name = info.get("file_name")
    problem = entry_problem(name) if isinstance(name, str) else "is missing or not a string"
    if problem:
        raise DataError(f"{path}: image {coco_id}: file_name {name!r} {problem}; file names "
                        f"name files inside the image folder. {FIX}")
    width, height = info.get("width"), info.get("height")
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
        raise DataError(f"{path}: image {coco_id} ({name}) has width={width!r}, "
                        f"height={height!r}; both must be positive integers. {FIX}")
    if width * height > max_pixels:
        raise DataError(f"{path}: image {coco_id} ({name}) is {width}x{height}, more than "
                        f"data.max_image_pixels={max_pixels:,} pixels. Raise "
                        f"data.max_image_pixels if the image is real, else restore the file.")
    return name, width, height


def pixel_box(ann: dict, width: int, height: int, path: Path) -> Sequence[float]:
    """The ``bbox`` of one annotation, checked: four finite numbers, ``w, h >= 0``, some of it
    inside the ``width x height`` image. Returns it unchanged (``[x, y, w, h]``)."""
    bbox = ann.get("bbox")
    where = f"{path}: annotation {ann.get('id')} (image {ann.get('image_id')})"
    if not (isinstance(bbox, list | tuple) and len(bbox) == 4
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)):
        raise DataError(f"{where} has bbox {bbox!r}; it must be [x, y, w, h], four numbers. "
                        f"{FIX}")
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w < 0 or h < 0:
        raise DataError(f"{where} has bbox {list(bbox)!r}: not finite, or a negative width or "
                        f"height. {FIX}")
    if x >= width or y >= height or x + w < 0 or y + h < 0:
        raise DataError(f"{where} has bbox {list(bbox)!r}, wholly outside its {width}x{height} "
                        f"image. {FIX}")
    return bbox
