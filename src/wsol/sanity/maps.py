"""Every compared saliency map of one model, at the input's resolution.

CAM-family maps come from the engine (:class:`wsol.cam.GradCAM`) at the target layer's
resolution and are upsampled bilinearly to the input size; the guided maps are made at the
input size. Similarity measures need maps of one size, and the structure a reader sees in the
sanity figure is at that size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from wsol.cam import GradCAM
from wsol.errors import ConfigError
from wsol.sanity.guided import GUIDED_METHODS, guided_backprop, guided_copy, guided_gradcam

GUIDED_CHUNK = 8  # images per guided backward pass


def reference_maps(model: nn.Module, target_layer: str, methods: Sequence[str],
                   images: torch.Tensor, classes: torch.Tensor
                   ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The maps of every method this model supports (see :func:`saliency_maps`), and why the
    others are left out (``cam`` needs a GAP + Linear head, which the engine confirms only on
    a batch; the guided ones need ``nn.ReLU`` modules). Each method is tried on its own only
    when the whole set fails."""
    try:
        return saliency_maps(model, target_layer, methods, images, classes), {}
    except ConfigError:
        pass
    usable, skipped = [], {}
    for method in methods:
        try:
            saliency_maps(model, target_layer, [method], images[:1], classes[:1])
            usable.append(method)
        except ConfigError as err:
            skipped[method] = str(err)
    return saliency_maps(model, target_layer, usable, images, classes), skipped


def cam_family_maps(model: nn.Module, target_layer: str, method: str, images: torch.Tensor,
                    classes: torch.Tensor) -> torch.Tensor:
    """One CAM method's maps (N, H, W) float32 for ``classes`` (N,), upsampled to the images'
    (N, 3, H, W) size, not normalised."""
    with GradCAM(model, target_layer, method) as cam:
        maps = cam(images, classes=[[int(c)] for c in classes.tolist()])
    stacked = torch.stack([m[0] for m in maps])[:, None].float().cpu()
    return F.interpolate(stacked, size=images.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0]


def saliency_maps(model: nn.Module, target_layer: str, methods: Sequence[str],
                  images: torch.Tensor, classes: torch.Tensor) -> dict[str, np.ndarray]:
    """``{method: maps (N, H, W) float32}`` for every method of ``methods`` (CAM methods by
    name, plus ``guided_backprop`` / ``guided_gradcam``), of ``classes`` (N,) for ``images``
    (N, 3, H, W) normalised. ``model`` is in eval mode and is not modified."""
    out: dict[str, torch.Tensor] = {}
    cam_methods = [m for m in methods if m not in GUIDED_METHODS]
    if "guided_gradcam" in methods and "gradcam" not in cam_methods:
        cam_methods.append("gradcam")  # Guided Grad-CAM needs it
    for method in cam_methods:
        out[method] = cam_family_maps(model, target_layer, method, images, classes)
    if any(m in GUIDED_METHODS for m in methods):
        twin = guided_copy(model)  # a full backward per chunk: memory bounded by the chunk
        guided = torch.cat([guided_backprop(twin, images[i:i + GUIDED_CHUNK],
                                            classes[i:i + GUIDED_CHUNK]).cpu()
                            for i in range(0, len(images), GUIDED_CHUNK)])
        out["guided_backprop"] = guided
        if "guided_gradcam" in methods:
            out["guided_gradcam"] = guided_gradcam(guided, out["gradcam"])
    return {m: out[m].numpy() for m in methods}
