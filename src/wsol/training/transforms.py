"""Image transforms: ImageNet normalisation, random resized crops with flips (batched in torch
for cached uint8 images, per image in OpenCV for images read from disk), eval resizing, and the
PIL resampling the reference pipelines use (IRN's bicubic scale pyramid, torchvision's bilinear
Resize).

A crop is described in fractions of the image, ``(cx, cy, w, h, flip)``, so both code paths
share one sampler.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) in 0..255 -> float32 ImageNet-normalised, same shape."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(3, 1, 1) * 255.0
    std = torch.tensor(IMAGENET_STD, device=images.device).view(3, 1, 1) * 255.0
    return (images.float() - mean) / std


def to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H,W,3) numpy -> uint8 (3,H,W) tensor (a copy, contiguous)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def sample_crops(n: int, scale: tuple[float, float] = (0.5, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), hflip: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Random resized crops: float32 (n,5) rows ``cx, cy, w, h, flip`` in image fractions.

    Area fraction ~ U(scale), aspect ratio log-uniform in ``ratio``, each side capped at the
    whole image, position uniform over the places the crop fits; flip is 1.0 for a mirror.
    """
    u = torch.rand(n, 5, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = w / 2 + (1 - w) * u[:, 2]
    cy = h / 2 + (1 - h) * u[:, 3]
    flip = (u[:, 4] < 0.5).float() if hflip else torch.zeros(n)
    return torch.stack([cx, cy, w, h, flip], 1)


def crop_resize_batch(images: torch.Tensor, crops: torch.Tensor, size: int) -> torch.Tensor:
    """Crop, mirror and resize a batch in one bilinear resampling.

    images: float (B,3,H,W); crops: (B,5) from :func:`sample_crops`. Returns (B,3,size,size).
    """
    b = images.shape[0]
    crops = crops.to(images.device, images.dtype)
    cx, cy, w, h, flip = crops.unbind(1)
    sign = 1.0 - 2.0 * flip
    theta = torch.zeros(b, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = w * sign  # output x in [-1,1] -> input x, mirrored when flip
    theta[:, 0, 2] = 2 * cx - 1
    theta[:, 1, 1] = h
    theta[:, 1, 2] = 2 * cy - 1
    grid = F.affine_grid(theta, [b, 3, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def crop_resize_image(image: np.ndarray, crop: torch.Tensor | np.ndarray, size: int
                      ) -> np.ndarray:
    """One uint8 (H,W,3) image cropped by ``crop`` (5,), mirrored, resized to (size,size,3)."""
    height, width = image.shape[:2]
    cx, cy, w, h, flip = (float(v) for v in crop)
    x0 = int(round((cx - w / 2) * width))
    y0 = int(round((cy - h / 2) * height))
    x1 = max(x0 + 1, min(width, int(round((cx + w / 2) * width))))
    y1 = max(y0 + 1, min(height, int(round((cy + h / 2) * height))))
    out = resize_image(image[max(y0, 0):y1, max(x0, 0):x1], size)
    return np.ascontiguousarray(out[:, ::-1]) if flip > 0.5 else out


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H,W,3) -> uint8 (size,size,3); area averaging when shrinking, bilinear otherwise."""
    height, width = image.shape[:2]
    if (height, width) == (size, size):
        return image
    shrink = size < height and size < width
    return cv2.resize(image, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


PIL_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def pil_resize(image: np.ndarray, size: tuple[int, int], resample: str = "bicubic"
               ) -> np.ndarray:
    """uint8 (H,W,3) -> uint8 (h,w,3) with PIL's ``resample`` filter (``bicubic`` as IRN's
    pil_resize, ``bilinear`` as torchvision's Resize on PIL images); the image itself when the
    size is unchanged."""
    height, width = (int(v) for v in size)
    if (height, width) == image.shape[:2]:
        return image
    out = Image.fromarray(image).resize((width, height), PIL_FILTERS[resample])
    return np.asarray(out)


def rescaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """IRN's pil_rescale size: (round(scale·H), round(scale·W)), half to even as np.round,
    at least 1."""
    return max(1, int(np.round(height * scale))), max(1, int(np.round(width * scale)))


def scale_pyramid(image: np.ndarray, scales: tuple[float, ...]) -> list[torch.Tensor]:
    """IRN's multi-scale CAM input: per scale the uint8 (H,W,3) image resized with PIL bicubic
    to :func:`rescaled_size` (scale 1: the image as it is), then normalised: float32
    (3, h_s, w_s) tensors."""
    height, width = image.shape[:2]
    return [normalize(to_chw_tensor(pil_resize(image, rescaled_size(height, width, s))))
            for s in scales]
