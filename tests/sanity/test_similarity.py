"""Similarity measures against hand-made cases and an independent rank-correlation oracle."""

from __future__ import annotations

import numpy as np

from wsol.sanity.similarity import METRICS, hog_similarity, similarities, ssim_similarity


def _pearson_of_ranks(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho for tie-free data: Pearson correlation of the ranks."""
    ra = np.argsort(np.argsort(a.ravel())).astype(float)
    rb = np.argsort(np.argsort(b.ravel())).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def test_rank_correlations_match_the_oracle_and_treat_signs_as_documented():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16))
    b = a + rng.normal(scale=1.0, size=(16, 16))
    got = similarities(a, b)
    assert np.isclose(got["spearman"], _pearson_of_ranks(a, b))
    assert np.isclose(got["spearman_abs"], _pearson_of_ranks(np.abs(a), np.abs(b)))
    flipped = similarities(a, -a)
    assert np.isclose(flipped["spearman"], -1.0)
    assert np.isclose(flipped["spearman_abs"], 1.0)  # magnitudes agree exactly
    assert np.isclose(flipped["ssim"], 1.0) and np.isclose(flipped["hog"], 1.0)


def test_identical_and_rescaled_maps_are_fully_similar_constant_maps_are_not():
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(size=(32, 32)))
    for metric, value in similarities(a, 3.0 * a).items():
        assert np.isclose(value, 1.0), metric
    zero = similarities(a, np.zeros_like(a))
    assert zero["spearman"] == zero["spearman_abs"] == zero["hog"] == 0.0
    assert zero["ssim"] < 0.05
    assert set(zero) == set(METRICS)
    flat = np.zeros_like(a)  # identical maps are identical, even when they are constant
    assert all(np.isclose(v, 1.0) for v in similarities(flat, flat).values())


def test_structure_measures_see_orientation_and_layout():
    y, x = np.mgrid[0:32, 0:32]
    vertical = (np.sin(x / 2.0) > 0).astype(float)
    horizontal = vertical.T
    assert hog_similarity(vertical, vertical) > 0.99
    assert hog_similarity(vertical, horizontal) < 0.2  # same histogram of values, other edges
    blob = np.exp(-((x - 8) ** 2 + (y - 8) ** 2) / 20.0)
    moved = np.exp(-((x - 24) ** 2 + (y - 24) ** 2) / 20.0)
    assert ssim_similarity(blob, moved) < 0.5 < ssim_similarity(blob, blob + 0.01 * moved)
