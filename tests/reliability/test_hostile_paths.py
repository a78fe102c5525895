"""Paths built from data stay in their folder: ``../``, absolute paths, encoded separators,
control characters, over-long names and symlinks leading out are refused by every reader
(VOC split ids, ILSVRC ids file, COCO ``file_name``, ``eval.seeds_dir``) and every writer (the
CAM store, ``seeds/``), with one DataError naming the file, the entry and the fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from wsol.app.pipeline import run
from wsol.app.stages.evaluate import _read_seed
from wsol.cam import CamStore
from wsol.datasets.classes import COCO_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.imagenet import ImageNetDataset
from wsol.datasets.voc import VOCDataset
from wsol.errors import DataError
from wsol.io.paths import confined_path
from wsol.io.staged import staged_directory

from .conftest import SIZE, compose_run, voc_overrides

HOSTILE = {
    "parent": ("../../../../tmp/x", "'..'"),
    "nested_parent": ("a/../../x", "'..'"),
    "absolute": ("/tmp/x", "absolute path"),
    "encoded_slash": ("..%2F..%2Ftmp%2Fx", "percent-encoded"),
    "encoded_backslash": ("a%5Cb", "percent-encoded"),
    "backslash": ("..\\..\\x", "backslash"),
    "nul": ("a\x00b", "control character"),
    "newline": ("a\nb", "control character"),
    "long": ("x" * 300, "longer than 255 bytes"),
    "empty": ("", "is empty"),
}


def _tree_snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_confined_path_refuses_each_hostile_entry_naming_source_entry_and_fix(tmp_path, name):
    entry, problem = HOSTILE[name]
    with pytest.raises(DataError) as err:
        confined_path(tmp_path, entry, "/data/list.txt", suffix=".jpg")
    message = str(err.value)
    assert message.startswith("/data/list.txt: entry ") and problem in message
    assert str(tmp_path) in message and "correct or remove that entry" in message
    assert "\n" not in message and "\x00" not in message


@pytest.mark.parametrize("entry", ["2007_000032", "n01440764/ILSVRC2012_val_1", "a.b", "...",
                                   "名前", "50%"])
def test_confined_path_accepts_ordinary_ids(tmp_path, entry):
    assert confined_path(tmp_path, entry, "list", suffix=".jpg") == tmp_path / f"{entry}.jpg"


def test_symlinks_leading_out_are_refused_inside_ones_and_a_linked_root_are_not(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "inner").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    (root / "other.jpg").write_bytes(b"y")
    (root / "leak.jpg").symlink_to(outside / "secret.jpg")
    (root / "sub").symlink_to(outside)
    (root / "alias.jpg").symlink_to(root / "other.jpg")
    for entry in ("leak", "sub/secret"):
        with pytest.raises(DataError, match="symlink to .*outside"):
            confined_path(root, entry, "list", suffix=".jpg")
    assert confined_path(root, "alias", "list", suffix=".jpg") == root / "alias.jpg"
    linked = tmp_path / "linked_root"  # a dataset on another disk, linked in: fine
    linked.symlink_to(root)
    assert confined_path(linked, "other", "list", suffix=".jpg") == linked / "other.jpg"


# ---- readers -------------------------------------------------------------------------

@pytest.mark.parametrize("entry", [HOSTILE["encoded_slash"][0], HOSTILE["backslash"][0],
                                   HOSTILE["long"][0], ".."])
def test_voc_split_ids_are_refused_naming_the_split_file_and_line(voc, entry):
    split = voc / "ImageSets/Segmentation/train.txt"
    split.write_text(f"a\n{entry}\n")
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train")
    assert str(err.value).startswith(f"{split}:2: image id ") and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["parent", "absolute"])
def test_voc_lines_with_slashes_keep_only_the_file_stem_inside_the_tree(voc, name):
    # DeepLab lists ("/JPEGImages/x.jpg /SegmentationClassAug/x.png"): the id is the stem
    (voc / "ImageSets/Segmentation/train.txt").write_text(f"a\n{HOSTILE[name][0]}\n")
    with pytest.raises(DataError, match=r"missing from .*JPEGImages, e\.g\. .*JPEGImages/x\.jpg"):
        VOCDataset(voc, "train")


def test_voc_files_that_are_symlinks_out_of_the_tree_are_refused(voc, tmp_path):
    outside = tmp_path / "outside.png"
    shutil.copy(voc / "SegmentationClass" / "a.png", outside)
    (voc / "SegmentationClass" / "a.png").unlink()
    (voc / "SegmentationClass" / "a.png").symlink_to(outside)
    ds = VOCDataset(voc, "train")
    with pytest.raises(DataError, match=r"'a' is \(or passes through\) a symlink"):
        ds.mask(0)
    shutil.copy(voc / "JPEGImages" / "b.jpg", tmp_path / "outside.jpg")
    (voc / "JPEGImages" / "b.jpg").unlink()
    (voc / "JPEGImages" / "b.jpg").symlink_to(tmp_path / "outside.jpg")
    with pytest.raises(DataError, match=r"train\.txt: entry 'b'"):
        VOCDataset(voc, "train")  # the existence check of every image already refuses it


@pytest.mark.parametrize("name", ["parent", "absolute", "encoded_slash"])
def test_ilsvrc_ids_file_lines_are_refused(imagenet_tree, tmp_path, name):
    root = tmp_path / "ILSVRC"
    shutil.copytree(imagenet_tree[0], root)
    ids = imagenet_tree[1].splits["val"]
    (root / "LOC_val_ids.txt").write_text("\n".join([ids[0], HOSTILE[name][0], *ids[1:]]))
    with pytest.raises(DataError, match=r"LOC_val_ids\.txt:2: image id "):
        ImageNetDataset(root, "val")


@pytest.mark.parametrize("file_name", ["../../../etc/passwd", "/etc/passwd", "..%2Fx.jpg",
                                       "a\x00.jpg", 7])
def test_coco_file_names_leaving_the_image_folder_are_refused(coco2014_tree, tmp_path,
                                                               file_name):
    root = tmp_path / "coco"
    shutil.copytree(coco2014_tree[0], root)
    path = root / "annotations" / "instances_val2014.json"
    data = json.loads(path.read_text())
    image = next(i for i in data["images"]
                 if any(a["image_id"] == i["id"] for a in data["annotations"]))
    image["file_name"] = file_name
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        COCODataset(root, "val2014", COCO_CLASSES)
    message = str(err.value)
    assert message.startswith(f"{path}: image {image['id']}: file_name")
    assert "\n" not in message


def test_seed_reader_refuses_a_symlink_out_of_eval_seeds_dir(tmp_path):
    seeds, outside = tmp_path / "seeds", tmp_path / "outside.png"
    seeds.mkdir()
    outside.write_bytes(b"not read")
    (seeds / "a.png").symlink_to(outside)
    with pytest.raises(DataError, match=r"^eval\.seeds_dir: entry 'a' .*symlink"):
        _read_seed(seeds, "a", 20, 10**6)
    with pytest.raises(DataError, match=r"^eval\.seeds_dir: entry '\.\./x' climbs"):
        _read_seed(seeds, "../x", 20, 10**6)


# ---- writers -------------------------------------------------------------------------

def test_store_refuses_over_long_ids_and_links_out_instead_of_failing_later(tmp_path):
    store = CamStore(tmp_path / "store")
    with pytest.raises(DataError, match="longer than 255 bytes"):
        store.write("x" * 300, np.ones((1, 2, 2)), [0], (2, 2))
    (tmp_path / "victim.npz").write_bytes(b"keep")
    (tmp_path / "store" / "a.npz").symlink_to(tmp_path / "victim.npz")
    with pytest.raises(DataError, match="symlink"):
        store.write("a", np.ones((1, 2, 2)), [0], (2, 2))
    with pytest.raises(DataError, match="symlink"):
        store.read("a")
    assert (tmp_path / "victim.npz").read_bytes() == b"keep"
    store.write("../../escape", np.ones((1, 2, 2)), [0], (2, 2))  # quoted: one file inside
    assert (tmp_path / "store" / "..%2F..%2Fescape.npz").is_file()
    assert store.read("../../escape")[1].tolist() == [0]


def test_localize_reads_the_split_not_a_hostile_store_file(voc, tmp_path):
    store_dir = tmp_path / "pinned"
    store = CamStore(store_dir)
    cam = np.zeros((1, 8, 8), np.float32)
    cam[0, 2:6, 2:6] = 1.0
    for image_id in ("a", "b", "../../../escape", "/tmp/abs"):  # the last two: not in the split
        store.write(image_id, cam, [11], (SIZE[1], SIZE[0]), [0.9])
    assert sorted(os.listdir(store_dir)) == ["%2Ftmp%2Fabs.npz", "..%2F..%2F..%2Fescape.npz",
                                             "a.npz", "b.npz", "manifest.json"]
    before = _tree_snapshot(tmp_path)
    metrics = run(compose_run(*voc_overrides(voc, tmp_path, "experiment=voc_resnet",
                                             "model.weights=null", f"cam.store_dir={store_dir}",
                                             "stages=[localize]")))
    assert metrics["localize/images"] == 2.0
    run_dir = tmp_path / "run"
    assert sorted(os.listdir(run_dir / "seeds")) == ["a.png", "b.png"]
    boxes = json.loads((run_dir / "boxes.json").read_text())
    assert sorted(b["image_id"] for b in boxes) == ["a", "b"]
    created = _tree_snapshot(tmp_path) - before
    assert all(p.startswith("run") or p.startswith("cache") for p in created), created
    assert not Path("/tmp/abs.png").exists()


def test_staged_folder_replaces_the_old_one_whole_or_leaves_it(tmp_path):
    target = tmp_path / "seeds"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    with pytest.raises(RuntimeError), staged_directory(target) as stage:
        (stage / "new.png").write_bytes(b"new")
        raise RuntimeError("stopped half-way")
    assert sorted(os.listdir(tmp_path)) == ["seeds"] and os.listdir(target) == ["old.png"]
    with staged_directory(target) as stage:
        (stage / "new.png").write_bytes(b"new")
    assert sorted(os.listdir(tmp_path)) == ["seeds"] and os.listdir(target) == ["new.png"]
