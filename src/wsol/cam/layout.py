"""Bring a target layer's output to the channel-first grid layout the CAM formulas use.

Convolutional layers already give (N, D, *spatial) with one, two or three spatial axes. Vision
transformer blocks give tokens (N, T, D): the class token (if any) is dropped and the remaining
h·w patch tokens are laid out on their square grid as (N, D, h, w).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from wsol.errors import ConfigError

Reshape = Callable[[torch.Tensor], torch.Tensor]


def tokens_to_grid(tokens: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
    """(N, T, D) tokens -> (N, D, h, w). T = 1 + h·w (class token first, dropped) or T = h·w.

    ``grid`` gives (h, w) for non-square patch grids; otherwise the grid is taken as square.
    """
    n, t, d = tokens.shape
    if grid is not None:
        h, w = grid
        if t not in (h * w, h * w + 1):
            raise ConfigError(f"cam token grid {grid} does not fit {t} tokens (need h*w or h*w+1)")
    else:
        side = math.isqrt(t - 1)
        if side * side == t - 1:
            h = w = side
        elif math.isqrt(t) ** 2 == t:
            h = w = math.isqrt(t)
        else:
            raise ConfigError(
                f"cam target layer gives {t} tokens, which is not 1+h*w or h*w for a square grid; "
                "pass reshape=... (a function (N,T,D) -> (N,D,h,w)) to GradCAM"
            )
    patches = tokens[:, t - h * w :]
    return patches.transpose(1, 2).reshape(n, d, h, w)


def default_reshape(x: torch.Tensor) -> torch.Tensor:
    """Tokens (N, T, D) -> tokens_to_grid; conv maps (N, D, h, w) or (N, D, t, h, w) unchanged.

    A 3-D output is read as transformer tokens; for a 1-D convolution pass ``reshape=lambda x: x``.
    """
    if x.dim() == 3:
        return tokens_to_grid(x)
    if x.dim() in (4, 5):
        return x
    raise ConfigError(
        f"cam target layer output has shape {tuple(x.shape)}; expected (B, D, h, w), "
        "(B, D, t, h, w) or tokens (B, T, D). Pick another layer or pass reshape=..."
    )


def apply_batched(reshape: Reshape, x: torch.Tensor, lead: int) -> torch.Tensor:
    """Apply ``reshape`` to x with ``lead`` extra leading axes, e.g. gradients (K, B, ...)."""
    if lead == 0:
        return reshape(x)
    heads = x.shape[: lead + 1]
    out = reshape(x.flatten(0, lead))
    return out.unflatten(0, heads)
