"""Small dataset trees in the real on-disk formats, for the loader and pipeline tests.

Each ``write_*`` function writes a tree under ``root`` and returns a
:class:`~format_drawing.WrittenTree` holding exactly what it wrote (ids per split, labels,
0-based inclusive boxes, masks), so tests compare loaders against it value for value.

PASCAL VOC writers live here; COCO and ImageNet ones in ``format_trees_coco`` and
``format_trees_imagenet`` (re-exported).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.format_drawing import (
    VOC_NAMES,
    VOC_POOL,
    WrittenTree,
    background,
    paint,
    random_box,
    random_size,
    shape_mask,
    tight_box,
    write_jpeg,
)
from helpers.format_trees_coco import write_coco_tree
from helpers.format_trees_imagenet import write_imagenet_val_tree

__all__ = ["WrittenTree", "write_coco_tree", "write_imagenet_val_tree", "write_voc2007_tree",
           "write_voc2012_tree"]


# ---------------------------------------------------------------- PASCAL VOC


def voc_borders(label: np.ndarray) -> np.ndarray:
    """bool (H,W): pixels with a differently labelled 8-neighbour (VOC's 255 outline)."""
    padded = np.pad(label, 1, mode="edge")
    height, width = label.shape
    border = np.zeros(label.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            border |= padded[dy:dy + height, dx:dx + width] != label
    return border


def _voc_scene(rng, image_index: int, pool=VOC_POOL):
    """One image: objects (dicts), the RGB image and the VOC class map (255 borders,
    difficult objects void as in SegmentationClass)."""
    width, height = random_size(rng)
    image = background(rng, height, width)
    label = np.zeros((height, width), np.uint8)
    void = np.zeros((height, width), bool)
    objects = []
    for n in range(1 + image_index % 3):
        k = int(pool[(image_index + 2 * n) % len(pool)])
        outside = image_index % 4 == 1 and n == 0  # truncated by the right edge
        shape = shape_mask(k, random_box(rng, width, height, outside), height, width)
        difficult = image_index % 5 == 3 and n == 1
        paint(image, shape, k, rng)
        label[shape] = k + 1
        void[shape] = difficult  # a later object over a difficult one is not void
        objects.append({"class": k, "box": tight_box(shape), "difficult": difficult,
                        "truncated": outside})
    label[voc_borders(label) | void] = 255
    return objects, image, label


def voc_xml(image_id: str, size: tuple[int, int], objects, folder: str, year: int,
            names=VOC_NAMES) -> str:
    """VOC XML as the devkit ships it: 1-based boxes, VOC2012's xmax-first bndbox order,
    person parts with their own bndbox, one object without <difficult>."""
    width, height = size
    parts = [f"<annotation>\n\t<filename>{image_id}.jpg</filename>\n\t<folder>{folder}</folder>\n"]
    for number, obj in enumerate(objects):
        x0, y0, x1, y1 = (v + 1 for v in obj["box"])
        coords = {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}
        order = ("xmax", "xmin", "ymax", "ymin") if year == 2012 else \
            ("xmin", "ymin", "xmax", "ymax")
        bndbox = "".join(f"\t\t\t<{k}>{coords[k]}</{k}>\n" for k in order)
        difficult = "" if (number == 0 and not obj["difficult"]) else \
            f"\t\t<difficult>{int(obj['difficult'])}</difficult>\n"
        part = ""
        if names[obj["class"]] == "person":
            part = (f"\t\t<part>\n\t\t\t<name>head</name>\n\t\t\t<bndbox>\n\t\t\t\t<xmin>{x0}"
                    f"</xmin>\n\t\t\t\t<ymin>{y0}</ymin>\n\t\t\t\t<xmax>{x0 + 2}</xmax>\n"
                    f"\t\t\t\t<ymax>{y0 + 2}</ymax>\n\t\t\t</bndbox>\n\t\t</part>\n")
        parts.append(f"\t<object>\n\t\t<name>{names[obj['class']]}</name>\n"
                     f"\t\t<pose>Unspecified</pose>\n"
                     f"\t\t<truncated>{int(obj['truncated'])}</truncated>\n{difficult}"
                     f"\t\t<bndbox>\n{bndbox}\t\t</bndbox>\n{part}\t</object>\n")
    parts.append(f"\t<segmented>1</segmented>\n\t<size>\n\t\t<depth>3</depth>\n"
                 f"\t\t<height>{height}</height>\n\t\t<width>{width}</width>\n\t</size>\n"
                 f"\t<source>\n\t\t<database>The VOC{year} Database</database>\n\t</source>\n"
                 f"</annotation>\n")
    return "".join(parts)


def palette_png(label: np.ndarray) -> bytes:
    """VOC-style palette PNG of a class map (the devkit's colour map)."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        c, rgb = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((c >> channel) & 1) << (7 - bit)
            c >>= 3
        palette[index] = rgb
    img = Image.fromarray(label, mode="P")
    img.putpalette(palette.tobytes())
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def grey_png(label: np.ndarray) -> bytes:
    """Single-channel (mode "L") PNG, as SBD's SegmentationClassAug holds."""
    buffer = io.BytesIO()
    Image.fromarray(label, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def write_voc_sample(root: Path, image_id: str, image: np.ndarray, objects) -> None:
    """One VOC2012 image: ``JPEGImages/<id>.jpg`` (image uint8 (H, W, 3)) and its
    ``Annotations/<id>.xml`` (objects: dicts of class, difficult, truncated, 0-based box)."""
    height, width = image.shape[:2]
    write_jpeg(root / "JPEGImages" / f"{image_id}.jpg", image)
    xml = root / "Annotations" / f"{image_id}.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text(voc_xml(image_id, (width, height), objects, "VOC2012", 2012))


def write_segmentation_list(root: Path, split: str, ids: list[str]) -> None:
    """``ImageSets/Segmentation/<split>.txt`` listing ``ids``."""
    _write_lines(root / "ImageSets" / "Segmentation" / f"{split}.txt", ids)


def _write_voc_images(tree: WrittenTree, ids: list[str], rng, year: int, start: int,
                      masks: tuple[str, ...] = ()) -> None:
    for n, image_id in enumerate(ids):
        objects, image, label = _voc_scene(rng, start + n)
        height, width = label.shape
        tree.images[image_id] = tree.root / "JPEGImages" / f"{image_id}.jpg"
        write_jpeg(tree.images[image_id], image)
        xml = voc_xml(image_id, (width, height), objects, f"VOC{year}", year)
        _write_lines(tree.root / "Annotations" / f"{image_id}.xml", [xml.rstrip("\n")])
        tree.record(image_id, [o["box"] for o in objects], [o["class"] for o in objects],
                    [o["difficult"] for o in objects], (width, height))
        for folder in masks:
            path = tree.root / folder / f"{image_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(grey_png(label) if folder.endswith("Aug") else palette_png(label))
            tree.masks.setdefault(folder, {})[image_id] = label


def _write_main_lists(tree: WrittenTree, splits: dict[str, list[str]]) -> None:
    main = tree.root / "ImageSets" / "Main"
    for split, ids in splits.items():
        _write_lines(main / f"{split}.txt", ids)
        for k in sorted({int(c) for i in ids for c in tree.box_labels[i]}):
            flags = [" 0" if tree.difficult[i][tree.box_labels[i] == k].all() else " 1"
                     if k in tree.box_labels[i] else "-1" for i in ids]
            _write_lines(main / f"{VOC_NAMES[k]}_{split}.txt",
                         [f"{i} {f}" for i, f in zip(ids, flags, strict=True)])


def write_voc2012_tree(root: Path, n_train: int = 12, n_val: int = 12, n_aug_only: int = 6,
                       seed: int = 0) -> WrittenTree:
    """VOCdevkit/VOC2012 plus SBD: Segmentation train/val/trainval (palette PNGs, 255
    borders, difficult objects void), ``train_aug.txt`` (DeepLab line format, train + SBD-only
    ids) with mode-"L" ``SegmentationClassAug`` PNGs, and Main lists."""
    rng = np.random.default_rng(seed)
    tree = WrittenTree(Path(root), VOC_NAMES)
    ids = [f"{2007 + n % 5}_{n * 37 + 5:06d}" for n in range(n_train + n_val + n_aug_only)]
    train, val, aug_only = ids[:n_train], ids[n_train:n_train + n_val], ids[n_train + n_val:]
    _write_voc_images(tree, train + val, rng, 2012, 0,
                      masks=("SegmentationClass", "SegmentationClassAug"))
    _write_voc_images(tree, aug_only, rng, 2012, n_train + n_val, masks=("SegmentationClassAug",))
    for folder in ("SegmentationClassAug",):  # SBD's list has no val images
        for image_id in val:
            (tree.root / folder / f"{image_id}.png").unlink()
            del tree.masks[folder][image_id]
    train_aug = sorted(train + aug_only)
    tree.splits = {"train": train, "val": val, "trainval": train + val, "train_aug": train_aug}
    seg = tree.root / "ImageSets" / "Segmentation"
    for split in ("train", "val", "trainval"):
        _write_lines(seg / f"{split}.txt", tree.splits[split])
    _write_lines(seg / "train_aug.txt",
                 [f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png" for i in train_aug])
    _write_main_lists(tree, {"train": train + aug_only, "val": val,
                             "trainval": train + aug_only + val})
    return tree


def write_voc2007_tree(root: Path, n_trainval: int = 12, n_test: int = 12,
                       seed: int = 1) -> WrittenTree:
    """VOCdevkit/VOC2007: Main trainval/test (and train/val halves) with per-class lists;
    6-digit ids, xmin-first bndbox order; no segmentation masks."""
    rng = np.random.default_rng(seed)
    tree = WrittenTree(Path(root), VOC_NAMES)
    ids = [f"{n * 3 + 5:06d}" for n in range(n_trainval + n_test)]
    trainval, test = ids[:n_trainval], ids[n_trainval:]
    _write_voc_images(tree, ids, rng, 2007, 0)
    half = n_trainval // 2
    tree.splits = {"trainval": trainval, "test": test, "train": trainval[:half],
                   "val": trainval[half:]}
    _write_main_lists(tree, tree.splits)
    return tree
