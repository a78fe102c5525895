"""Augmentation, the ignoring loss and test-time inference of the segmenter."""

import numpy as np
import torch
import torch.nn.functional as F

from wsol.segment.data import MEAN_RGB, scale_crop_flip
from wsol.segment.infer import predict_probs, same_size_batches
from wsol.segment.module import ignoring_cross_entropy
from wsol.training.transforms import normalize


def test_crop_pads_with_ignore_and_mean_and_flips():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    label = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    img, lab = scale_crop_flip(image, label, 1.0, 4, (0.0, 0.0), flip=False)
    np.testing.assert_array_equal(lab, [[1, 2, 3, 255], [4, 5, 6, 255],
                                        [255] * 4, [255] * 4])
    np.testing.assert_array_equal(img[:2, :3], image)
    assert (img[3, 3] == MEAN_RGB).all()
    _, flipped = scale_crop_flip(image, label, 1.0, 2, (0.99, 0.99), flip=True)
    np.testing.assert_array_equal(flipped, [[3, 2], [6, 5]])  # the right 2x2, mirrored
    _, doubled = scale_crop_flip(image, label, 2.0, 4, (0.0, 0.0), flip=False)
    np.testing.assert_array_equal(doubled[0], [1, 1, 2, 2])  # nearest for labels


def test_loss_ignores_255_and_survives_an_all_ignored_batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.randint(0, 3, (2, 4, 4))
    labels[0, :2] = 255
    keep = labels != 255
    log_p = F.log_softmax(logits, 1).permute(0, 2, 3, 1)[keep]
    expected = -log_p[torch.arange(len(log_p)), labels[keep]].mean()
    torch.testing.assert_close(ignoring_cross_entropy(logits, labels), expected)
    empty = ignoring_cross_entropy(logits, torch.full_like(labels, 255))
    empty.backward()
    assert empty.item() == 0.0 and torch.isfinite(logits.grad).all()


def test_multiscale_flip_probs_average_the_views():
    """A segmenter whose logits are the first image channel (class 1) against zero
    (class 0): its average over a mirror equals the manual average."""
    def segmenter(x):
        ramp = torch.linspace(0, 1, x.shape[-1]).expand_as(x[:, 0])
        return torch.stack([torch.zeros_like(ramp), x[:, 0] + 3 * ramp], 1)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (2, 5, 6, 3), dtype=np.uint8)
    x = normalize(torch.from_numpy(images).permute(0, 3, 1, 2))
    plain = torch.softmax(segmenter(x), 1)
    mirrored = torch.softmax(segmenter(x.flip(-1)), 1).flip(-1)
    ours = predict_probs(segmenter, images, scales=(1.0,), flip=True)
    torch.testing.assert_close(ours, (plain + mirrored) / 2)
    two = predict_probs(segmenter, images, scales=(1.0, 2.0))
    up = F.interpolate(x, size=(10, 12), mode="bilinear", align_corners=False)
    big = F.interpolate(torch.softmax(segmenter(up), 1), size=(5, 6), mode="bilinear",
                        align_corners=False)
    torch.testing.assert_close(two, (plain + big) / 2)


def test_batches_keep_order_and_one_size():
    shapes = [(2, 2, 3), (2, 2, 3), (3, 2, 3), (2, 2, 3), (2, 2, 3), (2, 2, 3)]
    pairs = [(i, np.zeros(s, np.uint8)) for i, s in enumerate(shapes)]
    runs = [keys for keys, _ in same_size_batches(pairs, 2)]
    assert runs == [[0, 1], [2], [3, 4], [5]]
