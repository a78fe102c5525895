"""Training-time WSOL methods of wsolevaluation's table: what each changes while the classifier
learns (nothing at test time; the maps are the network's plain CAMs).

- ``has`` (Hide-and-Seek, Singh & Lee, ICCV 2017): the image is cut into a grid of
  ``grid_size``-pixel cells and each cell is hidden with probability ``drop_rate``; hidden
  pixels take the dataset's mean colour, 0 after ImageNet normalisation (as wsolevaluation).
- ``cutmix`` (Yun et al., ICCV 2019): with probability ``prob`` per batch, a box of area
  fraction 1 - lam (lam ~ Beta(beta, beta)), centred uniformly and clipped to the image, is
  pasted from another image of the batch; the targets mix with the pasted area's true fraction.
  Both losses used here are linear in their targets, so the mixed target gives the paper's
  lam * loss(a) + (1 - lam) * loss(b).
- ``adl`` (Attention-based Dropout Layer, Choe & Shim, CVPR 2019): after given layers, in
  training only, the channel-mean attention A of the features either multiplies them as
  sigmoid(A) or, with probability ``drop_rate`` (one draw per layer and forward), zeroes the
  positions where A >= ``threshold`` x its per-image maximum (the most discriminative part).

Defaults are wsolevaluation's published ones (config.py): ADL 0.75 / 0.9, HaS 4 px / 0.5,
CutMix beta 1.0 / prob 1.0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

METHODS = ("cam", "has", "adl", "cutmix")


@dataclass(frozen=True)
class WsolMethod:
    """``model.wsol_method`` and its hyperparameters (``model.adl_*``, ``has_*``, ``cutmix_*``;
    their defaults, wsolevaluation's published values, are declared once, in the config schema
    ``wsol.app.schema.ModelConfig``)."""

    name: str
    adl_drop_rate: float
    adl_threshold: float
    has_grid_size: int
    has_drop_rate: float
    cutmix_beta: float
    cutmix_prob: float

    def augment(self, images: torch.Tensor, targets: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch as the method feeds it: images (B,3,H,W) normalised, targets
        (B,C) in [0,1]; unchanged for cam and adl."""
        if self.name == "has":
            return hide_patches(images, self.has_grid_size, self.has_drop_rate, generator), \
                targets
        if self.name == "cutmix":
            draw = torch.rand((), generator=generator)
            if self.cutmix_beta > 0 and float(draw) < self.cutmix_prob:
                mixed, mixed_targets, _ = cutmix(images, targets, self.cutmix_beta, generator)
                return mixed, mixed_targets
        return images, targets


def hide_patches(images: torch.Tensor, grid_size: int, drop_rate: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """HaS: each ``grid_size`` x ``grid_size`` cell of each image hidden (set to 0) with
    probability ``drop_rate``; (B,3,H,W) -> a new tensor of the same shape."""
    if grid_size <= 0 or drop_rate <= 0:
        return images
    b, _, h, w = images.shape
    cells = (math.ceil(h / grid_size), math.ceil(w / grid_size))
    hidden = torch.rand((b, *cells), generator=generator) < drop_rate
    hidden = hidden.repeat_interleave(grid_size, 1).repeat_interleave(grid_size, 2)[:, :h, :w]
    return images * (~hidden).to(images.device, images.dtype)[:, None]


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator | None = None
               ) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` (end exclusive) of a box with sides sqrt(1 - lam) of the image's,
    centred at a uniform pixel and clipped to the image."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy = int(torch.randint(height, (), generator=generator))
    cx = int(torch.randint(width, (), generator=generator))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, y1, x0, x1


def cutmix(images: torch.Tensor, targets: torch.Tensor, beta: float,
           generator: torch.Generator | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """CutMix a batch: (images (B,3,H,W), targets (B,C), lam = the kept area fraction)."""
    b, _, h, w = images.shape
    lam = float(torch.distributions.Beta(beta, beta).sample())  # the global (seeded) RNG
    order = torch.randperm(b, generator=generator).to(images.device)
    y0, y1, x0, x1 = cutmix_box(h, w, lam, generator)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[order, :, y0:y1, x0:x1]
    kept = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return mixed, kept * targets + (1.0 - kept) * targets[order], kept


class ADL:
    """Forward hooks applying ADL after modules of a network while it trains."""

    def __init__(self, drop_rate: float, threshold: float) -> None:
        self.drop_rate, self.threshold = float(drop_rate), float(threshold)
        self.handles: list = []

    def attach(self, net: nn.Module, positions: Sequence[str]) -> ADL:
        """Hook the outputs of ``net``'s modules named in ``positions``."""
        for name in positions:
            self.handles.append(net.get_submodule(name).register_forward_hook(self._hook))
        return self

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def _hook(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor | None:
        if not module.training:
            return None
        return output * adl_map(output, self.drop_rate, self.threshold)

    __call__ = _hook


def adl_map(features: torch.Tensor, drop_rate: float, threshold: float,
            draw: float | None = None) -> torch.Tensor:
    """ADL's multiplier (B,1,H,W) for features (B,D,H,W): the drop mask (0 where the channel
    mean >= threshold x its per-image max, else 1) with probability ``drop_rate``, else the
    sigmoid of the channel mean. ``draw`` in [0,1) fixes the coin (drop when draw + drop_rate
    >= 1)."""
    attention = features.mean(dim=1, keepdim=True)
    u = float(torch.rand(())) if draw is None else float(draw)
    if math.floor(u + drop_rate) >= 1:
        peak = attention.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
        return (attention < threshold * peak).to(features.dtype)
    return torch.sigmoid(attention)
