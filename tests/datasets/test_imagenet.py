"""ILSVRC 2012 CLS-LOC val read back exactly: class order, boxes (clipped), errors."""

from __future__ import annotations

import logging
import re
import shutil

import numpy as np
import pytest
from helpers.format_trees import write_imagenet_val_tree

from wsol.datasets.imagenet import ImageNetDataset, imagenet_class_names, imagenet_human_names
from wsol.errors import DataError


def test_val_matches_what_was_written(imagenet_tree, caplog):
    root, truth = imagenet_tree
    with caplog.at_level(logging.WARNING, logger="wsol.datasets.imagenet"):
        ds = ImageNetDataset(root, "val", imagenet_class_names(root))
    assert ds.class_names == truth.class_names == ("n01440764", "n01443537", "n01484850",
                                                   "n01491361", "n01494475")
    assert ds.ids == truth.splits["val"] and ds.ids[0] == "ILSVRC2012_val_00000001"
    assert ds.clipped_boxes == truth.extra["clipped"] > 0
    assert f"clipped {truth.extra['clipped']} box(es)" in caplog.text
    for i, image_id in enumerate(ds.ids):
        rec = ds[i]
        assert rec.mask is None and ds.mask(i) is None
        assert rec.image.shape == (*truth.sizes[image_id][::-1], 3)
        np.testing.assert_array_equal(rec.labels, truth.labels[image_id])
        np.testing.assert_array_equal(rec.boxes, truth.boxes[image_id])
        np.testing.assert_array_equal(rec.box_labels, truth.box_labels[image_id])
    assert max(len(b) for b in truth.boxes.values()) >= 3


def test_coordinates_are_used_as_0_based_and_edge_values_clipped(imagenet_tree):
    root, truth = imagenet_tree
    ds = ImageNetDataset(root)
    for image_id in ds.ids:
        xml = (root / "Annotations" / "CLS-LOC" / "val" / f"{image_id}.xml").read_text()
        first = [int(re.search(f"<{k}>(-?\\d+)</{k}>", xml).group(1))
                 for k in ("xmin", "ymin", "xmax", "ymax")]
        width, height = truth.sizes[image_id]
        if first[2] == width and first[3] == height:  # the released files' far-edge value
            box = ds.annotations[ds.ids.index(image_id)].boxes[0]
            assert box.tolist() == [first[0], first[1], width - 1, height - 1]
            return
    pytest.fail("the tree has no box reaching the far edges")


def test_names_and_kaggle_layout(tmp_path):
    root = tmp_path / "ILSVRC"
    truth = write_imagenet_val_tree(root, n_images=4, mapping_beside_root=True)
    assert not (root / "LOC_synset_mapping.txt").exists()
    assert imagenet_class_names(root) == truth.class_names
    assert imagenet_human_names(root)[:3] == ("tench", "goldfish", "great white shark")
    assert imagenet_human_names(root, short=False)[0] == "tench, Tinca tinca"
    assert len(ImageNetDataset(root)) == 4


def test_split_file_selects_ids(imagenet_tree, tmp_path):
    root, truth = imagenet_tree
    copy = tmp_path / "ILSVRC"
    shutil.copytree(root, copy)
    chosen = truth.splits["val"][5:8]
    (copy / "LOC_val_ids.txt").write_text("\n".join(chosen) + "\n")
    assert ImageNetDataset(copy).ids == chosen


def test_unsorted_synset_file_is_refused(tmp_path):
    root = tmp_path / "ILSVRC"
    write_imagenet_val_tree(root, wnids=("n01443537", "n01440764"), n_images=2,
                            sort_mapping=False)
    with pytest.raises(DataError, match=r"sorted.*line 2 \(n01440764\) follows n01443537"):
        imagenet_class_names(root)


def test_errors_name_the_file_and_fix(imagenet_tree, tmp_path):
    root, truth = imagenet_tree
    with pytest.raises(DataError, match="data.root.*WSOL_DATA"):
        ImageNetDataset(tmp_path / "nowhere")
    (tmp_path / "bare" / "Data" / "CLS-LOC").mkdir(parents=True)
    with pytest.raises(DataError, match="LOC_synset_mapping.txt"):
        ImageNetDataset(tmp_path / "bare")
    with pytest.raises(DataError, match="n01484850.*'imagenet'"):
        ImageNetDataset(root, class_names=("n01440764", "n01443537"))
    copy = tmp_path / "ILSVRC"
    shutil.copytree(root, copy)
    victim = truth.splits["val"][2]
    (copy / "Data" / "CLS-LOC" / "val" / f"{victim}.JPEG").unlink()
    with pytest.raises(DataError, match=victim):
        ImageNetDataset(copy)


def test_blacklist_leaves_out_the_listed_val_indices(imagenet_tree, tmp_path):
    root, truth = imagenet_tree
    listed = tmp_path / "ILSVRC2014_clsloc_validation_blacklist.txt"
    listed.write_text("2\n5\n\n12\n40000\n")  # the devkit's format; 40000 is not in the tree
    ds = ImageNetDataset(root, "val", imagenet_class_names(root), blacklist=listed)
    gone = {"ILSVRC2012_val_00000002", "ILSVRC2012_val_00000005", "ILSVRC2012_val_00000012"}
    assert ds.ids == [i for i in truth.splits["val"] if i not in gone]
    assert ds.blacklisted == 3 and len(ds.annotations) == len(ds) == 9
    listed.write_bytes(b"\xef\xbb\xbf" + listed.read_bytes())  # saved by a Windows editor
    assert ImageNetDataset(root, "val", imagenet_class_names(root), blacklist=listed).ids == ds.ids
    kept = truth.splits["val"].index("ILSVRC2012_val_00000003")
    np.testing.assert_array_equal(ds.annotations[1].boxes, truth.boxes[truth.splits["val"][kept]])


@pytest.mark.parametrize(("text", "match"), [("3\nn01440764\n", r"blacklist.txt:2"),
                                             ("0\n", r"blacklist.txt:1")])
def test_blacklist_lines_must_be_val_indices(imagenet_tree, tmp_path, text, match):
    root, _ = imagenet_tree
    listed = tmp_path / "blacklist.txt"
    listed.write_text(text)
    with pytest.raises(DataError, match=match):
        ImageNetDataset(root, "val", blacklist=listed)


def test_missing_blacklist_file_names_the_key(imagenet_tree, tmp_path):
    root, _ = imagenet_tree
    with pytest.raises(DataError, match="data.blacklist="):
        ImageNetDataset(root, "val", blacklist=tmp_path / "nowhere.txt")
