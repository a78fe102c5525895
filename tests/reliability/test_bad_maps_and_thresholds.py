"""NaN and constant maps (treated as all zeros, as wsolevaluation's normalize_scoremap), and
thresholds outside [0, 1] (ConfigError naming the config key)."""

from __future__ import annotations

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.localize import (
    box_from_protocol,
    boxes_from_cam,
    check_thresholds,
    normalize_scoremap,
    seed_from_cams,
    threshold_grid,
)
from wsol.metrics import BoxEvaluator, PxAPEvaluator, SegEvaluator

H, W = 12, 16
PARTIAL_NAN = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
PARTIAL_NAN[3, 4] = np.nan
BAD_MAPS = {"all_nan": np.full((H, W), np.nan, np.float32), "partial_nan": PARTIAL_NAN,
            "constant": np.full((H, W), 0.7, np.float32), "zeros": np.zeros((H, W), np.float32)}


@pytest.mark.parametrize("name", sorted(BAD_MAPS))
def test_normalize_turns_nan_and_constant_maps_into_zeros(name):
    out = normalize_scoremap(BAD_MAPS[name])
    assert out.dtype == np.float32 and out.shape == (H, W) and not out.any()


@pytest.mark.parametrize("name", sorted(BAD_MAPS))
def test_box_extraction_of_a_bad_map_equals_that_of_zeros(name):
    swept = boxes_from_cam(normalize_scoremap(BAD_MAPS[name]), [0.0, 0.5])
    assert [b.tolist() for b in swept] == [[[0, 0, 0, 0]], [[0, 0, 0, 0]]]  # wsolevaluation
    # the paper protocol keeps every pixel of an all-zero map: the whole image
    assert box_from_protocol(BAD_MAPS[name], "gradcam").tolist() == [0, 0, W - 1, H - 1]


def test_seed_planes_with_nan_or_constant_values_count_as_zeros():
    good = np.zeros((H, W), np.float32)
    good[2:5, 3:9] = 1.0
    cams = np.stack([BAD_MAPS["partial_nan"], good, BAD_MAPS["constant"]])
    seed = seed_from_cams(cams, [0, 1, 2], 0.15)
    expected = np.where(good > 0.15, 2, 0)  # only class 1's plane carries information
    assert np.array_equal(seed, expected)


def test_evaluators_never_return_nan_for_nan_or_constant_maps():
    gt = np.zeros((H, W), np.uint8)
    gt[2:5, 3:9] = 1
    seg_bad, seg_zero = SegEvaluator(3, [0.0, 0.5]), SegEvaluator(3, [0.0, 0.5])
    for name in ("all_nan", "partial_nan", "constant"):
        seg_bad.accumulate(BAD_MAPS[name][None], [0], gt)
        seg_zero.accumulate(np.zeros((1, H, W), np.float32), [0], gt)
    bad, zero = seg_bad.compute(), seg_zero.compute()
    assert np.array_equal(bad["miou_per_threshold"], zero["miou_per_threshold"])
    assert np.isfinite(bad["miou_per_threshold"]).all()
    boxes, pxap = BoxEvaluator([0.0, 0.5]), PxAPEvaluator([0.0, 0.5])
    for name in sorted(BAD_MAPS):
        score_map = normalize_scoremap(BAD_MAPS[name])  # what the evaluate stage feeds them
        boxes.accumulate(score_map, np.array([[3, 2, 8, 4]]))
        pxap.accumulate(score_map, gt)
    result = boxes.compute()
    assert result["maxboxacc@50"] == 0.0 and result["num_images"] == 4
    assert pxap.compute()["pxap"] == pytest.approx(100.0 * gt.mean())  # chance level, finite


@pytest.mark.parametrize("values", [[0.1, 1.5], [-0.2], [float("nan")], ["high"]])
def test_out_of_range_thresholds_name_the_key(values):
    with pytest.raises(ConfigError, match=r"eval\.cam_thresholds"):
        check_thresholds(values, "eval.cam_thresholds")
    with pytest.raises(ConfigError, match=r"eval\.cam_thresholds"):
        BoxEvaluator(values)
    with pytest.raises(ConfigError, match=r"eval\.bg_thresholds"):
        SegEvaluator(21, values)


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_single_thresholds_name_their_key(value):
    cams = np.zeros((1, H, W), np.float32)
    with pytest.raises(ConfigError, match=r"eval\.bg_threshold\b"):
        seed_from_cams(cams, [0], value)
    with pytest.raises(ConfigError, match=r"eval\.box_threshold"):
        box_from_protocol(cams[0], "gradcam", threshold=value)


@pytest.mark.parametrize("step", [0.0, -0.01, 1.5])
def test_threshold_step_outside_the_unit_interval_names_the_key(step):
    with pytest.raises(ConfigError, match=r"eval\.cam_threshold_step"):
        threshold_grid(step, key="eval.cam_threshold_step")


def test_unknown_box_protocol_is_refused_even_with_an_explicit_threshold():
    with pytest.raises(ConfigError, match=r"eval\.box_protocol.*'gradcam'"):
        box_from_protocol(np.zeros((H, W), np.float32), "gradcm", threshold=0.15)
