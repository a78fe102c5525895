"""Internals of the threshold sweep against independent oracles (OpenCV, scikit-image)."""

import cv2
import numpy as np
from skimage.measure import label
from skimage.morphology import local_maxima

from wsol.localize.sweep import sweep_boxes
from wsol.localize.topology import euler_numbers, regional_max_values


def test_euler_numbers_match_components_minus_holes():
    rng = np.random.default_rng(0)
    for _ in range(60):
        q = rng.integers(0, int(rng.integers(2, 8)), tuple(rng.integers(1, 25, 2))).astype(np.uint8)
        levels = np.arange(int(q.max()) + 1)
        got = euler_numbers(q, levels)
        for c, e in zip(levels, got, strict=True):
            binary = (q > c).astype(np.uint8)
            _, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            if hierarchy is None:
                assert e == 0
                continue
            outer = int((hierarchy[0, :, 3] < 0).sum())
            assert e == outer - (hierarchy.shape[1] - outer)


def test_regional_maxima_cover_scikit_image():
    rng = np.random.default_rng(1)
    for _ in range(60):
        shape = tuple(rng.integers(1, 40, 2))
        q = rng.integers(0, int(rng.integers(2, 256)), shape).astype(np.uint8)
        if rng.random() < 0.5:
            q = cv2.GaussianBlur(q, (5, 5), 1.5)
        labels = label(local_maxima(q, connectivity=2, allow_borders=True), connectivity=2)
        want = sorted(int(q[labels == k][0]) for k in range(1, labels.max() + 1))
        got = regional_max_values(q).tolist()
        # at least one entry per maximum (the sweep needs an upper bound on their count) ...
        for v in set(want):
            assert got.count(v) >= want.count(v)
        # ... and only values of pixels without a higher neighbour
        assert set(got) <= set(q[q == cv2.dilate(q, np.ones((3, 3), np.uint8))].tolist())


def test_sweep_groups_identical_binarisations():
    q = np.array([[0, 10, 10], [0, 200, 10]], dtype=np.uint8)
    swept = sweep_boxes(q, np.array([0, 5, 9, 10, 100, 199, 200, 255]))
    # cutoffs 0..9 keep the same pixels, so do 10..199; 200 and 255 leave nothing
    assert swept.num_groups == 3
    assert swept.group_of_cutoff.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert swept.boxes[swept.owner == 2].tolist() == [[0, 0, 0, 0]]


def test_contour_area_grows_with_the_pixel_set():
    """The sweep's V1 proofs rest on this: a component inside another has no larger outer
    contour area (cv2.contourArea, as wsolevaluation compares)."""
    rng = np.random.default_rng(2)
    for _ in range(300):
        shape = tuple(rng.integers(3, 25, 2))
        q = cv2.GaussianBlur((rng.random(shape) * 255).astype(np.uint8), (3, 3), 0.8) // 32
        for c in range(int(q.max())):
            low, high = (q > c).astype(np.uint8), (q > c + 1).astype(np.uint8)
            if not high.any():
                continue
            _, labels = cv2.connectedComponents(low, connectivity=8)
            area_of = {}
            found, hier = cv2.findContours(low, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            for contour, h in zip(found, hier[0], strict=True):
                if h[3] < 0:
                    x, y = contour[0, 0]
                    area_of[labels[y, x]] = cv2.contourArea(contour)
            found, hier = cv2.findContours(high, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
            for contour, h in zip(found, hier[0], strict=True):
                if h[3] < 0:
                    x, y = contour[0, 0]
                    assert cv2.contourArea(contour) <= area_of[labels[y, x]]
