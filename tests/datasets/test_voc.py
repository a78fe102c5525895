"""The VOC loader on a hand-written tree with the format's edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wsol.datasets.classes import VOC_CLASSES
from wsol.datasets.voc import VOCDataset, read_image, read_voc_mask, read_voc_xml, write_voc_mask
from wsol.datasets.voc_format import VOC_PALETTE
from wsol.errors import DataError

DOG, PERSON, CAT = VOC_CLASSES.index("dog"), VOC_CLASSES.index("person"), VOC_CLASSES.index("cat")


SIZE = "<size><width>40</width><height>30</height><depth>3</depth></size>"


def _xml(objects: str, size: str = SIZE):
    return f"<annotation><filename>x.jpg</filename>{size}{objects}</annotation>"


def _obj(name, box, difficult=0):
    x0, y0, x1, y1 = box
    return (f"<object><name>{name}</name><pose>Left</pose><truncated>0</truncated>"
            f"<difficult>{difficult}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>")


@pytest.fixture()
def voc(tmp_path):
    """a: two dogs + a difficult person; b: a cat (float coords); c: detection-only, no PNG."""
    root = tmp_path / "VOC2012"
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Main",
                "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for image_id in ("a", "b", "c"):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg")
    (root / "Annotations/a.xml").write_text(_xml(
        _obj("dog", (1, 1, 10, 10)) + _obj("dog", (20, 5, 40, 30)) +
        _obj("person", (5, 6, 7, 8), difficult=1)))
    (root / "Annotations/b.xml").write_text(_xml(_obj("cat", ("3.0", "4.0", "12.0", "20.0"))))
    (root / "Annotations/c.xml").write_text(_xml(_obj("person", (2, 2, 9, 9))))
    mask = np.zeros((30, 40), np.uint8)
    mask[0:10, 0:10] = DOG + 1
    mask[10, 0:10] = 255
    Image.fromarray(mask).save(root / "SegmentationClass/a.png")  # greyscale PNG is fine
    mask_b = np.full((30, 40), CAT + 1, np.uint8)
    mask_b[0] = 255
    write_voc_mask(root / "SegmentationClass/b.png", mask_b)
    (root / "ImageSets/Segmentation/train.txt").write_text("a\nb\n")
    (root / "ImageSets/Main/train.txt").write_text("a\nb\nc\n")
    (root / "ImageSets/Main/dog_train.txt").write_text("a  1\nb -1\nc -1\n")
    return root


def test_labels_boxes_difficult_and_masks(voc):
    ds = VOCDataset(voc, "train", VOC_CLASSES)
    assert ds.ids == ["a", "b"] and len(ds) == 2
    a = ds[0]
    expected = np.zeros(20, np.float32)
    expected[[DOG, PERSON]] = 1  # difficult objects count for the image label
    assert a.image_id == "a" and a.labels.dtype == np.float32
    assert np.array_equal(a.labels, expected)
    assert a.boxes.dtype == np.int64
    assert a.boxes.tolist() == [[0, 0, 9, 9], [19, 4, 39, 29], [4, 5, 6, 7]]  # 0-based inclusive
    assert a.box_labels.tolist() == [DOG, DOG, PERSON]
    assert a.difficult.tolist() == [False, False, True]
    assert a.image.shape == (30, 40, 3) and a.image.dtype == np.uint8
    assert a.mask.dtype == np.uint8 and a.mask[10, 0] == 255 and a.mask[0, 0] == DOG + 1
    b = ds[1]
    assert b.boxes.tolist() == [[2, 3, 11, 19]]
    assert b.mask[0, 0] == 255 and b.mask[5, 5] == CAT + 1
    assert ds.labels.shape == (2, 20)


def test_detection_split_without_png(voc):
    ds = VOCDataset(voc, "train", "voc", image_set="Main")
    assert ds.ids == ["a", "b", "c"]
    assert ds[2].mask is None and ds[2].labels[PERSON] == 1
    with pytest.raises(DataError, match="c.png"):
        VOCDataset(voc, "train", "voc", image_set="Main", require_masks=True)


def test_per_class_and_deeplab_split_lines(voc):
    assert VOCDataset(voc, "dog_train", "voc", image_set="Main").ids == ["a", "b", "c"]
    (voc / "ImageSets/Segmentation/train_aug.txt").write_text(
        "/JPEGImages/a.jpg /SegmentationClassAug/a.png\n"
        "/JPEGImages/b.jpg /SegmentationClassAug/b.png\n")
    assert VOCDataset(voc, "train_aug", "voc").ids == ["a", "b"]


def test_unknown_class_names_the_file_and_the_key(voc):
    with pytest.raises(DataError, match="data.classes") as err:
        VOCDataset(voc, "train", ["dog", "person"])
    assert "b.xml" in str(err.value) and "'cat'" in str(err.value)


def test_missing_root_mentions_the_fix(tmp_path):
    with pytest.raises(DataError) as err:
        VOCDataset(tmp_path / "nowhere", "train")
    assert "data.root=" in str(err.value) and "WSOL_DATA" in str(err.value)


def test_root_one_level_too_high_gets_a_hint(voc):
    with pytest.raises(DataError, match="VOC2012"):
        VOCDataset(voc.parent, "train")


def test_missing_split_file_lists_the_available_ones(voc):
    with pytest.raises(DataError, match="train_aug.txt") as err:
        VOCDataset(voc, "train_aug", "voc")
    assert "['train']" in str(err.value)


def test_listed_id_without_jpeg(voc):
    (voc / "JPEGImages/b.jpg").unlink()
    with pytest.raises(DataError, match="b.jpg"):
        VOCDataset(voc, "train", "voc")


def test_unreadable_image(voc):
    (voc / "JPEGImages/a.jpg").write_bytes(b"not a jpeg at all")
    ds = VOCDataset(voc, "train", "voc")
    with pytest.raises(DataError, match="a.jpg"):
        ds[0]


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P"])
def test_images_of_any_mode_become_rgb(tmp_path, mode):
    rgb = np.random.default_rng(1).integers(0, 255, (9, 7, 3), dtype=np.uint8)
    path = tmp_path / f"im_{mode}.{'jpg' if mode in ('L', 'CMYK') else 'png'}"
    Image.fromarray(rgb).convert(mode).save(path)
    out = read_image(path)
    assert out.shape == (9, 7, 3) and out.dtype == np.uint8
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(out.astype(int) - expected).max() <= 2  # decoders may round differently


def test_mask_roundtrip_palette_and_rgb(tmp_path):
    mask = np.array([[0, 1, 255], [20, 3, 4]], np.uint8)
    write_voc_mask(tmp_path / "m.png", mask)
    img = Image.open(tmp_path / "m.png")
    assert img.mode == "P" and np.array_equal(np.asarray(img), mask)
    assert tuple(VOC_PALETTE[255]) == (224, 224, 192) and tuple(VOC_PALETTE[1]) == (128, 0, 0)
    assert np.array_equal(read_voc_mask(tmp_path / "m.png"), mask)
    Image.fromarray(VOC_PALETTE[mask]).save(tmp_path / "rgb.png")
    assert np.array_equal(read_voc_mask(tmp_path / "rgb.png"), mask)


def test_read_voc_xml_returns_size(voc):
    boxes, labels, difficult, size = read_voc_xml(voc / "Annotations/a.xml", VOC_CLASSES)
    assert size == (40, 30) and boxes.shape == (3, 4) and labels.shape == (3,)
    (voc / "Annotations/n.xml").write_text(_xml("", size=""))
    boxes, labels, difficult, size = read_voc_xml(voc / "Annotations/n.xml", VOC_CLASSES)
    assert boxes.shape == (0, 4) and size == (0, 0)


def test_demo_tree_loads_with_shape_classes(demo_root):
    ds = VOCDataset(demo_root, "val", "shapes", require_masks=True)
    assert len(ds) == 5
    record = ds[0]
    assert record.mask.shape == record.image.shape[:2] == (64, 64)
    assert record.labels.sum() == len(set(record.box_labels.tolist())) >= 1
