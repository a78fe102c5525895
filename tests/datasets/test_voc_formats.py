"""VOC 2012 + SBD and VOC 2007 trees in their real formats, read back exactly."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from wsol.datasets.voc import VOCDataset, read_voc_mask
from wsol.errors import DataError


def _assert_matches(ds, truth, split, mask_folder=None):
    assert ds.ids == truth.splits[split]
    for i, image_id in enumerate(ds.ids):
        rec = ds[i]
        np.testing.assert_array_equal(rec.labels, truth.labels[image_id])
        np.testing.assert_array_equal(rec.boxes, truth.boxes[image_id])
        np.testing.assert_array_equal(rec.box_labels, truth.box_labels[image_id])
        np.testing.assert_array_equal(rec.difficult, truth.difficult[image_id])
        assert rec.image.shape == (*truth.sizes[image_id][::-1], 3)
        if mask_folder is None:
            assert rec.mask is None
        else:
            np.testing.assert_array_equal(rec.mask, truth.masks[mask_folder][image_id])


@pytest.mark.parametrize("split", ["train", "val"])
def test_voc2012_segmentation_splits(voc2012_tree, split):
    root, truth = voc2012_tree
    ds = VOCDataset(root, split, "voc", require_masks=True)
    _assert_matches(ds, truth, split, "SegmentationClass")


def test_voc2012_tree_has_the_quirks_it_claims(voc2012_tree):
    root, truth = voc2012_tree
    ids = truth.splits["train"] + truth.splits["val"]
    assert any(truth.difficult[i].any() for i in ids)
    assert any(len(truth.boxes[i]) >= 3 for i in ids)
    person = truth.class_names.index("person")
    assert any(person in truth.box_labels[i] for i in ids)  # person objects carry <part> boxes
    assert "<part>" in "".join((root / "Annotations" / f"{i}.xml").read_text() for i in ids)
    masks = truth.masks["SegmentationClass"]
    assert all((m == 255).any() for m in masks.values())
    # 1-based in the file, 0-based in code
    image_id = ids[0]
    xml = (root / "Annotations" / f"{image_id}.xml").read_text()
    assert int(re.search(r"<xmin>(\d+)</xmin>", xml).group(1)) == truth.boxes[image_id][0, 0] + 1
    # a difficult object is void (255) in SegmentationClass, yet counts as an image label
    hard = next(i for i in ids if truth.difficult[i].any())
    k = truth.box_labels[hard][truth.difficult[hard]][0]
    assert truth.labels[hard][k] == 1.0


def test_sbd_train_aug_with_greyscale_masks(voc2012_tree):
    root, truth = voc2012_tree
    cfg = OmegaConf.create({"image_set": "Segmentation", "mask_dir": "SegmentationClassAug",
                           "max_image_pixels": 10**8})
    ds = VOCDataset.from_config(root, "train_aug", cfg, truth.class_names, require_masks=True)
    assert len(ds) == 18
    _assert_matches(ds, truth, "train_aug", "SegmentationClassAug")
    with Image.open(root / "SegmentationClassAug" / f"{ds.ids[0]}.png") as img:
        assert img.mode == "L"
    with Image.open(root / "SegmentationClass" / f"{truth.splits['train'][0]}.png") as img:
        assert img.mode == "P"


def test_train_aug_without_aug_masks_falls_back_to_none(voc2012_tree):
    root, truth = voc2012_tree
    ds = VOCDataset(root, "train_aug", "voc")  # SegmentationClass lacks the SBD-only ids
    aug_only = [i for i in truth.splits["train_aug"] if i not in truth.splits["train"]]
    assert aug_only
    assert ds.mask(ds.ids.index(aug_only[0])) is None
    with pytest.raises(DataError, match="SegmentationClass"):
        VOCDataset(root, "train_aug", "voc", require_masks=True)


@pytest.mark.parametrize("split", ["trainval", "test", "train", "val"])
def test_voc2007_main_splits(voc2007_tree, split):
    root, truth = voc2007_tree
    cfg = OmegaConf.create({"image_set": "Main", "max_image_pixels": 10**8})
    ds = VOCDataset.from_config(root, split, cfg, truth.class_names)
    _assert_matches(ds, truth, split)


def test_voc2007_has_no_segmentation_lists(voc2007_tree):
    root, _ = voc2007_tree
    with pytest.raises(DataError, match="image_set"):
        VOCDataset(root, "trainval", "voc", image_set="Segmentation")


@pytest.mark.parametrize("mode", ["P", "L", "LA"])
def test_read_voc_mask_reads_palette_and_grey_pngs(tmp_path, mode):
    label = np.array([[0, 1, 255], [20, 3, 255]], np.uint8)
    if mode in ("P", "L"):
        img = Image.fromarray(label, mode=mode)
    else:
        img = Image.fromarray(np.dstack([label, np.full_like(label, 200)]), mode="LA")
    if img.mode == "P":
        img.putpalette(list(range(256)) * 3)
    img.save(tmp_path / "m.png")
    with Image.open(tmp_path / "m.png") as check:
        assert check.mode == mode
    np.testing.assert_array_equal(read_voc_mask(tmp_path / "m.png"), label)


def test_missing_image_in_train_aug_is_named(voc2012_tree, tmp_path):
    root, truth = voc2012_tree
    copy = tmp_path / "VOC2012"
    shutil.copytree(root, copy)
    victim = truth.splits["train_aug"][-1]
    (copy / "JPEGImages" / f"{victim}.jpg").unlink()
    with pytest.raises(DataError, match=victim):
        VOCDataset(copy, "train_aug", "voc")
