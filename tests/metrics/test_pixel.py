"""PxAP against wsolevaluation's MaskEvaluator tests and a per-threshold precision/recall loop."""

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.localize import threshold_grid
from wsol.metrics import PxAPEvaluator


def reference_pxap(cams, masks, thresholds):
    """Plain loop over thresholds high to low ([1, t_{T-1}, ..., t_0]); AP without interpolation."""
    fg = np.concatenate([c[m == 1] for c, m in zip(cams, masks, strict=True)])
    bg = np.concatenate([c[m == 0] for c, m in zip(cams, masks, strict=True)])
    lowest = thresholds[0]
    fg, bg = fg[fg >= lowest], bg[bg >= lowest]  # wsolevaluation's histogram drops values below
    ap, prev_recall = 0.0, 0.0
    for t in [1.0, *thresholds[::-1]]:
        tp, fp = (fg >= t).sum(), (bg >= t).sum()
        recall = tp / fg.size
        if tp + fp > 0:
            ap += tp / (tp + fp) * (recall - prev_recall)
        prev_recall = recall
    return 100 * ap


def mask_with_ignore(rng, shape):
    mask = (rng.random(shape) < 0.3).astype(np.uint8)
    mask[rng.random(shape) < 0.1] = 255
    return mask


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_constant_map_scores_positive_fraction(value):
    rng = np.random.default_rng(0)
    mask = mask_with_ignore(rng, (50, 60))
    evaluator = PxAPEvaluator(threshold_grid(0.01))
    evaluator.accumulate(np.full(mask.shape, value), mask)
    frac = (mask == 1).sum() / ((mask == 1).sum() + (mask == 0).sum())
    assert evaluator.compute()["pxap"] == pytest.approx(100 * frac)


@pytest.mark.parametrize("ignore_score", [0.0, 1.0])
def test_perfect_map_scores_100(ignore_score):
    mask = mask_with_ignore(np.random.default_rng(1), (40, 40))
    cam = mask.astype(np.float64)
    cam[mask == 255] = ignore_score
    evaluator = PxAPEvaluator(threshold_grid(0.01))
    evaluator.accumulate(cam, mask)
    assert evaluator.compute()["pxap"] == 100.0


def test_equals_reference_loop():
    rng = np.random.default_rng(2)
    thresholds = threshold_grid(0.01)
    evaluator = PxAPEvaluator(thresholds)
    cams, masks = [], []
    for _ in range(5):
        mask = mask_with_ignore(rng, (30, 40))
        cam = np.clip(mask * 0.4 + rng.random(mask.shape) * 0.7, 0, 1)
        cam[0, 0] = 1.0
        cam[0, 1] = 0.37  # exactly on a threshold edge
        cams.append(cam)
        masks.append(mask)
        evaluator.accumulate(cam, mask)
    assert evaluator.compute()["pxap"] == pytest.approx(reference_pxap(cams, masks, thresholds))
    curves = evaluator.curves()
    assert curves["recall"][0] == 100.0 and curves["precision"].shape == thresholds.shape
    # one evaluator per image, merged: the same dataset PxAP (per-class tables rely on it)
    merged = PxAPEvaluator(thresholds)
    for cam, mask in zip(cams, masks, strict=True):
        part = PxAPEvaluator(thresholds)
        part.accumulate(cam, mask)
        merged.merge(part)
    assert merged.compute()["pxap"] == pytest.approx(reference_pxap(cams, masks, thresholds))
    assert merged.num_images == len(cams)
    with pytest.raises(ValueError, match="differ in cam_thresholds"):
        merged.merge(PxAPEvaluator(thresholds[:-1]))


def test_errors():
    evaluator = PxAPEvaluator(threshold_grid(0.1))
    evaluator.accumulate(np.zeros((4, 4)), np.full((4, 4), 255, np.uint8))  # only ignore pixels
    with pytest.raises(ValueError, match="no ground-truth foreground"):
        evaluator.compute()
    with pytest.raises(ValueError, match="NaN"):
        evaluator.accumulate(np.full((4, 4), np.nan), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="0, 1 or 255"):
        evaluator.accumulate(np.zeros((4, 4)), np.full((4, 4), 2, np.uint8))
    with pytest.raises(ConfigError, match="ascending"):
        PxAPEvaluator([0.5, 0.1])
