"""Thresholds chosen on one split and scored on another, against per-threshold loops."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.box_reference import random_case, reference_best_ious

from wsol.localize import threshold_grid
from wsol.metrics import BoxEvaluator, PxAPEvaluator
from wsol.metrics.selection import boxacc_at, chosen_thresholds, pixel_iou_curve


def _split(rng, n):
    return [random_case(rng) for _ in range(n)]


def _boxacc_loop(cases, grid, delta, multi_contour):
    """BoxAcc (%) per threshold: the share of images whose best IoU reaches delta."""
    hits = np.zeros(grid.size)
    for cam, boxes in cases:
        hits += reference_best_ious(cam, boxes, grid, multi_contour) >= delta / 100
    return 100.0 * hits / len(cases)


@pytest.mark.parametrize("multi_contour", [False, True])
def test_threshold_chosen_on_one_split_scores_the_other(multi_contour):
    rng = np.random.default_rng(11)
    grid = threshold_grid(0.05)
    val, test = _split(rng, 12), _split(rng, 15)
    evaluators = []
    for cases in (val, test):
        ev = BoxEvaluator(grid, multi_contour=multi_contour)
        for cam, boxes in cases:
            ev.accumulate(cam, boxes)
        evaluators.append(ev)
    chosen = chosen_thresholds(evaluators[0].curves(), grid)
    scored = boxacc_at(evaluators[1].curves(), grid, chosen)
    assert set(chosen) == set(scored) == {"30", "50", "70"}
    for delta in (30, 50, 70):
        val_curve = _boxacc_loop(val, grid, delta, multi_contour)
        tau = grid[int(np.argmax(val_curve))]  # the first threshold reaching val's maximum
        assert chosen[str(delta)] == pytest.approx(tau)
        test_curve = _boxacc_loop(test, grid, delta, multi_contour)
        assert scored[str(delta)] == pytest.approx(test_curve[int(np.argmax(val_curve))])
        assert scored[str(delta)] <= test_curve.max()  # never better than test's own maximum


def test_pixel_iou_from_precision_and_recall_counts_pixels():
    rng = np.random.default_rng(2)
    grid = threshold_grid(0.1)
    px = PxAPEvaluator(grid)
    maps, masks = [], []
    for _ in range(5):
        cam = rng.random((9, 13)).astype(np.float32)
        mask = (rng.random((9, 13)) < 0.4).astype(np.uint8)
        mask[rng.random((9, 13)) < 0.1] = 255
        px.accumulate(cam, mask)
        maps.append(cam)
        masks.append(mask)
    curves = px.curves()
    iou = pixel_iou_curve(curves["precision"], curves["recall"])
    for i, tau in enumerate(grid):
        tp = sum(int(((m >= tau) & (g == 1)).sum()) for m, g in zip(maps, masks, strict=True))
        fp = sum(int(((m >= tau) & (g == 0)).sum()) for m, g in zip(maps, masks, strict=True))
        fn = sum(int(((m < tau) & (g == 1)).sum()) for m, g in zip(maps, masks, strict=True))
        assert iou[i] == pytest.approx(100.0 * tp / (tp + fp + fn))
