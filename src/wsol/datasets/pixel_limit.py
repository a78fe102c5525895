"""A pixel limit on decoded images and masks, checked from the file's header before decoding.

A 430 KB PNG can declare 12000 x 12000 pixels and take gigabytes to decode (a "decompression
bomb"). PIL reads the size from the header without decoding (lazy open), so the limit costs
one header parse. The default, 8192 x 8192 = 67.1 M pixels, is far above the largest images
of VOC (500 px), COCO (640 px) and ILSVRC (a few thousand px a side) and below PIL's own bomb
warning (89.5 M); :func:`~wsol.datasets.voc_format.read_image` of an 8192 x 8192 JPEG peaks
~260 MB above the process's baseline (measured), where a 12000 x 12000 PNG of 430 KB took
gigabytes through the pipeline.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image

from wsol.errors import DataError

DEFAULT_MAX_IMAGE_PIXELS = 8192 * 8192
# PIL refuses anything above twice its MAX_IMAGE_PIXELS whatever our limit says.
PIL_HARD_LIMIT = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None
KEY = "data.max_image_pixels"


def too_large(path: Path, size: tuple[int, int] | None, max_pixels: int) -> DataError:
    """The one-line error for an image of ``size`` (W, H) (None: above PIL's hard limit)."""
    shown = f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels" if size else \
        f"more than {PIL_HARD_LIMIT:,} pixels (PIL's own bomb limit)"
    return DataError(f"{path} is {shown}, above {KEY}={max_pixels:,}; refused before "
                     f"decoding (a decompression bomb, or an image far larger than the "
                     f"dataset's). Remove its id from the split, or raise {KEY} if the image "
                     f"is real.")


def check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """DataError when an image of ``size`` (W, H) has more than ``max_pixels`` pixels."""
    if int(size[0]) * int(size[1]) > int(max_pixels):
        raise too_large(path, (int(size[0]), int(size[1])), max_pixels)


def open_checked(source: Path | bytes, path: Path, max_pixels: int) -> Image.Image:
    """``Image.open`` of a file or its bytes (lazy: only the header is read) with the pixel
    limit checked; the caller decodes (``load``/``convert``) and closes it.

    Raises DataError for an image above the limit; PIL's own errors (unidentified format,
    broken header) propagate for the caller to word.
    """
    fp = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    try:
        with warnings.catch_warnings():  # our limit speaks instead of PIL's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except Image.DecompressionBombError:
        raise too_large(path, None, max_pixels) from None
    try:
        check_pixels(path, img.size, max_pixels)
    except DataError:
        img.close()
        raise
    return img
