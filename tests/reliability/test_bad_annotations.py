"""Annotation XML: unknown class, box outside the image, unparsable file, no objects at all.

An unknown class or an unparsable file stops (DataError naming the file and the fix). A box
reaching past the image is clipped to it and counted (``VOCDataset.clipped_boxes``, logged);
an inverted box or one wholly outside the image stops. An image without objects is a valid
negative: all-zero labels, no CAMs, all-background seed, no box pair to score.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from helpers.models import declared_classifier

from wsol.cam import CamStore, GradCAM, multiscale_cams
from wsol.datasets.classes import VOC_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import read_voc_xml, voc_xml_string
from wsol.errors import DataError
from wsol.localize import seed_from_cams
from wsol.metrics import SegEvaluator

from .conftest import SIZE

DOG = VOC_CLASSES.index("dog")


def _write_xml(voc, image_id, objects, size=SIZE):
    (voc / "Annotations" / f"{image_id}.xml").write_text(
        voc_xml_string(f"{image_id}.jpg", size, objects))


def test_unknown_class_names_the_file_the_class_and_the_key(voc):
    _write_xml(voc, "b", [{"name": "dgo", "box": (1, 1, 5, 5)}])
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train")
    message = str(err.value)
    assert str(voc / "Annotations" / "b.xml") in message
    assert "'dgo'" in message and "data.classes" in message


def test_xml_that_does_not_parse_names_the_file(voc):
    (voc / "Annotations" / "a.xml").write_text("<annotation><object><name>dog</name>")
    with pytest.raises(DataError) as err:
        VOCDataset(voc, "train")
    assert str(voc / "Annotations" / "a.xml") in str(err.value)
    assert "not valid XML" in str(err.value) and "restore the file" in str(err.value)


def test_non_numeric_coordinate_names_the_field(voc):
    xml = voc / "Annotations" / "a.xml"
    xml.write_text(xml.read_text().replace("<xmin>3</xmin>", "<xmin>left</xmin>"))
    with pytest.raises(DataError, match=r"a\.xml: <bndbox/xmin> = 'left' is not a number"):
        VOCDataset(voc, "train")


def test_box_reaching_past_the_image_is_clipped_and_counted(voc, caplog):
    # 0-based (-3, 2, 45, 29) in a 40x30 image: left and right edges outside
    _write_xml(voc, "a", [{"name": "dog", "box": (-3, 2, 45, 29)},
                          {"name": "cat", "box": (5, 5, 10, 10)}])
    raw, *_ = read_voc_xml(voc / "Annotations" / "a.xml", VOC_CLASSES, clip=False)
    assert raw.tolist() == [[-3, 2, 45, 29], [5, 5, 10, 10]]
    clipped, *_ = read_voc_xml(voc / "Annotations" / "a.xml", VOC_CLASSES)
    assert clipped.tolist() == [[0, 2, 39, 29], [5, 5, 10, 10]]
    with caplog.at_level(logging.WARNING, logger="wsol.datasets.voc"):
        ds = VOCDataset(voc, "train")
    assert ds.clipped_boxes == 1
    assert ds[0].boxes.tolist() == [[0, 2, 39, 29], [5, 5, 10, 10]]
    assert "1 box(es)" in caplog.text and "a.xml" in caplog.text


@pytest.mark.parametrize("box, problem", [((50, 2, 60, 10), "wholly outside the 40x30 image"),
                                          ((20, 2, 10, 10), "xmin > xmax")])
def test_box_wholly_outside_or_inverted_stops(voc, box, problem):
    _write_xml(voc, "b", [{"name": "dog", "box": box}])
    with pytest.raises(DataError, match=problem) as err:
        VOCDataset(voc, "train")
    assert str(voc / "Annotations" / "b.xml") in str(err.value)
    assert "'dog'" in str(err.value) and "fix the annotation" in str(err.value)


def test_empty_annotation_is_a_negative_image_through_every_stage(voc):
    _write_xml(voc, "b", [])
    ds = VOCDataset(voc, "train")
    assert ds.labels[1].tolist() == [0.0] * 20 and ds[1].boxes.shape == (0, 4)
    assert ds.labels[0, DOG] == 1.0

    # training: a finite loss that pushes every logit down (a true negative, not a NaN)
    clf = declared_classifier("resnet18_quarter", 20, output_stride=16)
    logits = clf(torch.randn(2, 3, 64, 64)).detach().requires_grad_(True)
    loss = clf.loss_fn(logits, torch.zeros(2, 20))
    loss.backward()
    assert torch.isfinite(loss) and (logits.grad > 0).all()

    # CAM stage with cam.classes=gt: no map for the empty image, the other image unaffected
    gt_classes = [np.flatnonzero(row).tolist() for row in ds.labels]
    assert gt_classes == [[DOG], []]
    with GradCAM(clf.net.eval(), clf.target_layer) as engine:
        maps = multiscale_cams(engine, torch.randn(2, 3, 64, 64), gt_classes, out_size=(16, 16))
    assert [tuple(m.shape) for m in maps] == [(1, 16, 16), (0, 16, 16)]
    store = CamStore(voc.parent / "cams")
    store.write("b", maps[1], [], (SIZE[1], SIZE[0]))
    cams, class_ids = store.read("b")
    assert cams.shape == (0, SIZE[1], SIZE[0]) and class_ids.size == 0

    # localize: all background; evaluate: no box pair, and GT objects count as missed
    assert not seed_from_cams(cams, class_ids, 0.15).any()
    seg = SegEvaluator(21, [0.15])
    gt = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    gt[:10, :10] = DOG + 1
    seg.accumulate(cams, class_ids, gt)
    result = seg.compute()
    assert result["iou"][DOG + 1] == 0.0  # a missed object scores 0, no fake credit
    assert result["iou"][0] == pytest.approx(100.0 * (gt.size - 100) / gt.size)
    assert np.isfinite(result["miou_best"])
