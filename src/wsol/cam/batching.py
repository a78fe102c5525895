"""Which images share a CAM batch: equal sizes only, in a plan fixed by the split.

At each image's own size (IRN's protocol) images of different sizes cannot be stacked. Padding
them to a common size would change the maps: IRN composes each scale's map at the target
layer's resolution, where zero padding leaks into the border positions. Grouping images of
equal size (VOC and COCO have a few dominant sizes: 500 x 375, 640 x 480, ...) batches them
without changing a single input pixel, so a batch's maps equal batch-1 maps to float tolerance.
The plan depends only on the split (ids order and sizes) and the batch size, so a resumed run
recomputes every image in the batch an uninterrupted run put it in.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wsol.datasets.pixel_limit import open_checked


def size_batches(sizes: Sequence[Hashable], batch_size: int) -> list[list[int]]:
    """Index batches over ``sizes`` (one hashable size per image, e.g. (H, W)).

    Images of one size go together in split order, ``batch_size`` at a time (the last batch of
    a size may be smaller); sizes come in the order of their first image. With every size equal
    this is ``batch_size`` consecutive images at a time. A size of None (unknown) is never
    batched with another image.
    """
    size = max(1, int(batch_size))
    groups: dict[Hashable, list[int]] = {}
    for index, key in enumerate(sizes):
        groups.setdefault(("alone", index) if key is None else ("size", key), []).append(index)
    return [members[start:start + size] for members in groups.values()
            for start in range(0, len(members), size)]


def header_size(path: Path, max_pixels: int) -> tuple[int, int] | None:
    """(H, W) from the image file's header (nothing decoded); None when it cannot be read or
    is above ``max_pixels`` (the decoder then reports the file in its own words)."""
    try:
        with open_checked(Path(path), Path(path), max_pixels) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - any unreadable header: left to the decoder's message
        return None
    return int(height), int(width)


def header_sizes(paths: Sequence[Path], max_pixels: int, threads: int = 8
                 ) -> list[tuple[int, int] | None]:
    """:func:`header_size` of every path, read by ``threads`` threads (file-system bound)."""
    if len(paths) < 64 or threads <= 1:
        return [header_size(p, max_pixels) for p in paths]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda p: header_size(p, max_pixels), paths, chunksize=64))
