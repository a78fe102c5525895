"""Datasets: PASCAL VOC-format loading, the generated shapes demo, transforms, data module.

Heavy modules (torch, Lightning) are imported lazily so ``wsol.data.classes`` stays cheap.
"""

from __future__ import annotations

from wsol.data.classes import SHAPE_CLASSES, VOC_CLASSES, resolve_class_names

_LAZY = {
    "VOCDataset": "wsol.data.voc",
    "VOCRecord": "wsol.data.voc",
    "read_voc_xml": "wsol.data.voc",
    "read_voc_mask": "wsol.data.voc",
    "write_voc_mask": "wsol.data.voc",
    "read_image": "wsol.data.voc",
    "generate_demo_dataset": "wsol.data.synthetic",
    "ensure_demo_dataset": "wsol.data.synthetic",
    "WSOLDataModule": "wsol.data.datamodule",
    "CamDataset": "wsol.data.datasets",
    "collate_cam": "wsol.data.datasets",
}

__all__ = ["SHAPE_CLASSES", "VOC_CLASSES", "resolve_class_names", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'wsol.data' has no attribute {name!r}")
