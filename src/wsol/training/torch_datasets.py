"""Torch datasets and collates over any dataset format (``LabelledImages``).

Two train paths give the same batches, ``{"image": float32 (B,3,S,S) normalised,
"labels": float32 (B,C)}``: images decoded from disk and augmented one by one (workers), or
images cached in memory as one uint8 tensor and augmented a whole batch at a time in the
collate (the fast path for small, same-sized images such as the demo).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from wsol.datasets.records import LabelledImages
from wsol.errors import ConfigError
from wsol.training.transforms import (
    crop_resize_batch,
    crop_resize_image,
    normalize,
    pil_resize,
    resize_image,
    sample_crops,
    scale_pyramid,
    to_chw_tensor,
)


class CamDataset(Dataset):
    """Images for the CAM stage, normalised: resized to ``input_size`` square (aspect not
    kept), or at their original size when ``input_size`` is None (IRN's protocol).

    ``resample``: how the square image is made: ``opencv`` (area when shrinking, bilinear
    otherwise) or ``pil_bilinear`` (torchvision's Resize on a PIL image, as wsolevaluation).
    ``pyramid_scales``: when given, items also hold ``"pyramid"``, the image rescaled per scale
    with PIL bicubic from its uint8 pixels and normalised after (IRN's make_cam input).

    Items: ``{"image": float32 (3,S,S) or (3,H,W), "image_id": str, "labels": float32 (C,),
    "orig_size": (H, W)[, "pyramid": [float32 (3, h_s, w_s)]]}``; batch them with
    :meth:`collate` (ids and sizes stay lists).
    """

    def __init__(self, voc_dataset: LabelledImages, input_size: int | None,
                 resample: str = "opencv",
                 pyramid_scales: tuple[float, ...] | None = None) -> None:
        if resample not in ("opencv", "pil_bilinear"):
            raise ValueError(f"resample must be opencv or pil_bilinear, got {resample!r}")
        self.voc = voc_dataset
        self.input_size = None if input_size is None else int(input_size)
        self.resample = resample
        self.pyramid_scales = None if pyramid_scales is None else tuple(pyramid_scales)

    def __len__(self) -> int:
        return len(self.voc)

    def __getitem__(self, index: int) -> dict:
        image = self.voc.image(index)
        if self.input_size is None:
            shown = image
        elif self.resample == "pil_bilinear":
            shown = pil_resize(image, (self.input_size, self.input_size), "bilinear")
        else:
            shown = resize_image(image, self.input_size)
        item = {
            "image": normalize(to_chw_tensor(shown)),
            "image_id": self.voc.ids[index],
            "labels": torch.from_numpy(self.voc.labels[index].copy()),
            "orig_size": (int(image.shape[0]), int(image.shape[1])),
        }
        if self.pyramid_scales is not None:
            item["pyramid"] = scale_pyramid(shown, self.pyramid_scales)
        return item

    @staticmethod
    def collate(samples: list[dict]) -> dict:
        """Stack images (B,3,S,S) and labels (B,C); ``image_id`` and ``orig_size`` as lists."""
        if len({tuple(s["image"].shape) for s in samples}) > 1:
            raise ConfigError(
                "cam.image_size=original batches images of different sizes ("
                f"{', '.join(str(s['image_id']) for s in samples[:3])}, ...); set "
                "cam.batch_size=1 (IRN's setting), or cam.image_size=square."
            )
        batch = {
            "image": torch.stack([s["image"] for s in samples]),
            "image_id": [s["image_id"] for s in samples],
            "labels": torch.stack([s["labels"] for s in samples]),
            "orig_size": [tuple(s["orig_size"]) for s in samples],
        }
        if "pyramid" in samples[0]:
            levels = len(samples[0]["pyramid"])
            batch["pyramid"] = [torch.stack([s["pyramid"][i] for s in samples])
                                for i in range(levels)]
        return batch


collate_cam = CamDataset.collate


def collate_uint8(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
    """(uint8 (3,S,S), labels (C,)) pairs -> normalised float batch (runs in the workers)."""
    images = torch.stack([s[0] for s in samples])
    return {"image": normalize(images), "labels": torch.stack([s[1] for s in samples])}


class AugmentedImages(Dataset):
    """Disk path for training: decode, random resized crop + flip, resize to ``input_size``.

    Items are ``(uint8 (3,S,S), float32 (C,))``; batch with :func:`collate_uint8`.
    Randomness comes from torch's global RNG, which DataLoader seeds per worker.
    """

    def __init__(self, voc: LabelledImages, input_size: int, crop_scale=(0.6, 1.0),
                 crop_ratio=(3 / 4, 4 / 3), hflip: bool = True) -> None:
        self.voc, self.input_size = voc, int(input_size)
        self.crop_scale, self.crop_ratio, self.hflip = crop_scale, crop_ratio, hflip

    def __len__(self) -> int:
        return len(self.voc)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        crop = sample_crops(1, self.crop_scale, self.crop_ratio, self.hflip)[0]
        image = crop_resize_image(self.voc.image(index), crop, self.input_size)
        return to_chw_tensor(image), torch.from_numpy(self.voc.labels[index].copy())


class ResizedImages(Dataset):
    """Disk path for validation: the whole image resized to ``input_size``, no augmentation."""

    def __init__(self, voc: LabelledImages, input_size: int) -> None:
        self.voc, self.input_size = voc, int(input_size)

    def __len__(self) -> int:
        return len(self.voc)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = resize_image(self.voc.image(index), self.input_size)
        return to_chw_tensor(image), torch.from_numpy(self.voc.labels[index].copy())


class IndexDataset(Dataset):
    """Yields its indices; the cached collates below turn a list of them into a batch."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return index


class CachedAugmentCollate:
    """Batch of augmented images from a uint8 (N,3,H,W) cache, augmented in one grid_sample.

    Normalising before resampling equals normalising after (both are linear per channel, and
    the border padding repeats edge pixels), and is cheaper on the small source images.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, input_size: int,
                 crop_scale=(0.6, 1.0), crop_ratio=(3 / 4, 4 / 3), hflip: bool = True,
                 seed: int = 0) -> None:
        self.images, self.labels, self.input_size = images, labels, int(input_size)
        self.crop_scale, self.crop_ratio, self.hflip = crop_scale, crop_ratio, hflip
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, indices: list[int]) -> dict:
        index = torch.as_tensor(indices, dtype=torch.long)
        # In a worker, every copy of this object would replay the same generator: use the
        # global RNG there, which DataLoader seeds differently per worker.
        generator = self.generator if get_worker_info() is None else None
        crops = sample_crops(len(indices), self.crop_scale, self.crop_ratio, self.hflip,
                             generator=generator)
        images = crop_resize_batch(normalize(self.images[index]), crops, self.input_size)
        return {"image": images, "labels": self.labels[index]}


class CachedEvalCollate:
    """Batch from a cache of images already resized to the input size: just normalise."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __call__(self, indices: list[int]) -> dict:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {"image": normalize(self.images[index]), "labels": self.labels[index]}


def decode_all(voc: LabelledImages, input_size: int | None = None) -> torch.Tensor | None:
    """All images of ``voc`` as one uint8 (N,3,H,W) tensor (resized to ``input_size`` when
    given); None when they differ in size and no ``input_size`` is given."""
    images = [voc.image(i) for i in range(len(voc))]
    if input_size is not None:
        images = [resize_image(im, input_size) for im in images]
    if len({im.shape for im in images}) > 1:
        return None
    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())
