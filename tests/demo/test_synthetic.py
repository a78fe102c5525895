"""The generated demo is a real VOC tree + COCO JSON that parses back to the drawn objects."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc_format import VOC_PALETTE
from wsol.demo.scene import render_sample
from wsol.demo.synthetic import ensure_demo_dataset, generate_demo_dataset, split_ids
from wsol.errors import ConfigError, DataError


def _tree_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_layout(demo_root, tiny_params):
    ids = [f"{i:06d}" for i in range(tiny_params["num_images"])]
    for image_id in ids:
        for sub, ext in (("JPEGImages", "jpg"), ("Annotations", "xml"),
                         ("SegmentationClass", "png")):
            assert (demo_root / sub / f"{image_id}.{ext}").is_file()
    main, seg = demo_root / "ImageSets" / "Main", demo_root / "ImageSets" / "Segmentation"
    train = main.joinpath("train.txt").read_text().split()
    val = main.joinpath("val.txt").read_text().split()
    assert len(val) == 5 and len(train) == 15 and sorted(train + val) == ids
    assert main.joinpath("trainval.txt").read_text().split() == ids
    assert seg.joinpath("train.txt").read_text().split() == train
    assert seg.joinpath("val.txt").read_text().split() == val
    marker = json.loads((demo_root / ".complete").read_text())
    assert {k: marker[k] for k in tiny_params} == tiny_params
    assert not list(demo_root.rglob("*.tmp"))


def test_same_seed_gives_identical_bytes(tmp_path, demo_root, tiny_params):
    again = generate_demo_dataset(tmp_path / "again", progress=False, **tiny_params)
    assert _tree_bytes(again) == _tree_bytes(demo_root)
    other = generate_demo_dataset(tmp_path / "other", progress=False,
                                  **{**tiny_params, "seed": tiny_params["seed"] + 1})
    assert (other / "JPEGImages/000000.jpg").read_bytes() != \
        (demo_root / "JPEGImages/000000.jpg").read_bytes()


def test_xml_png_and_jpeg_match_the_drawn_objects(demo_root, tiny_params):
    seed, size = tiny_params["seed"], tiny_params["image_size"]
    for index in range(tiny_params["num_images"]):
        image_id = f"{index:06d}"
        sample = render_sample(seed, index, size)
        root = ET.parse(demo_root / "Annotations" / f"{image_id}.xml").getroot()
        assert root.findtext("filename") == f"{image_id}.jpg"
        width, height = int(root.findtext("size/width")), int(root.findtext("size/height"))
        assert (width, height) == (size, size)
        objs = root.findall("object")
        assert len(objs) == len(sample.objects)
        for obj, drawn in zip(objs, sample.objects, strict=True):
            assert obj.findtext("name") == SHAPE_CLASSES[drawn.class_index]
            assert obj.findtext("difficult") == "0"
            ys, xs = np.nonzero(drawn.visible)  # VOC boxes are 1-based inclusive
            box = [int(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")]
            assert box == [xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1]
        png = Image.open(demo_root / "SegmentationClass" / f"{image_id}.png")
        assert png.mode == "P"
        palette = np.array(png.getpalette()[:768], np.uint8).reshape(256, 3)
        assert np.array_equal(palette, VOC_PALETTE)
        seg = np.asarray(png)
        for drawn in sample.objects:  # class inside, 255 only on the band
            values = seg[drawn.visible]
            assert set(np.unique(values).tolist()) <= {drawn.class_index + 1, 255}
            assert (values == drawn.class_index + 1).mean() > 0.4
        assert seg[seg != 255].max(initial=0) <= len(SHAPE_CLASSES)
        jpeg = cv2.imread(str(demo_root / "JPEGImages" / f"{image_id}.jpg"))[:, :, ::-1]
        # JPEG drops much of the pixel noise; the smoothed images must agree
        smooth = [cv2.GaussianBlur(im.astype(np.float32), (5, 5), 1.5)
                  for im in (jpeg, sample.image)]
        assert np.abs(smooth[0] - smooth[1]).mean() < 6  # another image differs by ~50


def test_image_sets_per_class(demo_root, tiny_params):
    seed, size = tiny_params["seed"], tiny_params["image_size"]
    for k, name in enumerate(SHAPE_CLASSES):
        lines = (demo_root / "ImageSets/Main" / f"{name}_trainval.txt").read_text().splitlines()
        assert len(lines) == tiny_params["num_images"]
        for line in lines:
            image_id, flag = line.split()
            drawn = render_sample(seed, int(image_id), size).objects
            present = any(o.class_index == k for o in drawn)
            assert flag == ("1" if present else "-1")


@pytest.mark.parametrize("split", ["train", "val"])
def test_coco_json_decodes_to_the_visible_masks(demo_root, tiny_params, split):
    seed, size = tiny_params["seed"], tiny_params["image_size"]
    coco = COCO(str(demo_root / "annotations" / f"instances_{split}.json"))
    assert sorted(coco.getCatIds()) == list(range(1, 9))
    assert [coco.cats[k + 1]["name"] for k in range(8)] == list(SHAPE_CLASSES)
    split_list = (demo_root / "ImageSets/Main" / f"{split}.txt").read_text().split()
    assert sorted(img["file_name"] for img in coco.dataset["images"]) == \
        [f"{i}.jpg" for i in split_list]
    for img in coco.dataset["images"]:
        sample = render_sample(seed, int(img["file_name"][:-4]), size)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        assert len(anns) == len(sample.objects)
        png = demo_root / "SegmentationClass" / img["file_name"].replace(".jpg", ".png")
        seg = np.asarray(Image.open(png))
        for ann, drawn in zip(anns, sample.objects, strict=True):
            mask = coco.annToMask(ann).astype(bool)
            assert np.array_equal(mask, drawn.visible)
            assert ann["category_id"] == drawn.class_index + 1 and ann["iscrowd"] == 0
            assert ann["area"] == drawn.visible.sum()
            ys, xs = np.nonzero(mask)
            width, height = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
            assert ann["bbox"] == [xs.min(), ys.min(), width, height]
            off_band = seg != 255  # the PNG agrees with COCO everywhere but the void band
            assert np.array_equal(mask & off_band, (seg == drawn.class_index + 1) & off_band & mask)


def test_ensure_is_idempotent_and_regenerates_on_new_params(tmp_path, tiny_params):
    root = tmp_path / "demo"
    params = {**tiny_params, "num_images": 8}
    ensure_demo_dataset(root, progress=False, **params)
    stamp = (root / ".complete").stat().st_mtime_ns
    jpeg = root / "JPEGImages/000000.jpg"
    first = jpeg.read_bytes()
    ensure_demo_dataset(root, progress=False, **params)
    assert (root / ".complete").stat().st_mtime_ns == stamp  # nothing rewritten
    ensure_demo_dataset(root, progress=False, **{**params, "num_images": 6, "seed": 9})
    assert json.loads((root / ".complete").read_text())["num_images"] == 6
    assert len(list((root / "JPEGImages").iterdir())) == 6  # the old tree was replaced
    assert jpeg.read_bytes() != first
    ensure_demo_dataset(root, progress=False, **{**params, "num_images": 6, "style": "easy"})
    assert json.loads((root / ".complete").read_text())["style"] == "easy"
    (root / ".complete").unlink()  # an interrupted run regenerates
    ensure_demo_dataset(root, progress=False, **{**params, "num_images": 6, "seed": 9})
    assert (root / ".complete").is_file()


def test_refuses_a_directory_that_is_not_a_demo(tmp_path):
    root = tmp_path / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    with pytest.raises(DataError, match="data.root"):
        ensure_demo_dataset(root, progress=False, num_images=4)


def test_bad_params():
    with pytest.raises(ConfigError, match="style"):
        ensure_demo_dataset("unused", style="nope")
    with pytest.raises(ConfigError, match="image_size"):
        ensure_demo_dataset("unused", image_size=32)
    with pytest.raises(ConfigError, match="unknown keys"):
        ensure_demo_dataset("unused", num_imgs=3)


def test_split_sizes():
    splits = split_ids(3000, 0.2, 0)
    assert len(splits["val"]) == 600 and len(splits["train"]) == 2400
    assert not set(splits["val"]) & set(splits["train"])
