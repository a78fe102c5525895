"""CamStore: compact float16 round trip, upsampling on read, atomic writes, manifest checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsol.cam import CamStore
from wsol.cam import store as store_module
from wsol.errors import ConfigError, DataError


def test_round_trip_compact_and_upsampled(tmp_path):
    store = CamStore(tmp_path / "cams", settings={"method": "gradcam", "scales": [1.0, 0.5]})
    rng = np.random.default_rng(0)
    cams = rng.random((3, 7, 9)).astype(np.float32) * np.array([1e-3, 1.0, 5e5])[:, None, None]
    cams[0] = 0  # an all-zero class map survives
    store.write("2007_000032", torch.from_numpy(cams), [14, 2, 0], image_size=(28, 36))

    compact, ids, size = store.read_compact("2007_000032")
    assert size == (28, 36) and ids.dtype == np.int64 and ids.tolist() == [14, 2, 0]
    assert compact.shape == (3, 7, 9)
    # float16 relative precision per class map, whatever its scale (no overflow at 5e5).
    peak = cams.reshape(3, -1).max(1)[:, None, None]
    assert np.all(np.abs(compact - cams) <= 1e-3 * np.maximum(peak, 1e-30))

    full, ids2 = store.read("2007_000032")
    assert full.dtype == np.float32 and full.shape == (3, 28, 36)
    want = F.interpolate(
        torch.from_numpy(cams)[None], (28, 36), mode="bilinear", align_corners=False
    )
    np.testing.assert_allclose(full, want[0].numpy(), rtol=2e-3, atol=1e-3 * peak.max())
    assert np.all(full[0] == 0)
    assert store.read("2007_000032", size=(7, 9))[0].shape == (3, 7, 9)


def test_ids_has_and_awkward_names(tmp_path):
    store = CamStore(tmp_path)
    for image_id in ["b", "a/b c%1", "000000139"]:
        store.write(image_id, np.ones((1, 2, 2)), [0], (4, 4))
    assert store.ids() == sorted(["b", "a/b c%1", "000000139"])
    assert store.has("a/b c%1") and not store.has("zzz")
    assert len(list(tmp_path.glob("*.npz"))) == 3  # no sub-directories made from "/"
    with pytest.raises(DataError, match="zzz"):
        store.read("zzz")
    empty = np.zeros((0, 2, 2))
    store.write("none", empty, [], (4, 4))
    cams, ids = store.read("none")
    assert cams.shape == (0, 4, 4) and ids.shape == (0,)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    store = CamStore(tmp_path)
    store.write("img", np.full((1, 2, 2), 2.0), [3], (2, 2))
    before = (tmp_path / "img.npz").read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(store_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        store.write("img", np.ones((1, 2, 2)), [3], (2, 2))
    with pytest.raises(OSError):
        store.write("new", np.ones((1, 2, 2)), [3], (2, 2))
    assert (tmp_path / "img.npz").read_bytes() == before  # old version intact
    assert not store.has("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npz", "manifest.json"]
    assert store.ids() == ["img"]


def test_manifest_guards_settings(tmp_path):
    CamStore(tmp_path, settings={"method": "gradcam", "scales": (1.0,)})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["settings"] == {"method": "gradcam", "scales": [1.0]}
    assert CamStore(tmp_path, settings={"method": "gradcam", "scales": [1.0]}).manifest == manifest
    assert CamStore(tmp_path).manifest == manifest  # reading without settings is fine
    with pytest.raises(ConfigError, match="other settings"):
        CamStore(tmp_path, settings={"method": "layercam", "scales": [1.0]})
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json"):
        CamStore(tmp_path)
