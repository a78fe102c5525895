"""Images and masks that are corrupt, truncated, empty, or in an unusual mode.

Unreadable files stop with a DataError naming the file and the fix (no skipping: VOC-sized sets
are small enough to repair). Unusual modes are read into uint8 (H,W,3) RGB: grey replicated,
alpha dropped without compositing, CMYK converted, 16-bit scaled by ``v >> 8``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import read_image, read_voc_mask
from wsol.errors import DataError

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (30, 40, 3), dtype=np.uint8)


def _truncated(path, tmp_path, fraction=0.5):
    out = tmp_path / f"cut{path.suffix}"
    data = path.read_bytes()
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image_stops_naming_the_file(tmp_path, suffix, capfd):
    good = tmp_path / f"good{suffix}"
    Image.fromarray(RGB).save(good)
    cut = _truncated(good, tmp_path)
    with pytest.raises(DataError) as err:
        read_image(cut)
    assert str(cut) in str(err.value) and "truncated" in str(err.value)
    assert "remove its id from the split file" in str(err.value)
    assert capfd.readouterr().err == ""  # no decoder warning beside our one message


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, bytes(RNG.integers(0, 256, 500,
                                                                            dtype=np.uint8))])
def test_empty_or_garbage_image_stops_naming_the_file(tmp_path, content):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_image(path)
    message = str(err.value)
    assert str(path) in message and "Re-extract the dataset" in message
    assert ("empty (0 bytes)" in message) if not content else ("not a recognised" in message)


def test_corrupt_image_surfaces_through_the_dataset(voc):
    (voc / "JPEGImages" / "b.jpg").write_bytes(b"<html>404</html>")
    ds = VOCDataset(voc, "train")  # existence is checked up front, decoding when read
    with pytest.raises(DataError, match=r"JPEGImages/b\.jpg"):
        ds[1]


def test_grayscale_is_replicated(tmp_path):
    for name in ("l.png", "l.jpg"):
        Image.fromarray(RGB[..., 0]).save(tmp_path / name)
        out = read_image(tmp_path / name)
        assert out.dtype == np.uint8 and out.shape == (30, 40, 3)
        assert (out == out[..., :1]).all()  # three equal channels
    assert np.array_equal(read_image(tmp_path / "l.png")[..., 0], RGB[..., 0])


def test_rgba_drops_alpha_without_compositing(tmp_path):
    rgba = np.dstack([RGB, np.zeros((30, 40), np.uint8)])  # fully transparent everywhere
    rgba[0, 0] = (200, 100, 50, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert np.array_equal(out, rgba[..., :3])  # the stored colour, not black
    assert out[0, 0].tolist() == [200, 100, 50]


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.fromarray(RGB).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    with Image.open(tmp_path / "c.jpg") as img:  # independent decoder as the oracle
        assert img.mode == "CMYK"
        oracle = np.asarray(img.convert("RGB")).astype(int)
    assert np.abs(out.astype(int) - oracle).max() <= 2
    assert np.abs(out.astype(int) - RGB.astype(int)).mean() < 8  # colours survive the trip


def test_16bit_images_are_scaled_to_8bit(tmp_path):
    grey16 = RNG.integers(0, 65536, (30, 40), dtype=np.uint16)
    colour16 = RNG.integers(0, 65536, (30, 40, 3), dtype=np.uint16)  # in BGR order for cv2
    cv2.imwrite(str(tmp_path / "g.png"), grey16)
    cv2.imwrite(str(tmp_path / "c.png"), colour16)
    grey = read_image(tmp_path / "g.png")
    assert grey.dtype == np.uint8 and np.array_equal(grey, np.repeat((grey16 >> 8)[..., None],
                                                                      3, axis=2).astype(np.uint8))
    colour = read_image(tmp_path / "c.png")
    assert np.array_equal(colour, (colour16[..., ::-1] >> 8).astype(np.uint8))


def test_palette_image_is_expanded(tmp_path):
    Image.fromarray(RGB).convert("P").save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as img:
        oracle = np.asarray(img.convert("RGB"))
    assert np.array_equal(read_image(tmp_path / "p.png"), oracle)


# ---- masks (read_voc_mask) -------------------------------------------------------------

MASK = np.zeros((30, 40), np.uint8)
MASK[5:20, 3:30] = 12
MASK[4] = 255


def test_palette_and_16bit_masks_give_the_class_indices(tmp_path):
    palette = Image.fromarray(MASK, "L").convert("P")  # indices stored as palette entries
    palette.save(tmp_path / "p.png")
    assert np.array_equal(read_voc_mask(tmp_path / "p.png"), MASK)
    cv2.imwrite(str(tmp_path / "i16.png"), MASK.astype(np.uint16))  # 16-bit greyscale PNG
    out = read_voc_mask(tmp_path / "i16.png")
    assert out.dtype == np.uint8 and np.array_equal(out, MASK)


def test_16bit_mask_with_values_above_255_stops(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), np.full((30, 40), 300, np.uint16))
    with pytest.raises(DataError, match=r"big\.png"):
        read_voc_mask(tmp_path / "big.png")


def test_truncated_mask_stops_naming_the_file(tmp_path):
    Image.fromarray(RNG.integers(0, 21, (30, 40), dtype=np.uint8)).save(tmp_path / "m.png")
    cut = _truncated(tmp_path / "m.png", tmp_path, 0.6)
    with pytest.raises(DataError) as err:
        read_voc_mask(cut)
    assert str(cut) in str(err.value) and "restore" in str(err.value)


def test_mask_and_image_of_different_sizes_stop(voc):
    Image.fromarray(np.zeros((31, 40), np.uint8)).save(voc / "SegmentationClass" / "a.png")
    ds = VOCDataset(voc, "train")
    with pytest.raises(DataError) as err:
        ds[0]
    message = str(err.value)
    assert "40x31" in message and "40x30" in message
    assert str(voc / "SegmentationClass" / "a.png") in message
    assert str(voc / "JPEGImages" / "a.jpg") in message
