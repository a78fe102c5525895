"""boxes_from_cam against wsolevaluation's golden vectors and a plain per-threshold loop."""

import zlib

import cv2
import numpy as np
import pytest
from helpers.reference_wsolevaluation import boxes_at_thresholds

from wsol.errors import ConfigError
from wsol.localize import (
    box_from_protocol,
    boxes_from_cam,
    normalize_scoremap,
    quantize_scoremap,
    threshold_grid,
)


def reference_boxes(cam, thresholds, multi_contour=False):
    """wsolevaluation's compute_bboxes_from_scoremaps, one threshold at a time."""
    return [boxes.tolist() for boxes in boxes_at_thresholds(cam, thresholds, multi_contour)]


def random_map(rng, kind):
    """Maps that stress the sweep: blobs, noise, nested rings, plateaus and ties, tiny sizes."""
    h, w = (int(v) for v in rng.integers(1, 48, 2))
    if kind == "noise":
        return rng.random((h, w))
    if kind == "levels":  # few grey levels: many equal-area ties and plateaus
        return rng.integers(0, int(rng.integers(2, 6)), (h, w)) / 4.0
    if kind == "binary":
        return (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.float64)
    if kind == "rings":
        s = int(rng.integers(8, 64))
        yy, xx = np.mgrid[:s, :s]
        r = np.hypot(yy - rng.uniform(0, s), xx - rng.uniform(0, s))
        return np.cos(r * rng.uniform(0.3, 1.5)) * 0.5 + 0.5
    if kind == "bumps":  # several blobs with noise bumps: births and merges between levels
        low_n = int(rng.integers(5, 15))
        yy, xx = np.mgrid[:low_n, :low_n]
        m = np.zeros((low_n, low_n))
        for _ in range(int(rng.integers(1, 4))):
            cy, cx, s = rng.uniform(0, low_n), rng.uniform(0, low_n), rng.uniform(1, 3)
            m += rng.uniform(0.3, 1) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        m = np.maximum(m + rng.normal(0, 0.05, m.shape) - 0.1, 0).astype(np.float32)
        size = int(rng.integers(32, 160))
        return normalize_scoremap(cv2.resize(m, (size, size), interpolation=cv2.INTER_CUBIC))
    # smooth CAM-like: a few low-resolution blobs, ReLU, bicubic upsampling, min-max
    low = rng.random((int(rng.integers(3, 9)), int(rng.integers(3, 9)))).astype(np.float32)
    low = np.maximum(low - rng.uniform(0.2, 0.7), 0)
    size = (int(rng.integers(16, 96)), int(rng.integers(16, 96)))
    return normalize_scoremap(cv2.resize(low, size, interpolation=cv2.INTER_CUBIC))


GOLDEN_UNIMODAL = np.array(
    [[0, 0, 0, 0, 0], [0, 0.4, 0.4, 0.4, 0.6], [0, 0.4, 1, 0.8, 0.6], [0, 0.4, 0.4, 0.4, 0.6]]
)
GOLDEN_MULTIMODAL = np.array(
    [[0.4, 0, 0.2, 0.2, 0.2], [0.4, 0.4, 0, 0.4, 0], [0, 0, 0, 0.4, 0], [1, 0.6, 0.8, 0.2, 0.2]]
)


@pytest.mark.parametrize(
    "cam, expected",
    [
        (GOLDEN_UNIMODAL, [[1, 1, 4, 3], [1, 1, 4, 3], [2, 1, 4, 3], [2, 2, 4, 3], [2, 2, 3, 3]]),
        (GOLDEN_MULTIMODAL, [[0, 0, 4, 3], [0, 0, 2, 2], [0, 3, 3, 3], [2, 3, 3, 3], [0, 3, 1, 3]]),
    ],
)
def test_golden_vectors(cam, expected):
    boxes = boxes_from_cam(cam, np.arange(0, 1, 0.2))
    assert [b.tolist() for b in boxes] == [[e] for e in expected]
    assert all(b.dtype == np.int64 and b.shape == (1, 4) for b in boxes)


def test_all_zero_map_gives_empty_box_everywhere():
    boxes = boxes_from_cam(np.zeros((3, 3)), np.arange(0, 1, 0.2))
    assert [b.tolist() for b in boxes] == [[[0, 0, 0, 0]]] * 5


def test_threshold_one_and_order_and_repeats():
    thresholds = [1.0, 0.0, 0.5, 0.0, 0.999]
    got = boxes_from_cam(GOLDEN_UNIMODAL, thresholds)
    assert [b.tolist() for b in got] == reference_boxes(GOLDEN_UNIMODAL, thresholds)
    assert got[0].tolist() == [[0, 0, 0, 0]]


@pytest.mark.parametrize("kind", ["cam", "bumps", "noise", "levels", "binary", "rings"])
@pytest.mark.parametrize("multi", [False, True])
def test_equals_per_threshold_loop(kind, multi):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{multi}".encode()))
    grid = threshold_grid(0.002 if kind == "bumps" else 0.01)
    thresholds = np.concatenate([grid, rng.random(10), [1.0]])
    for _ in range(40):
        cam = random_map(rng, kind).astype(rng.choice([np.float32, np.float64]))
        got = boxes_from_cam(cam, thresholds, multi_contour=multi)
        want = reference_boxes(cam, thresholds, multi_contour=multi)
        for g, w in zip(got, want, strict=True):
            if multi:  # V2 scores all boxes; their order is irrelevant
                assert sorted(map(tuple, g.tolist())) == sorted(map(tuple, w))
            else:
                assert g.tolist() == w


def test_quantisation_in_map_dtype():
    cam32 = np.full((4, 4), 0.6, dtype=np.float32)
    assert quantize_scoremap(cam32)[0, 0] == np.uint8(np.float32(0.6) * 255)


def test_invalid_maps_and_thresholds():
    with pytest.raises(ValueError, match="NaN"):
        boxes_from_cam(np.full((3, 3), np.nan), [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        boxes_from_cam(np.full((3, 3), 1.5), [0.5])
    with pytest.raises(ValueError, match="2-D"):
        boxes_from_cam(np.zeros((2, 3, 3)), [0.5])
    with pytest.raises(ConfigError, match="eval.cam_thresholds"):
        boxes_from_cam(np.zeros((3, 3)), [0.5, 1.2])
    with pytest.raises(ConfigError, match="eval.cam_thresholds"):
        boxes_from_cam(np.zeros((3, 3)), [])


def test_normalize_scoremap_like_wsolevaluation():
    assert not normalize_scoremap(np.full((3, 3), np.nan)).any()
    assert not normalize_scoremap(np.full((3, 3), 7.0)).any()
    out = normalize_scoremap(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(out, [[0, 0.25], [0.5, 1.0]])


def test_box_from_protocol_largest_segment_and_percentages():
    cam = np.zeros((20, 30))
    cam[2:5, 3:6] = 1.0  # 9 pixels, holds the maximum
    cam[10:18, 12:25] = 0.16  # 104 pixels, above 15 % of max but below 20 %
    cam[0, 29] = 0.15  # isolated pixel exactly at 15 %: kept (>=)
    assert box_from_protocol(cam, "gradcam").tolist() == [12, 10, 24, 17]
    assert box_from_protocol(cam, "cam").tolist() == [3, 2, 5, 4]
    assert box_from_protocol(cam, threshold=0.9).tolist() == [3, 2, 5, 4]
    diagonal = np.eye(6)  # one 8-connected segment
    assert box_from_protocol(diagonal).tolist() == [0, 0, 5, 5]
    assert box_from_protocol(np.zeros((4, 5))).tolist() == [0, 0, 4, 3]
    with pytest.raises(ConfigError, match="gradcam"):
        box_from_protocol(cam, "unknown")
