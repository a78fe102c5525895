"""Maps are scored only under the settings that made them: another target layer gets its own
maps, a store folder of maps without a manifest is never adopted, the reading stages check a
pinned store's manifest, evaluate alone says when the run's record names other maps, and a
checkpoint of another network than the config names is refused."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
from helpers.runs import cam_store_path

from wsol.app.pipeline import run
from wsol.errors import ConfigError

from .conftest import compose_run, tiny_checkpoint, voc_overrides

SETTINGS = ("experiment=voc_resnet", "model.weights=null", "cam.scales=[1.0]", "cam.flip=false",
            "cam.image_size=square", "cam.protocol=default", "eval.faithfulness=false")


def _maps(store, image_id: str) -> np.ndarray:
    with np.load(store / f"{image_id}.npz") as data:
        return data["cams"].astype(np.float32) * data["scale"][:, None, None]


def test_another_target_layer_gets_its_own_maps_and_an_unknown_one_stops(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")
    overrides = voc_overrides(voc, tmp_path, *SETTINGS, f"model.checkpoint={model}",
                              "stages=[cam]")
    run(compose_run(*overrides))
    own = cam_store_path(tmp_path / "run")
    run(compose_run(*overrides, "model.target_layer=layer3"))
    layer3 = cam_store_path(tmp_path / "run")
    assert layer3 != own and layer3.parent == own.parent  # its own key in the same cache
    assert _maps(layer3, "a").shape[-2:] == _maps(own, "a").shape[-2:]  # stored at one size
    assert not np.allclose(_maps(layer3, "a"), _maps(own, "a"))
    run(compose_run(*overrides, "model.target_layer=layer4"))  # named: a key of its own too
    np.testing.assert_allclose(_maps(cam_store_path(tmp_path / "run"), "a"), _maps(own, "a"))
    with pytest.raises(ConfigError, match="layer9"):
        run(compose_run(*overrides, "model.target_layer=layer9"))


def test_a_store_folder_holding_maps_without_a_manifest_is_refused_not_adopted(voc, tmp_path):
    model_a = tiny_checkpoint(tmp_path / "a.pt", seed=0)
    model_b = tiny_checkpoint(tmp_path / "b.pt", seed=1)
    base = voc_overrides(voc, tmp_path, *SETTINGS, "stages=[cam]")
    run(compose_run(*base, f"model.checkpoint={model_a}"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for npz in cam_store_path(tmp_path / "run").glob("*.npz"):  # A's maps, no manifest
        shutil.copy(npz, foreign / npz.name)
    with pytest.raises(ConfigError, match=r"holds 2 map file\(s\) but no manifest\.json"):
        run(compose_run(*base, f"model.checkpoint={model_b}", f"cam.store_dir={foreign}"))
    assert sorted(p.name for p in foreign.iterdir()) == ["a.npz", "b.npz"]  # nothing written
    with pytest.raises(ConfigError, match="no manifest.json"):  # the reading stages too
        run(compose_run(*base, f"model.checkpoint={model_b}", f"cam.store_dir={foreign}",
                        "stages=[localize,evaluate]"))


def test_reading_stages_refuse_a_pinned_store_made_by_another_model_or_method(voc, tmp_path):
    model_a = tiny_checkpoint(tmp_path / "a.pt", seed=0)
    model_b = tiny_checkpoint(tmp_path / "b.pt", seed=1)
    pinned = tmp_path / "pinned"
    base = voc_overrides(voc, tmp_path, *SETTINGS, f"cam.store_dir={pinned}")
    run(compose_run(*base, f"model.checkpoint={model_a}", "stages=[cam]"))
    with pytest.raises(ConfigError, match=r"model\.checkpoint_sha256: stored"):
        run(compose_run(*base, f"model.checkpoint={model_b}", "stages=[localize,evaluate]"))
    with pytest.raises(ConfigError, match=r"cam\.method: stored 'gradcam', requested 'layercam'"):
        run(compose_run(*base, f"model.checkpoint={model_a}", "cam.method=layercam",
                        "stages=[localize,evaluate]"))
    metrics = run(compose_run(*base, f"model.checkpoint={model_a}",
                              "stages=[localize,evaluate]"))  # its own settings: scored
    assert "loc/pxap" in metrics


def test_evaluate_alone_says_when_the_runs_record_names_other_maps(voc, tmp_path, caplog):
    model = tiny_checkpoint(tmp_path / "model.pt")
    base = voc_overrides(voc, tmp_path, *SETTINGS, f"model.checkpoint={model}")
    other_run = f"paths.run_dir={tmp_path / 'other'}"
    run(compose_run(*base, other_run, "stages=[cam]"))  # the gradcam store exists in the cache
    run(compose_run(*base, "cam.method=layercam", "stages=[cam,evaluate]"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wsol.app.cam_cache"):
        run(compose_run(*base, "stages=[evaluate]"))  # cam.method=gradcam, the default
    warned = [r.getMessage() for r in caplog.records if r.name == "wsol.app.cam_cache"]
    assert len(warned) == 1, warned
    assert "cam_store.json records maps made with other settings" in warned[0]
    assert "cam.method: stored 'layercam', requested 'gradcam'" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wsol.app.cam_cache"):
        run(compose_run(*base, "cam.method=layercam", "stages=[evaluate]"))  # the record's own
    assert not [r for r in caplog.records if r.name == "wsol.app.cam_cache"]


def test_a_checkpoint_of_another_network_than_the_config_names_is_refused(voc, tmp_path):
    model = tiny_checkpoint(tmp_path / "model.pt")  # resnet18_quarter at output stride 16
    base = voc_overrides(voc, tmp_path, "experiment=voc_resnet", "model.weights=null",
                         f"model.checkpoint={model}", "stages=[cam]")
    with pytest.raises(ConfigError, match=r"model\.arch='resnet50' but the checkpoint's is "
                                          r"'resnet18_quarter'.*model\.arch=resnet18_quarter "
                                          r"model\.output_stride=16"):
        run(compose_run(*base, "model.arch=resnet50"))
    with pytest.raises(ConfigError, match=r"model\.output_stride=32 but the checkpoint's is 16"):
        run(compose_run(*base, "model.arch=resnet18_quarter", "model.output_stride=32"))
    assert not (tmp_path / "run" / "cam_store.json").exists()  # refused before any map
