"""Small generated VOC-format trees for end-to-end runs of the pipeline."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from wsol.datasets.classes import SHAPE_CLASSES, VOC_CLASSES
from wsol.demo.synthetic import ensure_demo_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_demo_tree(tmp_path_factory) -> Path:
    """A 60-image demo tree (shape classes) under ``<data_dir>/demo/VOCshapes``."""
    data_dir = tmp_path_factory.mktemp("wsol_data")
    ensure_demo_dataset(data_dir / "demo" / "VOCshapes", progress=False, num_images=60)
    return data_dir


@pytest.fixture(scope="session")
def tiny_voc_tree(tmp_path_factory) -> Path:
    """A VOC2012-layout tree whose objects carry VOC class names (shape k -> VOC class k),
    with SBD's ``train_aug.txt`` beside ``train.txt``/``val.txt``."""
    source = tmp_path_factory.mktemp("shapes") / "VOCshapes"
    ensure_demo_dataset(source, progress=False, num_images=40)
    root = tmp_path_factory.mktemp("voc") / "VOCdevkit" / "VOC2012"
    shutil.copytree(source, root)
    rename = dict(zip(SHAPE_CLASSES, VOC_CLASSES, strict=False))
    for xml in (root / "Annotations").glob("*.xml"):
        text = re.sub(r"<name>(\w+)</name>", lambda m: f"<name>{rename[m.group(1)]}</name>",
                      xml.read_text())
        xml.write_text(text)
    segmentation = root / "ImageSets" / "Segmentation"
    shutil.copy(segmentation / "train.txt", segmentation / "train_aug.txt")
    return root


