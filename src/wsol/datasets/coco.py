"""MS COCO instances (2014 and 2017) as a :class:`~wsol.datasets.records.LabelledImages` dataset.

Tree (``root`` = the folder holding both)::

    root/train2014/COCO_train2014_000000000009.jpg     (2017: root/train2017/000000000009.jpg)
    root/annotations/instances_train2014.json

Conventions, all read through pycocotools:

* classes: the JSON's categories sorted by id (COCO: ids 1..90 with ten gaps) map to 0..C-1;
  their names must equal ``class_names`` in that order (``data.classes: coco``).
* ``image_id`` is the file-name stem (``COCO_train2014_000000000009``), a str.
* labels: multi-hot over ALL annotations of the image, crowd ones included (as VOC's
  difficult objects are).
* images without any annotation carry no image-level label, so — as the WSSS/WSOL literature
  does (e.g. 82,081 of 82,783 train2014 images are used) — they are dropped from the split;
  their number is kept in :attr:`COCODataset.dropped_empty` and logged.
* masks: 0 background, k+1 class k, painted from the non-crowd instances with ``annToMask``
  in annotation-file order, so a later instance overwrites an earlier one where they
  overlap; crowd regions stay background (0). Built per image on request, never cached.
* boxes: COCO's float ``[x, y, w, h]`` (continuous, pixel i spans [i, i+1)) becomes the
  inclusive 0-based pixel box of every pixel it touches: ``x0 = floor(x)``,
  ``x1 = ceil(x + w) - 1`` (same for y), clipped to the image, with ``x1 >= x0``;
  ``difficult`` is ``iscrowd``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsol.datasets.classes import COCO_CLASSES, resolve_class_names
from wsol.datasets.coco_checks import check_ids, check_segmentation, image_entry, pixel_box
from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from wsol.datasets.records import (
    DatasetFeatures,
    ImageAnnotation,
    ImageRecord,
    checked_index,
    multi_hot,
    record_at,
)
from wsol.datasets.voc_format import read_image
from wsol.errors import DataError
from wsol.io.paths import confined_path

log = logging.getLogger(__name__)

FIX = ("Set data.root=/path/to/coco (the folder holding annotations/ and the image folders) "
       "or the WSOL_DATA environment variable; data/README.md shows the expected tree.")


def coco_box_to_pixels(bbox: Sequence[float], width: int, height: int) -> list[int]:
    """COCO ``[x, y, w, h]`` (floats) -> inclusive 0-based ``[x0, y0, x1, y1]`` pixel corners.

    Every pixel the continuous box overlaps is inside: ``x0 = floor(x)``,
    ``x1 = ceil(x + w) - 1``; clipped to ``[0, width-1] x [0, height-1]``; a zero-size box
    keeps one pixel.
    """
    x, y, w, h = (float(v) for v in bbox)
    x0, y0 = math.floor(x), math.floor(y)
    x1, y1 = math.ceil(x + w) - 1, math.ceil(y + h) - 1
    x0, x1 = (min(max(v, 0), max(width - 1, 0)) for v in (x0, x1))
    y0, y1 = (min(max(v, 0), max(height - 1, 0)) for v in (y0, y1))
    return [x0, y0, max(x1, x0), max(y1, y0)]


def annotation_path(root: Path, split: str) -> Path:
    """``root/annotations/instances_<split>.json``."""
    return Path(root) / "annotations" / f"instances_{split}.json"


class COCODataset(DatasetFeatures):
    """A split (``train2014``, ``val2017``, ...) of a COCO tree at ``root``.

    ``check_files=False`` skips the existence check of every image (the data checker lists
    missing images itself). ``require_masks`` is accepted for the common signature: COCO
    masks come from the annotations, so every kept image has one.
    """

    def __init__(self, root: str | Path, split: str,
                 class_names: str | Sequence[str] = COCO_CLASSES,
                 require_masks: bool = False, check_files: bool = True,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.root = Path(root)
        self.split = split
        self.max_image_pixels = int(max_image_pixels)
        self.class_names = resolve_class_names(class_names)
        self.require_masks = require_masks
        self.annotation_file = annotation_path(self.root, split)
        self.image_dir = self.root / split
        if not self.root.is_dir():
            raise DataError(f"COCO dataset root {self.root} does not exist. {FIX}")
        self.coco = _load_coco(self.annotation_file)
        self.category_index = _category_index(self.coco, self.class_names, self.annotation_file)
        self._build_index()
        if check_files:
            missing = [i for i in self.ids if not os.path.exists(self.image_path(i))]
            if missing:
                raise DataError(
                    f"{len(missing)} image(s) listed in {self.annotation_file} are missing "
                    f"from {self.image_dir}, e.g. {self.image_path(missing[0])}. Restore them "
                    f"(check data.root and the split name) — data/README.md shows the tree."
                )

    def result_image_id(self, image_id: str) -> int:
        """The numeric COCO id of ``image_id``, as COCO-format results files need it."""
        if not hasattr(self, "_position"):
            self._position = {i: n for n, i in enumerate(self.ids)}
        return self._coco_ids[self._position[image_id]]

    def result_category_id(self, class_index: int) -> int:
        """The COCO category id (1..90) of classifier class ``class_index`` (0..79)."""
        return next(cat for cat, index in self.category_index.items() if index == class_index)

    def _build_index(self) -> None:
        coco = self.coco
        self.ids: list[str] = []
        self._coco_ids: list[int] = []
        self._files: dict[str, str] = {}
        self.annotations: list[ImageAnnotation] = []
        self.dropped_empty = 0
        for coco_id in sorted(coco.imgs):
            info = coco.imgs[coco_id]
            anns = coco.imgToAnns.get(coco_id, [])
            if not anns:
                self.dropped_empty += 1
                continue
            file_name, width, height = image_entry(info, self.annotation_file,
                                                   self.max_image_pixels)
            image_id = Path(file_name).stem
            if image_id in self._files:
                raise DataError(f"{self.annotation_file}: images {self._files[image_id]!r} and "
                                f"{file_name!r} share the image id {image_id!r} (the file "
                                f"name's stem); ids must be unique. Restore the file.")
            boxes = [coco_box_to_pixels(pixel_box(a, width, height, self.annotation_file),
                                        width, height) for a in anns]
            labels = [self._class_of(a) for a in anns]
            crowd = [bool(a.get("iscrowd", 0)) for a in anns]
            self.ids.append(image_id)
            self._coco_ids.append(coco_id)
            self._files[image_id] = file_name
            self.annotations.append(ImageAnnotation(
                np.asarray(boxes, np.int64).reshape(-1, 4), np.asarray(labels, np.int64),
                np.asarray(crowd, bool), (width, height)))
        self.labels = multi_hot(self.annotations, len(self.class_names))  # float32 (N,C)
        if self.dropped_empty:
            log.info("COCO %s: dropped %d of %d images without annotations (no image-level "
                     "label)", self.split, self.dropped_empty, len(coco.imgs))
        if not self.ids:
            raise DataError(f"{self.annotation_file} has no annotated images; check the file.")

    def _class_of(self, ann: dict) -> int:
        try:
            return self.category_index[ann["category_id"]]
        except (KeyError, TypeError):  # absent, unknown or unhashable (a list)
            raise DataError(f"{self.annotation_file}: annotation {ann.get('id')} has category_id "
                            f"{ann.get('category_id')!r}, which is not in 'categories'. "
                            f"Restore the file.") from None

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, image_id: str) -> Path:
        return confined_path(self.image_dir, self._files[image_id], str(self.annotation_file))

    def image(self, index: int) -> np.ndarray:
        """uint8 (H,W,3) RGB."""
        return read_image(self.image_path(self.ids[index]), self.max_image_pixels)

    def mask(self, index: int) -> np.ndarray:
        """uint8 (H,W) semantic map: 0 background (and crowd), k+1 class k; later instances win."""
        coco_id = self._coco_ids[index]
        info = self.coco.imgs[coco_id]
        out = np.zeros((int(info["height"]), int(info["width"])), np.uint8)
        for ann in self.coco.imgToAnns[coco_id]:
            if ann.get("iscrowd", 0):
                continue
            check_segmentation(ann, out.shape[1], out.shape[0], self.annotation_file)
            try:
                instance = self.coco.annToMask(ann)
            except Exception as err:  # noqa: BLE001 - any malformed segmentation, one message
                raise DataError(f"{self.annotation_file}: annotation {ann.get('id')} has an "
                                f"unreadable segmentation ({type(err).__name__}: {err}). "
                                f"Restore the file.") from None
            out[instance.astype(bool)] = self.category_index[ann["category_id"]] + 1
        return out

    def __getitem__(self, index: int) -> ImageRecord:
        index = checked_index(index, len(self))
        image_id = self.ids[index]
        image, mask = self.image(index), self.mask(index)
        if mask.shape != image.shape[:2]:
            raise DataError(f"Image {self.image_path(image_id)} is {image.shape[1]}x"
                            f"{image.shape[0]} but {self.annotation_file} says "
                            f"{mask.shape[1]}x{mask.shape[0]}; the image or the file is wrong.")
        return record_at(self, index, image, mask)


def _load_coco(path: Path):
    """A pycocotools ``COCO`` index of ``path`` (its progress prints silenced)."""
    from pycocotools.coco import COCO

    if not path.is_file():
        folder = path.parent
        found = sorted(p.name for p in folder.glob("instances_*.json")) if folder.is_dir() else []
        raise DataError(
            f"COCO annotation file {path} not found. Available there: {found or 'none'}. "
            f"Pick the split with data.train_split / data.val_split / data.cam_split (the "
            f"file is annotations/instances_<split>.json) or check data.root. {FIX}"
        )
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(path))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise DataError(f"COCO annotation file {path} is not valid JSON "
                        f"({type(err).__name__}: {err}); download it again.") from None
    except OSError as err:
        raise DataError(f"Cannot read COCO annotation file {path} ({err.strerror or err}); "
                        f"check it is a readable file.") from None
    except (KeyError, TypeError, AssertionError, AttributeError, ValueError) as err:
        raise DataError(f"COCO annotation file {path} is not a COCO instances file "
                        f"({type(err).__name__}: {err}); download it again.") from None
    check_ids(coco.dataset, path)
    return coco


def _category_index(coco, class_names: Sequence[str], path: Path) -> dict[int, int]:
    """category id -> 0-based class index (categories in id order), checked against names."""
    cats = [coco.cats[i] for i in sorted(coco.cats)]
    names = tuple(str(c.get("name")) for c in cats)  # a missing name mismatches below
    if names != tuple(class_names):
        differ = next((i for i, (a, b) in enumerate(zip(names, class_names, strict=False))
                       if a != b), min(len(names), len(class_names)))
        raise DataError(
            f"{path}: its {len(names)} categories (in id order) do not match data.classes "
            f"({len(class_names)} names); first difference at index {differ}: "
            f"{names[differ] if differ < len(names) else '<none>'!r} in the file vs "
            f"{class_names[differ] if differ < len(class_names) else '<none>'!r} configured. "
            f"Use data.classes=coco for COCO instances files, or list the file's names."
        )
    return {int(c["id"]): index for index, c in enumerate(cats)}
