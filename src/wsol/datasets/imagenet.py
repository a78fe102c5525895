"""ILSVRC 2012 CLS-LOC validation (50,000 images) as a :class:`LabelledImages` dataset.

Tree (``root`` = the ``ILSVRC`` folder of the Kaggle/ImageNet "object localization" release)::

    root/Data/CLS-LOC/val/ILSVRC2012_val_00000001.JPEG
    root/Annotations/CLS-LOC/val/ILSVRC2012_val_00000001.xml
    root/LOC_synset_mapping.txt        (also found one level up, where Kaggle puts it)
    root/LOC_val_ids.txt               optional: the ids of the split, one a line

Blacklist (``data.blacklist``): CAM's ILSVRC localization evaluation (Zhou et al. 2016) leaves
out the 1,762 validation images of the ILSVRC 2014 localization blacklist. Given the devkit's
``ILSVRC2014_clsloc_validation_blacklist.txt`` (one 1-based validation index a line: 36 means
``ILSVRC2012_val_00000036``), those images are dropped from the split.

Classes: ``LOC_synset_mapping.txt`` lines ``n01440764 tench, Tinca tinca``; the wnids must be
sorted and unique, which makes their line order torchvision's class order (index 0 =
n01440764). Without a split file the ids are the sorted stems of the XML files.

Boxes: the XML looks like PASCAL VOC's, but its coordinates are NOT VOC's 1-based ones: in
the released files they run from 0 to the image width/height inclusive (``xmin`` 0 and
``xmax == width`` both occur). We follow the WSOL evaluation code that defined the reported
numbers — CAM's and Grad-CAM's ILSVRC localization scripts and the wsolevaluation metadata
(Choe et al., CVPR 2020) — which use the numbers unchanged as 0-based pixel indices; a
coordinate outside ``[0, W-1] x [0, H-1]`` is clipped to the image (counted in
:attr:`ImageNetDataset.clipped_boxes` and logged as a warning). There are no masks.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

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
from wsol.datasets.voc_format import read_image, xml_number
from wsol.errors import DataError
from wsol.io.paths import confined_path

log = logging.getLogger(__name__)

SYNSET_FILE = "LOC_synset_mapping.txt"
FIX = ("Set data.root=/path/to/ILSVRC (the folder holding Data/ and Annotations/) or the "
       "WSOL_DATA environment variable; data/README.md shows the expected tree.")


def synset_mapping_path(root: str | Path) -> Path:
    """``root/LOC_synset_mapping.txt``, else the same file beside ``root`` (Kaggle layout)."""
    root = Path(root)
    for candidate in (root / SYNSET_FILE, root.parent / SYNSET_FILE):
        if candidate.is_file():
            return candidate
    raise DataError(f"Synset mapping {root / SYNSET_FILE} not found (nor in {root.parent}); it "
                    f"fixes the class order. Put LOC_synset_mapping.txt (from the ImageNet "
                    f"localization release) there. {FIX}")


def read_synsets(root: str | Path) -> list[tuple[str, str]]:
    """``(wnid, description)`` per line of the mapping file, checked sorted and unique."""
    path = synset_mapping_path(root)
    pairs = []
    for number, line in enumerate(read_text_lines(path, "synset mapping"), 1):
        if not line.strip():
            continue
        wnid, _, description = line.strip().partition(" ")
        if not (wnid.startswith("n") and wnid[1:].isdigit()):
            raise DataError(f"{path}:{number}: {line!r} does not start with a wnid like "
                            f"n01440764; restore the file.")
        pairs.append((wnid, description.strip()))
    wnids = [w for w, _ in pairs]
    if not wnids:
        raise DataError(f"{path} lists no synsets; restore the file.")
    if wnids != sorted(set(wnids)):
        bad = next(i for i in range(1, len(wnids)) if wnids[i] <= wnids[i - 1])
        raise DataError(f"{path}: wnids must be sorted and unique (torchvision's class order) "
                        f"but line {bad + 1} ({wnids[bad]}) follows {wnids[bad - 1]}. Restore "
                        f"the original file or sort it.")
    return pairs


def imagenet_class_names(root: str | Path) -> tuple[str, ...]:
    """The wnids in class-index order (torchvision's order), e.g. ``("n01440764", ...)``."""
    return tuple(w for w, _ in read_synsets(root))


def imagenet_human_names(root: str | Path, short: bool = True) -> tuple[str, ...]:
    """Readable class names in class-index order: the first synonym (``short``) or the line."""
    return tuple((d.split(",")[0].strip() if short else d) or w for w, d in read_synsets(root))


class ImageNetDataset(DatasetFeatures):
    """A split (``val``) of ILSVRC CLS-LOC at ``root``; labels from the XML object names.

    ``class_names``: wnids in classifier order; ``None`` reads them from the mapping file.
    ``check_files=False`` skips the image existence check (the data checker lists them).
    ``require_masks`` is accepted for the common signature and ignored: there are no masks,
    :meth:`mask` returns None. ``blacklist``: a file of 1-based validation indices to leave
    out (see the module docstring); :attr:`blacklisted` counts the images dropped.
    """

    def __init__(self, root: str | Path, split: str = "val",
                 class_names: Sequence[str] | None = None, require_masks: bool = False,
                 check_files: bool = True,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                 blacklist: str | Path | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.max_image_pixels = int(max_image_pixels)
        if not (self.root / "Data" / "CLS-LOC").is_dir():
            raise DataError(f"ImageNet root {self.root} has no Data/CLS-LOC/ folder. {FIX}")
        self.class_names = tuple(class_names) if class_names is not None \
            else imagenet_class_names(self.root)
        self.image_dir = self.root / "Data" / "CLS-LOC" / split
        self.annotation_dir = self.root / "Annotations" / "CLS-LOC" / split
        self.ids = self._read_ids()
        self.blacklisted = 0
        if blacklist is not None:
            banned = read_blacklist(blacklist)
            kept = [i for i in self.ids if _val_index(i, blacklist) not in banned]
            self.blacklisted = len(self.ids) - len(kept)
            log.info("ImageNet %s: left out %d blacklisted image(s) listed in %s", split,
                     self.blacklisted, blacklist)
            if not kept:
                raise DataError(f"data.blacklist={blacklist} leaves no image of split "
                                f"{split!r}; check the file is the localization blacklist.")
            self.ids = kept
        index = {name: i for i, name in enumerate(self.class_names)}
        self.clipped_boxes = 0
        self.annotations = [self._read_xml(i, index) for i in self.ids]
        if self.clipped_boxes:
            log.warning("ImageNet %s: clipped %d box(es) reaching outside their image to the "
                        "image bounds", split, self.clipped_boxes)
        # float32 (N,C); one class per image in ILSVRC
        self.labels = multi_hot(self.annotations, len(self.class_names))
        if check_files:
            missing = [i for i in self.ids if not os.path.exists(self.image_path(i))]
            if missing:
                raise DataError(f"{len(missing)} image(s) of split {split!r} are missing from "
                                f"{self.image_dir}, e.g. {self.image_path(missing[0])}. Restore "
                                f"them. {FIX}")

    @property
    def split_file(self) -> Path:
        """``root/LOC_<split>_ids.txt`` (optional: without it the ids are the XML stems)."""
        return self.root / f"LOC_{self.split}_ids.txt"

    def _read_ids(self) -> list[str]:
        split_file = self.split_file
        self._id_source = str(split_file)  # where the ids come from, for messages
        if split_file.is_file():
            lines = read_text_lines(split_file, "split file")
            ids = checked_ids(((n, line.split()[0]) for n, line in enumerate(lines, 1)
                               if line.strip()), split_file)
            if not ids:
                raise DataError(f"Split file {split_file} lists no images; check the file.")
            return ids
        if not self.annotation_dir.is_dir():
            raise DataError(f"ImageNet annotations {self.annotation_dir} not found (split "
                            f"{self.split!r}); unpack the CLS-LOC boxes there. {FIX}")
        self._id_source = str(self.annotation_dir)
        ids = sorted(p.stem for p in self.annotation_dir.glob("*.xml"))
        if not ids:
            raise DataError(f"{self.annotation_dir} holds no .xml files; unpack the CLS-LOC "
                            f"boxes there. {FIX}")
        return ids

    def _file(self, folder: Path, image_id: str, suffix: str) -> Path:
        return confined_path(folder, image_id, self._id_source, suffix=suffix)

    def annotation_path(self, image_id: str) -> Path:
        return self._file(self.annotation_dir, image_id, ".xml")

    def _read_xml(self, image_id: str, index: dict[str, int]) -> ImageAnnotation:
        path = self.annotation_path(image_id)
        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            raise DataError(f"Annotation {path} is missing; restore it or remove the id from "
                            f"the split file.") from None
        except ET.ParseError as err:
            raise DataError(f"Annotation {path} is not valid XML ({err}); restore it.") from None
        except OSError as err:
            raise DataError(f"Cannot read annotation {path} ({err.strerror or err}); restore "
                            f"it.") from None
        width = _number(root.findtext("size/width"), path, "size/width", 0)
        height = _number(root.findtext("size/height"), path, "size/height", 0)
        boxes, labels = [], []
        for obj in root.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if name not in index:
                raise DataError(f"{path}: object {name!r} is not one of the {len(index)} "
                                f"configured classes; data.classes must be 'imagenet' (the "
                                f"wnids of {SYNSET_FILE}).")
            box = [_number(obj.findtext(f"bndbox/{k}"), path, f"bndbox/{k}")
                   for k in ("xmin", "ymin", "xmax", "ymax")]
            if box[0] > box[2] or box[1] > box[3]:
                raise DataError(f"{path}: the box of object {name!r} (xmin={box[0]}, "
                                f"ymin={box[1]}, xmax={box[2]}, ymax={box[3]}) has xmin > xmax "
                                f"or ymin > ymax; restore the annotation.")
            if width > 0 and height > 0:
                clipped = [min(max(v, 0), limit - 1)
                           for v, limit in zip(box, (width, height, width, height), strict=True)]
                self.clipped_boxes += clipped != box
                box = clipped
            boxes.append(box)
            labels.append(index[name])
        if not boxes:
            raise DataError(f"{path} has no <object>; every ILSVRC val image has a box. "
                            f"Restore the file.")
        return ImageAnnotation(np.asarray(boxes, np.int64).reshape(-1, 4),
                               np.asarray(labels, np.int64), np.zeros(len(boxes), bool),
                               (width, height))

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, image_id: str) -> Path:
        return self._file(self.image_dir, image_id, ".JPEG")

    def image(self, index: int) -> np.ndarray:
        """uint8 (H,W,3) RGB."""
        return read_image(self.image_path(self.ids[index]), self.max_image_pixels)

    def mask(self, index: int) -> None:
        """ImageNet has no masks."""
        return None

    def __getitem__(self, index: int) -> ImageRecord:
        index = checked_index(index, len(self))
        return record_at(self, index, self.image(index), None)


def read_blacklist(path: str | Path) -> set[int]:
    """The 1-based validation indices listed in ``path`` (one integer a line; blank lines
    skipped); DataError naming the file and line otherwise."""
    path = Path(path)
    lines = read_text_lines(path, "ILSVRC blacklist (data.blacklist)", fix=(
        "point data.blacklist at ILSVRC2014_clsloc_validation_blacklist.txt from the ILSVRC "
        "2014 devkit, or set data.blacklist=null"))
    indices = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not line.strip().isdigit() or int(line) < 1:
            raise DataError(f"{path}:{number}: {line.strip()!r} is not a 1-based validation "
                            f"index; data.blacklist must list one index a line (the devkit's "
                            f"ILSVRC2014_clsloc_validation_blacklist.txt format).")
        indices.add(int(line))
    return indices


def _val_index(image_id: str, blacklist: str | Path) -> int:
    """ILSVRC2012_val_00000036 -> 36."""
    tail = image_id.rsplit("_", 1)[-1]
    if not tail.isdigit():
        raise DataError(f"data.blacklist={blacklist} names images by validation index, but "
                        f"image id {image_id!r} has no trailing number (ILSVRC2012_val_NNNNNNNN);"
                        f" set data.blacklist=null for this tree.")
    return int(tail)


def _number(text: str | None, path: Path, key: str, default: int | None = None) -> int:
    if text is None or not text.strip():
        if default is None:
            raise DataError(f"{path}: <{key}> is missing; restore the annotation.")
        return default
    return xml_number(text, path, key, "restore the annotation")
