"""CamStore: compact float16 round trip, upsampling on read, atomic writes, manifest checks."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsol.cam import CamStore, store_files
from wsol.cam import store as store_module
from wsol.cam.store_verify import DamagedMapFile
from wsol.errors import ConfigError, DataError, WsolError
from wsol.io import atomic


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


def test_failed_write_leaves_no_partial_file_and_one_clear_error(tmp_path, monkeypatch):
    store = CamStore(tmp_path)
    store.write("img", np.full((1, 2, 2), 2.0), [3], (2, 2))
    before = (tmp_path / "img.npz").read_bytes()

    def disk_full_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module.np, "savez", disk_full_savez)
    with pytest.raises(WsolError, match="No space left on device") as err:
        store.write("img", np.ones((1, 2, 2)), [3], (2, 2))
    for part in (str(tmp_path), "ENOSPC", "free space", "paths.cache_dir", "cam.store_dir",
                 "resumes after the 1 images"):
        assert part in str(err.value), part
    assert isinstance(err.value.__cause__, OSError)
    with pytest.raises(WsolError):
        store.write("new", np.ones((1, 2, 2)), [3], (2, 2))
    assert (tmp_path / "img.npz").read_bytes() == before  # old version intact
    assert not store.has("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.npz", "manifest.json"]
    assert store.ids() == ["img"]


def test_unwritable_store_names_the_fix(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(WsolError, match="make it writable") as err:
        CamStore(tmp_path / "s", settings={"method": "gradcam"})
    assert str(tmp_path / "s") in str(err.value) and "EROFS" in str(err.value)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temps_of_dead_writers_are_removed_and_never_listed(tmp_path):
    store = CamStore(tmp_path, settings={"method": "gradcam"})
    store.write("a", np.ones((1, 2, 2)), [0], (2, 2))
    dead = tmp_path / f".b.npz.{store_files._HOST}-{_dead_pid()}.x1.tmp"
    live = tmp_path / f".c.npz.{store_files._HOST}-{os.getpid()}.x2.tmp"
    other_host = tmp_path / ".d.npz.elsewhere-1.x3.tmp"
    old_other_host = tmp_path / ".e.npz.elsewhere-1.x4.tmp"
    legacy = tmp_path / ".f.npzab12cd.tmp"  # no owner in the name: only age removes it
    for path in (dead, live, other_host, old_other_host, legacy):
        path.write_bytes(b"PK\x03\x04 half")
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old_other_host, (week_ago, week_ago))
    assert store.ids() == ["a"]  # temporary files are never maps
    CamStore(tmp_path, settings={"method": "gradcam"})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.npz", "manifest.json", live.name, other_host.name, legacy.name])


def test_reading_opens_create_nothing(tmp_path):
    store = CamStore(tmp_path / "missing")
    assert store.ids() == [] and len(store) == 0 and store.expected_images is None
    assert not (tmp_path / "missing").exists()
    # a store opened only to read must not claim the directory for unknown settings
    CamStore(tmp_path / "missing", settings={"method": "gradcam"}, key="k1", expected_images=5)
    manifest = json.loads((tmp_path / "missing" / "manifest.json").read_text())
    assert manifest["key"] == "k1" and manifest["expected_images"] == 5
    assert CamStore(tmp_path / "missing").expected_images == 5


def test_manifest_guards_settings(tmp_path):
    CamStore(tmp_path, settings={"method": "gradcam", "scales": (1.0,)})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["settings"] == {"method": "gradcam", "scales": [1.0]}
    assert CamStore(tmp_path, settings={"method": "gradcam", "scales": [1.0]}).manifest == manifest
    assert CamStore(tmp_path).manifest == manifest  # reading without settings is fine
    with pytest.raises(ConfigError, match="other settings") as err:
        CamStore(tmp_path, settings={"method": "layercam", "scales": [1.0]})
    assert "method: stored 'gradcam', requested 'layercam'" in str(err.value)
    assert "scales" not in str(err.value) and "cam.store_dir" in str(err.value)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json"):
        CamStore(tmp_path)


def test_scores_round_trip_and_are_optional(tmp_path):
    store = CamStore(tmp_path / "cams")
    maps = np.ones((2, 4, 4), np.float32)
    store.write("with", maps, [3, 1], (8, 8), scores=[0.9, 0.25])
    store.write("without", maps, [3, 1], (8, 8))
    cams, ids, scores = store.read_scored("with")
    np.testing.assert_array_equal(scores, np.float32([0.9, 0.25]))
    np.testing.assert_array_equal(ids, [3, 1])
    assert cams.shape == (2, 8, 8)  # upsampled to the image size, as read() does
    assert store.read_scored("without")[2] is None
    with pytest.raises(ValueError, match="scores"):
        store.write("bad", maps, [3, 1], (8, 8), scores=[0.5])


def test_level_layouts_are_verified_like_resized_files(tmp_path):
    """irn / bicubic files (raw per-scale maps) pass the same checks: a flipped byte, a NaN or
    an unknown layout name makes the file damaged, never read."""
    from wsol.cam.store_verify import DamagedMapFile, read_map_file

    store = CamStore(tmp_path / "s")
    levels = [np.random.default_rng(0).random((2, 4, 5)).astype(np.float32),
              np.random.default_rng(1).random((2, 2, 3)).astype(np.float32)]
    store.write_levels("img", levels, [1, 3], (60, 75), "irn", stride=16, scores=[0.2, 0.9])
    path = next((tmp_path / "s").glob("*.npz"))
    verified = read_map_file(path, num_classes=5, max_pixels=10**6)
    assert (verified.layout, verified.stride, verified.image_size) == ("irn", 16, (60, 75))
    for mine, theirs in zip(verified.levels, levels, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert store.read("img")[0].shape == (2, 60, 75)
    with pytest.raises(DamagedMapFile, match="class_ids"):
        read_map_file(path, num_classes=2, max_pixels=10**6)  # class 3 out of range
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedMapFile):
        store.read("img")
    bad = tmp_path / "bad"
    for layout, level, match in (("xyz", levels[0], "layout"),
                                 ("bicubic", np.full((2, 4, 5), np.nan, np.float32),
                                  "non-finite")):
        arrays = {"level_0": level, "layout": np.asarray(layout),
                  "stride": np.asarray(0, np.int64), "class_ids": np.array([0, 1]),
                  "image_size": np.array([8, 8])}
        bad.mkdir(exist_ok=True)
        np.savez(bad / "x.npz", **arrays)
        with pytest.raises(DamagedMapFile, match=match):
            read_map_file(bad / "x.npz", num_classes=5, max_pixels=10**6)


def test_a_file_copied_over_another_images_file_is_damaged(tmp_path):
    """Each file records the id it was written for: a copy under another image's name (with
    the same classes, so no other check fails) is refused on read and removed by intact();
    a file written before ids were recorded still reads."""
    store = CamStore(tmp_path / "s")
    store.write("a", np.full((1, 4, 4), 1.0, np.float32), [2], (8, 8))
    store.write("b", np.full((1, 4, 4), 0.5, np.float32), [2], (8, 8))
    shutil.copyfile(store._path("a"), store._path("b"))
    with pytest.raises(DamagedMapFile, match="holds the maps of image 'a', not of 'b'"):
        store.read("b")
    assert store.intact(["a", "b"]) == {"a"} and not store.has("b")
    np.savez(store._path("old"), cams=np.ones((1, 4, 4), np.float16),
             scale=np.ones(1, np.float32), class_ids=np.array([2]), image_size=np.array([8, 8]))
    assert store.read("old")[1].tolist() == [2]
