"""data.augment=irn draws what IRN's training dataset draws (issue 10, parity c).

Our sampler (wsol.training.irn_augment, torch's RNG) against helpers/reference_irn.py (IRN's
random_resize_long / random_lr_flip / random_crop re-derived with Python's ``random``), over
many draws: two-sample Kolmogorov-Smirnov tests on the long side, the resized size, the aspect
actually trained on and the window offsets, and the flip rate. The random resized crop of the
default augmentation fails the same aspect test (the test has the power to see a difference).
Then each drawn augmentation must produce IRN's pixels: the reference replays our draw.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from helpers.reference_irn import train_draw, train_sample
from scipy.stats import ks_2samp

from wsol.training.irn_augment import (
    IrnAugmentedImages,
    apply_irn_draw,
    resized_size,
    sample_irn_draw,
)
from wsol.training.transforms import sample_crops

SIZES = [(375, 500), (500, 375), (281, 500), (500, 334), (150, 200)]  # (H, W), VOC-like
DRAWS = 4000
CROP = 512


def _ours(size, seed):
    """Per draw: long side, resized h, w, x-scale / y-scale, flip, top, left."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(DRAWS):
        d = sample_irn_draw(*size, CROP, generator=g)
        h, w = resized_size(*size, d.long_side)
        rows.append((d.long_side, h, w, (w / size[1]) / (h / size[0]), int(d.flip), d.top,
                     d.left))
    return np.array(rows, np.float64)


def _theirs(size, seed):
    rng = random.Random(seed)
    rows = []
    for _ in range(DRAWS):
        d = train_draw(size, rng, CROP)
        h, w = d["size"]
        ct, _, cl, _, it, _, il, _ = d["box"]
        top = it if h > CROP else -ct  # the signed offset of our IrnDraw
        left = il if w > CROP else -cl
        rows.append((d["long_side"], h, w, (w / size[1]) / (h / size[0]), int(d["flip"]), top,
                     left))
    return np.array(rows, np.float64)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[1]}x{s[0]}")
def test_draws_have_irns_distribution(size):
    ours, theirs = _ours(size, 0), _theirs(size, 1)
    for column, name in enumerate(("long side", "height", "width", "x/y scale")):
        result = ks_2samp(ours[:, column], theirs[:, column])
        assert result.pvalue > 1e-3, (name, result)
    for column, name in ((5, "top"), (6, "left")):
        result = ks_2samp(ours[:, column], theirs[:, column])
        assert result.pvalue > 1e-3, (name, result)
    flips = ours[:, 4].mean(), theirs[:, 4].mean()
    assert abs(flips[0] - flips[1]) < 4 * np.sqrt(0.5 / DRAWS), flips
    # aspect kept: x and y scaled alike, up to rounding to whole pixels
    assert np.abs(ours[:, 3] - 1).max() < 0.01
    assert ours[:, 0].min() == 320 and ours[:, 0].max() == 640


def test_the_random_resized_crop_fails_the_scale_test():
    """Power check: the default augmentation (data.augment=rrc) squashes a crop of w x h image
    fractions to CROP x CROP, so x and y scale differently -- the same KS test rejects it."""
    height, width = SIZES[0]
    crops = sample_crops(DRAWS, (0.5, 1.0), generator=torch.Generator().manual_seed(0))
    x_over_y = (CROP / (crops[:, 2] * width)) / (CROP / (crops[:, 3] * height))
    reference = _theirs((height, width), 1)[:, 3]
    assert ks_2samp(x_over_y.numpy(), reference).pvalue < 1e-6
    assert ks_2samp(_ours((height, width), 0)[:, 3], reference).pvalue > 1e-3


class Replay:
    """A ``random.Random`` stand-in that returns our draw to IRN's calls, in IRN's order:
    randint (long side), getrandbits (flip), randrange (left, then top)."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.ranges = [abs(draw.left), abs(draw.top)]

    def randint(self, lo, hi):
        assert lo <= self.draw.long_side <= hi
        return self.draw.long_side

    def getrandbits(self, bits):
        return int(self.draw.flip)

    def randrange(self, stop):
        value = self.ranges.pop(0)
        assert 0 <= value < stop
        return value


@pytest.mark.parametrize("size", [(375, 500), (500, 281), (700, 900)])
def test_each_draw_gives_irns_pixels(size):
    rng = np.random.default_rng(size[0])
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    g = torch.Generator().manual_seed(size[1])
    for _ in range(4):
        draw = sample_irn_draw(*size, CROP, generator=g)
        want, drawn = train_sample(image, Replay(draw), CROP)
        got = apply_irn_draw(image, draw, CROP)
        assert got.shape == (3, CROP, CROP) and drawn["long_side"] == draw.long_side
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=2e-6)
        assert (got == 0).all(0).any() == (min(drawn["size"]) < CROP)  # zero padding


def test_dataset_items_are_draws_applied():
    class Images:
        ids = ["a"]
        labels = np.array([[0, 1, 0]], np.float32)

        def __len__(self):
            return 1

        def image(self, index):
            return np.random.default_rng(3).integers(0, 256, (375, 500, 3), dtype=np.uint8)

    torch.manual_seed(7)
    item, labels = IrnAugmentedImages(Images(), CROP)[0]
    torch.manual_seed(7)
    want = apply_irn_draw(Images().image(0), sample_irn_draw(375, 500, CROP), CROP)
    assert torch.equal(item, want) and labels.tolist() == [0, 1, 0]


def test_loader_batches_of_16_drop_the_partial_one(voc2012_tree):
    from wsol.training.datamodule import WSOLDataModule

    root, truth = voc2012_tree
    module = WSOLDataModule(root, "voc", train_split="train_aug", val_split=None,
                            input_size=64, batch_size=16, augment="irn")
    batches = list(module.train_dataloader())
    assert len(truth.splits["train_aug"]) == 18 and len(batches) == 1  # 18 // 16, IRN drop_last
    assert batches[0]["image"].shape == (16, 3, 64, 64)
    assert batches[0]["labels"].shape == (16, 20)
