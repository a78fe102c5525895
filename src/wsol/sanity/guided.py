"""Guided Backpropagation (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017).

Guided backpropagation is the gradient of the class score with respect to the input pixels,
except that every ReLU passes back only positive gradient where its input was positive:
``dx = ReLU(dy) · [x > 0]``. Guided Grad-CAM multiplies that pixel map by the Grad-CAM map
upsampled to the input. Both exist only for the sanity checks, where Adebayo et al. (2018)
showed that they barely depend on the model's weights.

Maps are 2-D: the pixel gradient summed over colour channels, signed, (N, H, W) float32.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from wsol.errors import ConfigError

GUIDED_METHODS = ("guided_backprop", "guided_gradcam")


class _GuidedReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class GuidedReLU(nn.Module):
    """ReLU whose backward passes only positive gradient where the input was positive."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _GuidedReLUFunction.apply(x)


def guided_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with every ``nn.ReLU`` module replaced by :class:`GuidedReLU`
    and its parameters frozen (only the input gradient is needed).

    Raises ConfigError when the model has no ``nn.ReLU`` module (a functional ``F.relu`` in a
    forward cannot be guided).
    """
    twin = copy.deepcopy(model)
    replaced = 0
    for parent in twin.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, GuidedReLU())
                replaced += 1
    if not replaced:
        raise ConfigError(f"{type(model).__name__} has no nn.ReLU module: guided "
                          "backpropagation cannot be applied to it")
    for param in twin.parameters():
        param.requires_grad_(False)
    return twin


def guided_backprop(guided: nn.Module, images: torch.Tensor, classes: torch.Tensor
                    ) -> torch.Tensor:
    """Guided-backprop maps (N, H, W) float32 of ``classes`` (N,) for ``images`` (N, 3, H, W).

    ``guided`` comes from :func:`guided_copy` and is in eval mode, so images do not interact
    and one backward of the summed selected scores gives every image's own gradient.
    """
    with torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        logits = guided(x)
        chosen = logits.gather(1, classes.view(-1, 1).to(logits.device)).sum()
        (grad,) = torch.autograd.grad(chosen, x)
    return grad.float().sum(dim=1)


def guided_gradcam(guided_maps: torch.Tensor, gradcam_maps: torch.Tensor) -> torch.Tensor:
    """Guided Grad-CAM (N, H, W): guided-backprop maps times Grad-CAM maps at the same size."""
    if guided_maps.shape != gradcam_maps.shape:
        raise ValueError(f"guided maps {tuple(guided_maps.shape)} and Grad-CAM maps "
                         f"{tuple(gradcam_maps.shape)} differ in shape")
    return guided_maps * gradcam_maps
