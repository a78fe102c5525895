"""IRN's classifier-training augmentation (``data.augment=irn``; IRN's voc12/dataloader.py and
misc/imutils.py, Ahn et al. 2019), in the order IRN applies it:

1. a random long side L, uniform over the integers [5/8·S, 5/4·S] (IRN: 320..640 for the crop
   S = 512), the image rescaled by L / its long side with PIL bicubic, aspect kept (sizes
   rounded half to even, as IRN's np.round);
2. ImageNet normalisation;
3. a horizontal flip with probability 1/2;
4. a random S x S window: along each axis a longer image is cut at a uniform offset, a shorter
   one is placed at a uniform offset in a zero canvas (zero after normalisation: the mean
   colour). No colour jitter.

A draw is sampled first (:func:`sample_irn_draw`) and then applied (:func:`apply_irn_draw`),
so its distribution can be checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from wsol.datasets.records import LabelledImages
from wsol.training.transforms import normalize, pil_resize, rescaled_size, to_chw_tensor


@dataclass(frozen=True)
class IrnDraw:
    """One augmentation: the long side, the flip, and per axis the window's offset: >= 0 into
    the (resized) image when it is longer than the window, <= 0 (minus the image's offset in
    the canvas) when it is shorter."""

    long_side: int
    flip: bool
    top: int
    left: int


def long_side_range(crop: int) -> tuple[int, int]:
    """(min, max) random long side for window ``crop``: (320, 640) for IRN's 512."""
    return round(crop * 5 / 8), round(crop * 5 / 4)


def resized_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) of an H x W image whose long side is rescaled to ``long_side`` (IRN's
    random_resize_long: the scale is long_side / H when W < H, else long_side / W)."""
    scale = long_side / height if width < height else long_side / width
    return rescaled_size(height, width, scale)


def sample_irn_draw(height: int, width: int, crop: int,
                    generator: torch.Generator | None = None) -> IrnDraw:
    """Sample one augmentation of an H x W image for an S = ``crop`` window (torch's RNG)."""
    lo, hi = long_side_range(crop)
    long_side = int(torch.randint(lo, hi + 1, (1,), generator=generator))
    flip = bool(torch.randint(0, 2, (1,), generator=generator))
    h, w = resized_size(height, width, long_side)

    def offset(size: int) -> int:
        space = size - crop
        pick = int(torch.randint(0, abs(space) + 1, (1,), generator=generator))
        return pick if space > 0 else -pick

    return IrnDraw(long_side, flip, offset(h), offset(w))


def apply_irn_draw(image: np.ndarray, draw: IrnDraw, crop: int) -> torch.Tensor:
    """uint8 (H,W,3) -> float32 (3, crop, crop): resize, normalise, flip, window (zero canvas)."""
    height, width = image.shape[:2]
    resized = pil_resize(image, resized_size(height, width, draw.long_side), "bicubic")
    x = normalize(to_chw_tensor(resized))
    if draw.flip:
        x = x.flip(-1)
    out = x.new_zeros(3, crop, crop)
    (ys, yd, hh), (xs, xd, ww) = (_span(draw.top, x.shape[1], crop),
                                  _span(draw.left, x.shape[2], crop))
    out[:, yd:yd + hh, xd:xd + ww] = x[:, ys:ys + hh, xs:xs + ww]
    return out


def _span(offset: int, size: int, crop: int) -> tuple[int, int, int]:
    """(source start, canvas start, length) along one axis."""
    length = min(size, crop)
    return (offset, 0, length) if offset >= 0 else (0, -offset, length)


class IrnAugmentedImages(Dataset):
    """Training items ``(float32 (3, crop, crop) normalised, float32 (C,) labels)``, each
    decoded from disk and augmented by a fresh draw from torch's global RNG (which DataLoader
    seeds per worker); batch with :func:`collate_float`."""

    def __init__(self, images: LabelledImages, crop: int) -> None:
        self.images, self.crop = images, int(crop)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images.image(index)
        draw = sample_irn_draw(image.shape[0], image.shape[1], self.crop)
        return apply_irn_draw(image, draw, self.crop), \
            torch.from_numpy(self.images.labels[index].copy())


def collate_float(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """(float image, labels) pairs -> ``{"image": (B,3,S,S), "labels": (B,C)}``."""
    return {"image": torch.stack([s[0] for s in samples]),
            "labels": torch.stack([s[1] for s in samples])}
