"""CUB-200-2011, ILSVRC and OpenImages30k in wsolevaluation's split format, as LabelledImages.

The benchmark of Choe et al. (CVPR 2020, TPAMI 2022): per dataset a metadata folder with three
splits (``train`` = train-weaksup, ``val`` = train-fullsup, ``test``; see
:mod:`wsol.datasets.wsoleval_metadata`) and the images under one root, each at
``<root>/<image_id>`` (the id is its relative path). Boxes (CUB, ILSVRC) are inclusive 0-based
pixel corners; a box reaching past its image (``image_sizes.txt``) is clipped and counted, one
wholly outside stops. OpenImages localizes with masks: an image's ground truth is the union of
its instance masks (a pixel > 0 is foreground), and its ignore mask minus that foreground is
255 (ignored by PxAP), as wsolevaluation's ``get_mask``; a mask of another size than its image
is resized to it (nearest), as wsolevaluation resizes every mask to the scored size.

Class names come from the metadata (:func:`wsolevaluation_class_names`): the folder holding a
class's train images (``001.Black_footed_Albatross``, ``n01440764``, ``01226z``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from wsol.datasets.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS, open_checked
from wsol.datasets.records import (
    DatasetFeatures,
    ImageAnnotation,
    ImageRecord,
    checked_index,
    record_at,
)
from wsol.datasets.voc_format import read_image
from wsol.datasets.wsoleval_metadata import (
    README,
    SPLITS,
    SplitMetadata,
    read_class_labels,
    read_split,
)
from wsol.errors import DataError
from wsol.io.paths import confined_path

log = logging.getLogger(__name__)


def wsolevaluation_class_names(metadata_root: str | Path) -> tuple[str, ...]:
    """Class names in index order from a wsolevaluation metadata folder.

    C = 1 + the largest class index of any split present. Name k is the folder holding class
    k's images in the first split (train, val, test) whose image folders and classes match one
    to one; without such a split the names are ``class_0`` ... ``class_{C-1}``.
    """
    root = Path(metadata_root)
    tables = [(s, read_class_labels(root / s)) for s in SPLITS if (root / s).is_dir()]
    if not tables:
        raise DataError(f"wsolevaluation metadata folder {root} (data.metadata_dir) holds none "
                        f"of {list(SPLITS)}; point data.metadata_dir at e.g. "
                        f"wsolevaluation/metadata/CUB ({README}).")
    count = 1 + max((max(t.values(), default=-1) for _, t in tables), default=-1)
    if count == 0:
        raise DataError(f"{root}: class_labels.txt lists no classes; restore the files.")
    for _, table in tables:
        folder_of: dict[int, str] = {}
        for image_id, label in table.items():
            folder_of.setdefault(label, Path(image_id).parent.name)
        names = [folder_of.get(k) for k in range(count)]
        unique = len(set(names)) == count and None not in names and "" not in names
        consistent = all(Path(i).parent.name == folder_of[k] for i, k in table.items())
        if unique and consistent:
            return tuple(names)
    return tuple(f"class_{k}" for k in range(count))


class WsolEvalDataset(DatasetFeatures):
    """One split of a wsolevaluation-format dataset (``split``: train | val | test, or the
    aliases train-weaksup | train-fullsup).

    Args:
        root: the images' root (wsolevaluation's ``dataset/<NAME>``).
        split: the split folder under ``metadata_root``.
        class_names: classifier order; None reads them from the metadata.
        metadata_root: wsolevaluation's ``metadata/<NAME>`` (holding train/ val/ test/).
        mask_dir: the folder the mask paths of localization.txt are relative to, under
            ``root`` (``.``: the root itself, as the released archives unpack).
        require_masks: accepted for the common signature: a split with masks always reads
            them, a box split has none (:meth:`mask` returns None).
        check_files: False skips the image existence check (the data checker lists them).
        max_image_pixels: images and masks above it are refused from their header.
    """

    def __init__(self, root: str | Path, split: str, class_names: Sequence[str] | None = None,
                 metadata_root: str | Path | None = None, mask_dir: str = ".",
                 require_masks: bool = False, check_files: bool = True,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        if metadata_root is None:
            raise DataError("data.metadata_dir is not set: point it at the dataset's folder of "
                            f"wsolevaluation's metadata/ ({README}).")
        self.root = Path(root)
        self.split = split
        self.max_image_pixels = int(max_image_pixels)
        self.meta: SplitMetadata = read_split(Path(metadata_root), split)
        self.class_names = tuple(class_names) if class_names is not None \
            else wsolevaluation_class_names(metadata_root)
        self.mask_root = self.root / mask_dir
        self.ids = list(self.meta.ids)
        self.has_masks = self.meta.kind == "masks"
        self.clipped_boxes = 0
        self.annotations = [self._annotation(i) for i in self.ids]
        if self.clipped_boxes:
            log.warning("%s: clipped %d box(es) reaching outside their image to the image "
                        "bounds", self.meta.folder, self.clipped_boxes)
        self.labels = np.zeros((len(self.ids), len(self.class_names)), np.float32)
        self.labels[np.arange(len(self.ids)), [self.meta.labels[i] for i in self.ids]] = 1.0
        if check_files:
            missing = [i for i in self.ids if not os.path.exists(self.image_path(i))]
            if missing:
                raise DataError(f"{len(missing)} image(s) of split {split!r} are missing under "
                                f"{self.root} (data.root), e.g. {self.image_path(missing[0])}. "
                                f"Restore them or fix data.root; {README} shows the tree.")

    def _annotation(self, image_id: str) -> ImageAnnotation:
        label = self.meta.labels[image_id]
        if not 0 <= label < len(self.class_names):
            raise DataError(f"{self.meta.folder / 'class_labels.txt'}: {image_id} has class "
                            f"{label}, outside the {len(self.class_names)} configured classes "
                            f"(data.classes); use data.classes=wsolevaluation.")
        size = self.meta.sizes.get(image_id, (0, 0))
        rows = self.meta.boxes.get(image_id, [])
        boxes = np.asarray([r[:4] for r in rows], np.int64).reshape(-1, 4)
        if size != (0, 0) and len(boxes):
            boxes = self._clipped(boxes, size, image_id, [r[4] for r in rows])
        return ImageAnnotation(boxes, np.full(len(boxes), label, np.int64),
                               np.zeros(len(boxes), bool), size)

    def _clipped(self, boxes: np.ndarray, size: tuple[int, int], image_id: str,
                 lines: list[int]) -> np.ndarray:
        width, height = size
        outside = (boxes[:, 0] >= width) | (boxes[:, 1] >= height) | (boxes[:, 2] < 0) | \
            (boxes[:, 3] < 0)
        if outside.any():
            line = lines[int(np.argmax(outside))]
            raise DataError(f"{self.meta.folder / 'localization.txt'}:{line}: a box of "
                            f"{image_id} lies wholly outside its {width}x{height} image "
                            f"(image_sizes.txt); restore the files.")
        clipped = boxes.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, width - 1)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, height - 1)
        self.clipped_boxes += int((clipped != boxes).any(axis=1).sum())
        return clipped

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, image_id: str) -> Path:
        return confined_path(self.root, image_id, str(self.meta.folder / "image_ids.txt"))

    def _mask_path(self, entry: str) -> Path:
        return confined_path(self.mask_root, entry, str(self.meta.folder / "localization.txt"))

    def mask_files(self, image_id: str) -> list[Path]:
        """The instance masks and (if named) the ignore mask of ``image_id``; [] for boxes."""
        entries = list(self.meta.masks.get(image_id, []))
        if self.meta.ignore.get(image_id):
            entries.append(self.meta.ignore[image_id])
        return [self._mask_path(e) for e in entries]

    def image(self, index: int) -> np.ndarray:
        """uint8 (H,W,3) RGB."""
        return read_image(self.image_path(self.ids[index]), self.max_image_pixels)

    def mask(self, index: int) -> np.ndarray | None:
        """uint8 (H,W) at the image's size: k+1 on the union of the instance masks (k its
        class), 255 on the ignore mask outside them, 0 elsewhere; None for box splits."""
        if not self.has_masks:
            return None
        image_id = self.ids[index]
        width, height = self._image_size(image_id)
        foreground = np.zeros((height, width), bool)
        pixels = self.max_image_pixels
        for entry in self.meta.masks[image_id]:
            foreground |= _read_binary(self._mask_path(entry), (height, width), pixels)
        out = foreground.astype(np.uint8) * np.uint8(self.meta.labels[image_id] + 1)
        ignore = self.meta.ignore.get(image_id)
        if ignore:
            out[_read_binary(self._mask_path(ignore), (height, width), pixels)
                & ~foreground] = 255
        return out

    def _image_size(self, image_id: str) -> tuple[int, int]:
        size = self.meta.sizes.get(image_id)
        if size:
            return size
        path = self.image_path(image_id)
        try:
            with open_checked(path, path, self.max_image_pixels) as img:  # the header only
                return img.size
        except DataError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure: the image is unusable
            raise DataError(f"Cannot read image {path} ({type(err).__name__}); restore it or "
                            f"remove its id from image_ids.txt.") from None

    def __getitem__(self, index: int) -> ImageRecord:
        index = checked_index(index, len(self))
        return record_at(self, index, self.image(index), self.mask(index))


def _read_binary(path: Path, shape: tuple[int, int], max_pixels: int) -> np.ndarray:
    """bool (H,W): pixels > 0 of a mask file (any mode, as grey), resized (nearest) to
    ``shape``; refused from its header above ``max_pixels``."""
    try:
        with open_checked(path, path, max_pixels) as img:
            grey = np.asarray(img.convert("L"))
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"Mask {path} is missing; restore it (OpenImages30k masks unpack "
                        f"beside the images, {README}) or fix data.mask_dir.") from None
    except Exception as err:  # noqa: BLE001 - any decoder failure: the file is unusable
        raise DataError(f"Cannot decode mask {path} ({type(err).__name__}); the file is "
                        f"corrupt or not an image. Restore it.") from None
    if grey.shape != shape:
        grey = cv2.resize(grey, shape[::-1], interpolation=cv2.INTER_NEAREST)
    return grey > 0
