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


# pycocotools' rasteriser allocates ~20 bytes per unit of polygon perimeter and trusts the
# coordinates (1e9 segfaults it); these bounds keep any accepted polygon to a few MB.
PERIMETER_PER_SIDE = 1000


def check_segmentation(ann: dict, width: int, height: int, path: Path) -> None:
    """DataError unless ``ann["segmentation"]`` is safe to give pycocotools for a ``width x
    height`` image: polygons of finite coordinates within one image size of the image and a
    bounded perimeter, or an RLE of this image's size whose counts (a list) are non-negative
    integers summing to ``width * height``."""
    segm = ann.get("segmentation")
    where = f"{path}: annotation {ann.get('id')} (image {ann.get('image_id')})"
    if isinstance(segm, list):
        budget = PERIMETER_PER_SIDE * (width + height)
        for poly in segm:
            if not (isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0
                    and all(isinstance(v, int | float) and not isinstance(v, bool)
                            and math.isfinite(v) for v in poly)):
                raise DataError(f"{where}: a polygon is not a list of at least 3 finite x, y "
                                f"pairs. {FIX}")
            xs, ys = poly[0::2], poly[1::2]
            if min(xs) < -width or max(xs) > 2 * width or min(ys) < -height \
                    or max(ys) > 2 * height:
                raise DataError(f"{where}: a polygon reaches far outside its {width}x{height} "
                                f"image. {FIX}")
            budget -= sum(max(abs(xs[i] - xs[i - 1]), abs(ys[i] - ys[i - 1]))
                          for i in range(len(xs)))
        if budget < 0:
            raise DataError(f"{where}: its polygons are longer than "
                            f"{PERIMETER_PER_SIDE}x the image's perimeter. {FIX}")
        return
    if isinstance(segm, dict):
        size, counts = segm.get("size"), segm.get("counts")
        if size != [height, width]:
            raise DataError(f"{where}: RLE size {size!r} is not the image's [{height}, "
                            f"{width}]. {FIX}")
        if isinstance(counts, str):
            return  # compressed: pycocotools checks the decoded runs against the size
        if isinstance(counts, list) and all(_is_int(c) and c >= 0 for c in counts) \
                and sum(counts) == width * height:
            return
        raise DataError(f"{where}: RLE counts are not non-negative integers summing to "
                        f"{width}x{height}. {FIX}")
    raise DataError(f"{where}: segmentation is {type(segm).__name__}, not polygons or an RLE. "
                    f"{FIX}")
