"""SegEvaluator against a per-threshold IRN loop (np.pad + argmax + confusion)."""

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.metrics import LabelEvaluator, SegEvaluator


def irn_confusion(cams, class_ids, gt, tau, num_classes):
    """IRN's eval_cam for one image and one threshold, then a chainercv-style confusion matrix."""
    if len(class_ids):
        padded = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=tau)
        keys = np.pad(np.asarray(class_ids) + 1, (1, 0), mode="constant")
        pred = keys[np.argmax(padded, axis=0)]
    else:
        pred = np.zeros(gt.shape, dtype=np.int64)
    valid = gt != 255
    pairs = gt[valid].astype(np.int64) * num_classes + pred[valid]
    return np.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def nanmean_iou(conf):
    tp = np.diag(conf).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (conf.sum(0) + conf.sum(1) - tp)
    return 100 * np.nanmean(iou)


def random_image(rng, num_classes):
    h, w = (int(v) for v in rng.integers(5, 30, 2))
    k = int(rng.integers(0, 4))
    ids = np.sort(rng.choice(num_classes - 1, size=k, replace=False))
    cams = rng.random((k, h, w)).astype(np.float32)
    cams[rng.random((k, h, w)) < 0.3] = 0.25  # exact ties with a threshold and between classes
    gt = np.where(rng.random((h, w)) < 0.5, 0, rng.choice(ids + 1) if k else 0).astype(np.uint8)
    gt[rng.random((h, w)) < 0.1] = 255
    return cams, ids, gt


@pytest.mark.parametrize("num_classes", [21, 81])
def test_equals_per_threshold_loop(num_classes):
    rng = np.random.default_rng(num_classes)
    thresholds = np.array([0.3, 0.0, 0.25, 0.15, 1.0, 0.25, 0.5, 0.05])  # unsorted, repeated
    evaluator = SegEvaluator(num_classes, thresholds)
    confs = np.zeros((thresholds.size, num_classes, num_classes), dtype=np.int64)
    for _ in range(40):
        cams, ids, gt = random_image(rng, num_classes)
        evaluator.accumulate(cams, ids, gt)
        for j, tau in enumerate(thresholds):
            confs[j] += irn_confusion(cams, ids, gt, tau, num_classes)
    np.testing.assert_array_equal(evaluator._confusions(), confs)
    want = np.array([nanmean_iou(c) for c in confs])
    result = evaluator.compute()
    np.testing.assert_allclose(result["miou_per_threshold"], want, rtol=1e-12)
    best = int(np.argmax(want))
    assert result["best_threshold"] == thresholds[best]
    assert result["miou_best"] == pytest.approx(want[best])
    np.testing.assert_array_equal(result["confusion"], confs[best])
    assert evaluator.miou_at(0.15) == pytest.approx(want[3])
    tp = np.diag(confs[3]).astype(float)  # per-class IoU at one threshold, from the loop's matrix
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = 100 * tp / (confs[3].sum(0) + confs[3].sum(1) - tp)
    np.testing.assert_allclose(evaluator.iou_at(0.15), per_class, rtol=1e-12)
    with pytest.raises(ConfigError, match="not in the evaluated grid"):
        evaluator.iou_at(0.2)


def test_ground_truth_as_maps_scores_100():
    rng = np.random.default_rng(3)
    evaluator = SegEvaluator(21, np.arange(0, 1, 0.05))
    for _ in range(5):
        gt = rng.integers(0, 4, (20, 30)).astype(np.uint8) * 5  # classes 0, 5, 10, 15
        gt[:2] = 255
        ids = np.array([4, 9, 14])
        cams = np.stack([(gt == i + 1).astype(np.float32) for i in ids])
        evaluator.accumulate(cams, ids, gt)
    result = evaluator.compute()
    np.testing.assert_allclose(result["miou_per_threshold"], 100.0)
    assert result["miou_best"] == 100.0 and result["best_threshold"] == 0.0
    present = [0, 5, 10, 15]
    np.testing.assert_allclose(result["iou"][present], 100.0)
    assert np.isnan(result["iou"][1])  # never in GT nor predicted: left out of the mean


def test_only_ignore_pixels_and_no_classes():
    evaluator = SegEvaluator(21, [0.1, 0.2])
    evaluator.accumulate(np.zeros((1, 4, 4), np.float32), [2], np.full((4, 4), 255, np.uint8))
    assert np.isnan(evaluator.compute()["miou_best"])
    evaluator.accumulate(np.zeros((0, 4, 4), np.float32), [], np.zeros((4, 4), np.uint8))
    assert evaluator.compute()["miou_best"] == 100.0  # background everywhere, correctly


def test_errors():
    with pytest.raises(ConfigError, match="eval.bg_thresholds"):
        SegEvaluator(21, [0.1, 1.1])
    evaluator = SegEvaluator(21, [0.1])
    gt = np.zeros((4, 4), np.uint8)
    # a NaN plane scores as zeros (tests/reliability/test_bad_maps_and_thresholds.py)
    SegEvaluator(21, [0.1]).accumulate(np.full((1, 4, 4), np.nan, np.float32), [0], gt)
    with pytest.raises(ValueError, match="outside"):
        evaluator.accumulate(np.zeros((1, 4, 4), np.float32), [0], gt + 30)
    with pytest.raises(ValueError, match="class_ids"):
        evaluator.accumulate(np.zeros((1, 4, 4), np.float32), [20], gt)
    with pytest.raises(ConfigError, match="not in the evaluated grid"):
        evaluator.miou_at(0.3)


def test_label_evaluator_with_unlabelled_pixels():
    gt = np.array([[0, 0, 1, 1], [0, 255, 1, 1]], np.uint8)
    pred = np.array([[0, 1, 1, 255], [0, 0, 1, 1]], np.uint8)
    evaluator = LabelEvaluator(21)
    evaluator.accumulate(pred, gt)
    result = evaluator.compute()
    # scored pixels: gt0->0, gt0->1, gt1->1, gt0->0, gt1->1, gt1->1
    assert result["iou"][0] == pytest.approx(100 * 2 / 3)
    assert result["iou"][1] == pytest.approx(100 * 3 / 4)
    assert result["miou"] == pytest.approx(100 * (2 / 3 + 3 / 4) / 2)
    assert result["coverage"] == pytest.approx(100 * 6 / 7)
