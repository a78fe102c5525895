"""A tiny hand-written VOC tree, a tiny checkpoint and in-process runs for the bad-input tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.runs import compose
from PIL import Image

from wsol.datasets.classes import VOC_CLASSES
from wsol.datasets.voc_format import voc_xml_string, write_voc_mask
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier

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


def compose_run(*overrides: str):
    """The composed run config, as ``scripts/run.py OVERRIDES`` builds it (no Hydra app:
    pass ``paths.run_dir=DIR``)."""
    return compose(*overrides)


def voc_overrides(voc: Path, tmp_path: Path, *extra: str) -> list[str]:
    """Overrides for an in-process run on the :func:`write_tree` tree: VOC classes, tiny
    inputs, :func:`tiny_checkpoint`'s network, the cache and run directory under ``tmp_path``."""
    return [f"data.root={voc}", "data=voc", "data.input_size=32", "data.num_workers=0",
            "model.arch=resnet18_quarter", "model.output_stride=16",
            "cam.batch_size=2", "eval.num_figures=0", f"paths.cache_dir={tmp_path / 'cache'}",
            f"paths.run_dir={tmp_path / 'run'}", *extra]


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random-init quarter ResNet-18 for the 20 VOC classes, saved as the train stage does."""
    import torch

    torch.manual_seed(seed)
    net, _ = build_backbone("resnet18_quarter", len(VOC_CLASSES), output_stride=16)
    save_classifier(path, net, {"arch": "resnet18_quarter", "num_classes": len(VOC_CLASSES),
                                "output_stride": 16, "class_names": list(VOC_CLASSES)})
    return path
