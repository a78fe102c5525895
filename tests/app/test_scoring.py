"""metrics.json names: loc/maxboxacc_v2 only for the real MaxBoxAccV2; eval.score_size boxes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.reference_wsolevaluation import resize_bbox
from helpers.runs import compose

from wsol.app.build import typed_config
from wsol.app.stages.scoring import EvaluationSuite, score_size
from wsol.app.validate import validate_config
from wsol.datasets.records import ImageAnnotation
from wsol.errors import ConfigError


def _cfg(*overrides):
    """The typed, validated config (as a run builds it)."""
    config = typed_config(compose("paths.run_dir=unused", *overrides))
    validate_config(config)
    return config


def _metrics(multi: bool, deltas: str) -> dict:
    cfg = _cfg(f"eval.multi_contour={multi}", f"eval.iou_thresholds={deltas}")
    suite = EvaluationSuite(cfg.eval, cfg.cam, 2)
    cam = np.zeros((20, 30), np.float32)
    cam[5:10, 5:15] = 1
    ann = ImageAnnotation(np.array([[5, 5, 14, 9]]), np.array([0]), np.zeros(1, bool), (30, 20))
    suite.add("a", cam[None], np.array([0]), ann, None)
    return suite.compute()


def test_v2_key_only_for_all_contours_and_30_50_70():
    assert _metrics(True, "[30,50,70]")["loc/maxboxacc_v2"] == 100.0
    assert "baseline/center/maxboxacc_v2" in _metrics(True, "[70,30,50]")
    for multi, deltas in ((False, "[30,50,70]"), (True, "[50]"), (True, "[30,50]")):
        metrics = _metrics(multi, deltas)
        assert "loc/maxboxacc_v2" not in metrics and "loc/maxboxacc" in metrics


def test_boxes_move_to_the_score_grid_as_wsolevaluation():
    boxes = np.array([[0, 0, 499, 374], [10, 21, 30, 40], [131, 7, 250, 333]])
    ann = ImageAnnotation(boxes, np.zeros(3, np.int64), np.zeros(3, bool), (500, 375))
    moved = ann.rescaled((375, 500), (224, 224))
    want = [resize_bbox(b, (500, 375), (224, 224)) for b in boxes.tolist()]
    assert moved.boxes.tolist() == [list(b) for b in want] and moved.size == (224, 224)


@pytest.mark.parametrize("value", ["0", "-3", "true", "2.5"])
def test_score_size_must_be_null_or_a_positive_int(value):
    with pytest.raises(ConfigError, match="eval.score_size"):
        _cfg(f"eval.score_size={value}")
    assert score_size(_cfg("eval.score_size=224").eval) == (224, 224)
    assert score_size(_cfg().eval) is None


def _suite_metrics(deltas: str) -> dict:
    """Three pairs with box IoUs 10/11, 10/16 and 10/25 at every threshold: BoxAcc 100, 66.67
    and 33.33 % at IoU 0.3, 0.5 and 0.7."""
    cfg = _cfg(f"eval.iou_thresholds={deltas}", "eval.cam_threshold_step=0.05")
    suite = EvaluationSuite(cfg.eval, cfg.cam, 2)
    for n, width in enumerate((11, 16, 25)):
        cam = np.zeros((20, 40), np.float32)
        cam[5:15, 5:5 + width] = 1.0  # the box x 5..4+width over the 10 x 10 ground truth
        ann = ImageAnnotation(np.array([[5, 5, 14, 14]]), np.array([0]), np.zeros(1, bool),
                              (40, 20))
        suite.add(f"i{n}", cam[None], np.array([0]), ann, None)
    return suite.compute()


def test_iou_thresholds_without_50_keep_the_iou_50_headline():
    full, partial = _suite_metrics("[30,50,70]"), _suite_metrics("[30,70]")
    for key in ("loc/maxboxacc", "loc/best_threshold", "baseline/center/maxboxacc",
                "loc/maxboxacc@30", "loc/maxboxacc@70", "loc/gt_known"):
        assert partial[key] == full[key], key
    assert "loc/maxboxacc@50" not in partial and full["loc/maxboxacc@50"] == full["loc/maxboxacc"]
    # the deltas give different numbers here, so the headline is the IoU-0.5 one
    assert (full["loc/maxboxacc@30"], full["loc/maxboxacc"], full["loc/maxboxacc@70"]) == \
        (100.0, 66.67, 33.33)
    only_70 = _suite_metrics("[70]")
    assert only_70["loc/maxboxacc"] == full["loc/maxboxacc"]
