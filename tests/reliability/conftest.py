"""A tiny hand-written VOC tree for the bad-input tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsol.datasets.voc_format import voc_xml_string, write_voc_mask

REPO = Path(__file__).resolve().parents[2]
SIZE = (40, 30)  # (W, H) of every image in the tree


def write_tree(root: Path, ids=("a", "b")) -> Path:
    """A VOC tree at ``root``: each id an RGB JPEG 40x30, one 'dog' box and a palette mask."""
    for sub in ("JPEGImages", "Annotations", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for image_id in ids:
        Image.fromarray(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg")
        xml = voc_xml_string(f"{image_id}.jpg", SIZE, [{"name": "dog", "box": (2, 3, 20, 25)}])
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
        mask = np.zeros((SIZE[1], SIZE[0]), np.uint8)
        mask[3:26, 2:21] = 12  # VOC 'dog' is class 11 -> label 12
        write_voc_mask(root / "SegmentationClass" / f"{image_id}.png", mask)
    (root / "ImageSets/Segmentation/train.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


@pytest.fixture
def voc(tmp_path) -> Path:
    """A two-image VOC tree at ``<tmp>/VOCdevkit/VOC2012``."""
    return write_tree(tmp_path / "VOCdevkit" / "VOC2012")
