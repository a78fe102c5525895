"""Id lists read from text files: a byte-order mark some editors write is not part of an id."""

from __future__ import annotations

from wsol.datasets.ids import read_text_lines
from wsol.datasets.voc import read_split_file

BOM = b"\xef\xbb\xbf"


def test_a_leading_byte_order_mark_is_dropped_and_a_later_one_kept(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes(BOM + b"000008\r\n000010\n" + BOM + b"x\n")
    assert read_text_lines(path, "split file") == ["000008", "000010", "\ufeffx"]


def test_a_voc_split_file_saved_with_a_bom_lists_the_images_it_names(tmp_path):
    split = tmp_path / "ImageSets" / "Segmentation" / "bom.txt"
    split.parent.mkdir(parents=True)
    split.write_bytes(BOM + b"000008\n000010\n")
    assert read_split_file(tmp_path, "bom") == ["000008", "000010"]
