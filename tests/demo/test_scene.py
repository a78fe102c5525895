"""Statistics of rendered demo images, checked against the task's rules."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label, regionprops

from wsol.datasets.classes import SHAPE_CLASSES
from wsol.demo.scene import render_sample, segmentation_from_objects
from wsol.demo.scene_style import STYLES, get_style
from wsol.errors import ConfigError

SEED = 11


@pytest.fixture(scope="module")
def samples():
    return [render_sample(SEED, i, 64) for i in range(160)]


def test_same_seed_same_arrays_other_seed_differs():
    a, b, c = render_sample(5, 7, 64), render_sample(5, 7, 64), render_sample(6, 7, 64)
    assert np.array_equal(a.image, b.image)
    assert [o.class_index for o in a.objects] == [o.class_index for o in b.objects]
    pairs = zip(a.objects, b.objects, strict=True)
    assert all(np.array_equal(x.visible, y.visible) for x, y in pairs)
    assert not np.array_equal(a.image, c.image)


def test_counts_coverage_and_occlusion(samples):
    pixels = 64 * 64
    counts = [len(s.objects) for s in samples]
    assert min(counts) >= 1 and max(counts) <= 3
    assert {1, 2, 3} <= set(counts)  # all counts occur
    for s in samples:
        union = np.zeros((64, 64), int)
        for o in s.objects:
            assert 0.06 * pixels <= o.full_area <= 0.35 * pixels
            visible = int(o.visible.sum())
            assert visible >= 0.5 * o.full_area  # occlusion + truncation never above half
            union += o.visible
        assert union.max() <= 1  # visible masks are disjoint
        assert s.image.dtype == np.uint8 and s.image.shape == (64, 64, 3)


def test_some_objects_are_occluded(samples):
    occluded = [o for s in samples for o in s.objects
                if not o.truncated and o.visible.sum() < 0.9 * o.full_area]
    assert len(occluded) >= 10


def test_every_class_occurs_and_size_does_not_code_the_class(samples):
    by_class: dict[int, list[int]] = {}
    for s in samples:
        for o in s.objects:
            by_class.setdefault(o.class_index, []).append(o.full_area)
    assert set(by_class) == set(range(len(SHAPE_CLASSES)))
    medians = [np.median(v) for v in by_class.values()]
    assert max(medians) / min(medians) < 1.8


def test_colour_does_not_code_the_class(samples):
    means: dict[int, list[np.ndarray]] = {}
    for s in samples:
        for o in s.objects:
            means.setdefault(o.class_index, []).append(s.image[o.visible].mean(0))
    per_class = np.array([np.mean(v, 0) for v in means.values()])  # (8,3)
    assert np.abs(per_class - per_class.mean(0)).max() < 45  # colours are drawn at random
    spread = [np.std(v, 0).mean() for v in means.values()]
    assert min(spread) > 40


def test_convex_classes_are_convex_and_the_others_are_not():
    """An independent look at the outline: solidity (area / convex-hull area) of lone shapes."""
    convex = {"circle", "square", "triangle", "hexagon"}
    solidity: dict[str, list[float]] = {}
    for i in range(400):
        s = render_sample(SEED + 1, i, 128)
        for o in s.objects:
            if o.truncated or o.visible.sum() != o.full_area:
                continue
            props = regionprops(label(o.visible))
            if len(props) == 1:
                solidity.setdefault(o.name, []).append(props[0].solidity)
    assert set(solidity) == set(SHAPE_CLASSES)
    for name, values in solidity.items():
        if name in convex:
            assert min(values) > 0.94, name
        else:  # the heart's notch is the mildest concavity
            assert max(values) < 0.93, name


def _band_oracle(instances: np.ndarray, width: int) -> np.ndarray:
    """Pixels with a later-drawn instance within Chebyshev distance ``width``."""
    h, w = instances.shape
    padded = np.pad(instances, width, constant_values=0)
    band = np.zeros((h, w), bool)
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            shifted = padded[width + dy:width + dy + h, width + dx:width + dx + w]
            band |= shifted > instances
    return band


@pytest.mark.parametrize("size,width", [(64, 1), (128, 2)])
def test_segmentation_band(size, width):
    for i in range(20):
        s = render_sample(SEED, i, size)
        seg = s.segmentation()
        instances = np.zeros((size, size), np.int64)
        classes = np.zeros((size, size), np.uint8)
        for j, o in enumerate(s.objects):
            instances[o.visible] = j + 1
            classes[o.visible] = o.class_index + 1
        band = _band_oracle(instances, width)
        assert np.array_equal(seg == 255, band)
        assert np.array_equal(seg[~band], classes[~band])
        assert np.array_equal(seg, segmentation_from_objects(s.objects, size))


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_follows_the_geometry_rules(style):
    for i in range(30):
        s = render_sample(SEED, i, 64, style)
        assert 1 <= len(s.objects) <= 3
        for o in s.objects:
            assert 0.06 * 64 * 64 <= o.full_area <= 0.35 * 64 * 64
            assert o.visible.sum() >= 0.5 * o.full_area


def test_standard_objects_are_brighter_than_the_background(samples):
    luma = np.array([0.299, 0.587, 0.114])
    margins = []
    for s in samples:
        union = np.any([o.visible for o in s.objects], 0)
        background = np.median(s.image[~union] @ luma)
        margins += [s.image[o.visible].mean(0) @ luma - background for o in s.objects]
    assert np.mean(np.array(margins) > 30) > 0.95


def test_unknown_style():
    with pytest.raises(ConfigError, match="data.generate.style"):
        get_style("psychedelic")
