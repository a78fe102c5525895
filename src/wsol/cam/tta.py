"""Multi-scale + flip test-time augmentation of CAMs (the IRN protocol, Ahn et al. 2019).

Two steps. :func:`scale_maps` runs the engine once per scale of an image pyramid; with ``flip``
the mirror images are appended to the same batch, so an image and its flip share one forward
pass, and the flip's map is mirrored back and added. Each scale's map is then made independent
of the feature map's size: multiplied by S ** p, S the number of target-layer positions and p the
method's ``positions_power`` (gradcam's map on a GAP + Linear head is ReLU(W_c·A) / S; times S
it is IRN's raw CAM, so every scale weighs the same in the sum). Then the per-scale maps are
composed into one map per class: :func:`multiscale_cams` resizes each bilinearly to
``out_size``, sums them and divides each class map by its max; IRN's own composition (to the
image size rounded up to the stride, cropped, / (max + 1e-5)) is :func:`wsol.cam.compose.
compose_irn`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from wsol.cam.engine import GradCAM
from wsol.errors import ConfigError

IRN_SCALES = (1.0, 0.5, 1.5, 2.0)


@dataclass
class ScaleMaps:
    """The per-scale maps of a batch of B images.

    maps: one float32 tensor (B, K, h_s, w_s) per scale (flip folded in, times S ** p); with
    per-image class lists, image b's classes are the first len(classes[b]) planes (the rest is
    zero padding). classes: those per-image lists, or None when every image has the same K.
    logits: (B, C) of the first scale's un-flipped images, or None when not asked for.
    """

    maps: list[torch.Tensor]
    classes: list[list[int]] | None
    logits: torch.Tensor | None

    def of_image(self, b: int) -> list[torch.Tensor]:
        """Image ``b``'s maps, one (K_b, h_s, w_s) tensor per scale."""
        k = len(self.classes[b]) if self.classes is not None else None
        return [m[b, :k] for m in self.maps]


def pyramid_of(images: torch.Tensor, scales: Sequence[float]) -> list[torch.Tensor]:
    """Images (B, 3, H, W) resized to round(s·H) x round(s·W) per scale, bilinearly (no
    antialiasing) from the normalised tensor; scale 1 (or the same size) is ``images`` itself."""
    if images.dim() != 4:
        raise ConfigError(f"multiscale_cams needs images (B, 3, H, W), got {tuple(images.shape)}")
    check_scales(scales)
    height, width = images.shape[2:]
    out = []
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        out.append(images if size == (height, width) else
                   F.interpolate(images, size=size, mode="bilinear", align_corners=False))
    return out


def check_scales(scales: Sequence[float]) -> None:
    """ConfigError unless ``scales`` is a non-empty list of positive numbers."""
    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"cam.scales must be positive numbers, got {list(scales)}")


def scale_maps(
    engine: GradCAM | Callable,
    pyramid: Sequence[torch.Tensor],
    classes: Sequence[Sequence[int]] | Sequence[int] | Callable | None,
    flip: bool = False,
    return_logits: bool = False,
    positions_power: int | None = None,
) -> ScaleMaps:
    """One engine call per pyramid level (B, 3, h_s, w_s), each made scale-fair.

    classes: one index list per image, a list shared by every image, None for all classes, or
    a callable logits (B, C) -> per-image lists (e.g. top-k) applied to the first level's
    un-flipped logits in the same forward pass; the later levels reuse its choice.
    positions_power: p in S ** p; None takes the GradCAM engine's method's (0 for any other
    callable, which is then taken to return maps that need no rescaling).
    """
    batch = pyramid[0].shape[0]
    power = _positions_power(engine, positions_power)
    pick = classes if callable(classes) and not isinstance(classes, torch.Tensor) else None
    per_image = pick is not None or (classes is not None and len(classes) > 0
                                     and not _is_flat(classes))
    if pick is not None:
        classes = None  # known after the first forward
    elif per_image and len(classes) != batch:
        raise ConfigError(f"got class lists for {len(classes)} images but the batch has {batch}")
    if pick is None and classes is not None and \
            all(len(c) == 0 for c in (classes if per_image else [classes])):
        logits = engine(pyramid[0], classes=[[] for _ in range(batch)],
                        return_logits=True)[1] if return_logits else None
        empty = [x.new_zeros(batch, 0, 1, 1, dtype=torch.float32) for x in pyramid]
        return ScaleMaps(empty, [list(c) for c in classes] if per_image else None, logits)
    out: list[torch.Tensor] = []
    logits: torch.Tensor | None = None
    for x in pyramid:
        call_classes = classes
        if flip:
            x = torch.cat([x, x.flip(-1)])
            call_classes = list(classes) * 2 if per_image and classes is not None else classes
        chosen: list[list[list[int]]] = []
        if classes is None and pick is not None:
            call_classes = _picker(pick, batch, flip, chosen)
        if return_logits:
            maps, level_logits = engine(x, classes=call_classes, return_logits=True)
            logits = level_logits[:batch] if logits is None else logits
        else:
            maps = engine(x, classes=call_classes)
        maps = _padded(maps)  # (B or 2B, K, h, w)
        if chosen:
            classes = chosen[0]
        if flip:
            maps = maps[:batch] + maps[batch:].flip(-1)
        if power:
            maps = maps * float(maps.shape[-2] * maps.shape[-1]) ** power
        out.append(maps)
    lists = [list(map(int, c)) for c in classes] if per_image else None
    return ScaleMaps(out, lists, logits)


def multiscale_cams(
    engine: GradCAM | Callable,
    images: torch.Tensor,
    classes: Sequence[Sequence[int]] | Sequence[int] | Callable | None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    out_size: tuple[int, int] | None = None,
    return_logits: bool = False,
    positions_power: int | None = None,
) -> list[torch.Tensor] | tuple[list[torch.Tensor], torch.Tensor]:
    """Summed multi-scale (and flipped) maps for images (B, 3, H, W).

    classes: as :func:`scale_maps`. Each scale is resized bilinearly from ``images`` (see
    :func:`pyramid_of`), its scale-fair map resized bilinearly to ``out_size`` (default
    (H, W)) and summed. Returns B float32 tensors (K_i, H', W') in [0, 1]; each class map is
    divided by its max, and an all-zero map stays zero. With ``return_logits``, also the logits
    (B, C) of the first scale's un-flipped images (IRN's scale 1.0), at no extra cost.
    """
    pyramid = pyramid_of(images, scales)
    batch, _, height, width = images.shape
    out_size = tuple(out_size) if out_size is not None else (height, width)
    levels = scale_maps(engine, pyramid, classes, flip, return_logits, positions_power)
    total = sum(F.interpolate(m, size=out_size, mode="bilinear", align_corners=False)
                if m.shape[1] else m.new_zeros(batch, 0, *out_size) for m in levels.maps)
    peak = total.flatten(2).amax(-1)[..., None, None] if total.shape[1] else total
    total = torch.where(peak > 0, total / torch.where(peak > 0, peak, 1), 0).clamp_(0, 1)
    out = [total[b, : len(levels.classes[b])] for b in range(batch)] \
        if levels.classes is not None else list(total.unbind(0))
    return (out, levels.logits) if return_logits else out


def _positions_power(engine: object, explicit: int | None) -> int:
    if explicit is not None:
        return int(explicit)
    return engine.spec.positions_power if isinstance(engine, GradCAM) else 0


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


def _padded(maps: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """Engine output -> (N, K_max, h, w) float32, per-image lists zero-padded."""
    if isinstance(maps, torch.Tensor):
        return maps
    width = max((m.shape[0] for m in maps), default=0)
    out = maps[0].new_zeros(len(maps), width, *maps[0].shape[1:])
    for i, m in enumerate(maps):
        out[i, : m.shape[0]] = m
    return out
