"""Edited annotations never score old maps: with ``cam.classes=gt`` the labels are in the cache
key (a rerun makes new maps in a new store), a pinned store refuses them, and evaluate alone
refuses maps made for other classes than the image's labels now list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.runs import cam_store_path

from wsol.app.pipeline import run
from wsol.datasets.classes import VOC_CLASSES
from wsol.datasets.voc_format import voc_xml_string
from wsol.errors import ConfigError, DataError

from .conftest import SIZE, compose_run, tiny_checkpoint, voc_overrides

CAT, DOG = VOC_CLASSES.index("cat"), VOC_CLASSES.index("dog")


def _class_ids(store_dir: Path, image_id: str) -> list[int]:
    with np.load(store_dir / f"{image_id}.npz") as data:
        return data["class_ids"].tolist()


def test_an_edited_annotation_gets_new_maps_never_the_stalecam_store_path(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    overrides = voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                              f"model.checkpoint={model}", "cam.scales=[1.0]", "cam.flip=false",
                              "cam.image_size=square", "cam.protocol=default")
    run(compose_run(*overrides, "stages=[cam,evaluate]"))
    first = cam_store_path(tmp_path / "run")
    assert _class_ids(first, "b") == [DOG]

    (voc / "Annotations" / "b.xml").write_text(voc_xml_string(
        "b.jpg", SIZE, [{"name": "dog", "box": (2, 3, 20, 25)},
                        {"name": "cat", "box": (22, 3, 38, 25)}]))
    with pytest.raises(DataError) as err:  # the run's record still points at the old store
        run(compose_run(*overrides, "stages=[evaluate]"))
    assert str(err.value).startswith(f"The maps of image 'b' in {first} are for classes "
                                     f"[{DOG}] but its annotation now lists [{CAT}, {DOG}]")

    metrics = run(compose_run(*overrides, "stages=[cam,evaluate]"))
    second = cam_store_path(tmp_path / "run")
    assert second != first and second.parent == first.parent  # a new key in the same cache
    assert _class_ids(second, "b") == [CAT, DOG] and _class_ids(second, "a") == [DOG]
    assert _class_ids(first, "b") == [DOG]  # the old store is left as it was
    assert metrics["loc/pairs"] == 3.0  # a-dog, b-dog, b-cat: the new pair is scored


def test_a_pinned_store_refuses_maps_made_for_other_labels(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    pinned = tmp_path / "pinned"
    overrides = voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                              f"model.checkpoint={model}", "cam.scales=[1.0]", "cam.flip=false",
                              "cam.image_size=square", "cam.protocol=default",
                              f"cam.store_dir={pinned}", "stages=[cam]")
    run(compose_run(*overrides))
    (voc / "Annotations" / "a.xml").write_text(voc_xml_string(
        "a.jpg", SIZE, [{"name": "cat", "box": (2, 3, 20, 25)}]))
    with pytest.raises(ConfigError, match=r"dataset\.labels_sha256: stored '[0-9a-f]{64}', "
                                          r"requested '[0-9a-f]{64}'"):
        run(compose_run(*overrides))
