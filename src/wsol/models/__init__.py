"""Classifiers (backbones by name, multi-label head) and their Grad-CAM target layers.

``Classifier`` (a LightningModule) is imported lazily: the stages that only read a checkpoint
or the CAM store should not pay for importing Lightning (~3 s).
"""

from wsol.models.backbones import BACKBONES, build_backbone
from wsol.models.checkpoint import load_classifier

__all__ = ["BACKBONES", "Classifier", "build_backbone", "load_classifier"]


def __getattr__(name: str):
    if name == "Classifier":
        from wsol.models.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'wsol.models' has no attribute {name!r}")
