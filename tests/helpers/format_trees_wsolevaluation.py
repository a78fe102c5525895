"""CUB, ILSVRC and OpenImages30k trees in wsolevaluation's format, for the reader and runs.

Layout as the benchmark's repository and download scripts leave it::

    <base>/dataset/<NAME>/<image_id>                 images (the id is the relative path)
    <base>/metadata/<NAME>/{train,val,test}/         image_ids, class_labels, image_sizes,
                                                     localization .txt

Ids follow the released ones: CUB ``001.Black_footed_Albatross/Black_Footed_Albatross_0007_4.jpg``
(val, CUBV2: ``001.Black_footed_Albatross/30107316117.jpg``); ILSVRC train
``train/n01440764/n01440764_7.JPEG``, val (ImageNetV2) ``val2/0/7.jpeg``, test
``val/ILSVRC2012_val_00000007.JPEG``; OpenImages ``<split>/01226z/<16 hex>.jpg`` with masks
``<split>/01226z/<hex>_m01226z_<8 hex>.png`` and ``<hex>_ignore.png`` beside the image.

Truth (:class:`WrittenTree`): ``splits``, labels (one class per image), boxes as the reader must
return them (clipped where the written one reached past the image: ``extra["clipped"][split]``),
sizes, and for OpenImages ``masks["composite"][id]``: uint8 k+1 on the union of the instance
masks, 255 on the ignore mask outside them. One OpenImages image stores its masks at twice its
size (each pixel repeated, so nearest resizing gives the original back) and one names no
ignore mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from helpers.format_drawing import (
    WrittenTree,
    background,
    paint,
    random_box,
    random_size,
    shape_mask,
    write_jpeg,
)

CLASSES = {
    "CUB": ("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"),
    "ILSVRC": ("n01440764", "n01443537", "n01484850"),
    "OpenImages": ("01226z", "012n7d", "0138tl"),
}
SPLIT_SIZES = {"train": 12, "val": 6, "test": 9}


def _image_id(dataset: str, split: str, k: int, n: int, rng) -> str:
    name = CLASSES[dataset][k]
    if dataset == "CUB":
        if split == "val":
            return f"{name}/{30107316117 + n}.jpg"
        n += 100 if split == "test" else 0  # train and test are disjoint
        return f"{name}/{name[4:].title()}_{n:04d}_{n + 3 * k}.jpg"
    if dataset == "ILSVRC":
        return {"train": f"train/{name}/{name}_{n}.JPEG", "val": f"val2/{k}/{n}.jpeg",
                "test": f"val/ILSVRC2012_val_{n + 1:08d}.JPEG"}[split]
    return f"{split}/{name}/{rng.bytes(8).hex()}.jpg"


def _lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))  # the released files end without a newline


def _png(path: Path, mask: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
    (image.convert("1") if mode == "1" else image).save(path)


def _mask_image(tree: WrittenTree, dataset_root: Path, split: str, image_id: str, k: int,
                n: int, rng, image: np.ndarray) -> list[str]:
    """Instance masks + ignore mask of one OpenImages image; returns its localization lines."""
    height, width = image.shape[:2]
    stem, folder = image_id[:-4], CLASSES["OpenImages"][k]
    double = n == 1  # masks stored at twice the image size
    foreground = np.zeros((height, width), bool)
    lines = []
    for j in range(1 + n % 3):
        shape = shape_mask(k + j, random_box(rng, width, height), height, width)
        paint(image, shape, k, rng)
        foreground |= shape
        stored = np.kron(shape, np.ones((2, 2), bool)) if double else shape
        name = f"{stem}_m{folder}_{rng.bytes(4).hex()}.png"
        _png(dataset_root / name, stored, mode="1" if j == 1 else "L")
        lines.append([image_id, name, ""])
    ignore = np.zeros((height, width), bool)
    if n % 4 != 2:  # an image without an ignore mask leaves the field empty
        x0, y0, x1, y1 = random_box(rng, width, height)
        ignore[y0:y1 + 1, x0:x1 + 1] = True  # an unannotated-instance box, may overlap objects
        name = f"{stem}_ignore.png"
        _png(dataset_root / name, np.kron(ignore, np.ones((2, 2), bool)) if double else ignore)
        lines[0][2] = name
    composite = foreground.astype(np.uint8) * (k + 1)
    composite[ignore & ~foreground] = 255
    tree.masks.setdefault("composite", {})[image_id] = composite
    return [",".join(line) for line in lines]


def write_wsolevaluation_tree(base: Path, dataset: str, seed: int = 0,
                              sizes: dict[str, int] | None = None) -> WrittenTree:
    """Write ``dataset`` (CUB | ILSVRC | OpenImages) under ``base`` (see the module doc).

    The tree's ``root`` is the images' root; ``extra["metadata"]`` the metadata folder."""
    rng = np.random.default_rng(seed)
    names = CLASSES[dataset]
    dataset_root = Path(base) / "dataset" / dataset
    metadata = Path(base) / "metadata" / dataset
    tree = WrittenTree(dataset_root, names)
    tree.extra.update(metadata=metadata, clipped={})
    for split, count in (sizes or SPLIT_SIZES).items():
        ids, labels, image_sizes, localization = [], [], [], []
        clipped = 0
        for n in range(count):
            k = n % len(names)
            image_id = _image_id(dataset, split, k, n, rng)
            width, height = random_size(rng)
            image = background(rng, height, width)
            boxes, truth = [], []
            if dataset == "OpenImages":
                if split != "train":
                    localization += _mask_image(tree, dataset_root, split, image_id, k, n, rng,
                                                image)
                else:
                    paint(image, shape_mask(k, random_box(rng, width, height), height, width),
                          k, rng)
            else:
                for j in range(1 + (n % 3 if dataset == "ILSVRC" else 0)):
                    box = list(random_box(rng, width, height, outside=n == 4 and j == 0))
                    paint(image, shape_mask(k, box, height, width), k, rng)
                    inside = [min(max(v, 0), lim - 1) for v, lim in
                              zip(box, (width, height, width, height), strict=True)]
                    clipped += inside != box
                    boxes.append(box)
                    truth.append(inside)
                if split != "train":  # the released train splits carry no boxes
                    localization += [",".join(map(str, [image_id, *b])) for b in boxes]
                image_sizes.append(f"{image_id},{width},{height}")
            write_jpeg(dataset_root / image_id, image)
            tree.images[image_id] = dataset_root / image_id
            ids.append(image_id)
            labels.append(f"{image_id},{k}")
            kept = truth if split != "train" else []
            tree.record(image_id, kept, [k] * len(kept), [False] * len(kept), (width, height))
            tree.labels[image_id][k] = 1.0  # one class per image, boxes or not
        folder = metadata / split
        _lines(folder / "image_ids.txt", ids)
        _lines(folder / "class_labels.txt", labels)
        _lines(folder / "image_sizes.txt", image_sizes)
        _lines(folder / "localization.txt", localization)
        tree.splits[split] = ids
        tree.extra["clipped"][split] = clipped if split != "train" else 0
    return tree
