"""wsolevaluation-format trees (CUB, ILSVRC, OpenImages30k) read back exactly, and bad metadata
stopping with one line naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers.format_trees_wsolevaluation import CLASSES, write_wsolevaluation_tree

from wsol.datasets.wsolevaluation import WsolEvalDataset, wsolevaluation_class_names
from wsol.errors import DataError


@pytest.fixture(scope="module", params=["CUB", "ILSVRC", "OpenImages"])
def tree(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(request.param)
    return write_wsolevaluation_tree(base, request.param, seed=len(request.param))


def _open(tree, split, **kwargs):
    return WsolEvalDataset(tree.root, split, metadata_root=tree.extra["metadata"], **kwargs)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_matches_what_was_written(tree, split):
    ds = _open(tree, split)
    names = CLASSES[tree.root.name]
    assert ds.class_names == names  # the folder holding each class's train images
    assert ds.ids == tree.splits[split]
    assert ds.clipped_boxes == tree.extra["clipped"][split]
    for i, image_id in enumerate(ds.ids):
        rec = ds[i]
        assert rec.image.shape == (*tree.sizes[image_id][::-1], 3)
        np.testing.assert_array_equal(rec.labels, tree.labels[image_id])
        np.testing.assert_array_equal(rec.boxes, tree.boxes[image_id])
        np.testing.assert_array_equal(rec.box_labels, tree.box_labels[image_id])
        if tree.root.name == "OpenImages" and split != "train":
            np.testing.assert_array_equal(rec.mask, tree.masks["composite"][image_id])
        else:
            assert rec.mask is None
    located = split != "train"
    assert ds.has_masks == (located and tree.root.name == "OpenImages")


def test_masks_carry_ignore_regions_and_resize_to_the_image(tmp_path):
    truth = write_wsolevaluation_tree(tmp_path, "OpenImages", seed=3)
    ds = _open(truth, "test")
    masks = [ds.mask(i) for i in range(len(ds))]
    assert any((m == 255).any() for m in masks)  # ignore \ foreground is kept as 255
    assert all(set(np.unique(m)) <= {0, 255, ds.meta.labels[i] + 1}
               for m, i in zip(masks, ds.ids, strict=True))
    doubled = ds.ids[1]  # written at twice the image's size
    assert ds.mask(1).shape == truth.sizes[doubled][::-1]
    np.testing.assert_array_equal(ds.mask(1), truth.masks["composite"][doubled])
    no_ignore = ds.ids[2]
    assert len(ds.mask_files(no_ignore)) == len(ds.meta.masks[no_ignore])


def test_aliases_and_class_names_fallback(tmp_path):
    truth = write_wsolevaluation_tree(tmp_path, "ILSVRC", sizes={"val": 3, "test": 4})
    # no train split: val2's folders are class indices, one to one
    assert wsolevaluation_class_names(truth.extra["metadata"]) == ("0", "1", "2")
    assert _open(truth, "train-fullsup").ids == truth.splits["val"]
    shutil.rmtree(truth.extra["metadata"] / "val")
    # test alone keeps every image in one folder (val/): no folder names a class
    assert wsolevaluation_class_names(truth.extra["metadata"]) == ("class_0", "class_1",
                                                                   "class_2")


def _broken(tmp_path, dataset, split, name, edit):
    truth = write_wsolevaluation_tree(tmp_path, dataset, sizes={"train": 3, split: 4}
                                      if split != "train" else {"train": 3})
    path = truth.extra["metadata"] / split / name
    path.write_text(edit(path.read_text()))
    return truth, path


@pytest.mark.parametrize("name, edit, words", [
    ("image_ids.txt", lambda t: t + "\n../../etc/passwd", ["climbs out", "image_ids.txt:5"]),
    ("image_ids.txt", lambda t: t + "\n/etc/passwd", ["absolute path"]),
    ("image_ids.txt", lambda t: t + "\n" + t.splitlines()[0], ["listed again", "line 1"]),
    ("image_ids.txt", lambda t: t + "\nx%2F..%2Fy.jpg", ["percent-encoded"]),
    ("class_labels.txt", lambda t: t.replace(",0", ",x", 1), ["not an integer"]),
    ("class_labels.txt", lambda t: "\n".join(t.splitlines()[1:]), ["has no class"]),
    ("localization.txt", lambda t: t.replace(",", ";", 1), ["restore the file"]),
    ("localization.txt", lambda t: "\n".join(t.splitlines()[1:]), ["has no boxes"]),
    ("image_sizes.txt", lambda t: t.replace(",", ",-", 2), ["not positive"]),
])
def test_bad_metadata_stops_with_one_line(tmp_path, name, edit, words):
    truth, path = _broken(tmp_path, "CUB", "test", name, edit)
    with pytest.raises(DataError) as err:
        _open(truth, "test")
    message = str(err.value)
    assert "\n" not in message and path.name in message
    for word in words:
        assert word in message, message


def test_inverted_and_outside_boxes_stop(tmp_path):
    truth, path = _broken(tmp_path, "CUB", "test", "localization.txt",
                          lambda t: t.replace(t.splitlines()[0], t.splitlines()[0].rsplit(
                              ",", 4)[0] + ",30,5,10,20"))
    with pytest.raises(DataError, match="inverted"):
        _open(truth, "test")
    truth, path = _broken(tmp_path / "b", "CUB", "test", "localization.txt",
                          lambda t: t.replace(t.splitlines()[0], t.splitlines()[0].rsplit(
                              ",", 4)[0] + ",500,5,510,20"))
    with pytest.raises(DataError, match="wholly outside"):
        _open(truth, "test")


def test_second_ignore_mask_and_unsafe_mask_paths_stop(tmp_path):
    truth = write_wsolevaluation_tree(tmp_path, "OpenImages", sizes={"train": 3, "val": 4})
    path = truth.extra["metadata"] / "val" / "localization.txt"
    lines = path.read_text().splitlines()
    image_id = lines[0].split(",")[0]
    path.write_text("\n".join([*lines, f"{image_id},x.png,y_ignore.png"]))
    with pytest.raises(DataError, match="second ignore mask"):
        _open(truth, "val")
    path.write_text("\n".join([*lines, f"{image_id},../../x.png,"]))
    with pytest.raises(DataError, match="climbs out"):
        _open(truth, "val")


def test_missing_files_and_folders_name_the_fix(tmp_path):
    truth = write_wsolevaluation_tree(tmp_path, "CUB", sizes={"train": 3, "test": 4})
    with pytest.raises(DataError, match=r"present: \['test', 'train'\]"):
        _open(truth, "val")
    with pytest.raises(DataError, match="data.metadata_dir"):
        WsolEvalDataset(truth.root, "test", metadata_root=tmp_path / "nowhere")
    (truth.root / truth.splits["test"][2]).unlink()
    with pytest.raises(DataError, match="1 image.*missing.*data.root"):
        _open(truth, "test")
    assert len(_open(truth, "test", check_files=False)) == 4
    truth = write_wsolevaluation_tree(tmp_path / "o", "OpenImages", sizes={"test": 2})
    victim = _open(truth, "test").mask_files(truth.splits["test"][0])[0]
    victim.write_bytes(b"not a png")
    with pytest.raises(DataError, match="Cannot decode mask"):
        _open(truth, "test").mask(0)
    victim.unlink()
    with pytest.raises(DataError, match="Mask .* is missing"):
        _open(truth, "test").mask(0)


def test_symlinks_out_of_the_root_and_oversized_masks_are_refused(tmp_path):
    truth = write_wsolevaluation_tree(tmp_path, "OpenImages", sizes={"test": 3})
    outside = tmp_path / "outside.jpg"
    victim = truth.root / truth.splits["test"][0]
    outside.write_bytes(victim.read_bytes())
    victim.unlink()
    victim.symlink_to(outside)
    with pytest.raises(DataError, match="symlink"):
        _open(truth, "test")
    victim.unlink()
    victim.write_bytes(outside.read_bytes())
    ds = _open(truth, "test", max_image_pixels=10)  # every mask is larger than 10 pixels
    with pytest.raises(DataError, match="data.max_image_pixels=10"):
        ds.mask(0)
