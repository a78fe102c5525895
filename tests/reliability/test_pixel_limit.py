"""Decompression bombs: images, masks, COCO sizes and stored map sizes above
``data.max_image_pixels`` are refused from the header, before anything is decoded."""

from __future__ import annotations

import io
import json
import shutil
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.cam import CamStore
from wsol.datasets.classes import COCO_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS, open_checked
from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import read_image, read_voc_mask
from wsol.errors import DataError


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit greyscale PNG of zeros, compressed row by row (small on disk, huge
    decoded) without ever holding the image in memory."""
    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + the row
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))
    return path


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small real JPEG whose frame header (SOF0) claims ``width`` x ``height``."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def test_a_png_bomb_is_refused_from_its_header_without_decoding(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png", 12000, 12000)
    assert bomb.stat().st_size < 400_000  # the 430 KB, 144 M pixels
    tracemalloc.start()
    try:
        for reader in (read_image, read_voc_mask):
            with pytest.raises(DataError) as err:
                reader(bomb)
            message = str(err.value)
            assert message.startswith(f"{bomb} is 12000x12000 = 144,000,000 pixels, above "
                                      f"data.max_image_pixels={DEFAULT_MAX_IMAGE_PIXELS:,}")
            assert "refused before decoding" in message and "\n" not in message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # the file is read, never the 144 MB of pixels


def test_a_jpeg_header_claiming_a_huge_frame_is_refused(tmp_path):
    path = jpeg_claiming(tmp_path / "claim.jpg", 15000, 9000)
    with pytest.raises(DataError, match=r"claim\.jpg is 15000x9000 = 135,000,000 pixels"):
        read_image(path)


def test_the_limit_is_exact_and_configurable(tmp_path):
    Image.fromarray(np.full((10, 10), 7, np.uint8)).save(tmp_path / "ok.png")
    Image.fromarray(np.full((10, 11), 7, np.uint8)).save(tmp_path / "big.png")
    assert read_image(tmp_path / "ok.png", max_pixels=100).shape == (10, 10, 3)
    assert (read_voc_mask(tmp_path / "ok.png", max_pixels=100) == 7).all()
    for reader in (read_image, read_voc_mask):
        with pytest.raises(DataError, match="11x10 = 110 pixels, above data.max_image_pixels=100"):
            reader(tmp_path / "big.png", max_pixels=100)


def test_the_default_keeps_the_largest_real_images_and_pil_hard_limit_speaks_our_words(tmp_path):
    big_real = jpeg_claiming(tmp_path / "big.jpg", 7000, 4700)  # beyond ILSVRC's largest
    open_checked(big_real.read_bytes(), big_real, DEFAULT_MAX_IMAGE_PIXELS).close()
    beyond_pil = jpeg_claiming(tmp_path / "huge.jpg", 20000, 20000)
    with pytest.raises(DataError, match="more than .* pixels \\(PIL's own bomb limit\\)"):
        read_image(beyond_pil, max_pixels=10**9)


def test_datasets_apply_the_configured_limit(voc):
    ds = VOCDataset(voc, "train", max_image_pixels=40 * 29)  # the tree's images are 40x30
    with pytest.raises(DataError, match=r"JPEGImages/a\.jpg is 40x30 = 1,200 pixels"):
        ds.image(0)
    with pytest.raises(DataError, match=r"SegmentationClass/a\.png is 40x30"):
        ds.mask(0)
    assert VOCDataset(voc, "train", max_image_pixels=40 * 30)[0].image.shape == (30, 40, 3)


def test_a_stored_image_size_above_the_limit_marks_the_file_damaged(tmp_path):
    store = CamStore(tmp_path, max_image_pixels=1000)
    store.write("ok", np.ones((1, 4, 4)), [0], (20, 50))
    store.write("bomb", np.ones((1, 4, 4)), [0], (100000, 100000))  # read would upsample to it
    assert store.read("ok")[0].shape == (1, 20, 50)
    with pytest.raises(DataError, match=r"bomb\.npz is damaged .*image_size 100000x100000"):
        store.read("bomb")
    assert store.intact(["ok", "bomb"]) == {"ok"} and not store.has("bomb")


def test_coco_sizes_above_the_limit_are_refused_before_a_mask_is_allocated(coco2014_tree,
                                                                           tmp_path):
    root = tmp_path / "coco"
    shutil.copytree(coco2014_tree[0], root)
    path = root / "annotations" / "instances_val2014.json"
    data = json.loads(path.read_text())
    image = next(i for i in data["images"]
                 if any(a["image_id"] == i["id"] for a in data["annotations"]))
    image["width"], image["height"] = 100_000, 100_000  # mask() would allocate 10 GB
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=rf"image {image['id']} .* is 100000x100000, more than "
                                        rf"data\.max_image_pixels=67,108,864 pixels"):
        COCODataset(root, "val2014", COCO_CLASSES)
