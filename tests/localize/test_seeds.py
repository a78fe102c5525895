"""Seeds and pseudo-labels against IRN's literal recipe (np.pad + argmax)."""

import numpy as np
import pytest

from wsol.errors import ConfigError
from wsol.localize import pseudo_label_from_cams, seed_from_cams


def irn_seed(cams, class_ids, tau):
    padded = np.pad(cams, ((1, 0), (0, 0), (0, 0)), mode="constant", constant_values=tau)
    keys = np.pad(np.asarray(class_ids) + 1, (1, 0), mode="constant")
    return keys[np.argmax(padded, axis=0)]


def test_seed_equals_irn_recipe_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        k = int(rng.integers(1, 4))
        cams = (rng.integers(0, 5, (k, 7, 9)) / 4).astype(np.float32)  # many exact ties
        ids = rng.choice(20, size=k, replace=False)
        for tau in (0.0, 0.25, 0.5, 0.15):
            np.testing.assert_array_equal(seed_from_cams(cams, ids, tau), irn_seed(cams, ids, tau))


def test_threshold_compared_in_map_dtype():
    cams = np.full((1, 2, 2), np.float32(0.15), dtype=np.float32)  # float32(0.15) > 0.15
    assert (seed_from_cams(cams, [3], 0.15) == 0).all()  # ties with the float32 plane: background
    assert (irn_seed(cams, [3], 0.15) == 0).all()


def test_no_classes_is_background():
    out = seed_from_cams(np.zeros((0, 3, 4), np.float32), [], 0.15)
    assert out.shape == (3, 4) and out.dtype == np.uint8 and not out.any()


def test_pseudo_label_three_way():
    cams = np.array([[[0.9, 0.2, 0.01, 0.05]]], dtype=np.float32).reshape(1, 1, 4)
    out = pseudo_label_from_cams(cams, [4], fg=0.30, bg=0.05)
    assert out.tolist() == [[5, 255, 0, 0]]
    with pytest.raises(ConfigError, match="pseudo_label.bg"):
        pseudo_label_from_cams(cams, [4], fg=0.1, bg=0.2)


def test_bad_inputs():
    assert not seed_from_cams(np.full((1, 2, 2), np.nan), [0], 0.1).any()  # NaN plane: zeros
    with pytest.raises(ConfigError, match="eval.bg_threshold"):
        seed_from_cams(np.zeros((1, 2, 2)), [0], 1.5)
    with pytest.raises(ValueError, match="cams"):
        seed_from_cams(np.zeros((2, 2, 2)), [0], 0.1)
