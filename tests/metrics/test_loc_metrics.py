"""Top-k / GT-known localization, CorLoc, pointing game and the centre baseline, by hand."""

import numpy as np
import pytest

from wsol.localize import boxes_from_cam, threshold_grid
from wsol.metrics import (
    BoxEvaluator,
    CorLoc,
    LocAccuracy,
    PointingGame,
    center_baseline_map,
    loc_correct,
    pointing_hit,
)

GT = np.array([[10, 10, 29, 29], [50, 50, 59, 59]])
LABELS = np.array([3, 7])


def test_loc_correct_needs_class_and_iou():
    assert loc_correct([10, 10, 29, 29], 3, GT, LABELS)
    assert not loc_correct([10, 10, 29, 29], 7, GT, LABELS)  # right box, wrong class
    assert not loc_correct([10, 10, 29, 29], 5, GT, LABELS)  # class absent
    assert loc_correct([10, 10, 29, 23], 3, GT, LABELS)  # IoU 0.7
    assert loc_correct([10, 10, 19, 29], 3, GT, LABELS)  # IoU exactly 0.5 counts (>=)
    assert not loc_correct([10, 10, 18, 29], 3, GT, LABELS)  # IoU 0.45


def test_topk_and_gt_known():
    acc = LocAccuracy(topk=(1, 5))
    good, bad = [10, 10, 29, 29], [0, 0, 3, 3]
    # image 1: top-1 correct
    acc.accumulate([3, 1, 2, 4, 5], [good, bad, bad, bad, bad], GT, LABELS, {3: good, 7: bad})
    # image 2: right class third with a good box; top-1 class wrong
    acc.accumulate([1, 2, 3, 4, 5], [bad, bad, good, bad, bad], GT, LABELS, {3: good})
    # image 3: right class first but bad box
    acc.accumulate([3, 1, 2, 4, 5], [bad] * 5, GT, LABELS)
    out = acc.compute()
    assert out["top1_cls"] == pytest.approx(200 / 3) and out["top5_cls"] == 100.0
    assert out["top1_loc"] == pytest.approx(100 / 3) and out["top5_loc"] == pytest.approx(200 / 3)
    assert out["top1_loc_err"] == pytest.approx(200 / 3)
    assert out["gt_known_loc"] == pytest.approx(200 / 3)  # 2 of 3 (image, class) trials


def test_corloc_strictly_above_half():
    corloc = CorLoc(num_classes=10)
    corloc.accumulate({3: [10, 10, 29, 29], 7: [50, 50, 59, 54]}, GT, LABELS)  # 7: IoU 0.5 exactly
    corloc.accumulate({}, GT[:1], LABELS[:1])  # class 3 present, no box: a miss
    out = corloc.compute()
    assert out["corloc_per_class"][3] == 50.0 and out["corloc_per_class"][7] == 0.0
    assert out["corloc"] == 25.0 and np.isnan(out["corloc_per_class"][0])


def test_pointing_game_tolerance_is_euclidean():
    region = np.zeros((60, 60), bool)
    region[30:, :] = True
    for (y, x), hit in {(15, 5): True, (14, 5): False, (29, 59): True}.items():
        cam = np.zeros((60, 60))
        cam[y, x] = 1
        assert pointing_hit(cam, region) is hit
    cam = np.zeros((60, 60))
    cam[19, 20] = 1  # 11 rows above the region and 11 columns off a box corner: 15.6 px
    assert not pointing_hit(cam, np.pad(np.ones((10, 10), bool), ((30, 20), (31, 19))))
    game = PointingGame(num_classes=3)
    game.accumulate(cam, gt_boxes=[[20, 25, 30, 40]], class_id=1)  # 6 px below: hit
    game.accumulate(cam, gt_boxes=[[50, 50, 59, 59]], class_id=2)
    out = game.compute()
    assert out["pointing_acc"] == 50.0 and out["pointing_acc_mean_class"] == 50.0
    with pytest.raises(ValueError, match="empty"):
        game.accumulate(cam, gt_mask=np.zeros((60, 60), bool), class_id=0)
    mask = np.full((60, 60), 255, np.uint8)  # 255 (ignore) is not object
    mask[40:] = 1  # 21 px below the maximum
    assert not PointingGame().accumulate(cam, gt_mask=mask)


def test_center_baseline():
    m = center_baseline_map(224, 224)
    assert m.shape == (224, 224) and m.min() == 0.0 and m.max() <= 1.0
    assert np.unravel_index(m.argmax(), m.shape) in {(111, 111), (111, 112), (112, 111), (112, 112)}
    np.testing.assert_allclose(m, m.T)  # isotropic on a square image
    box = boxes_from_cam(m, [0.5])[0][0]
    assert box[0] + box[2] == pytest.approx(223, abs=1)  # centred
    evaluator = BoxEvaluator(threshold_grid(0.01))
    evaluator.accumulate(m, [[56, 56, 167, 167]])
    assert evaluator.compute()["maxboxacc@70"] == 100.0
