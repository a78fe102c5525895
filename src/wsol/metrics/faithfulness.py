"""Faithfulness of a saliency map to the classifier: does removing what it points at matter?

- Deletion / insertion (Petsiuk et al. 2018, RISE): pixels are changed in the map's order, most
  salient first, ``steps`` equal shares at a time; the class probability after each share
  gives a curve over the changed fraction 0..1, whose area (trapezoid rule) is the score.
  Deletion replaces pixels by the dataset's mean colour (RISE's zeros after normalisation):
  a low area means the map found what the score rests on. Insertion starts from a blurred
  image and puts the original pixels back: a high area is good.
- Average Drop / Increase in Confidence (Chattopadhay et al. 2018, Grad-CAM++): the image is
  multiplied by the map (scaled to [0, 1] by its max) and scored again. Drop =
  mean(max(0, Y - O) / Y) and Increase = share of cases with O > Y, both in percent.

Scores are the classifier's per-class sigmoid probabilities (the classifiers here are
multi-label). Pixel order: descending map value, ties broken by raster index. Every function
works on batches of (image, class) pairs and runs the classifier in chunks of ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# images (B, 3, H, W) in [0, 1] pixel space -> class probabilities (B, C)
ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def pixel_ranks(maps: torch.Tensor) -> torch.Tensor:
    """rank[p, j]: the position (0 = first changed) of pixel j of map p (P, H, W) in the
    deletion order: descending value, ties by raster index. Returns (P, H*W) int64."""
    flat = maps.reshape(maps.shape[0], -1)
    order = torch.sort(-flat.float(), dim=1, stable=True).indices
    ranks = torch.empty_like(order)
    positions = torch.arange(flat.shape[1], device=flat.device).expand_as(order)
    return ranks.scatter_(1, order, positions)


def changed_counts(num_pixels: int, steps: int) -> list[int]:
    """Pixels changed after each step 0..steps: round(i * num_pixels / steps)."""
    return [round(i * num_pixels / steps) for i in range(steps + 1)]


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoid area under (..., S + 1) values at evenly spaced x in [0, 1]."""
    steps = curve.shape[-1] - 1
    return (curve.sum(-1) - 0.5 * (curve[..., 0] + curve[..., -1])) / steps


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, 3, H, W), radius 3 sigma, reflected borders."""
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    pad = (radius, radius, radius, radius)
    out = F.pad(images, pad, mode="reflect") if min(images.shape[-2:]) > radius else \
        F.pad(images, pad, mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def _class_scores(score: ScoreFn, images: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    # float64 accumulation: the curves are sums of many probabilities
    return score(images).gather(1, classes.view(-1, 1).to(images.device))[:, 0].double()


def perturbation_curves(score: ScoreFn, base: torch.Tensor, target: torch.Tensor,
                        maps: torch.Tensor, classes: torch.Tensor, steps: int,
                        batch_size: int) -> torch.Tensor:
    """Class probability after each step of turning ``base`` into ``target`` in map order.

    base, target: (P, 3, H, W) in [0, 1] (deletion: the image, the mean colour; insertion: the
    blurred image, the image); maps: (P, H, W); classes: (P,). At step i the first
    ``changed_counts(H*W, steps)[i]`` pixels take ``target``'s values. Returns (P, steps + 1).
    """
    pairs, _, height, width = base.shape
    ranks = pixel_ranks(maps).to(base.device)
    counts = torch.tensor(changed_counts(height * width, steps), device=base.device)
    total = pairs * (steps + 1)
    out = torch.empty(total, dtype=torch.float64, device=base.device)
    for lo in range(0, total, batch_size):
        job = torch.arange(lo, min(lo + batch_size, total), device=base.device)
        pair, step = job // (steps + 1), job % (steps + 1)
        changed = (ranks[pair] < counts[step][:, None]).view(-1, 1, height, width)
        mixed = torch.where(changed, target[pair], base[pair])
        out[job] = _class_scores(score, mixed, classes[pair])
    return out.view(pairs, steps + 1)


@dataclass(frozen=True)
class FaithSettings:
    """steps: deletion / insertion steps; blur_sigma: insertion's start image blur (pixels);
    mean_colour: deletion's substrate (RGB in [0, 1]); batch_size: classifier batch."""

    steps: int
    blur_sigma: float
    mean_colour: tuple[float, float, float]
    batch_size: int


def faithfulness_scores(score: ScoreFn, images: torch.Tensor, maps: torch.Tensor,
                        classes: torch.Tensor, settings: FaithSettings) -> dict[str, torch.Tensor]:
    """Per-pair scores of maps (P, H, W) >= 0 for images (P, 3, H, W) in [0, 1] and classes (P,).

    Returns (P,) float64 tensors: ``deletion_auc``, ``insertion_auc`` (areas in [0, 1]), ``drop``
    (max(0, Y - O) / Y, 0 where Y = 0) and ``increase`` (1.0 where O > Y), with Y the score of
    the image and O that of the image times the map scaled to [0, 1].
    """
    mean = torch.tensor(settings.mean_colour, dtype=images.dtype,
                        device=images.device).view(1, 3, 1, 1).expand_as(images)
    blurred = gaussian_blur(images, settings.blur_sigma)
    deletion = perturbation_curves(score, images, mean, maps, classes, settings.steps,
                                   settings.batch_size)
    insertion = perturbation_curves(score, blurred, images, maps, classes, settings.steps,
                                    settings.batch_size)
    peak = maps.flatten(1).amax(1).clamp_min(torch.finfo(maps.dtype).tiny)
    explained = images * (maps / peak.view(-1, 1, 1)).clamp(0, 1)[:, None]
    full, masked = [], []
    for lo in range(0, images.shape[0], settings.batch_size):
        part = slice(lo, lo + settings.batch_size)
        full.append(_class_scores(score, images[part], classes[part]))
        masked.append(_class_scores(score, explained[part], classes[part]))
    y, o = torch.cat(full), torch.cat(masked)
    drop = torch.where(y > 0, (y - o).clamp_min(0) / y.clamp_min(torch.finfo(y.dtype).tiny),
                       torch.zeros_like(y))
    return {"deletion_auc": auc(deletion), "insertion_auc": auc(insertion), "drop": drop,
            "increase": (o > y).float()}
