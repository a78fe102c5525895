"""Adebayo et al.'s data randomisation: a split whose image-level labels are permuted.

Whole label rows move between images (seeded), so the class frequencies and co-occurrences stay
those of the data while any link between an image and its labels is gone. A classifier that
fits these labels can only memorise; its maps should share nothing with the real model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wsol.datasets.records import ImageRecord, LabelledImages


class PermutedLabels:
    """``images`` with ``labels`` (N, C) permuted across images by a seeded permutation; every
    other attribute (ids, images, boxes, masks) is the split's own."""

    def __init__(self, images: LabelledImages, seed: int) -> None:
        self._images = images
        self.permutation = np.random.default_rng(seed).permutation(len(images))
        self.labels = images.labels[self.permutation].copy()

    def __len__(self) -> int:
        return len(self._images)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._images, name)

    def __getitem__(self, index: int) -> ImageRecord:
        record = self._images[index]
        record.labels = self.labels[index].copy()
        return record
