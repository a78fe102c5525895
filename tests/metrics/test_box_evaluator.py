"""box_iou and BoxEvaluator against wsolevaluation's tests and its per-threshold loop."""

import zlib

import numpy as np
import pytest
from helpers.box_reference import random_case, reference_best_ious

from wsol.errors import ConfigError
from wsol.localize import threshold_grid
from wsol.metrics import BoxEvaluator, box_iou


def test_box_iou_reference_values():
    assert box_iou([[1, 2, 5, 6]], [[3, 1, 4, 5]])[0, 0] == pytest.approx(8 / 27)
    np.testing.assert_array_equal(box_iou(np.zeros((3, 4)), np.zeros((5, 4))), np.ones((3, 5)))
    eye = np.array([[1, 1, 3, 3], [4, 4, 5, 5]])
    np.testing.assert_array_equal(box_iou(eye, eye), np.eye(2))
    assert box_iou(np.zeros((0, 4)), eye).shape == (0, 2)
    with pytest.raises(ValueError, match="x0 <= x1"):
        box_iou([[1, 1, 0, 0]], [[1, 1, 2, 2]])


@pytest.mark.parametrize("multi", [False, True])
def test_evaluator_equals_per_threshold_loop(multi):
    rng = np.random.default_rng(zlib.crc32(str(multi).encode()))
    thresholds = threshold_grid(0.01)
    evaluator = BoxEvaluator(thresholds, multi_contour=multi)
    correct = np.zeros((3, thresholds.size))
    for _ in range(60):
        cam, gt = random_case(rng)
        best = reference_best_ious(cam, gt.tolist(), thresholds, multi)
        np.testing.assert_array_equal(evaluator.best_ious(cam, gt), best)
        evaluator.accumulate(cam, gt)
        for i, delta in enumerate((30, 50, 70)):
            correct[i] += best >= delta / 100
    curves = evaluator.curves()
    for i, delta in enumerate((30, 50, 70)):
        acc = correct[i] * 100.0 / 60
        np.testing.assert_array_equal(curves[f"boxacc@{delta}"], acc)
    result = evaluator.compute()
    maxima = [correct[i].max() * 100.0 / 60 for i in range(3)]
    assert result["maxboxacc@50"] == maxima[1]
    assert result["maxboxacc_mean"] == pytest.approx(np.mean(maxima))
    # only all contours with IoU {30, 50, 70} is MaxBoxAccV2; largest-contour means are not
    assert ("maxboxacc_v2" in result) == multi
    if multi:
        assert result["maxboxacc_v2"] == result["maxboxacc_mean"]
    assert result["best_threshold@70"] == thresholds[int(np.argmax(correct[2]))]
    assert result["num_images"] == 60


def test_perfect_map_and_empty_gt():
    cam = np.zeros((30, 40), np.float32)
    cam[5:15, 10:30] = 1.0
    evaluator = BoxEvaluator(threshold_grid(0.1))
    # predicted [10, 5, 30, 15] (wsolevaluation ends boxes at x + w): IoU 200 / 231 >= 0.7
    evaluator.accumulate(cam, [[10, 5, 29, 14]])  # the tight box
    evaluator.accumulate(cam, np.zeros((0, 4)))  # no GT box: a miss at every threshold
    result = evaluator.compute()
    assert result["maxboxacc@70"] == 50.0
    assert result["best_threshold@70"] == 0.0


def test_merge_and_errors():
    a, b = BoxEvaluator([0.2, 0.5]), BoxEvaluator([0.2, 0.5])
    cam = np.zeros((8, 8))
    cam[2:5, 2:5] = 1
    a.accumulate(cam, [[2, 2, 5, 5]])
    b.accumulate(cam, [[0, 0, 1, 1]])
    a.merge(b)
    assert a.compute()["maxboxacc@50"] == 50.0
    with pytest.raises(ValueError, match="settings"):
        a.merge(BoxEvaluator([0.2]))
    with pytest.raises(ValueError, match="no images"):
        BoxEvaluator([0.5]).compute()
    with pytest.raises(ConfigError, match="eval.cam_thresholds"):
        BoxEvaluator([-0.1, 0.5])
    with pytest.raises(ConfigError, match="eval.iou_thresholds"):
        BoxEvaluator([0.5], iou_thresholds=(0.5, 150))


def test_worker_processes_give_identical_counts():
    rng = np.random.default_rng(7)
    cases = [random_case(rng) for _ in range(6)]
    thresholds = threshold_grid(0.01)
    plain = BoxEvaluator(thresholds)
    with BoxEvaluator(thresholds, workers=1) as pooled:
        for cam, gt in cases:
            plain.accumulate(cam, gt)
            pooled.accumulate(cam, gt)
        np.testing.assert_array_equal(pooled.curves()["boxacc@50"], plain.curves()["boxacc@50"])
        assert pooled.num_images == 6
        with pytest.raises(ValueError, match="NaN"):  # checked before reaching a worker
            pooled.accumulate(np.full((4, 4), np.nan), [[0, 0, 1, 1]])
