"""Merged partial evaluators equal one evaluator fed every image (what the workers rely on)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsol.metrics import CorLoc, LocAccuracy, PxAPEvaluator, SegEvaluator
from wsol.metrics.merge import ExactSum


def test_exact_sum_is_the_correctly_rounded_sum_whatever_the_order():
    rng = np.random.default_rng(0)
    terms = (rng.random(400) * 10.0 ** rng.integers(-4, 4, 400)).tolist() + [1e16, 1.0, -1e16]
    want = math.fsum(terms)
    naive = {sum(terms[::-1]), sum(sorted(terms))}
    assert len(naive) > 1  # plain float sums depend on the order: the test can fail
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(terms))
        cut = len(terms) // 3 + seed
        left, right = ExactSum(), ExactSum()
        for k, i in enumerate(order):
            (left if k < cut else right).add(terms[i])
        left.merge(right)
        assert left.value == want


def _images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = rng.integers(8, 20, 2)
        k = int(rng.integers(1, 4))
        ids = np.sort(rng.choice(5, k, replace=False))
        cams = rng.random((k, h, w)).astype(np.float32)
        gt = rng.choice([0, *(ids + 1).tolist(), 255], (h, w)).astype(np.uint8)
        yield cams, ids, gt


def _fed(make, feed, images):
    evaluator = make()
    for image in images:
        feed(evaluator, *image)
    return evaluator


SEG = (lambda: SegEvaluator(6, [0.1, 0.3, 0.5]),
       lambda e, cams, ids, gt: e.accumulate(cams, ids, gt))
PXAP = (lambda: PxAPEvaluator(np.arange(0, 1, 0.05)),
        lambda e, cams, ids, gt: e.accumulate(cams[0], (gt == ids[0] + 1).astype(np.uint8)))


def _boxes(cams, ids):
    """The first class's box is its GT box (a hit), the others half of it."""
    h, w = cams.shape[1:]
    return {int(c): np.array([1, 1, w - 2, h - 2] if j == 0 else [0, 0, w // 2, h // 2])
            for j, c in enumerate(ids)}


def _gt(cams, ids):
    return np.array([[1, 1, cams.shape[2] - 2, cams.shape[1] - 2]] * len(ids)), ids


CORLOC = (lambda: CorLoc(5),
          lambda e, cams, ids, gt: e.accumulate(_boxes(cams, ids), *_gt(cams, ids)))
LOCACC = (lambda: LocAccuracy((1, 2)),
          lambda e, cams, ids, gt: e.accumulate(ids[::-1], np.stack(list(_boxes(cams, ids)
                                                                         .values())),
                                                *_gt(cams, ids), _boxes(cams, ids)))


@pytest.mark.parametrize("make, feed", [SEG, PXAP, CORLOC, LOCACC],
                         ids=["seg", "pxap", "corloc", "locacc"])
def test_merging_parts_equals_one_pass(make, feed):
    images = list(_images(30))
    whole = _fed(make, feed, images)
    merged = _fed(make, feed, images[:7])
    for part in (images[7:8], images[8:20], images[20:]):
        merged.merge(_fed(make, feed, part))
    got, want = merged.compute(), whole.compute()
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert any(np.any(np.asarray(v) > 0) for v in want.values())  # not a vacuous zero


def test_merging_evaluators_with_other_settings_is_refused():
    with pytest.raises(ValueError, match="thresholds"):
        SegEvaluator(6, [0.1]).merge(SegEvaluator(6, [0.2]))
    with pytest.raises(ValueError, match="cam_thresholds"):
        PxAPEvaluator([0.1, 0.2]).merge(PxAPEvaluator([0.1]))
    with pytest.raises(ValueError, match="num_classes"):
        CorLoc(5).merge(CorLoc(6))
