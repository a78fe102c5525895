"""Classifiers (backbones by name, multi-label head) and their Grad-CAM target layers."""

from wsol.models.backbones import BACKBONES, build_backbone
from wsol.models.checkpoint import load_classifier
from wsol.models.classifier import Classifier

__all__ = ["BACKBONES", "Classifier", "build_backbone", "load_classifier"]
