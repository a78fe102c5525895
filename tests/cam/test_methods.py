"""The method registry: gradcam++lib is pytorch-grad-cam's variant, and only differs from the
paper's Grad-CAM++ where gradients are small next to its eps (issue 10, item 6). Both are also
checked against float64 autograd references in test_reference.py."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from wsol.cam import GradCAM
from wsol.cam.methods import METHODS, check_method


def _gap_model(scale: float) -> nn.Module:
    torch.manual_seed(0)
    fc = nn.Linear(8, 3)
    with torch.no_grad():
        fc.weight.mul_(scale)
    return nn.Sequential(OrderedDict(features=nn.Identity(), pool=nn.AdaptiveAvgPool2d(1),
                                     flat=nn.Flatten(), fc=fc)).eval()


def _maps(method: str, scale: float) -> torch.Tensor:
    x = torch.rand(2, 8, 6, 6, generator=torch.Generator().manual_seed(1))
    with GradCAM(_gap_model(scale), "features", method) as cam:
        maps = cam(x)
    peak = maps.flatten(2).amax(-1)[..., None, None]
    return maps / peak.clamp_min(1e-30)


def test_lib_variant_differs_with_tiny_gradients_only():
    tiny = (_maps("gradcam++", 1e-3) - _maps("gradcam++lib", 1e-3)).abs().max()
    large = (_maps("gradcam++", 100.0) - _maps("gradcam++lib", 100.0)).abs().max()
    assert tiny > 0.05  # eps dominates G² ~ 1e-9: visibly different maps
    assert large < 1e-3  # G² ~ 1e-2 next to eps 1e-6


@pytest.mark.parametrize("spelling", ["gradcam++lib", "GradCAMppLib", "gradcam_pp_lib"])
def test_spellings_resolve_to_one_registry_entry(spelling):
    assert check_method(spelling) == "gradcam++lib" and "gradcam++lib" in METHODS
