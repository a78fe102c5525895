"""Seeded fuzzing of what a dataset hands us: ids and file names (through every reader and
writer), image and mask bytes, VOC / ILSVRC XML and COCO JSON. Each case ends in success that
its oracle accepts, or one WsolError line; never another exception, never a file outside its
root. ``pytest -m slow -k fuzz`` runs 20x as many cases with other seeds."""

# ruff: noqa: B023  (each lambda is called at once by Outcomes.run, inside its loop turn)
from __future__ import annotations

import io
import json
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.cam import CamStore
from wsol.datasets.classes import COCO_CATEGORY_IDS, COCO_CLASSES, VOC_CLASSES
from wsol.datasets.coco import COCODataset
from wsol.datasets.imagenet import ImageNetDataset
from wsol.datasets.voc import VOCDataset
from wsol.datasets.voc_format import (
    check_mask_labels,
    read_image,
    read_voc_mask,
    read_voc_xml,
    voc_xml_string,
)
from wsol.io.paths import confined_path, entry_problem

from .conftest import SIZE, write_tree
from .fuzzing import Outcomes, assert_nothing_outside, files_under, hostile_string, seeds

W, H = SIZE
CASES = {"ids": 120, "images": 150, "masks": 100, "xml": 200, "coco": 120}
VALUES = ["", " ", "nan", "inf", "-inf", "-1", "0", "1e400", "1e9", "-2e9", "abc", "3.5",
          " 7 ", "名", "<", "&amp;", "0x10", "1_000", "٣", "+5", "1e-300", "9" * 40]


def _inside(path: Path, root: Path) -> bool:
    return str(path.resolve()).startswith(str(root.resolve()) + "/")


# ---- ids and file names ---------------------------------------------------------------------

def _fuzz_ids(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    voc = write_tree(sandbox / "voc")
    store_dir, seeds_dir = sandbox / "store", sandbox / "seeds"
    coco = sandbox / "coco"
    (coco / "annotations").mkdir(parents=True)
    imagenet = sandbox / "ILSVRC"
    for sub in ("Data/CLS-LOC/val", "Annotations/CLS-LOC/val"):
        (imagenet / sub).mkdir(parents=True)
    xml = voc_xml_string("x.jpg", SIZE, [{"name": "dog", "box": (2, 3, 20, 25)}])
    (sandbox / "outside").mkdir()
    before = files_under(sandbox)
    outcomes, store = Outcomes("ids"), CamStore(store_dir)
    for _ in range(cases):
        image_id = hostile_string(rng)
        safe_name = entry_problem(image_id) is None and "/" not in image_id \
            and image_id == image_id.strip() and not any(c.isspace() for c in image_id)
        if safe_name:  # give the reader the files, so the success path is exercised too
            if not (voc / "JPEGImages" / f"{image_id}.jpg").exists():
                (voc / "JPEGImages" / f"{image_id}.jpg").hardlink_to(voc / "JPEGImages" / "a.jpg")
            (voc / "Annotations" / f"{image_id}.xml").write_text(xml)
            (imagenet / "Annotations/CLS-LOC/val" / f"{image_id}.xml").write_text(xml)
        (voc / "ImageSets/Segmentation/train.txt").write_text(f"a\n{image_id}\nb\n",
                                                              errors="surrogatepass")
        kind, ds = outcomes.run(f"voc {image_id!r}", lambda: VOCDataset(voc, "train"))
        if kind == "ok":
            assert len(set(ds.ids)) == len(ds.ids) and {"a", "b"} <= set(ds.ids)
            for i, name in enumerate(ds.ids):
                assert entry_problem(name) is None and _inside(ds.image_path(name), voc)
                assert ds[i].image.shape == (H, W, 3)
        (imagenet / "LOC_val_ids.txt").write_text(f"{image_id}\n", errors="surrogatepass")
        kind, ds = outcomes.run(f"ilsvrc {image_id!r}", lambda: ImageNetDataset(
            imagenet, "val", VOC_CLASSES, check_files=False))
        if kind == "ok":
            assert all(_inside(ds.image_path(i), imagenet) for i in ds.ids)
        data = _coco_base()
        data["images"][0]["file_name"] = image_id
        (coco / "annotations" / "instances_s.json").write_text(json.dumps(data))
        kind, ds = outcomes.run(f"coco {image_id!r}", lambda: COCODataset(
            coco, "s", COCO_CLASSES, check_files=False))
        if kind == "ok":
            assert all(_inside(ds.image_path(i), coco / "s") for i in ds.ids)
        cam = np.ones((1, 2, 2), np.float32)
        kind, _ = outcomes.run(f"store {image_id!r}",
                               lambda: store.write(image_id, cam, [3], (4, 4)))
        if kind == "ok":
            assert store.read(image_id)[1].tolist() == [3]
        outcomes.run(f"seed {image_id!r}", lambda: confined_path(
            seeds_dir, image_id, "the split", suffix=".png").parent.mkdir(parents=True,
                                                                          exist_ok=True))
    assert_nothing_outside(sandbox, [voc, store_dir, seeds_dir, coco, imagenet], before)
    assert not list((sandbox / "outside").iterdir())
    return outcomes


# ---- image and mask bytes -------------------------------------------------------------------

def _encodings(rng: np.random.Generator) -> dict[str, tuple[bytes, np.ndarray | None]]:
    """name -> (file bytes, the RGB oracle for lossless formats or None)."""
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = {}
    for name, image, fmt, lossless in [
        ("rgb.png", Image.fromarray(rgb), "PNG", True),
        ("rgb.jpg", Image.fromarray(rgb), "JPEG", False),
        ("l.png", Image.fromarray(rgb[..., 0]), "PNG", True),
        ("la.png", Image.fromarray(rgb[..., :2].copy(), "LA"), "PNG", True),
        ("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA"), "PNG", True),
        ("p.png", Image.fromarray(rgb).convert("P"), "PNG", True),
        ("i16.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG", False),
        ("bit.png", Image.fromarray(rgb[..., 0] > 127), "PNG", True),
        ("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"), "JPEG", False),
        ("rgb.gif", Image.fromarray(rgb).convert("P"), "GIF", True),
        ("rgb.bmp", Image.fromarray(rgb), "BMP", True),
        ("rgb.tif", Image.fromarray(rgb), "TIFF", True),
    ]:
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        data = buffer.getvalue()
        oracle = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) if lossless else None
        out[name] = (data, oracle)
    return out


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    if rng.random() < 0.4:  # intact files too: the success path and its oracle
        return "none", data
    kind = rng.choice(["none", "truncate", "flip", "flips", "empty", "garbage", "prefix",
                       "suffix", "png_size", "zero_size"])
    if kind == "truncate":
        return kind, data[:rng.randrange(len(data))]
    if kind in ("flip", "flips"):
        out = bytearray(data)
        for _ in range(1 if kind == "flip" else rng.randint(2, 40)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return kind, bytes(out)
    if kind == "empty":
        return kind, b""
    if kind == "garbage":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    if kind == "prefix":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data
    if kind == "suffix":
        return kind, data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 600)))
    if kind in ("png_size", "zero_size") and data.startswith(b"\x89PNG"):
        side = 0 if kind == "zero_size" else rng.choice([9000, 65535, 2**31 - 1])
        return kind, data[:16] + struct.pack(">II", side, rng.choice([side, 30])) + data[24:]
    return "none", data


def _fuzz_images(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    encodings = _encodings(np.random.default_rng(rng.randrange(2**32)))
    outcomes = Outcomes("images")
    for n in range(cases):
        name = rng.choice(sorted(encodings))
        data, oracle = encodings[name]
        kind, mutated = _mutate(data, rng)
        path = sandbox / f"{n}_{name}"
        path.write_bytes(mutated)
        limit = rng.choice([10**8, W * H, W * H - 1])
        status, image = outcomes.run(f"{name} {kind} limit {limit}",
                                     lambda: read_image(path, limit))
        if status == "ok":
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            assert image.shape[0] * image.shape[1] <= limit
            if kind == "none" and oracle is not None:
                assert np.array_equal(image, oracle), name
        path.unlink()
    return outcomes


def _fuzz_masks(sandbox: Path, rng: random.Random, cases: int) -> Outcomes:
    outcomes = Outcomes("masks")
    gen = np.random.default_rng(rng.randrange(2**32))
    for n in range(cases):
        labels = [0, 1, 12, 20, 255] + ([21, 77, 254] if rng.random() < 0.3 else [])
        values = gen.choice(labels, (H, W)).astype(np.uint8)
        mode = rng.choice(["L", "P", "I;16", "RGB", "RGBA", "LA", "1", "F"])
        if mode in ("L", "P"):
            image = Image.fromarray(values, "L").convert(mode) if mode == "P" else \
                Image.fromarray(values, "L")
        elif mode == "I;16":
            image = Image.fromarray(values.astype(np.uint16) * rng.choice([1, 300]))
        elif mode == "F":
            image = Image.fromarray(values.astype(np.float32))
        else:
            image = Image.fromarray(values, "L").convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format="TIFF" if mode == "F" else "PNG")
        kind, data = _mutate(buffer.getvalue(), rng)
        path = sandbox / f"{n}.png"
        path.write_bytes(data)
        status, mask = outcomes.run(f"mask {mode} {kind}", lambda: check_mask_labels(
            read_voc_mask(path, 10**7), 20, path))
        if status == "ok":
            assert mask.dtype == np.uint8 and mask.ndim == 2
            assert ((mask <= 20) | (mask == 255)).all()
            if kind == "none" and mode in ("L", "P"):
                assert np.array_equal(mask, values)
        path.unlink()
    return outcomes


# ---- annotations ------------------------------------------------------------------------

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


def _coco_base() -> dict:
    return {
        "images": [{"id": 1, "file_name": "one.jpg", "width": W, "height": H},
                   {"id": 2, "file_name": "two.jpg", "width": W, "height": H},
                   {"id": 3, "file_name": "three.jpg", "width": W, "height": H}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 18, "bbox": [2.5, 3.0, 10.0, 8.0],
             "iscrowd": 0, "area": 80.0,
             "segmentation": [[2.5, 3.0, 12.5, 3.0, 12.5, 11.0, 2.5, 11.0]]},
            {"id": 11, "image_id": 1, "category_id": 1, "bbox": [20, 5, 15, 20], "iscrowd": 1,
             "area": 300.0, "segmentation": {"counts": [H * W], "size": [H, W]}},
            {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, W, H], "iscrowd": 0,
             "area": 1200.0, "segmentation": {"counts": [0, H * W], "size": [H, W]}},
        ],
        "categories": [{"id": cid, "name": name, "supercategory": "x"}
                       for cid, name in zip(COCO_CATEGORY_IDS, COCO_CLASSES, strict=True)],
    }


COCO_VALUES = [None, "x", -1, 0, 1, 3.7, 1e308, float("nan"), float("inf"), [], {}, [1, 2],
               [1, 2, 3, 4, 5], True, "名", 2**63, [[0, 0, 1e9, 0, 1e9, 1e9]],
               {"counts": [0, 10**9], "size": [H, W]}, {"counts": "abc", "size": [10**5, 10**5]},
               [[float("nan")] * 6]]


def _mutate_coco(rng: random.Random) -> str:
    data = _coco_base()
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


FAMILIES = {"ids": _fuzz_ids, "images": _fuzz_images, "masks": _fuzz_masks, "xml": _fuzz_xml,
            "coco": _fuzz_coco}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_inputs(family, tmp_path):
    for seed in seeds(slow=False, base=1000 * sorted(FAMILIES).index(family)):
        sandbox = tmp_path / f"seed{seed}"
        sandbox.mkdir()
        FAMILIES[family](sandbox, random.Random(seed), CASES[family]).require_both()


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_inputs_sweep(family, tmp_path):
    for seed in seeds(slow=True, base=1000 * sorted(FAMILIES).index(family)):
        sandbox = tmp_path / f"seed{seed}"
        sandbox.mkdir()
        FAMILIES[family](sandbox, random.Random(seed), CASES[family])
