"""The Lightning data module for classifier training, and the CAM-stage dataset.

Train batches: ``{"image": float32 (B,3,S,S) ImageNet-normalised, "labels": float32 (B,C)}``
with random resized crops and horizontal flips (``augment="rrc"``) or IRN's augmentation
(``augment="irn"``, see irn_augment.py); val batches the same without augmentation.
Small same-sized datasets (the demo) are decoded once into memory and augmented a batch at a
time in torch, so loading stays far ahead of a CPU training step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from wsol.datasets.classes import resolve_class_names
from wsol.datasets.records import LabelledImages
from wsol.datasets.voc import VOCDataset
from wsol.errors import ConfigError
from wsol.training.irn_augment import IrnAugmentedImages, collate_float
from wsol.training.torch_datasets import (
    AugmentedImages,
    CachedAugmentCollate,
    CachedEvalCollate,
    CamDataset,
    IndexDataset,
    ResizedImages,
    collate_uint8,
    decode_all,
)

__all__ = ["AUGMENTS", "WSOLDataModule", "CamDataset"]

AUGMENTS = ("rrc", "irn")

log = logging.getLogger(__name__)


class WSOLDataModule(pl.LightningDataModule):
    """Image-level-label batches from a VOC-format tree at ``root``.

    ``cache_images``: True / False / "auto" (cache when all train images share one size per
    their XML and the split fits in ``cache_max_bytes``). Cached batches are augmented whole
    in the collate; on a small CPU box keep ``num_workers=0`` there, since worker processes
    only compete with the training step's threads.
    ``augment``: ``rrc`` (random resized crop squashed to ``input_size`` square) or ``irn``
    (IRN's random long side, aspect kept, random ``input_size`` window padded with zeros;
    always read from disk, per image). ``crop_scale`` is the area fraction range of the
    random resized crop (from 0.6 up, a crop rarely cuts away a whole small object and so its
    label), ``crop_ratio`` its aspect range.
    ``cam_split`` (default ``val_split``) feeds :meth:`predict_dataloader`.
    ``open_split(split)`` opens a split of another format (COCO, ImageNet); default VOC.
    """

    def __init__(self, root: str | Path, class_names: str | Sequence[str] = "voc",
                 train_split: str = "train", val_split: str | None = "val",
                 image_set: str = "Segmentation", input_size: int = 224, batch_size: int = 32,
                 num_workers: int = 0, cache_images: bool | str = "auto",
                 crop_scale: Sequence[float] = (0.6, 1.0),
                 crop_ratio: Sequence[float] = (3 / 4, 4 / 3), hflip: bool = True,
                 seed: int = 0, cam_split: str | None = None,
                 cache_max_bytes: int = 2 * 1024**3, pin_memory: bool = False,
                 open_split: Callable[[str], LabelledImages] | None = None,
                 augment: str = "rrc") -> None:
        super().__init__()
        if augment not in AUGMENTS:
            raise ConfigError(f"data.augment={augment!r}: choose one of {AUGMENTS}.")
        self.augment = augment
        if cache_images not in (True, False, "auto"):
            raise ConfigError(f"data.cache_images={cache_images!r}: use true, false or auto.")
        lo, hi = (float(v) for v in crop_scale)
        if not 0.0 < lo <= hi <= 1.0:
            raise ConfigError(f"data.crop_scale={list(crop_scale)}: need 0 < min <= max <= 1.")
        if int(input_size) < 8 or int(batch_size) < 1:
            raise ConfigError(f"data.input_size={input_size} / data.batch_size={batch_size}: "
                              f"need input_size >= 8 and batch_size >= 1.")
        self.root = Path(root)
        self.class_names = resolve_class_names(class_names)
        self.train_split, self.val_split = train_split, val_split
        self.cam_split = cam_split or val_split or train_split
        self.image_set = image_set
        self.input_size, self.batch_size = int(input_size), int(batch_size)
        self.num_workers = int(num_workers)
        self.cache_images, self.cache_max_bytes = cache_images, int(cache_max_bytes)
        self.crop_scale = (lo, hi)
        self.crop_ratio = tuple(float(v) for v in crop_ratio)
        self.hflip, self.seed, self.pin_memory = bool(hflip), int(seed), bool(pin_memory)
        self._train_loader_args: tuple | None = None
        self._val_loader_args: tuple | None = None
        self._open_split = open_split

    def dataset(self, split: str, require_masks: bool = False) -> LabelledImages:
        """The split ``split``: through ``open_split`` when given (any format), else VOC."""
        if self._open_split is not None:
            return self._open_split(split)
        return VOCDataset(self.root, split, self.class_names, image_set=self.image_set,
                          require_masks=require_masks)

    def cam_dataset(self, split: str | None = None) -> CamDataset:
        """CAM-stage dataset of ``split`` (default ``cam_split``); batch with CamDataset.collate."""
        return CamDataset(self.dataset(split or self.cam_split), self.input_size)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self._train_loader_args is None:
            self._train_loader_args = self._train_source(self.dataset(self.train_split))
        if stage in (None, "fit", "validate") and self.val_split and self._val_loader_args is None:
            self._val_loader_args = self._val_source(self.dataset(self.val_split))

    def _use_cache(self, voc: LabelledImages) -> bool:
        if self.cache_images is False:
            return False
        sizes = {ann.size for ann in voc.annotations}
        uniform = len(sizes) == 1 and (0, 0) not in sizes
        width, height = next(iter(sizes))
        fits = len(voc) * 3 * width * height <= self.cache_max_bytes
        if uniform and fits:
            return True
        if self.cache_images is True:
            log.warning("data.cache_images=true but split %r %s; reading from disk instead",
                        voc.split, "has images of several sizes" if not uniform
                        else f"needs more than cache_max_bytes={self.cache_max_bytes}")
        return False

    def _train_source(self, voc: LabelledImages) -> tuple:
        if self.augment == "irn":
            return IrnAugmentedImages(voc, self.input_size), collate_float, self.num_workers
        images = decode_all(voc) if self._use_cache(voc) else None
        if images is not None:
            log.info("cached %d train images in memory (%.0f MB)", len(voc), images.numel() / 1e6)
            collate = CachedAugmentCollate(images, torch.from_numpy(voc.labels), self.input_size,
                                           self.crop_scale, self.crop_ratio, self.hflip, self.seed)
            return IndexDataset(len(voc)), collate, self.num_workers
        dataset = AugmentedImages(voc, self.input_size, self.crop_scale, self.crop_ratio,
                                  self.hflip)
        return dataset, collate_uint8, self.num_workers

    def _val_source(self, voc: LabelledImages) -> tuple:
        if self._use_cache(voc):
            images = decode_all(voc, self.input_size)  # resized once, as CamDataset does
            collate = CachedEvalCollate(images, torch.from_numpy(voc.labels))
            return IndexDataset(len(voc)), collate, self.num_workers
        return ResizedImages(voc, self.input_size), collate_uint8, self.num_workers

    def _loader(self, args: tuple, shuffle: bool, drop_last: bool) -> DataLoader:
        dataset, collate, workers = args
        generator = torch.Generator().manual_seed(self.seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          drop_last=drop_last and len(dataset) > self.batch_size,
                          num_workers=workers, collate_fn=collate, generator=generator,
                          persistent_workers=workers > 0, pin_memory=self.pin_memory)

    def train_dataloader(self) -> DataLoader:
        if self._train_loader_args is None:
            self.setup("fit")
        return self._loader(self._train_loader_args, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_split:
            return []
        if self._val_loader_args is None:
            self.setup("validate")
        return self._loader(self._val_loader_args, shuffle=False, drop_last=False)

    def predict_dataloader(self) -> DataLoader:
        """CAM-stage batches of ``cam_split`` (see :class:`CamDataset`), in split-file order."""
        return DataLoader(self.cam_dataset(), batch_size=self.batch_size, shuffle=False,
                          num_workers=self.num_workers, collate_fn=CamDataset.collate,
                          persistent_workers=False, pin_memory=self.pin_memory)
