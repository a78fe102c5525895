"""Crops and resampling against hand-worked cases and torch's own ops."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wsol.training.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    crop_resize_batch,
    crop_resize_image,
    normalize,
    resize_image,
    sample_crops,
)


def test_sample_crops_respect_ranges():
    crops = sample_crops(2000, scale=(0.3, 0.9), ratio=(0.5, 2.0),
                         generator=torch.Generator().manual_seed(0))
    cx, cy, w, h, flip = crops.T
    assert crops.shape == (2000, 5)
    assert (w <= 1).all() and (h <= 1).all()
    assert (cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all()
    assert (cy - h / 2 >= -1e-6).all() and (cy + h / 2 <= 1 + 1e-6).all()
    uncapped = (w < 1) & (h < 1)
    area = (w * h)[uncapped]
    assert area.min() >= 0.3 - 1e-5 and area.max() <= 0.9 + 1e-5
    assert 0.4 < flip.mean() < 0.6
    assert (sample_crops(100, hflip=False)[:, 4] == 0).all()


def test_normalize_matches_imagenet_constants():
    x = torch.tensor([[[0]], [[128]], [[255]]], dtype=torch.uint8)
    out = normalize(x)
    expected = [(v / 255 - m) / s for v, m, s in zip((0, 128, 255), IMAGENET_MEAN, IMAGENET_STD,
                                                   strict=True)]
    assert torch.allclose(out.flatten(), torch.tensor(expected), atol=1e-5)


def test_whole_image_crop_is_a_plain_resize_and_flip_mirrors():
    images = torch.rand(2, 3, 16, 12)
    whole = torch.tensor([[0.5, 0.5, 1.0, 1.0, 0.0], [0.5, 0.5, 1.0, 1.0, 1.0]])
    out = crop_resize_batch(images, whole, 24)
    ref = F.interpolate(images, size=(24, 24), mode="bilinear", align_corners=False)
    assert torch.allclose(out[0], ref[0], atol=1e-5)
    assert torch.allclose(out[1], ref[1].flip(-1), atol=1e-5)


def test_pixel_aligned_crop_copies_pixels():
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    # the top-left quarter (pixels 0..3) and the bottom-right quarter, same output size
    crops = torch.tensor([[0.25, 0.25, 0.5, 0.5, 0.0], [0.75, 0.75, 0.5, 0.5, 0.0]])
    out = crop_resize_batch(images, crops, 4)
    assert torch.allclose(out[0], images[0, :, :4, :4])
    assert torch.allclose(out[1], images[1, :, 4:, 4:])
    image = images[0].permute(1, 2, 0).numpy().astype(np.uint8)
    assert np.array_equal(crop_resize_image(image, crops[0], 4), image[:4, :4])
    flipped = crop_resize_image(image, torch.tensor([0.75, 0.75, 0.5, 0.5, 1.0]), 4)
    assert np.array_equal(flipped, image[4:, 4:][:, ::-1])


def test_resize_image_shapes():
    image = np.zeros((30, 50, 3), np.uint8)
    assert resize_image(image, 16).shape == (16, 16, 3)
    assert resize_image(image, 64).shape == (64, 64, 3)
