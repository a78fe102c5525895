"""Pretrained weights from the local torch cache, never downloaded at run time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.models import get_weight

from wsol.errors import WeightsError


def resolve_weights_enum(arch: str, name: str):
    """Turn ``"ResNet50_Weights.IMAGENET1K_V1"`` (or ``"IMAGENET1K_V1"``) into the torchvision enum.

    ``DEFAULT`` is refused: it silently changes meaning between torchvision releases, which
    would make results irreproducible.
    """
    if name.split(".")[-1] == "DEFAULT":
        raise WeightsError(
            f"model.weights={name!r}: name the weights exactly (e.g. IMAGENET1K_V1), not DEFAULT."
        )
    if "." not in name:
        enum_prefix = {"resnet18": "ResNet18", "resnet34": "ResNet34", "resnet50": "ResNet50",
                       "resnet101": "ResNet101", "vgg16": "VGG16", "vgg16_cam": "VGG16",
                       "inception_v3_cam": "Inception_V3", "resnet50_cam": "ResNet50"}.get(arch)
        if enum_prefix is None:
            raise WeightsError(f"model.arch={arch!r} has no torchvision pretrained weights.")
        name = f"{enum_prefix}_Weights.{name}"
    try:
        return get_weight(name)
    except (ValueError, KeyError, AttributeError) as err:
        raise WeightsError(
            f"model.weights={name!r} is not a torchvision weights name "
            "(e.g. ResNet50_Weights.IMAGENET1K_V1)."
        ) from err


def cached_weights_path(weights) -> Path:
    """Where torchvision's downloader stores ``weights``: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def require_pretrained_file(arch: str, name: str) -> Path:
    """The cached file of weights ``name``; WeightsError naming the path and URL when absent."""
    weights = resolve_weights_enum(arch, name)
    path = cached_weights_path(weights)
    if not path.is_file():
        raise WeightsError(
            f"Pretrained weights {name} are not in the local torch cache: expected {path}. "
            f"On a machine with internet, download {weights.url} and place it there "
            "(or set TORCH_HOME), or run with model.weights=null to train from scratch."
        )
    return path


def load_pretrained_state(arch: str, name: str) -> dict[str, torch.Tensor]:
    """Read a torchvision state dict from the local cache (``weights_only=True``).

    Raises:
        WeightsError: the file is absent (the message names the path and the download URL)
            or is not a state dict.
    """
    path = require_pretrained_file(arch, name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated download or a file that is not a state dict
        why = ("holds Python objects other than tensors, never unpickled"
               if "Weights only load failed" in str(err) else type(err).__name__)
        raise WeightsError(f"{path} is not a readable torchvision state dict ({why}); "
                           "delete it and download it again.") from err


@dataclass(frozen=True)
class WeightsFile:
    """Where ``model.weights`` of ``model.arch`` is read from: ``path``, a ``name`` for the
    cache key, and the ``url`` to fetch it from elsewhere (None: the user's own file)."""

    path: Path
    name: str
    url: str | None


def weights_file(arch: str, name: str) -> WeightsFile:
    """The local file of weights ``name`` for ``arch`` (torchvision enum, or a timm model's
    file path); WeightsError for a bad enum name."""
    if arch.startswith("timm:"):
        from wsol.models.timm_backbones import timm_weights_path

        path = timm_weights_path(name)
        return WeightsFile(path, f"{arch}:{path.name}", None)
    enum = resolve_weights_enum(arch, name)
    return WeightsFile(cached_weights_path(enum), str(enum), enum.url)
