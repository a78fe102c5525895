"""An ILSVRC 2012 CLS-LOC val tree (Kaggle "ILSVRC" layout) for the loader tests.

ILSVRC XML: VOC-like, coordinates used as 0-based pixel indices, one class per image, one to
three boxes, some reaching the image edge as the released files do (``xmax == width``) or
past it; ``LOC_synset_mapping.txt`` lines ``n01440764 tench, Tinca tinca``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.format_drawing import (
    WrittenTree,
    background,
    paint,
    random_box,
    random_size,
    write_jpeg,
)

SYNSETS = {
    "n01440764": "tench, Tinca tinca",
    "n01443537": "goldfish, Carassius auratus",
    "n01484850": "great white shark, white shark, man-eater, man-eating shark, "
                 "Carcharodon carcharias",
    "n01491361": "tiger shark, Galeocerdo cuvieri",
    "n01494475": "hammerhead, hammerhead shark",
}


def ilsvrc_xml(image_id: str, size: tuple[int, int], wnid: str, boxes) -> str:
    width, height = size
    objects = "".join(
        f"\t<object>\n\t\t<name>{wnid}</name>\n\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
        f"\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n\t\t\t<xmax>{x1}</xmax>\n"
        f"\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>\n" for x0, y0, x1, y1 in boxes)
    return (f"<annotation>\n\t<folder>val</folder>\n\t<filename>{image_id}</filename>\n"
            f"\t<source>\n\t\t<database>ILSVRC_2012</database>\n\t</source>\n\t<size>\n"
            f"\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n\t\t<depth>3</depth>\n"
            f"\t</size>\n\t<segmented>0</segmented>\n{objects}</annotation>\n")


def write_imagenet_val_tree(root: Path, wnids=tuple(SYNSETS), n_images: int = 12,
                            seed: int = 3, sort_mapping: bool = True,
                            mapping_beside_root: bool = False) -> WrittenTree:
    """``root/Data/CLS-LOC/val/*.JPEG``, ``root/Annotations/CLS-LOC/val/*.xml`` and the
    synset mapping (in ``root`` or, Kaggle-style, beside it). ``wnids`` must be sorted
    unless ``sort_mapping=False`` writes them as given (for the error test).

    Truth: ``class_names`` (sorted wnids), boxes clipped to the image, ``extra["clipped"]``
    (how many written boxes reached outside), ``extra["descriptions"]``.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    names = tuple(sorted(wnids)) if sort_mapping else tuple(wnids)
    tree = WrittenTree(root, names)
    mapping = (root.parent if mapping_beside_root else root) / "LOC_synset_mapping.txt"
    mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping.write_text("".join(f"{w} {SYNSETS.get(w, w + ' thing')}\n" for w in names))
    tree.extra["descriptions"] = [SYNSETS.get(w, w + " thing") for w in names]
    clipped = 0
    ids = [f"ILSVRC2012_val_{n:08d}" for n in range(1, n_images + 1)]
    for n, image_id in enumerate(ids):
        k = n % len(names)
        width, height = random_size(rng)
        image = background(rng, height, width)
        written, truth = [], []
        for j in range(1 + n % 3):
            box = list(random_box(rng, width, height, outside=n % 4 == 1 and j == 0))
            if n % 4 == 3 and j == 0:  # reaches the far edges exactly, as released files do
                box[2], box[3] = width, height
            shape = np.zeros((height, width), bool)
            shape[max(box[1], 0):box[3] + 1, max(box[0], 0):box[2] + 1] = True
            paint(image, shape, k, rng)
            inside = [min(max(v, 0), lim - 1)
                      for v, lim in zip(box, (width, height, width, height), strict=True)]
            clipped += inside != box
            written.append(box)
            truth.append(inside)
        write_jpeg(root / "Data" / "CLS-LOC" / "val" / f"{image_id}.JPEG", image)
        xml = root / "Annotations" / "CLS-LOC" / "val" / f"{image_id}.xml"
        xml.parent.mkdir(parents=True, exist_ok=True)
        xml.write_text(ilsvrc_xml(image_id, (width, height), names[k], written))
        tree.images[image_id] = root / "Data" / "CLS-LOC" / "val" / f"{image_id}.JPEG"
        tree.record(image_id, truth, [k] * len(truth), [False] * len(truth), (width, height))
    tree.splits = {"val": ids}
    tree.extra["clipped"] = clipped
    return tree
