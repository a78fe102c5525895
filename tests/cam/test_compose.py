"""Store layouts and CAM protocols: levels round-trip, each layout composes as its reference."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsol.cam import CamStore
from wsol.cam.compose import compose_irn, infer_stride, strided_up_size
from wsol.cam.protocols import check_protocol
from wsol.errors import ConfigError


@pytest.mark.parametrize(("size", "stride"), [((375, 500), 16), ((500, 333), 16),
                                              ((224, 224), 32), ((17, 9), 8), ((750, 1000), 16)])
def test_stride_is_recovered_from_a_padded_conv_net(size, stride):
    """The map of a stride-s stack of padded 3x3 / stride-2 convolutions is ceil(H / s)."""
    x = torch.zeros(1, 1, *size)
    conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1)
    for _ in range(int(math.log2(stride))):
        x = conv(x)
    assert infer_stride(size, x.shape[-2:]) == stride


def test_a_map_no_stride_explains_is_refused():
    with pytest.raises(ConfigError, match="cam.protocol=irn"):
        infer_stride((100, 100), (30, 7))


def test_irn_composition_by_hand():
    """Two levels of a 20 x 30 image at stride 8: upsampled to 24 x 32, summed, cropped,
    / (max + 1e-5) -- written out with separate interpolations."""
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 6, 8)).astype(np.float32)
    assert strided_up_size((20, 30), 8) == (24, 32)
    up = [F.interpolate(torch.from_numpy(m)[None], (24, 32), mode="bilinear",
                        align_corners=False)[0] for m in (a, b)]
    total = (up[0] + up[1])[:, :20, :30]
    want = total / (total.amax((1, 2), keepdim=True) + 1e-5)
    got = compose_irn([torch.from_numpy(a), torch.from_numpy(b)], (20, 30), 8)
    torch.testing.assert_close(got, want)
    assert compose_irn([torch.zeros(0, 3, 4)], (20, 30), 8).shape == (0, 20, 30)


def test_levels_round_trip_exactly_and_compose_on_read(tmp_path):
    store = CamStore(tmp_path / "cams", settings={"protocol": "irn"})
    rng = np.random.default_rng(1)
    levels = [rng.random((2, 3, 4)).astype(np.float32), rng.random((2, 6, 8)).astype(np.float32)]
    store.write_levels("img", levels, [4, 1], (20, 30), "irn", stride=8, scores=[0.5, 0.25])
    stored = store.read_levels("img")
    assert stored.layout == "irn" and stored.stride == 8 and stored.image_size == (20, 30)
    for got, want in zip(stored.levels, levels, strict=True):
        np.testing.assert_array_equal(got, want)  # float32, bit for bit
    cams, ids, scores = store.read_scored("img")
    want = compose_irn([torch.from_numpy(m) for m in levels], (20, 30), 8).numpy()
    np.testing.assert_array_equal(cams, want)
    assert ids.tolist() == [4, 1] and scores.tolist() == [0.5, 0.25]
    assert store.read("img", size=(10, 15))[0].shape == (2, 10, 15)


def test_bicubic_layout_is_opencv_bicubic_then_min_max(tmp_path):
    store = CamStore(tmp_path / "cams")
    raw = np.random.default_rng(2).normal(size=(2, 7, 7)).astype(np.float32)  # any sign
    raw[1] = 3.0  # a constant map scores as zeros (wsolevaluation's normalize_scoremap)
    store.write_levels("img", [raw], [0, 3], (60, 80), "bicubic")
    cams, _ = store.read("img", size=(224, 224))
    want = cv2.resize(raw[0], (224, 224), interpolation=cv2.INTER_CUBIC)
    want = (want - want.min()) / (want - want.min()).max()
    np.testing.assert_allclose(cams[0], want, atol=1e-6)
    assert np.all(cams[1] == 0) and cams.min() == 0 and cams.max() == 1
    assert store.read("img")[0].shape == (2, 60, 80)  # default: the image size


def test_signed_maps_fit_the_float16_layout(tmp_path):
    """Scaled by the largest magnitude, not the max: /3 would overflow float16 at -4e5 / 3."""
    store = CamStore(tmp_path / "cams")
    cams = np.array([[[-4e5, 1.0], [2.0, 3.0]]], np.float32)
    store.write("img", cams, [0], (2, 2))
    read = store.read("img")[0]
    assert np.isfinite(read).all()
    np.testing.assert_allclose(read, cams, rtol=0, atol=1e-3 * 4e5)


@pytest.mark.parametrize(("name", "image_size", "scales", "flip", "match"), [
    ("irm", "original", [1.0], False, "choose one of"),
    ("irn", "square", [1.0], False, "cam.image_size=original"),
    ("wsolevaluation", "original", [1.0], False, "cam.image_size=square"),
    ("wsolevaluation", "square", [1.0, 0.5], False, "cam.scales=\\[1.0\\]"),
    ("wsolevaluation", "square", [1.0], True, "cam.flip=false"),
])
def test_protocols_refuse_settings_they_cannot_follow(name, image_size, scales, flip, match):
    with pytest.raises(ConfigError, match=match):
        check_protocol(name, image_size, scales, flip)


def test_protocols_accept_their_recipes():
    assert check_protocol("irn", "original", [1.0, 0.5, 1.5, 2.0], True).layout == "irn"
    assert not check_protocol("wsolevaluation", "square", [1.0], False).relu
    assert check_protocol("default", "square", [1.0, 2.0], True).layout == "resized"
