"""COCO instances JSON for generated data: compressed-RLE masks of the visible object parts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from wsol.io.atomic import atomic_write_text


def encode_instance(mask: np.ndarray) -> dict:
    """COCO fields of one instance mask (bool (H,W)): ``segmentation`` (compressed RLE with a
    str ``counts``), ``area`` (pixels) and ``bbox`` ``[x, y, w, h]`` of the pixels."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {
        "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode()},
        "area": float(mask_utils.area(rle)),
        "bbox": [float(v) for v in mask_utils.toBbox(rle)],
    }


class CocoInstancesWriter:
    """Collects images and instances, then writes one ``instances_*.json`` atomically.

    Category ids are 1..C in ``class_names`` order (0 stays free, as in COCO).
    """

    def __init__(self, class_names: Sequence[str], supercategory: str = "object") -> None:
        self.categories = [{"id": k + 1, "name": name, "supercategory": supercategory}
                           for k, name in enumerate(class_names)]
        self.images: list[dict] = []
        self.annotations: list[dict] = []

    def add_image(self, image_id: int, file_name: str, width: int, height: int) -> None:
        self.images.append({"id": image_id, "file_name": file_name,
                            "width": width, "height": height})

    def add_instance(self, image_id: int, class_index: int, encoded: dict) -> None:
        """Add an instance of 0-based ``class_index``; ``encoded`` from :func:`encode_instance`."""
        self.annotations.append({"id": len(self.annotations) + 1, "image_id": image_id,
                                 "category_id": class_index + 1, "iscrowd": 0, **encoded})

    def to_dict(self) -> dict:
        return {"info": {"description": "wsol generated shapes"}, "licenses": [],
                "images": self.images, "annotations": self.annotations,
                "categories": self.categories}

    def write(self, path: Path) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_dict(), separators=(",", ":")))
