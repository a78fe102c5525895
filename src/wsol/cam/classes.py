"""Which class maps a GradCAM call computes: all, a shared list, or a list per image."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from wsol.errors import ConfigError

ClassSpec = (
    None | Sequence[int] | Sequence[Sequence[int]] | torch.Tensor | Callable[[torch.Tensor], Any]
)


@dataclass(frozen=True)
class ClassRequest:
    """Padded per-image class indices: ``index`` (B, K) int64 and ``valid`` (B, K) bool."""

    index: torch.Tensor
    valid: torch.Tensor
    lengths: tuple[int, ...]
    per_image: bool

    def split(self, maps: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """(B, K, ...) maps -> the same tensor (shared classes) or a list of (K_i, ...) tensors."""
        if not self.per_image:
            return maps
        return [maps[b, :k] for b, k in enumerate(self.lengths)]


def parse_classes(
    classes: ClassSpec, batch: int, num_classes: int, logits: torch.Tensor
) -> ClassRequest:
    """Validate ``classes`` for a batch of ``batch`` images and ``num_classes`` logits.

    A callable gets the logits (B, C) and returns per-image lists (or a (B, K) tensor).
    """
    device = logits.device
    if callable(classes) and not isinstance(classes, torch.Tensor):
        classes = classes(logits)
        lists = _as_per_image(classes, batch)
    elif classes is None:  # built on the device: no host-to-device copy, no stream sync
        index = torch.arange(num_classes, device=device).expand(batch, num_classes)
        valid = torch.ones(batch, num_classes, dtype=torch.bool, device=device)
        return ClassRequest(index, valid, (num_classes,) * batch, per_image=False)
    elif isinstance(classes, torch.Tensor) and classes.dim() == 1:
        return _build([classes.tolist()] * batch, num_classes, device, per_image=False)
    elif isinstance(classes, torch.Tensor):
        lists = _as_per_image(classes, batch)
    elif isinstance(classes, Sequence) and all(_is_int(c) for c in classes):
        return _build([[int(c) for c in classes]] * batch, num_classes, device, per_image=False)
    else:
        lists = _as_per_image(classes, batch)
    return _build(lists, num_classes, device, per_image=True)


def _is_int(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.dim() == 0 and not value.is_floating_point()
    return isinstance(value, numbers.Integral)


def _as_per_image(classes: Any, batch: int) -> list[list[int]]:
    if isinstance(classes, torch.Tensor):
        if classes.dim() != 2:
            raise ConfigError(
                f"per-image classes must be a (B, K) tensor, got {tuple(classes.shape)}"
            )
        classes = classes.tolist()
    if not isinstance(classes, Sequence) or isinstance(classes, (str, bytes)):
        raise ConfigError(
            "classes must be None, a list of class indices, or one list of indices per image"
        )
    lists = []
    for item in classes:
        if isinstance(item, torch.Tensor):
            item = item.reshape(-1).tolist()
        if not isinstance(item, Sequence) or not all(_is_int(c) for c in item):
            raise ConfigError(
                "per-image classes must be integer lists, one per image (e.g. [[3], [1, 7]])"
            )
        lists.append([int(c) for c in item])
    if len(lists) != batch:
        raise ConfigError(f"got class lists for {len(lists)} images but the batch has {batch}")
    return lists


def _build(
    lists: list[list[int]], num_classes: int, device: torch.device, per_image: bool
) -> ClassRequest:
    for item in lists:
        bad = [c for c in item if not 0 <= c < num_classes]
        if bad:
            raise ConfigError(
                f"class indices {bad} are out of range for a model with {num_classes} classes "
                f"(valid: 0..{num_classes - 1}, 0-based, no background)"
            )
    width = max((len(item) for item in lists), default=0)
    index = torch.zeros(len(lists), width, dtype=torch.long)
    valid = torch.zeros(len(lists), width, dtype=torch.bool)
    for b, item in enumerate(lists):
        index[b, : len(item)] = torch.tensor(item, dtype=torch.long)
        valid[b, : len(item)] = True
    return ClassRequest(
        index=_to_device(index, device),
        valid=_to_device(valid, device),
        lengths=tuple(len(item) for item in lists),
        per_image=per_image,
    )


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a small host tensor to ``device`` without blocking the host.

    A copy from pageable memory waits for the GPU to finish the forward pass queued before it,
    which would expose all later host work (the head backward's launches) as GPU idle time.
    """
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)
