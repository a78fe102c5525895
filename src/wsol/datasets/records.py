"""What every dataset format yields: per-image annotations, records, and the dataset protocol.

VOC, COCO and ImageNet loaders all present this one interface, so the datamodule, the CAM
stage and the evaluators never look at a file format.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ImageAnnotation:
    """Box annotation of one image. boxes int64 (M,4) inclusive 0-based x0,y0,x1,y1;
    box_labels int64 (M,) 0-based class indices; difficult bool (M,) (VOC's flag; COCO's
    ``iscrowd``); size (W, H) of the image, (0, 0) when the annotation does not say."""

    boxes: np.ndarray
    box_labels: np.ndarray
    difficult: np.ndarray
    size: tuple[int, int]

    def rescaled(self, image_size: tuple[int, int], size: tuple[int, int]) -> ImageAnnotation:
        """The annotation of the (H, W) image moved onto an (h, w) grid: each box coordinate
        ``int(v * new / old)`` (truncated), as wsolevaluation's ``resize_bbox`` for 224²."""
        (height, width), (h, w) = image_size, size
        boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        out = np.empty_like(boxes)
        out[:, 0::2] = boxes[:, 0::2] * float(w) / float(width)  # (v · new) / old, in order
        out[:, 1::2] = boxes[:, 1::2] * float(h) / float(height)
        return replace(self, boxes=np.trunc(out).astype(np.int64), size=(int(w), int(h)))


@dataclass
class ImageRecord:
    """One image. Shapes: image uint8 (H,W,3) RGB; labels float32 (C,) multi-hot;
    boxes int64 (M,4) inclusive 0-based x0,y0,x1,y1; box_labels int64 (M,); difficult bool (M,);
    mask uint8 (H,W) (0 bg, k+1 class k, 255 void) or None when the image has no mask."""

    image_id: str
    image: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    box_labels: np.ndarray
    difficult: np.ndarray
    mask: np.ndarray | None


class LabelledImages(Protocol):
    """The interface every dataset format implements (VOCDataset, COCODataset, ...).

    ``ids`` (N,) str image ids in split order; ``labels`` float32 (N, C) multi-hot;
    ``annotations`` one :class:`ImageAnnotation` per id; ``class_names`` (C,). The optional
    features have defaults in :class:`DatasetFeatures`, which every reader inherits.
    """

    ids: list[str]
    labels: np.ndarray
    annotations: list[ImageAnnotation]
    class_names: tuple[str, ...]
    clipped_boxes: int
    dropped_empty: int

    def __len__(self) -> int: ...

    def image_path(self, image_id: str) -> Path: ...

    def mask_path(self, image_id: str) -> Path | None: ...

    def result_image_id(self, image_id: str) -> str | int: ...

    def result_category_id(self, class_index: int) -> int: ...

    def image(self, index: int) -> np.ndarray:
        """uint8 (H, W, 3) RGB."""
        ...

    def mask(self, index: int) -> np.ndarray | None:
        """uint8 (H, W): 0 background, k+1 class k, 255 ignore; None without a mask."""
        ...

    def __getitem__(self, index: int) -> ImageRecord: ...


class DatasetFeatures:
    """The optional parts of :class:`LabelledImages`, with the defaults a reader overrides.

    - ``clipped_boxes``: boxes reaching past their image, clipped and counted (0: none);
    - ``dropped_empty``: images left out for having no annotation (0: none);
    - ``blacklisted``: images left out by a blacklist file (0: none);
    - ``mask_path``: the file a mask is read from (None: masks are not files, e.g. COCO);
    - ``result_image_id`` / ``result_category_id``: the ids a results file uses (COCO's
      numeric ones; by default the image id itself and the 1-based class index).
    """

    clipped_boxes: int = 0
    dropped_empty: int = 0
    blacklisted: int = 0  # images left out by a blacklist (ILSVRC 2014's localization one)

    def mask_path(self, image_id: str) -> Path | None:
        return None

    def result_image_id(self, image_id: str) -> str | int:
        return image_id

    def result_category_id(self, class_index: int) -> int:
        return class_index + 1


def multi_hot(annotations: list[ImageAnnotation], num_classes: int) -> np.ndarray:
    """Image-level labels float32 (N, C): 1 for every class with a box in the image (all of
    them, VOC's difficult and COCO's crowd included, as the WSSS literature labels images)."""
    labels = np.zeros((len(annotations), num_classes), np.float32)
    for row, ann in zip(labels, annotations, strict=True):
        row[ann.box_labels] = 1.0
    return labels


def checked_index(index: int, length: int) -> int:
    """``index`` into ``range(length)``, negatives counting from the end; IndexError else."""
    if not -length <= index < length:
        raise IndexError(index)
    return index % length


def record_at(images: LabelledImages, index: int, image: np.ndarray,
              mask: np.ndarray | None) -> ImageRecord:
    """The :class:`ImageRecord` of item ``index`` from its decoded image and mask,
    with copies of its labels and annotation (callers may edit a record freely)."""
    ann = images.annotations[index]
    return ImageRecord(image_id=images.ids[index], image=image,
                       labels=images.labels[index].copy(), boxes=ann.boxes.copy(),
                       box_labels=ann.box_labels.copy(), difficult=ann.difficult.copy(),
                       mask=mask)


def spread_indices(count: int, wanted: int | None) -> list[int]:
    """``wanted`` distinct indices of ``range(count)`` spread evenly from first to last (all of
    them when ``wanted`` is None or at least ``count``), ascending."""
    if wanted is None or wanted >= count:
        return list(range(count))
    if wanted <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, wanted)})
