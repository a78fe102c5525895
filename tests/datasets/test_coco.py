"""COCO 2014/2017 instances trees read back exactly: labels, boxes, masks, dropped images."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from helpers.format_trees_coco import uncompressed_rle
from omegaconf import OmegaConf
from pycocotools import mask as mask_utils

from wsol.datasets.classes import COCO_CATEGORY_IDS, COCO_CLASSES, resolve_class_names
from wsol.datasets.coco import COCODataset, coco_box_to_pixels
from wsol.errors import DataError


def test_coco_class_list_pins_official_ids():
    assert len(COCO_CLASSES) == 80 and len(set(COCO_CLASSES)) == 80
    assert resolve_class_names("coco") == COCO_CLASSES
    ids = dict(zip(COCO_CATEGORY_IDS, COCO_CLASSES, strict=True))
    assert ids[1] == "person" and ids[13] == "stop sign" and ids[44] == "bottle"
    assert ids[67] == "dining table" and ids[90] == "toothbrush" and ids[11] == "fire hydrant"
    assert not {12, 26, 29, 30, 45, 66, 68, 69, 71, 83} & set(ids)


@pytest.mark.parametrize("rule", [
    ([10.4, 5.0, 20.3, 7.0], [10, 5, 30, 11]),      # floor / ceil-1
    ([0.0, 0.0, 10.0, 10.0], [0, 0, 9, 9]),         # integer edges: 10 pixels
    ([95.5, 90.2, 10.0, 20.0], [95, 90, 99, 99]),   # clipped to a 100x100 image
    ([-2.0, 3.0, 0.0, 0.0], [0, 3, 0, 3]),          # empty box keeps one pixel
])
def test_box_rule(rule):
    bbox, expected = rule
    assert coco_box_to_pixels(bbox, 100, 100) == expected


@pytest.mark.parametrize(("fixture", "year"), [("coco2014_tree", 2014), ("coco2017_tree", 2017)])
@pytest.mark.parametrize("part", ["train", "val"])
def test_split_matches_what_was_written(request, fixture, year, part):
    root, truth = request.getfixturevalue(fixture)
    split = f"{part}{year}"
    data_cfg = OmegaConf.create({"max_image_pixels": 10**8})
    ds = COCODataset.from_config(root, split, data_cfg, COCO_CLASSES)
    assert ds.ids == truth.splits[split] and len(ds.ids) == 12
    assert ds.dropped_empty == len(truth.extra["dropped"][split]) == 2
    assert not set(ds.ids) & set(truth.extra["dropped"][split])
    name = ds.image_path(ds.ids[0]).name
    assert name.startswith(f"COCO_{split}_") if year == 2014 else name[:12].isdigit()
    assert ds.image_path(ds.ids[0]).parent == root / split
    np.testing.assert_array_equal(ds.labels, np.stack([truth.labels[i] for i in ds.ids]))
    for i, image_id in enumerate(ds.ids):
        rec = ds[i]
        assert rec.image_id == image_id
        assert rec.image.shape == (*truth.sizes[image_id][::-1], 3)
        np.testing.assert_array_equal(rec.boxes, truth.boxes[image_id])
        np.testing.assert_array_equal(rec.box_labels, truth.box_labels[image_id])
        np.testing.assert_array_equal(rec.difficult, truth.difficult[image_id])
        np.testing.assert_array_equal(rec.mask, truth.masks["semantic"][image_id])


def test_tree_has_every_segmentation_kind(coco2014_tree):
    root, truth = coco2014_tree
    data = json.loads((root / "annotations" / "instances_train2014.json").read_text())
    segs = [(a["segmentation"], a["iscrowd"]) for a in data["annotations"]]
    assert any(isinstance(s, list) and len(s) == 2 for s, _ in segs)            # 2-part polygon
    assert any(isinstance(s, dict) and isinstance(s["counts"], list) and not c for s, c in segs)
    assert any(isinstance(s, dict) and isinstance(s["counts"], str) for s, _ in segs)
    assert any(c for _, c in segs)
    # an image whose only annotation is a crowd keeps its label but has an all-0 mask
    only_crowd = [i for i in truth.splits["train2014"] if truth.difficult[i].all()]
    assert only_crowd and truth.labels[only_crowd[0]].sum() == 1
    assert not truth.masks["semantic"][only_crowd[0]].any()
    # some boxes reach past the image and are clipped
    widths = {im["id"]: im["width"] for im in data["images"]}
    assert any(a["bbox"][0] + a["bbox"][2] > widths[a["image_id"]] for a in data["annotations"])


def _tiny_tree(tmp_path, annotations):
    """A one-image COCO tree (8x6) with the given annotations (category ids 1 and 3)."""
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    (root / "val2017").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 6)).save(root / "val2017" / "000000000007.jpg")
    payload = {"images": [{"id": 7, "file_name": "000000000007.jpg", "width": 8, "height": 6}],
               "annotations": annotations,
               "categories": [{"id": c, "name": n}
                              for c, n in zip(COCO_CATEGORY_IDS, COCO_CLASSES, strict=True)]}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(payload))
    return root


def test_later_instances_overwrite_earlier_and_crowd_stays_background(tmp_path):
    first = np.zeros((6, 8), bool)
    first[1:5, 1:6] = True
    second = np.zeros((6, 8), bool)
    second[2:6, 4:8] = True
    crowd = np.zeros((6, 8), bool)
    crowd[0:2, 0:3] = True
    compressed = mask_utils.encode(np.asfortranarray(second.astype(np.uint8)))
    anns = [
        {"id": 50, "image_id": 7, "category_id": 3, "iscrowd": 0, "bbox": [1, 1, 5, 4],
         "area": 20, "segmentation": uncompressed_rle(first)},
        {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 3, 2],
         "area": 6, "segmentation": uncompressed_rle(crowd)},
        {"id": 9, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [4, 2, 4, 4],
         "area": 16, "segmentation": {"counts": compressed["counts"].decode(), "size": [6, 8]}},
    ]
    ds = COCODataset(_tiny_tree(tmp_path, anns), "val2017")
    expected = np.zeros((6, 8), np.uint8)
    expected[first] = COCO_CLASSES.index("car") + 1
    expected[second] = COCO_CLASSES.index("person") + 1   # later in the file: wins the overlap
    np.testing.assert_array_equal(ds.mask(0), expected)   # crowd pixels (0,0)-(2,1) not painted
    assert expected[0, 0] == 0 and expected[1, 1] == 3
    np.testing.assert_array_equal(ds[0].boxes, [[1, 1, 5, 4], [0, 0, 2, 1], [4, 2, 7, 5]])
    np.testing.assert_array_equal(ds[0].difficult, [False, True, False])
    assert ds.labels[0].sum() == 2


def test_dropped_images_are_logged(coco2014_tree, caplog):
    root, _ = coco2014_tree
    with caplog.at_level(logging.INFO, logger="wsol.datasets.coco"):
        COCODataset(root, "val2014")
    assert "dropped 2 of 14 images without annotations" in caplog.text


def test_missing_root_and_annotation_file(coco2014_tree, tmp_path):
    root, _ = coco2014_tree
    with pytest.raises(DataError, match="data.root.*WSOL_DATA.*data/README.md"):
        COCODataset(tmp_path / "nowhere", "train2014")
    with pytest.raises(DataError, match=r"instances_train2017\.json not found.*"
                                        r"instances_train2014\.json"):
        COCODataset(root, "train2017")


def test_category_name_mismatch_is_a_clear_error(coco2014_tree, tmp_path):
    root, _ = coco2014_tree
    copy = tmp_path / "coco"
    shutil.copytree(root, copy)
    path = copy / "annotations" / "instances_val2014.json"
    data = json.loads(path.read_text())
    data["categories"][2]["name"] = "automobile"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"index 2: 'automobile' in the file vs 'car'"):
        COCODataset(copy, "val2014")
    with pytest.raises(DataError, match="do not match data.classes"):
        COCODataset(root, "val2014", ["person", "car"])


def test_missing_image_is_named(coco2014_tree, tmp_path):
    root, truth = coco2014_tree
    copy = tmp_path / "coco"
    shutil.copytree(root, copy)
    victim = truth.splits["val2014"][3]
    (copy / "val2014" / f"{victim}.jpg").unlink()
    with pytest.raises(DataError, match=f"1 image.*{victim}"):
        COCODataset(copy, "val2014")
    assert len(COCODataset(copy, "val2014", check_files=False)) == 12
