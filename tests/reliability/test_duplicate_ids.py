"""An image listed twice would be scored twice (seed mIoU 14.5 instead of 17.6 in the report
that found it): every reader refuses a repeated id with one line naming the file and the id."""

from __future__ import annotations

import json
import shutil

import pytest

from wsol.datasets.classes import COCO_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.imagenet import ImageNetDataset
from wsol.datasets.voc import VOCDataset
from wsol.errors import DataError


@pytest.mark.parametrize("lines", [["a", "b", "a"], ["a 1", "b -1", "a 0"],
                                   ["/JPEGImages/a.jpg /S/a.png", "b", "a"]])
def test_voc_split_with_an_id_twice_names_both_lines(voc, lines):
    split = voc / "ImageSets/Segmentation/train.txt"
    split.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train")
    assert str(err.value) == (f"{split}:3: image id 'a' is listed again (first on line 1); an "
                              f"id listed twice would be scored twice. Remove the duplicate "
                              f"line.")


def test_ilsvrc_ids_file_with_an_id_twice(imagenet_tree, tmp_path):
    root = tmp_path / "ILSVRC"
    shutil.copytree(imagenet_tree[0], root)
    ids = imagenet_tree[1].splits["val"]
    (root / "LOC_val_ids.txt").write_text("\n".join([*ids, "", ids[2]]) + "\n")
    with pytest.raises(DataError, match=rf"LOC_val_ids\.txt:{len(ids) + 2}: image id "
                                        rf"'{ids[2]}' is listed again \(first on line 3\)"):
        ImageNetDataset(root, "val")
    (root / "LOC_val_ids.txt").write_text("\n".join(ids) + "\n")  # the control: it loads
    assert ImageNetDataset(root, "val").ids == ids


def _coco_copy(coco2014_tree, tmp_path):
    root = tmp_path / "coco"
    shutil.copytree(coco2014_tree[0], root)
    path = root / "annotations" / "instances_val2014.json"
    return root, path, json.loads(path.read_text())


def test_coco_image_id_listed_twice_is_refused(coco2014_tree, tmp_path):
    root, path, data = _coco_copy(coco2014_tree, tmp_path)
    twin = dict(data["images"][1], id=data["images"][0]["id"])  # pycocotools would keep one
    data["images"].append(twin)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=rf"images id {twin['id']} is listed twice"):
        COCODataset(root, "val2014", COCO_CLASSES)


def test_coco_file_names_sharing_a_stem_are_refused(coco2014_tree, tmp_path):
    root, path, data = _coco_copy(coco2014_tree, tmp_path)
    annotated = [i for i in data["images"]
                 if any(a["image_id"] == i["id"] for a in data["annotations"])]
    first, second = annotated[:2]
    second["file_name"] = first["file_name"].replace(".jpg", ".png")  # same id, other file
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="share the image id") as err:
        COCODataset(root, "val2014", COCO_CLASSES, check_files=False)
    assert first["file_name"] in str(err.value) and second["file_name"] in str(err.value)
