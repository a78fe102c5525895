"""Fuzzing annotations: VOC / ILSVRC XML (fields deleted, set to odd values, duplicated,
truncated, entities, bytes) and COCO JSON (entries with missing or wrongly typed fields, NaN
boxes, hostile segmentations, duplicates, another top level, truncation). Each case parses to
boxes inside their image with known classes, or is one WsolError line.
``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from wsol.datasets.classes import COCO_CLASSES, VOC_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.imagenet import ImageNetDataset
from wsol.datasets.voc_format import read_voc_xml, voc_xml_string

from .conftest import SIZE
from .fuzzing import Outcomes, coco_base, run_family

W, H = SIZE
VALUES = ["", " ", "nan", "inf", "-inf", "-1", "0", "1e400", "1e9", "-2e9", "abc", "3.5",
          " 7 ", "名", "<", "&amp;", "0x10", "1_000", "٣", "+5", "1e-300", "9" * 40]


def _mutate_xml(rng: random.Random) -> str:
    objects = [{"name": rng.choice(["dog", "cat", "person"]), "box": (2, 3, 20, 25),
                "difficult": rng.randint(0, 1)} for _ in range(rng.randint(0, 3))]
    text = voc_xml_string("x.jpg", SIZE, objects)
    for _ in range(rng.randint(1, 3)):
        tag = rng.choice(["xmin", "ymin", "xmax", "ymax", "width", "height", "name",
                          "difficult", "object", "bndbox", "size", "annotation"])
        start = text.find(f"<{tag}>")
        end = text.find(f"</{tag}>", start)
        how = rng.choice(["value", "delete", "truncate", "entity", "bytes", "duplicate"])
        if how == "value" and start >= 0:
            text = text[:start + len(tag) + 2] + rng.choice(VALUES) + text[end:]
        elif how == "delete" and start >= 0:
            text = text[:start] + text[end + len(tag) + 3:]
        elif how == "truncate":
            text = text[:rng.randrange(len(text) + 1)]
        elif how == "entity":
            text = ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "10"><!ENTITY f "&e;&e;">'
                    '<!ENTITY x SYSTEM "file:///etc/hostname">]>'
                    + text.replace("<xmin>3</xmin>", rng.choice(["<xmin>&f;</xmin>",
                                                                 "<xmin>&x;</xmin>"])))
        elif how == "bytes":
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(["\x00", "\ud800", "\x1b", "]]>", "<!--"]) + text[at:]
        elif how == "duplicate" and start >= 0:
            text = text[:end] + text[start:end] + text[end:]
    return text


def _fuzz_xml(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("xml")
    path = sandbox / "x.xml"
    imagenet = sandbox / "ILSVRC"
    (imagenet / "Data/CLS-LOC/val").mkdir(parents=True)
    (imagenet / "Annotations/CLS-LOC/val").mkdir(parents=True)
    (imagenet / "LOC_val_ids.txt").write_text("x\n")
    for _ in range(cases):
        text = _mutate_xml(rng)
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        (imagenet / "Annotations/CLS-LOC/val/x.xml").write_bytes(path.read_bytes())
        status, parsed = outcomes.run(f"voc xml {text[-80:]!r}", lambda: read_voc_xml(
            path, VOC_CLASSES))
        if status == "ok":
            boxes, labels, difficult, (width, height) = parsed
            assert boxes.dtype == np.int64 and boxes.shape == (len(labels), 4)
            assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()
            if width > 0 and height > 0 and len(boxes):
                assert boxes.min() >= 0 and (boxes[:, [0, 2]] < width).all() \
                    and (boxes[:, [1, 3]] < height).all()
            assert ((labels >= 0) & (labels < len(VOC_CLASSES))).all()
        status, ds = outcomes.run(f"ilsvrc xml {text[-80:]!r}", lambda: ImageNetDataset(
            imagenet, "val", VOC_CLASSES, check_files=False))
        if status == "ok":
            ann = ds.annotations[0]
            assert (ann.boxes[:, 0] <= ann.boxes[:, 2]).all() and len(ann.boxes) >= 1
    return outcomes


COCO_VALUES = [None, "x", -1, 0, 1, 3.7, 1e308, float("nan"), float("inf"), [], {}, [1, 2],
               [1, 2, 3, 4, 5], True, "名", 2**63, [[0, 0, 1e9, 0, 1e9, 1e9]],
               {"counts": [0, 10**9], "size": [H, W]}, {"counts": "abc", "size": [10**5, 10**5]},
               [[float("nan")] * 6]]


def _mutate_coco(rng: random.Random) -> str:
    data = coco_base(W, H)
    for _ in range(rng.randint(1, 3)):
        section = rng.choice(["images", "annotations", "categories", "top"])
        how = rng.choice(["set", "delete", "duplicate", "drop"])
        if section == "top":
            data = rng.choice([data, [data], "x", None, {"images": data["images"]}])
            break
        entries = data[section]
        if how == "drop" or not entries:
            data[section] = rng.choice([[], None, {}, "x"])
            break
        entry = rng.choice(entries)
        if how == "duplicate":
            entries.append(dict(entry))
        else:
            key = rng.choice(sorted(entry) + ["bbox", "segmentation", "width"])
            if how == "delete":
                entry.pop(key, None)
            else:
                entry[key] = rng.choice(COCO_VALUES)
    text = json.dumps(data)
    return text[:rng.randrange(len(text))] if rng.random() < 0.1 else text


def _fuzz_coco(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("coco")
    (sandbox / "coco" / "annotations").mkdir(parents=True)
    path = sandbox / "coco" / "annotations" / "instances_s.json"
    for _ in range(cases):
        text = _mutate_coco(rng)
        path.write_text(text)
        status, ds = outcomes.run(f"coco {text[:120]!r}", lambda: COCODataset(
            sandbox / "coco", "s", COCO_CLASSES, check_files=False))
        if status != "ok":
            continue
        assert len(set(ds.ids)) == len(ds.ids) >= 1
        for index, ann in enumerate(ds.annotations):
            width, height = ann.size
            assert (ann.boxes[:, [0, 2]] < width).all() and (ann.boxes[:, [1, 3]] < height).all()
            assert (ann.boxes >= 0).all() and (ann.boxes[:, :2] <= ann.boxes[:, 2:]).all()
            status, mask = outcomes.run(f"coco mask {text[:120]!r}",
                                        lambda: ds.mask(index))
            if status == "ok":
                assert mask.shape == (height, width) and mask.max() <= len(COCO_CLASSES)
    return outcomes


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_xml(tmp_path, slow):
    run_family(_fuzz_xml, tmp_path, cases=200, base=4000, slow=slow)


@pytest.mark.parametrize("slow", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_fuzz_coco(tmp_path, slow):
    run_family(_fuzz_coco, tmp_path, cases=120, base=0, slow=slow)
