"""PASCAL VOC-format datasets (VOC 2007/2012, SBD's train_aug list, the generated demo).

Image-level labels are the multi-hot union of ALL objects in ``Annotations/<id>.xml``,
difficult ones included (the WSSS convention). Masks keep 255 (void) as it is.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsol.datasets.classes import VOC_CLASSES, resolve_class_names
from wsol.datasets.ids import checked_ids, read_text_lines
from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from wsol.datasets.records import (
    DatasetFeatures,
    ImageAnnotation,
    ImageRecord,
    checked_index,
    multi_hot,
    record_at,
)
from wsol.datasets.roots import root_hint
from wsol.datasets.voc_format import (  # noqa: F401  (re-exported: the documented home of these)
    VOC_PALETTE,
    check_mask_labels,
    clip_boxes,
    read_image,
    read_voc_mask,
    read_voc_xml,
    write_voc_mask,
)
from wsol.errors import DataError
from wsol.io.paths import confined_path

# The format-neutral names; kept under their VOC names for existing callers.
VOCRecord = ImageRecord
VOCAnnotation = ImageAnnotation
log = logging.getLogger(__name__)


class VOCDataset(DatasetFeatures):
    """A split of a VOC tree at ``root`` (the folder holding JPEGImages/, Annotations/, ...).

    ``image_set`` picks ``ImageSets/<image_set>/<split>.txt`` ("Segmentation" or "Main").
    All annotations are parsed up front, so a bad XML or unknown class fails at once.
    Images without ``<mask_dir>/<id>.png`` get ``mask=None``, or raise DataError when
    ``require_masks`` is set. Images and masks above ``max_image_pixels`` pixels are refused
    from their header (``data.max_image_pixels``).
    """

    def __init__(self, root: str | Path, split: str,
                 class_names: str | Sequence[str] = VOC_CLASSES,
                 image_set: str = "Segmentation", require_masks: bool = False,
                 mask_dir: str = "SegmentationClass",
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.root = Path(root)
        self.max_image_pixels = int(max_image_pixels)
        self.split = split
        self.class_names = resolve_class_names(class_names)
        self.require_masks = require_masks
        self.mask_dir = self.root / mask_dir
        self.split_file = split_file_path(self.root, split, image_set)
        self.clipped_boxes = 0  # boxes reaching past their image: clipped, counted, logged
        self.clipped_example: Path | None = None
        _check_root(self.root)
        self.ids = read_split_file(self.root, split, image_set)
        missing = [i for i in self.ids if not os.path.exists(self.image_path(i))]
        if missing:
            raise DataError(
                f"{len(missing)} image(s) listed in ImageSets/{image_set}/{split}.txt are "
                f"missing from {self.root / 'JPEGImages'}, e.g. {self.image_path(missing[0])}. "
                f"Restore them or remove their ids from the split file."
            )
        self.annotations = [self._annotation(i) for i in self.ids]
        if self.clipped_boxes:
            log.warning("%d box(es) reaching past their image were clipped to it, e.g. in %s",
                        self.clipped_boxes, self.clipped_example)
        self.labels = multi_hot(self.annotations, len(self.class_names))  # float32 (N,C)
        if require_masks:
            absent = [i for i in self.ids if not self.mask_path(i).exists()]
            if absent:
                raise DataError(
                    f"Segmentation mask {self.mask_path(absent[0])} is missing "
                    f"({len(absent)} of {len(self.ids)} in split {split!r}); masks are needed "
                    f"here. Use a split of ImageSets/Segmentation or restore {self.mask_dir}."
                )

    def _annotation(self, image_id: str) -> VOCAnnotation:
        """Parse one XML, clipping its boxes to the image and counting those clipped."""
        path = self.annotation_path(image_id)
        boxes, labels, difficult, size = read_voc_xml(path, self.class_names, clip=False)
        boxes, changed = clip_boxes(boxes, size)
        if changed and not self.clipped_boxes:
            self.clipped_example = path
        self.clipped_boxes += changed
        return VOCAnnotation(boxes, labels, difficult, size)

    def __len__(self) -> int:
        return len(self.ids)

    def _file(self, folder: Path, image_id: str, suffix: str) -> Path:
        return confined_path(folder, image_id, str(self.split_file), suffix=suffix)

    def image_path(self, image_id: str) -> Path:
        return self._file(self.root / "JPEGImages", image_id, ".jpg")

    def annotation_path(self, image_id: str) -> Path:
        return self._file(self.root / "Annotations", image_id, ".xml")

    def mask_path(self, image_id: str) -> Path:
        return self._file(self.mask_dir, image_id, ".png")

    def image(self, index: int) -> np.ndarray:
        """uint8 (H,W,3) RGB."""
        return read_image(self.image_path(self.ids[index]), self.max_image_pixels)

    def mask(self, index: int) -> np.ndarray | None:
        """uint8 (H,W) class-index map, or None when absent and masks are not required.
        A label above the class count (other than 255) raises DataError naming the file."""
        path = self.mask_path(self.ids[index])
        if not self.require_masks and not path.exists():
            return None
        return check_mask_labels(read_voc_mask(path, self.max_image_pixels),
                                 len(self.class_names), path)

    def __getitem__(self, index: int) -> VOCRecord:
        index = checked_index(index, len(self))
        image_id = self.ids[index]
        image, mask = self.image(index), self.mask(index)
        if mask is not None and mask.shape != image.shape[:2]:
            raise DataError(f"Mask {self.mask_path(image_id)} is {mask.shape[1]}x{mask.shape[0]} "
                            f"but image {self.image_path(image_id)} is "
                            f"{image.shape[1]}x{image.shape[0]}; they must match.")
        return record_at(self, index, image, mask)


def _check_root(root: Path) -> None:
    if root.is_dir() and (root / "JPEGImages").is_dir():
        return
    if not root.exists():
        problem = f"does not exist{root_hint(root)}"
    elif not root.is_dir():
        problem = "is not a directory"
    else:
        nested = sorted(p.name for p in root.glob("VOC*") if (p / "JPEGImages").is_dir())
        hint = f" (did you mean {root / nested[0]}?)" if nested else ""
        problem = f"has no JPEGImages/ folder{hint}"
    raise DataError(
        f"VOC dataset root {root} {problem}. Set data.root=/path/to/VOCdevkit/VOC2012 (the "
        f"folder holding JPEGImages/, Annotations/, ImageSets/) or set the WSOL_DATA "
        f"environment variable; data/README.md shows the expected tree."
    )


def split_file_path(root: Path, split: str, image_set: str = "Segmentation") -> Path:
    """``root/ImageSets/<image_set>/<split>.txt``."""
    return Path(root) / "ImageSets" / image_set / f"{split}.txt"


def read_split_file(root: Path, split: str, image_set: str = "Segmentation") -> list[str]:
    """Image ids listed in ``root/ImageSets/<image_set>/<split>.txt``, in file order.

    Accepts plain ids, per-class lines (``id  1``) and DeepLab lists
    (``/JPEGImages/id.jpg /SegmentationClassAug/id.png``). An id that is not a safe file
    name (``..``, absolute, ...) or is listed twice raises DataError naming the line.
    """
    path = split_file_path(root, split, image_set)
    if not path.is_file():
        folder = path.parent
        per_class = re.compile(r".+_(train|val|trainval|test)$")  # e.g. dog_train.txt
        found = sorted(p.stem for p in folder.glob("*.txt") if not per_class.match(p.stem)) \
            if folder.is_dir() else []
        raise DataError(
            f"Split file {path} not found (split {split!r}, data.image_set={image_set!r}). "
            f"Available splits there: {found or 'none'}. Pick one with data.train_split / "
            f"data.val_split / data.cam_split, or add the file."
        )
    entries = []
    for number, line in enumerate(read_text_lines(path, "split file"), 1):
        token = line.split()[0] if line.strip() else ""
        if token:
            entries.append((number, Path(token).stem if "/" in token else token))
    ids = checked_ids(entries, path)
    if not ids:
        raise DataError(f"Split file {path} lists no images; check the file.")
    return ids
