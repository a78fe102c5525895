"""From stored CAMs to one map per class at a requested size: the three layouts of a store file.

- ``resized`` (``cam.protocol=default``): one array (K, h, w), the scales already summed at
  the fed size / ``store_stride`` and each class map divided by its max; resized bilinearly
  (align_corners=False) to the size asked.
- ``irn`` (``cam.protocol=irn``): one array per scale, each the raw scale-fair map at the target
  layer's resolution with the flip folded in. Composed as IRN's make_cam does for its
  high-resolution maps: each scale upsampled bilinearly (align_corners=False) to the image size
  rounded UP to a multiple of the layer's stride, cropped to the image, the scales summed with
  equal weight, each class map divided by (its max + 1e-5).
- ``bicubic`` (``cam.protocol=wsolevaluation``): one raw map (K, h, w) of any sign, resized
  with OpenCV's bicubic (INTER_CUBIC) to the size asked and min-max normalised per class (NaN
  or constant -> zeros), as wsolevaluation's CAMComputer does before scoring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from wsol.errors import ConfigError
from wsol.localize.scoremap import normalize_scoremap

LAYOUTS = ("resized", "irn", "bicubic")
IRN_EPS = 1e-5  # IRN's make_cam: cam / (max + 1e-5)
_MAX_STRIDE_LOG2 = 8


def infer_stride(input_size: Sequence[int], map_size: Sequence[int]) -> int:
    """The target layer's stride from one forward: input (H, W) -> map (h, w).

    Every stride-2 stage of a padded conv net maps n to ceil(n / 2), so after a total stride s
    the map is ceil(H / s) x ceil(W / s); the smallest power of two that fits is returned (when
    two fit, the image is no larger than the stride and both give the same composition).
    """
    height, width = (int(v) for v in input_size)
    h, w = (int(v) for v in map_size)
    for k in range(_MAX_STRIDE_LOG2 + 1):
        stride = 1 << k
        if math.ceil(height / stride) == h and math.ceil(width / stride) == w:
            return stride
    raise ConfigError(
        f"cam.protocol=irn: a {height}x{width} input gave a {h}x{w} map, which no power-of-two "
        "stride with padded convolutions explains; IRN's composition needs such a target "
        "layer (e.g. ResNet layer4), or use cam.protocol=default")


def strided_up_size(size: Sequence[int], stride: int) -> tuple[int, int]:
    """(H, W) rounded up to multiples of ``stride`` (IRN's get_strided_up_size)."""
    return tuple(math.ceil(int(v) / stride) * stride for v in size)


def compose_irn(levels: Sequence[torch.Tensor], size: Sequence[int], stride: int
                ) -> torch.Tensor:
    """IRN's high-resolution CAM: per-scale maps (K, h_s, w_s) -> float32 (K, H, W) in [0, 1).

    Each level is upsampled bilinearly to :func:`strided_up_size` of ``size``, the levels are
    summed in order, cropped to ``size`` and each class map divided by (its max + 1e-5).
    """
    height, width = (int(v) for v in size)
    k = levels[0].shape[0] if levels else 0
    if k == 0:
        return torch.zeros(0, height, width)
    up = strided_up_size(size, stride)
    total = None
    for level in levels:
        big = F.interpolate(level.float()[:, None], size=up, mode="bilinear",
                            align_corners=False)[:, 0]
        total = big if total is None else total + big
    total = total[:, :height, :width]
    return total / (total.flatten(1).amax(1)[:, None, None] + IRN_EPS)


def resize_bilinear(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Maps (K, h, w) resized bilinearly (align_corners=False) to ``size``: float32 (K, H, W)."""
    size = tuple(int(v) for v in size)
    if not maps.shape[0]:
        return np.zeros((0, *size), np.float32)
    if maps.shape[1:] == size:
        return maps.astype(np.float32, copy=False)
    up = F.interpolate(torch.from_numpy(np.ascontiguousarray(maps, np.float32))[None], size=size,
                       mode="bilinear", align_corners=False)
    return up[0].numpy()


def resize_bicubic(maps: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Maps (K, h, w) resized with OpenCV's INTER_CUBIC to ``size`` (H, W): float32 (K, H, W),
    as wsolevaluation's ``cv2.resize(cam, (224, 224), interpolation=cv2.INTER_CUBIC)``."""
    height, width = (int(v) for v in size)
    out = np.zeros((maps.shape[0], height, width), np.float32)
    for k, plane in enumerate(maps):
        out[k] = cv2.resize(np.ascontiguousarray(plane, np.float32), (width, height),
                            interpolation=cv2.INTER_CUBIC)
    return out


def compose(layout: str, levels: Sequence[np.ndarray], image_size: Sequence[int],
            size: Sequence[int] | None = None, stride: int = 0) -> np.ndarray:
    """Stored levels of one image -> float32 maps (K, H, W) at ``size`` (default the image's).

    ``irn`` composes at the image size (IRN's grid) and resizes that bilinearly when another
    size is asked.
    """
    target = tuple(int(v) for v in (size if size is not None else image_size))
    if layout == "resized":
        return resize_bilinear(levels[0], target)
    if layout == "bicubic":
        resized = resize_bicubic(levels[0], target)
        return np.stack([normalize_scoremap(m) for m in resized]) if len(resized) else resized
    if layout == "irn":
        full = compose_irn([torch.from_numpy(lv) for lv in levels], image_size, stride).numpy()
        return resize_bilinear(full, target)
    raise ValueError(f"unknown CAM store layout {layout!r}; expected one of {LAYOUTS}")
