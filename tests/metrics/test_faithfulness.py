"""Faithfulness scores against straightforward per-image loops, and against known evidence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from wsol.metrics.faithfulness import FaithSettings, faithfulness_scores, gaussian_blur

MEAN = (0.485, 0.456, 0.406)


@pytest.fixture(scope="module")
def scorer():
    """A small random CNN with sigmoid outputs: images (B, 3, H, W) in [0, 1] -> (B, 4)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                        nn.Flatten(), nn.Linear(24, 4)).double().eval()

    def score(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(4 * net(images.double()))

    return score


def _loop_scores(score, images: np.ndarray, maps: np.ndarray, classes: list[int],
                 steps: int, sigma: float) -> dict[str, np.ndarray]:
    """One pair at a time, one pixel at a time, one forward per step: the definitions."""
    out = {k: [] for k in ("deletion_auc", "insertion_auc", "drop", "increase")}

    def prob(image: np.ndarray, c: int) -> float:
        return float(score(torch.from_numpy(image[None]))[0, c])

    for image, cam, c in zip(images, maps, classes, strict=True):
        _, h, w = image.shape
        order = sorted(range(h * w), key=lambda j: (-cam.flat[j], j))
        blurred = gaussian_filter(image, sigma=(0, sigma, sigma), mode="mirror", truncate=3.0)
        for name, base, target in (("deletion_auc", image, None), ("insertion_auc", blurred,
                                                                    image)):
            curve = []
            for i in range(steps + 1):
                mixed = base.copy()
                for j in order[: round(i * h * w / steps)]:
                    y, x = divmod(j, w)
                    mixed[:, y, x] = MEAN if target is None else target[:, y, x]
                curve.append(prob(mixed, c))
            out[name].append(np.trapezoid(curve, np.linspace(0, 1, steps + 1)))
        full, masked = prob(image, c), prob(image * (cam / cam.max()), c)
        out["drop"].append(max(0.0, full - masked) / full)
        out["increase"].append(float(masked > full))
    return {k: np.array(v) for k, v in out.items()}


def test_batched_scores_equal_the_per_image_loops(scorer):
    rng = np.random.default_rng(1)
    images = rng.random((5, 3, 8, 8))
    maps = rng.random((5, 8, 8))
    maps[2] = np.round(maps[2] * 3)  # many ties: broken by raster order
    classes = [0, 3, 1, 2, 0]
    expected = _loop_scores(scorer, images, maps, classes, steps=6, sigma=2.0)
    for batch_size in (1, 7, 100):
        got = faithfulness_scores(scorer, torch.from_numpy(images), torch.from_numpy(maps),
                                  torch.tensor(classes), FaithSettings(6, 2.0, MEAN, batch_size))
        for key, values in expected.items():
            np.testing.assert_allclose(got[key].numpy(), values, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{key} at batch_size {batch_size}")


def test_blur_equals_scipys_mirror_gaussian():
    image = torch.rand(2, 3, 16, 12, dtype=torch.float64)
    expected = gaussian_filter(image.numpy(), sigma=(0, 0, 2.0, 2.0), mode="mirror",
                               truncate=3.0)
    np.testing.assert_allclose(gaussian_blur(image, 2.0).numpy(), expected, atol=1e-12)


def test_a_map_on_the_evidence_deletes_faster_than_its_opposite():
    """The score is the mean brightness of the top-left quarter: a map of that quarter must
    beat (lower deletion, higher insertion) the map of everything else."""
    def score(images: torch.Tensor) -> torch.Tensor:
        evidence = images[:, :, :8, :8].mean(dim=(1, 2, 3))
        return torch.sigmoid(20 * (evidence - 0.5))[:, None].expand(-1, 2)

    images = torch.full((1, 3, 16, 16), 0.9, dtype=torch.float64)
    images[..., 8:, :] = torch.rand(1, 3, 8, 16, dtype=torch.float64)
    right = torch.zeros(1, 16, 16, dtype=torch.float64)
    right[:, :8, :8] = 1.0
    settings = FaithSettings(16, 1.0, (0.0, 0.0, 0.0), 8)
    good = faithfulness_scores(score, images, right, torch.tensor([0]), settings)
    bad = faithfulness_scores(score, images, 1 - right, torch.tensor([0]), settings)
    assert good["deletion_auc"] < bad["deletion_auc"] - 0.3
    assert good["insertion_auc"] > bad["insertion_auc"]
    assert good["drop"] < 1e-9 < bad["drop"]  # masking by the right map keeps the evidence
