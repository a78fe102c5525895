"""Internals of the threshold sweep against independent oracles (OpenCV, scikit-image)."""

import cv2
import numpy as np
from skimage.measure import label
from skimage.morphology import local_maxima

from wsol.localize.sweep import sweep_boxes
from wsol.localize.topology import euler_numbers, regional_max_values


def test_euler_numbers_match_components_minus_holes():
    rng = np.random.default_rng(0)
    for k in range(120):
        top = int(rng.integers(2, 8)) if k % 2 else 256  # few levels, or any uint8
        q = rng.integers(0, top, tuple(rng.integers(1, 25, 2))).astype(np.uint8)
        levels = np.arange(-1, int(q.max()) + 1)
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


def outer_contours(binary: np.ndarray) -> tuple[list, np.ndarray]:
    """Contours of a binary image with RETR_TREE and each one's nesting depth (even: outer)."""
    found, hierarchy = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    depth = np.zeros(len(found), dtype=np.int64)
    for k in range(len(found)):
        p = hierarchy[0, k, 3]
        while p >= 0:
            depth[k] += 1
            p = hierarchy[0, p, 3]
    return list(found), depth


def test_hole_contour_box_is_the_hole_grown_by_one():
    """V2's hole boxes from fills of ``q <= c`` rest on this: the box of a hole contour is the
    bounding box of the hole (a 4-connected background component off the border) plus 1."""
    rng = np.random.default_rng(3)
    for _ in range(400):
        binary = rng.random(tuple(rng.integers(1, 30, 2))) < rng.uniform(0.3, 0.9)
        binary = binary.astype(np.uint8)
        found, depth = outer_contours(binary)
        holes = sorted(cv2.boundingRect(c) for c, d in zip(found, depth, strict=True) if d % 2)
        padded = np.pad(1 - binary, 1, constant_values=1)  # findContours' zero border
        n, labels = cv2.connectedComponents(padded, connectivity=4)
        want = []
        for k in range(1, n):
            if k == labels[0, 0]:  # the outside
                continue
            ys, xs = np.nonzero(labels == k)
            x0, y0 = xs.min() - 2, ys.min() - 2  # -1 for the padding, -1 for the growth
            want.append((x0, y0, xs.max() - x0 + 1, ys.max() - y0 + 1))
        assert holes == sorted(want)


def test_contour_areas_of_components_inside_one_below():
    """V1's flood fills rest on this: components of ``q > c`` inside one component W of a
    lower level either nest (then the enclosed one has the smaller area) or have disjoint
    interiors inside W, their areas adding up to at most W's."""
    rng = np.random.default_rng(4)
    seen = {"nested": 0, "apart": 0}
    for k in range(150):
        shape = tuple(rng.integers(4, 30, 2))
        if k % 2:  # bumps
            q = cv2.GaussianBlur((rng.random(shape) * 255).astype(np.uint8), (3, 3), 0.8) // 24
        else:  # noisy rings: components inside others' holes
            yy, xx = np.mgrid[: shape[0], : shape[1]]
            r = np.hypot(yy - rng.uniform(0, shape[0]), xx - rng.uniform(0, shape[1]))
            q = (np.cos(r * rng.uniform(0.4, 1.2)) * 4 + 5 + rng.random(shape) * 3).astype(np.uint8)
        for a in range(int(q.max())):
            _, labels = cv2.connectedComponents((q > a).astype(np.uint8), connectivity=8)
            low, low_depth = outer_contours((q > a).astype(np.uint8))
            area_of = {}
            for contour, d in zip(low, low_depth, strict=True):
                if d % 2 == 0:
                    x, y = contour[0, 0]
                    area_of[labels[y, x]] = cv2.contourArea(contour)
            for c in range(a + 1, int(q.max())):
                found, depth = outer_contours((q > c).astype(np.uint8))
                outer = [f for f, d in zip(found, depth, strict=True) if d % 2 == 0]
                for i, c1 in enumerate(outer):
                    for c2 in outer[i + 1 :]:
                        w1, w2 = (labels[f[0, 0, 1], f[0, 0, 0]] for f in (c1, c2))
                        if w1 != w2:
                            continue
                        a1, a2 = cv2.contourArea(c1), cv2.contourArea(c2)
                        inside = cv2.pointPolygonTest(c1, tuple(map(float, c2[0, 0])), False) > 0
                        around = cv2.pointPolygonTest(c2, tuple(map(float, c1[0, 0])), False) > 0
                        seen["nested" if inside or around else "apart"] += 1
                        if inside:
                            assert a2 < a1 or a1 == a2 == 0
                        elif around:
                            assert a1 < a2 or a1 == a2 == 0
                        else:
                            assert a1 + a2 <= area_of[w1]
    assert seen["nested"] > 20 and seen["apart"] > 200  # both cases were met
