"""The benchmark's generated VOC- and COCO-format trees read back through the real readers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from wsol.datasets.coco import COCODataset
from wsol.datasets.voc import VOCDataset
from wsol.demo.bench_trees import (
    COCO_SIZED,
    VOC_SIZED,
    ensure_tree,
    image_ids,
    render,
    subset_split,
    write_tree,
)

# the real specs' shape, at sizes a test can afford
SMALL_VOC = replace(VOC_SIZED, num_images=24, sizes=((80, 60, 0.5), (60, 80, 0.2)),
                    long_side=80)
SMALL_COCO = replace(COCO_SIZED, num_images=24, sizes=((96, 72, 0.5), (72, 96, 0.2)),
                     long_side=96)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench_trees")
    return (write_tree(base / "voc", SMALL_VOC, workers=2),
            write_tree(base / "coco", SMALL_COCO, workers=1))


def test_voc_tree_reads_back_with_its_objects(trees):
    root = trees[0]
    data = VOCDataset(root, "train", require_masks=True)
    assert data.ids == image_ids(SMALL_VOC)
    sizes, labelled = set(), 0
    for index in range(len(data)):
        image, objects = render(SMALL_VOC, index)
        sizes.add(image.shape[:2])
        ann = data.annotations[index]
        assert ann.box_labels.tolist() == [k for k, _ in objects]
        for box, (_, visible) in zip(ann.boxes, objects, strict=True):
            ys, xs = np.nonzero(visible)
            assert box.tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        mask = data.mask(index)
        assert mask.shape == image.shape[:2] == data.image(index).shape[:2]
        labels = set(np.unique(mask).tolist()) - {0, 255}
        assert labels <= {k + 1 for k, _ in objects}
        labelled += bool(labels)  # a tiny object may be all outline band (255)
    assert labelled >= 0.8 * len(data)
    assert {(60, 80), (80, 60)} <= sizes and len(sizes) > 2  # common sizes and a tail


def test_coco_tree_reads_back_with_its_instances(trees):
    data = COCODataset(trees[1], "train2014")
    assert data.ids == image_ids(SMALL_COCO)
    objects_per_image = []
    for index in range(len(data)):
        _, objects = render(SMALL_COCO, index)
        objects_per_image.append(len(objects))
        assert sorted(data.annotations[index].box_labels.tolist()) == \
            sorted(k for k, _ in objects)
        want = np.zeros(data.image(index).shape[:2], np.uint8)
        for k, visible in objects:
            want[visible] = k + 1
        np.testing.assert_array_equal(data.mask(index), want)
    assert np.mean(objects_per_image) > 1.5  # COCO's ~2.9 (1 + Poisson), some covered


def test_same_spec_same_files_and_reused(trees, tmp_path):
    again = write_tree(tmp_path / "voc", SMALL_VOC, workers=1)
    for name in ("JPEGImages", "Annotations", "SegmentationClass"):
        for path in sorted((trees[0] / name).iterdir()):
            assert (again / name / path.name).read_bytes() == path.read_bytes()
    stamp = (again / ".complete").stat().st_mtime_ns
    ensure_tree(again, SMALL_VOC)
    assert (again / ".complete").stat().st_mtime_ns == stamp  # complete: not rewritten


def test_subsets_are_real_splits(trees):
    voc = VOCDataset(trees[0], subset_split(trees[0], SMALL_VOC, 5))
    assert voc.ids == image_ids(SMALL_VOC)[:5]
    name = subset_split(trees[1], SMALL_COCO, 7)
    coco = COCODataset(trees[1], name)
    assert coco.ids == image_ids(SMALL_COCO)[:7] and name == "first7"
    full = COCODataset(trees[1], "train2014")
    for index in range(7):
        np.testing.assert_array_equal(coco.mask(index), full.mask(index))
