"""Multi-scale + flip test-time augmentation of CAMs (the IRN protocol, Ahn et al. 2019).

For each scale s the batch is resized to round(s·H) x round(s·W) and, with ``flip``, its
horizontal mirror images are appended to the same batch, so an image and its flip share one
forward pass (one engine call per scale). Each map is flipped back, resized bilinearly to
``out_size`` and summed over scales and flips; finally each class map is divided by its own max.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from wsol.cam.engine import GradCAM
from wsol.errors import ConfigError

IRN_SCALES = (1.0, 0.5, 1.5, 2.0)


def multiscale_cams(
    engine: GradCAM,
    images: torch.Tensor,
    classes: Sequence[Sequence[int]] | Sequence[int] | Callable | None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    out_size: tuple[int, int] | None = None,
    return_logits: bool = False,
) -> list[torch.Tensor] | tuple[list[torch.Tensor], torch.Tensor]:
    """Summed multi-scale (and flipped) maps for images (B, 3, H, W).

    classes: one index list per image (e.g. the ground-truth classes), a list shared by every
    image, None for all classes, or a callable logits (B, C) -> per-image lists (e.g. top-k)
    applied to the first scale's un-flipped logits in the same forward pass. Returns B float32
    tensors (K_i, H', W') in [0, 1] with (H', W') = out_size (default (H, W)); each class map
    is divided by its max, and an all-zero map stays zero. With ``return_logits``, also the
    logits (B, C) of the first scale's un-flipped images (IRN's scale 1.0), at no extra cost.
    """
    if images.dim() != 4:
        raise ConfigError(f"multiscale_cams needs images (B, 3, H, W), got {tuple(images.shape)}")
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"cam.scales must be positive numbers, got {list(scales)}")
    batch, _, height, width = images.shape
    out_size = tuple(out_size) if out_size is not None else (height, width)
    # A callable picks each image's classes from the first scale's un-flipped logits (e.g.
    # top-k), in the same forward pass; the later scales reuse its choice.
    pick = classes if callable(classes) and not isinstance(classes, torch.Tensor) else None
    per_image = pick is not None or (classes is not None and len(classes) > 0
                                     and not _is_flat(classes))
    if pick is not None:
        classes = None  # known after the first forward
    elif per_image and len(classes) != batch:
        raise ConfigError(f"got class lists for {len(classes)} images but the batch has {batch}")
    if pick is None and classes is not None and \
            all(len(c) == 0 for c in (classes if per_image else [classes])):
        empty = [images.new_zeros(0, *out_size, dtype=torch.float32) for _ in range(batch)]
        if not return_logits:
            return empty
        return empty, engine(images, classes=[[] for _ in range(batch)], return_logits=True)[1]
    total: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        x = images if size == (height, width) else _resize(images, size)
        call_classes = classes
        if flip:
            x = torch.cat([x, x.flip(-1)])
            call_classes = list(classes) * 2 if per_image and classes is not None else classes
        if classes is None and pick is not None:
            chosen: list[list[int]] = []
            call_classes = _picker(pick, batch, flip, chosen)
        if return_logits:
            maps, scale_logits = engine(x, classes=call_classes, return_logits=True)
            logits = scale_logits[:batch] if logits is None else logits
        else:
            maps = engine(x, classes=call_classes)
        maps = _padded(maps)  # (B or 2B, K, h, w)
        if classes is None and pick is not None:
            classes = chosen[0]
        if flip:
            maps = maps[:batch] + maps[batch:].flip(-1)
        maps = F.interpolate(maps, size=out_size, mode="bilinear", align_corners=False)
        total = maps if total is None else total + maps
    assert total is not None
    peak = total.flatten(2).amax(-1)[..., None, None]
    total = torch.where(peak > 0, total / torch.where(peak > 0, peak, 1), 0).clamp_(0, 1)
    out = [total[b, : len(classes[b])] for b in range(batch)] if per_image else \
        list(total.unbind(0))
    return (out, logits) if return_logits else out


def _picker(pick, batch: int, flip: bool, chosen: list) -> Callable[[torch.Tensor], list]:
    """Wrap ``pick`` for the engine: choose from the un-flipped images' logits, give the flipped
    copies the same classes, and remember the choice in ``chosen``."""

    def choose(logits: torch.Tensor) -> list[list[int]]:
        picked = pick(logits[:batch])
        lists = picked.tolist() if isinstance(picked, torch.Tensor) else \
            [list(map(int, c)) for c in picked]
        chosen.append(lists)
        return lists * 2 if flip else lists

    return choose


def _is_flat(classes: Sequence) -> bool:
    first = classes[0]
    return not isinstance(first, (Sequence, torch.Tensor)) or (
        isinstance(first, torch.Tensor) and first.dim() == 0
    )


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def _padded(maps: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """Engine output -> (N, K_max, h, w) float32, per-image lists zero-padded."""
    if isinstance(maps, torch.Tensor):
        return maps
    width = max((m.shape[0] for m in maps), default=0)
    out = maps[0].new_zeros(len(maps), width, *maps[0].shape[1:])
    for i, m in enumerate(maps):
        out[i, : m.shape[0]] = m
    return out
