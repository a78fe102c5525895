"""Classifiers and WSOL methods with the declared ``model.*`` defaults (one place: the schema)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from wsol.app.schema import ModelConfig
from wsol.models.classifier import Classifier
from wsol.models.wsol_methods import WsolMethod


def declared_model_settings(**overrides: Any) -> dict[str, Any]:
    """``model.*`` as ``configs/`` declares them (less ``checkpoint``, which the train stage
    does not pass), with ``overrides``."""
    settings = {k: v for k, v in asdict(ModelConfig()).items() if k != "checkpoint"}
    unknown = set(overrides) - set(settings)
    assert not unknown, f"not model.* keys: {sorted(unknown)}"
    return {**settings, **overrides}


def declared_classifier(arch: str, num_classes: int, **overrides: Any) -> Classifier:
    """``Classifier`` as the train stage builds it for ``model.arch=arch`` and ``overrides``."""
    return Classifier(num_classes=num_classes, **declared_model_settings(arch=arch, **overrides))


def declared_method(name: str, **overrides: Any) -> WsolMethod:
    """``WsolMethod`` for ``model.wsol_method=name`` with the declared hyperparameters."""
    settings = declared_model_settings(**overrides)
    return WsolMethod(name, **{f.name: settings[f.name] for f in fields(WsolMethod)
                               if f.name != "name"})


def random_shapes_checkpoint(path, seed: int = 0):
    """A random-init quarter ResNet-18 over the demo's shape classes (output stride 8) saved
    as a ``model.pt`` at ``path``, whose maps differ image by image; returns ``path``."""
    import torch

    from wsol.datasets.classes import SHAPE_CLASSES
    from wsol.models.backbones import build_backbone
    from wsol.models.checkpoint import save_classifier

    torch.manual_seed(seed)
    net, _ = build_backbone("resnet18_quarter", len(SHAPE_CLASSES), output_stride=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_classifier(path, net, {"arch": "resnet18_quarter", "num_classes": len(SHAPE_CLASSES),
                                "output_stride": 8, "class_names": list(SHAPE_CLASSES)})
    return path
