"""IRN's pseudo-label rule, against a transcription of cam_to_ir_label's numpy steps."""

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.pseudo.crf import CrfParams
from wsol.pseudo.labels import pseudo_label
from wsol.pseudo.refiners import REFINERS, RefineInput, make_refiner

IDENTITY = make_refiner("none", CrfParams())


def _irn(cams: np.ndarray, class_ids: np.ndarray, fg: float, bg: float) -> np.ndarray:
    """IRN's step/cam_to_ir_label.py without its CRF: np.pad a tau plane, argmax, keys."""
    keys = np.pad(class_ids + 1, (1, 0), mode="constant")
    fg_conf = keys[np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant",
                                    constant_values=fg), axis=0)]
    bg_conf = keys[np.argmax(np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant",
                                    constant_values=bg), axis=0)]
    conf = fg_conf.copy()
    conf[fg_conf == 0] = 255
    conf[bg_conf + fg_conf == 0] = 0
    return conf.astype(np.uint8)


def test_hand_worked_band():
    cams = np.array([[[0.9, 0.30, 0.2, 0.05, 0.01]]], np.float32)
    refined, unrefined = pseudo_label(RefineInput(np.zeros((1, 5, 3), np.uint8), cams,
                                                  np.array([4])), 0.30, 0.05, IDENTITY)
    # above 0.30: class 4 (label 5); 0.30 itself and below, above 0.05: ignored; <= 0.05: bg
    np.testing.assert_array_equal(unrefined[0], [5, 255, 255, 0, 0])
    np.testing.assert_array_equal(refined, unrefined)


@pytest.mark.parametrize("seed", range(5))
def test_matches_irn_on_random_maps(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    class_ids = np.sort(rng.choice(20, size=k, replace=False))
    cams = rng.random((k, 9, 11)).astype(np.float32) ** 3
    cams[:, 0, :3] = 0.30  # ties with the foreground plane: IRN's argmax keeps background
    item = RefineInput(np.zeros((9, 11, 3), np.uint8), cams, class_ids)
    refined, unrefined = pseudo_label(item, 0.30, 0.05, IDENTITY)
    np.testing.assert_array_equal(unrefined, _irn(cams, class_ids, 0.30, 0.05))
    np.testing.assert_array_equal(refined, unrefined)


def test_refiner_sees_local_labels_and_its_output_is_mapped_back():
    seen = {}

    def to_second_class(item, seeds):
        seen["seeds"] = seeds.copy()
        return np.full_like(seeds, 2)  # local label 2 = the image's second class

    cams = np.array([[[0.9, 0.0]], [[0.0, 0.5]]], np.float32)
    refined, _ = pseudo_label(RefineInput(np.zeros((1, 2, 3), np.uint8), cams,
                                          np.array([3, 7])), 0.30, 0.05, to_second_class)
    np.testing.assert_array_equal(seen["seeds"], [[[1, 2]], [[1, 2]]])
    np.testing.assert_array_equal(refined, [[8, 8]])


def test_image_without_classes_is_background_and_band_order_is_checked():
    item = RefineInput(np.zeros((2, 3, 3), np.uint8), np.zeros((0, 2, 3), np.float32),
                       np.zeros(0, np.int64))
    refined, unrefined = pseudo_label(item, 0.3, 0.05, make_refiner("crf", CrfParams()))
    assert not refined.any() and not unrefined.any()
    with pytest.raises(ConfigError, match="bg_threshold"):
        pseudo_label(item, 0.05, 0.3, IDENTITY)


def test_crf_refiner_snaps_a_blurred_map_to_the_object():
    """A square object whose map is a blurred, shifted blob: the CRF's labels follow the
    object's edges better than the thresholded map does."""
    h = w = 32
    truth = np.zeros((h, w), bool)
    truth[8:24, 8:24] = True
    rng = np.random.default_rng(0)
    image = np.where(truth[..., None], 220, 30).astype(np.float64) + rng.normal(0, 5, (h, w, 3))
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-((yy - 18) ** 2 + (xx - 18) ** 2) / (2 * 7.0**2)).astype(np.float32)
    item = RefineInput(np.clip(image, 0, 255).astype(np.uint8), blob[None], np.array([0]))
    params = CrfParams(bilateral_sxy=20, bilateral_srgb=10)
    refined, unrefined = pseudo_label(item, 0.30, 0.05, make_refiner("crf", params))

    def iou(labels):
        pred = labels == 1
        return (pred & truth).sum() / (pred | truth).sum()

    assert iou(refined) > iou(unrefined) + 0.1
    assert iou(refined) > 0.9


def test_unknown_refiner_lists_the_registry():
    with pytest.raises(ConfigError, match="pseudo.refiner='irn'.*'crf'"):
        make_refiner("irn", CrfParams())
    assert {"crf", "none"} <= set(REFINERS)
