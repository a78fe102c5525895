"""A replaced image never scores old maps: each image file's size and modification time are in
the cache key, so a rerun makes new maps in a new store, evaluate alone does not trust the run's
record of the old one, and a pinned store refuses the changed split."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from helpers.runs import cam_store_path
from PIL import Image

from wsol.app.pipeline import run
from wsol.errors import ConfigError, DataError

from .conftest import SIZE, compose_run, tiny_checkpoint, voc_overrides

SETTINGS = ("experiment=voc_resnet", "model.weights=null", "cam.scales=[1.0]", "cam.flip=false",
            "cam.image_size=square", "cam.protocol=default")


def _maps(store_dir: Path, image_id: str) -> np.ndarray:
    with np.load(store_dir / f"{image_id}.npz") as data:
        return data["cams"].astype(np.float32)


def _replace_image(voc: Path, image_id: str) -> None:
    """New pixels under the same id, the same file name and the old modification time's
    neighbourhood (a copy from another machine, an edited photo)."""
    path = voc / "JPEGImages" / f"{image_id}.jpg"
    stat = path.stat()
    pixels = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    pixels[:, : SIZE[0] // 2] = 255  # half white, half black: nothing like the random image
    Image.fromarray(pixels).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))


def test_a_replaced_image_gets_new_maps_never_the_stalecam_store_path(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    overrides = voc_overrides(voc, tmp_path, *SETTINGS, f"model.checkpoint={model}")
    run(compose_run(*overrides, "stages=[cam,evaluate]"))
    first = cam_store_path(tmp_path / "run")
    old_b = _maps(first, "b")

    _replace_image(voc, "b")
    with pytest.raises(DataError, match="No CAMs for this split"):  # the record is not trusted
        run(compose_run(*overrides, "stages=[evaluate]"))

    run(compose_run(*overrides, "stages=[cam,evaluate]"))
    second = cam_store_path(tmp_path / "run")
    assert second != first and second.parent == first.parent  # a new key in the same cache
    assert not np.array_equal(_maps(second, "b"), old_b)  # made from the new pixels
    np.testing.assert_array_equal(_maps(second, "a"), _maps(first, "a"))
    np.testing.assert_array_equal(_maps(first, "b"), old_b)  # the old store is left as it was

    run(compose_run(*overrides, "stages=[cam,evaluate]"))  # nothing touched: the same store
    assert cam_store_path(tmp_path / "run") == second


def test_a_pinned_store_refuses_a_split_whose_images_changed(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    overrides = voc_overrides(voc, tmp_path, *SETTINGS, f"model.checkpoint={model}",
                              f"cam.store_dir={tmp_path / 'pinned'}", "stages=[cam]")
    run(compose_run(*overrides))
    _replace_image(voc, "a")
    with pytest.raises(ConfigError, match=r"dataset\.images_sha256: stored '[0-9a-f]{64}', "
                                          r"requested '[0-9a-f]{64}'"):
        run(compose_run(*overrides))
