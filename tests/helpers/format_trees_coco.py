"""A COCO instances tree (2014 or 2017 naming) with the format's quirks, for the loader tests.

Per split: polygon segmentations (some with two parts, some reaching past the image edge),
uncompressed RLE (list counts) and compressed RLE (string counts) instances, crowd
annotations (uncompressed RLE, ``iscrowd: 1``), one image with only a crowd annotation,
overlapping instances, images without annotations, images listed out of id order and
annotation ids out of file order. All 80 official categories are listed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from helpers.format_drawing import (
    WrittenTree,
    background,
    paint,
    random_box,
    random_size,
    shape_mask,
    write_jpeg,
)
from wsol.datasets.classes import COCO_CATEGORY_IDS, COCO_CLASSES

USED_IDS = (1, 3, 13, 18, 44, 90)  # person, car, stop sign, dog, bottle, toothbrush
INDEX = {cid: i for i, cid in enumerate(COCO_CATEGORY_IDS)}


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's list-count RLE: column-major runs, starting with a run of zeros."""
    flat = np.asarray(mask, np.uint8).flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        runs = [0, *runs]
    return {"counts": runs, "size": list(mask.shape)}


def expected_box(bbox: list[float], width: int, height: int) -> list[int]:
    """The documented rule: x0=floor(x), x1=ceil(x+w)-1, clipped to the image."""
    x, y, w, h = bbox
    x0, x1 = min(max(math.floor(x), 0), width - 1), min(max(math.ceil(x + w) - 1, 0), width - 1)
    y0, y1 = min(max(math.floor(y), 0), height - 1), min(max(math.ceil(y + h) - 1, 0), height - 1)
    return [x0, y0, max(x0, x1), max(y0, y1)]


def _polygon(box, width: int, height: int, two_parts: bool):
    """Rectangle polygon(s) with fractional vertices inside the inclusive ``box``."""
    x0, y0, x1, y1 = box
    left, top, right, bottom = x0 + 0.3, y0 + 0.6, x1 + 0.7, y1 + 0.4
    if two_parts:
        mid = (left + right) / 2
        polys = [[left, top, mid - 1, top, mid - 1, bottom, left, bottom],
                 [mid + 1, top, right, top, right, bottom, mid + 1, bottom]]
    else:
        polys = [[left, top, right, top, right, bottom, left, bottom]]
    rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    bbox = [left, top, right - left, bottom - top]
    return polys, mask_utils.decode(rle).astype(bool), bbox


def _instance(rng, kind: str, cid: int, width: int, height: int, outside: bool, two: bool):
    """(segmentation, instance mask bool (H,W), COCO bbox floats)."""
    box = random_box(rng, width, height, outside)
    if kind == "polygon":
        return _polygon(box, width, height, two)
    mask = shape_mask(INDEX[cid], box, height, width)
    ys, xs = np.nonzero(mask)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]
    if kind == "rle":
        return uncompressed_rle(mask), mask, bbox
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"counts": encoded["counts"].decode("ascii"), "size": list(mask.shape)}, mask, bbox


def _write_split(tree: WrittenTree, split: str, year: int, n_images: int, n_empty: int, rng,
                 next_ann_id) -> None:
    coco_ids = sorted(int(i) for i in rng.choice(np.arange(1, 600000), n_images + n_empty,
                                                 replace=False))
    empty = set(coco_ids[1::max(1, (n_images + n_empty) // max(n_empty, 1))][:n_empty])
    images, blocks, kept, dropped = [], [], [], []
    for n, cid in enumerate(coco_ids):
        name = f"COCO_{split}_{cid:012d}.jpg" if year == 2014 else f"{cid:012d}.jpg"
        image_id = Path(name).stem
        width, height = random_size(rng)
        picture = background(rng, height, width)
        images.append({"license": 1 + n % 6, "file_name": name, "coco_url":
                       f"http://images.cocodataset.org/{split}/{name}", "height": height,
                       "width": width, "date_captured": "2013-11-14 11:18:45", "id": cid})
        write_jpeg(tree.root / split / name, picture)
        tree.images[image_id] = tree.root / split / name
        if cid in empty:
            dropped.append(image_id)
            continue
        anns, semantic = [], np.zeros((height, width), np.uint8)
        only_crowd = cid == max(set(coco_ids) - empty)
        count = 0 if only_crowd else 1 + n % 3
        for j in range(count):
            cat = USED_IDS[(n + 2 * j) % len(USED_IDS)]
            kind = ("polygon", "rle", "crle")[(n + j) % 3]
            seg, mask, bbox = _instance(rng, kind, cat, width, height,
                                        outside=n % 4 == 1 and j == 0, two=n % 2 == 0)
            anns.append((seg, mask, bbox, cat, 0))
        if only_crowd or n % 4 == 2:  # crowd after (and so over) the instances
            mask = shape_mask(0, random_box(rng, width, height), height, width)
            ys, xs = np.nonzero(mask)
            bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1)]
            anns.append((uncompressed_rle(mask), mask, bbox, 1, 1))
        records = []
        for seg, mask, bbox, cat, crowd in anns:
            paint(picture, mask, INDEX[cat], rng)
            if not crowd:
                semantic[mask] = INDEX[cat] + 1  # file order: later instances win
            records.append({"segmentation": seg, "area": float(mask.sum()), "iscrowd": crowd,
                            "image_id": cid, "bbox": bbox, "category_id": cat,
                            "id": next_ann_id()})
        write_jpeg(tree.root / split / name, picture)
        blocks.append(records)
        kept.append(image_id)
        tree.record(image_id, [expected_box(a[2], width, height) for a in anns],
                    [INDEX[a[3]] for a in anns], [bool(a[4]) for a in anns], (width, height))
        tree.masks.setdefault("semantic", {})[image_id] = semantic
    order = rng.permutation(len(images))  # the file lists images out of id order
    annotations = [a for b in (blocks[i] for i in rng.permutation(len(blocks))) for a in b]
    payload = {
        "info": {"description": "COCO test tree", "version": "1.0", "year": year},
        "licenses": [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": i,
                      "name": "Attribution License"} for i in range(1, 7)],
        "images": [images[i] for i in order],
        "annotations": annotations,
        "categories": [{"supercategory": "thing", "id": cid, "name": name}
                       for cid, name in zip(COCO_CATEGORY_IDS, COCO_CLASSES, strict=True)],
    }
    path = tree.root / "annotations" / f"instances_{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    tree.splits[split] = kept  # in COCO image-id order, empty images dropped
    tree.extra.setdefault("dropped", {})[split] = dropped


def write_coco_tree(root: Path, year: int = 2014, n_train: int = 12, n_val: int = 12,
                    n_empty: int = 2, seed: int = 2) -> WrittenTree:
    """``root/{train,val}<year>/`` images and ``root/annotations/instances_*.json``.

    Truth: ``splits`` (ids of annotated images, in image-id order), ``labels``/``boxes``
    (inclusive pixel corners by the floor/ceil rule), ``difficult`` = iscrowd,
    ``masks["semantic"]`` (non-crowd instances in file order, crowd 0),
    ``extra["dropped"][split]`` (ids without annotations).
    """
    if year not in (2014, 2017):
        raise ValueError(f"year must be 2014 or 2017, got {year}")
    rng = np.random.default_rng(seed)
    tree = WrittenTree(Path(root), COCO_CLASSES)
    ann_ids = iter(int(i) for i in rng.choice(np.arange(1, 10**6), 10**4, replace=False))
    for split, count in ((f"train{year}", n_train), (f"val{year}", n_val)):
        _write_split(tree, split, year, count, n_empty, rng, lambda: next(ann_ids))
    return tree
