"""Training pairs for the segmenter: images and their pseudo-labels, augmented as DeepLab does.

Each item is the image rescaled by a random factor (bilinear; labels nearest), padded to the
crop size (image with the ImageNet mean, labels with 255 = ignored), cropped at a random
place and mirrored at random: ``(float32 (3, S, S) ImageNet-normalised, int64 (S, S))``.
Randomness comes from torch's global RNG, which Lightning seeds (per loader worker too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from wsol.datasets.records import LabelledImages
from wsol.errors import DataError
from wsol.localize.seeds import UNLABELLED
from wsol.training.transforms import IMAGENET_MEAN, normalize, to_chw_tensor

MEAN_RGB = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)  # 0 after normalisation


def scale_crop_flip(image: np.ndarray, label: np.ndarray, scale: float, crop: int,
                    corner: tuple[float, float], flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """One augmentation, its random draws given: image uint8 (H, W, 3), label uint8 (H, W),
    ``corner`` in [0, 1)^2 picks the crop's place among those that fit. Returns the
    (crop, crop, 3) image and (crop, crop) label."""
    h, w = label.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != (w, h):
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    h, w = label.shape
    ph, pw = max(crop - h, 0), max(crop - w, 0)
    if ph or pw:
        image = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=MEAN_RGB)
        label = cv2.copyMakeBorder(label, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=UNLABELLED)
        h, w = label.shape
    y = int(corner[0] * (h - crop + 1))
    x = int(corner[1] * (w - crop + 1))
    image, label = image[y:y + crop, x:x + crop], label[y:y + crop, x:x + crop]
    if flip:
        image, label = image[:, ::-1], label[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


class PseudoLabelled(Dataset):
    """The images ``ids`` of ``images`` with labels from ``read_label(id)``, augmented."""

    def __init__(self, images: LabelledImages, ids: Sequence[str],
                 read_label: Callable[[str], np.ndarray], crop_size: int,
                 scale_range: Sequence[float] = (0.5, 1.5), hflip: bool = True) -> None:
        self.images, self.ids, self.read_label = images, list(ids), read_label
        self.index_of = {image_id: i for i, image_id in enumerate(images.ids)}
        self.crop, self.scale_range, self.hflip = int(crop_size), tuple(scale_range), hflip

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_id = self.ids[i]
        image = self.images.image(self.index_of[image_id])
        label = self.read_label(image_id)
        if label.shape != image.shape[:2]:
            raise DataError(f"pseudo-label of {image_id} is {label.shape[1]}x{label.shape[0]} "
                            f"but its image is {image.shape[1]}x{image.shape[0]}; make the "
                            "pseudo-labels again (stages=[pseudo,...]).")
        u = torch.rand(4).tolist()
        low, high = self.scale_range
        image, label = scale_crop_flip(image, label, low + (high - low) * u[0], self.crop,
                                       (u[1], u[2]), self.hflip and u[3] < 0.5)
        return normalize(to_chw_tensor(image)), torch.from_numpy(label).long()
