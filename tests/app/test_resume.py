"""Kill-and-resume of the cam stage, and the content-keyed CAM cache seen from the pipeline."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.runs import cam_store_path, compose

from wsol.app.build import build_run
from wsol.app.cam_cache import store_for_reading
from wsol.app.pipeline import run
from wsol.app.stages.cam import cam_stage
from wsol.cam import CamStore
from wsol.errors import ConfigError, WsolError

REPO = Path(__file__).resolve().parents[2]
VAL_IMAGES = 40  # 80 generated, half of them val (the cam split)
DATA = ["data.generate.num_images=80", "data.generate.val_fraction=0.5", "data.input_size=64",
        "data.batch_size=16", "trainer.max_epochs=1", "eval.num_figures=0",
        "eval.faithfulness=false"]  # the demo preset's faithfulness is not under test here
# Runs scripts/run.py with CamStore.write slowed down by $WSOL_TEST_WRITE_DELAY seconds per
# image, so the test can kill it while the store holds some but not all maps.
SLOW_RUN = f"""
import os, runpy, time
from wsol.cam import store
_write = store.CamStore.write
def slow_write(self, *args, **kwargs):
    time.sleep(float(os.environ.get("WSOL_TEST_WRITE_DELAY", "0")))
    return _write(self, *args, **kwargs)
store.CamStore.write = slow_write
runpy.run_path({str(REPO / "scripts" / "run.py")!r}, run_name="__main__")
"""


def _compose(*overrides: str):
    return compose(*overrides)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(data_dir, model.pt) of a one-epoch demo model, trained once for this module."""
    data_dir = tmp_path_factory.mktemp("resume_data")
    run_dir = tmp_path_factory.mktemp("resume_train")
    run(_compose(f"paths.data_dir={data_dir}", f"paths.run_dir={run_dir}", "stages=[train]",
                 *DATA))
    return data_dir, run_dir / "model.pt"


def _overrides(trained, cache: Path, run_dir: Path, *extra: str) -> list[str]:
    data_dir, model = trained
    return [f"paths.data_dir={data_dir}", f"model.checkpoint={model}", f"paths.cache_dir={cache}",
            "cam.batch_size=2", *DATA, *extra, f"paths.run_dir={run_dir}"]


def _arrays(store_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for path in sorted(store_dir.glob("*.npz")):
        with np.load(path) as data:
            out[path.name] = {k: data[k] for k in data.files}
    return out


def _count_maps(cache: Path) -> int:
    return sum(1 for _ in cache.glob("cams/*/*.npz"))


@pytest.mark.slow  # starts scripts/run.py twice
def test_killed_cam_stage_resumes_to_the_uninterrupted_result(trained, tmp_path, caplog):
    ref_dir = tmp_path / "ref"
    reference = run(_compose(*_overrides(trained, tmp_path / "ref_cache", ref_dir,
                                         "stages=[cam,evaluate]")))
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    # hydra.run.dir stands in for paths.run_dir in the CLI form of the same overrides
    cli = [o for o in _overrides(trained, cache, run_dir, "stages=[cam,evaluate]")
           if not o.startswith("paths.run_dir")] + [f"hydra.run.dir={run_dir}"]
    command = [sys.executable, "-c", SLOW_RUN, *cli]
    env = {**os.environ, "WSOL_TEST_WRITE_DELAY": "0.1"}
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _count_maps(cache) < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    stored = _count_maps(cache)
    assert 6 <= stored < VAL_IMAGES, (stored, stderr[-2000:])
    assert not (run_dir / "metrics.json").exists()

    # the same overrides again (in-process, to spare a second interpreter start-up)
    with caplog.at_level(logging.INFO, logger="wsol.app.stages.cam"):
        run(_compose(*_overrides(trained, cache, run_dir, "stages=[cam,evaluate]")))
    assert f"{VAL_IMAGES - stored} of {VAL_IMAGES} images to compute" in caplog.text
    store_dir, ref_store = cam_store_path(run_dir), cam_store_path(ref_dir)
    assert store_dir.name == ref_store.name  # same key: the cache dir is not part of it
    assert sorted(p.name for p in store_dir.iterdir()) == sorted(p.name for p in
                                                                 ref_store.iterdir())
    got, want = _arrays(store_dir), _arrays(ref_store)
    assert len(got) == VAL_IMAGES and got.keys() == want.keys()
    for name, arrays in want.items():
        assert got[name].keys() == arrays.keys()
        for key, value in arrays.items():
            assert np.array_equal(got[name][key], value), (name, key)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scored = {k: v for k, v in reference.items() if k.startswith(("loc/", "seg/", "baseline/"))}
    assert scored and {k: metrics[k] for k in scored} == scored


def test_changed_setting_gets_its_own_store_and_speed_settings_share_it(trained, tmp_path):
    cache = tmp_path / "cache"
    base = _compose(*_overrides(trained, cache, tmp_path / "a", "stages=[cam]"))
    run(base)
    first = cam_store_path(tmp_path / "a")
    before = {p.name: p.stat().st_mtime_ns for p in first.glob("*.npz")}
    assert len(before) == VAL_IMAGES

    # batch size is not part of the key: the same store, nothing recomputed
    run(_compose(*_overrides(trained, cache, tmp_path / "b", "stages=[cam]", "cam.batch_size=5")))
    assert cam_store_path(tmp_path / "b") == first
    assert {p.name: p.stat().st_mtime_ns for p in first.glob("*.npz")} == before

    # a method change is: a new directory, every map recomputed, none reused
    run(_compose(*_overrides(trained, cache, tmp_path / "c", "stages=[cam]",
                             "cam.method=gradcam++")))
    second = cam_store_path(tmp_path / "c")
    assert second != first and second.parent == first.parent == cache / "cams"
    assert CamStore(second).manifest["settings"]["cam"]["method"] == "gradcam++"
    assert CamStore(first).manifest["settings"]["cam"]["method"] == "gradcam"
    old, new = _arrays(first), _arrays(second)
    assert old.keys() == new.keys()
    assert any(not np.array_equal(old[n]["cams"], new[n]["cams"]) for n in old)

    # an evaluate-only run with model.checkpoint computes the key and finds the store
    cfg = _compose(*_overrides(trained, cache, tmp_path / "d", "stages=[evaluate]",
                               "cam.method=gradcam++"))
    assert store_for_reading(build_run(cfg)) == second
    assert run(cfg)["loc/pairs"] > 0


def test_explicit_store_with_other_settings_is_refused(trained, tmp_path):
    store_dir = tmp_path / "store"
    run(_compose(*_overrides(trained, tmp_path / "cache", tmp_path / "a", "stages=[cam]",
                             f"cam.store_dir={store_dir}")))
    assert len(CamStore(store_dir).ids()) == VAL_IMAGES
    cfg = _compose(*_overrides(trained, tmp_path / "cache", tmp_path / "b", "stages=[cam]",
                               f"cam.store_dir={store_dir}", "cam.store_stride=4"))
    with pytest.raises(ConfigError, match=r"cam\.store_stride: stored 2, requested 4") as err:
        cam_stage(build_run(cfg))
    assert str(store_dir / "manifest.json") in str(err.value)
    assert "cam.store_dir" in str(err.value)


def test_full_disk_stops_with_one_clear_error_and_a_rerun_resumes(trained, tmp_path,
                                                                   monkeypatch):
    from wsol.cam import store as store_module

    real_savez, calls = store_module.np.savez, []

    def savez_until_disk_full(f, **arrays):
        calls.append(1)
        if len(calls) > 3:  # the 4th map: half a file, then ENOSPC
            f.write(b"PK\x03\x04 half a zip")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_savez(f, **arrays)

    monkeypatch.setattr(store_module.np, "savez", savez_until_disk_full)
    cfg = _compose(*_overrides(trained, tmp_path / "cache", tmp_path / "run",
                               "stages=[cam,evaluate]"))
    with pytest.raises(WsolError) as err:
        run(cfg)
    assert type(err.value) is WsolError  # not wrapped by Lightning
    store_dir = cam_store_path(tmp_path / "run")
    message = str(err.value)
    for part in (str(store_dir), "No space left on device", "ENOSPC", "free space",
                 "paths.cache_dir", "cam.store_dir", "resumes after the 3 images"):
        assert part in message, part
    assert sorted(p.name for p in store_dir.iterdir() if p.suffix != ".npz") == ["manifest.json"]
    assert len(list(store_dir.glob("*.npz"))) == 3  # no partial or temporary file
    assert not (tmp_path / "run" / "metrics.json").exists()

    monkeypatch.setattr(store_module.np, "savez", real_savez)
    assert run(cfg)["cam/images"] == VAL_IMAGES
    assert len(CamStore(store_dir).ids()) == VAL_IMAGES
