"""A missing or mistyped data root, and a split file that names an absent image: stop, say why."""

from __future__ import annotations

import pytest

from wsol.datasets.roots import near_match
from wsol.datasets.voc import VOCDataset
from wsol.errors import DataError


def test_missing_root_names_the_key_and_the_layout(tmp_path):
    with pytest.raises(DataError) as err:
        VOCDataset(tmp_path / "nowhere", "train")
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "data.root=" in message
    assert "did you mean" not in message  # nothing close exists


def test_mistyped_root_suggests_the_near_match(voc):
    typo = voc.parent / "VOC2O12"  # letter O for the digit 0
    with pytest.raises(DataError, match="did you mean") as err:
        VOCDataset(typo, "train")
    assert f"did you mean {voc}?" in str(err.value)


def test_typo_higher_up_the_path_is_found_too(voc):
    typo = voc.parents[1] / "VOCdevkt" / "VOC2012"
    assert near_match(typo) == voc
    assert near_match(voc) is None  # an existing path needs no suggestion
    assert near_match(voc.parent / "COCO2017") is None  # too different to guess


def test_split_file_naming_an_absent_image(voc):
    (voc / "ImageSets/Segmentation/train.txt").write_text("a\nb\nghost\n")
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train")
    message = str(err.value)
    assert "1 image(s)" in message and str(voc / "JPEGImages" / "ghost.jpg") in message
    assert "remove their ids from the split file" in message


def test_missing_split_file_lists_the_splits_there(voc):
    with pytest.raises(DataError, match=r"Available splits there: \['train'\]"):
        VOCDataset(voc, "trian")


def test_listed_image_without_annotation(voc):
    (voc / "Annotations" / "b.xml").unlink()
    with pytest.raises(DataError, match=r"Annotations/b\.xml is missing"):
        VOCDataset(voc, "train")
