"""A rerun in a used run directory: metrics.json holds no number a stage of this run made
stale (another model, other eval settings, an earlier run's downstream stages), and keeps the
upstream ones (``stages=[evaluate]`` keeps ``cls/map``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.models import random_shapes_checkpoint
from helpers.runs import run_pipeline

FAST = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.input_size=32",
        "data.batch_size=16", "eval.num_figures=0", "trainer.max_epochs=1",
        "eval.faithfulness=false"]
FAITH = ["eval.faithfulness=true", "eval.faith_images=2", "eval.faith_steps=2"]
SANITY = ["sanity.methods=[gradcam]", "sanity.tests=[cascading]", "sanity.num_images=2"]


@pytest.fixture(scope="module")
def full_run(tiny_demo_tree, tmp_path_factory) -> tuple[Path, Path, dict[str, float]]:
    """(run_dir, cache_dir, metrics) of a trained model's train..sanity run."""
    base = tmp_path_factory.mktemp("carry")
    cache = base / "cache"
    metrics = run_pipeline(base / "full", f"paths.data_dir={tiny_demo_tree}", *FAST, *FAITH,
                           *SANITY, "stages=[train,cam,localize,evaluate,sanity]",
                           cache_dir=cache)
    for key in ("cls/map", "loc/maxboxacc", "faith/pairs", "sanity/images"):
        assert key in metrics, key
    return base / "full", cache, metrics


def _copy(run_dir: Path, to: Path) -> Path:
    shutil.copytree(run_dir, to)
    return to


def _written(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())


def _random_checkpoint(path: Path) -> Path:
    return random_shapes_checkpoint(path, seed=7)


@pytest.mark.slow
def test_another_models_maps_keep_none_of_the_first_models_numbers(full_run, tiny_demo_tree,
                                                                   tmp_path):
    """D2 (a): the maps of model B explained in model A's run directory."""
    run_dir, cache, _ = full_run
    other = _copy(run_dir, tmp_path / "a2")
    boxes_before = (other / "boxes.json").stat().st_mtime_ns
    model_b = _random_checkpoint(tmp_path / "b" / "model.pt")
    metrics = run_pipeline(other, f"paths.data_dir={tiny_demo_tree}", *FAST,
                           f"model.checkpoint={model_b}", "stages=[cam,localize,evaluate]",
                           cache_dir=cache)
    assert _written(other) == metrics
    stale = [k for k in metrics if k.split("/")[0] in ("cls", "train", "faith", "sanity")]
    assert stale == []  # model A's mAP, faithfulness and sanity numbers are gone
    assert {"cam/images", "localize/images", "loc/maxboxacc", "seg/miou"} <= set(metrics)
    assert (other / "boxes.json").stat().st_mtime_ns != boxes_before


@pytest.mark.slow
def test_evaluate_with_other_settings_replaces_every_evaluate_key(full_run, tiny_demo_tree,
                                                                  tmp_path):
    """D2 (b): MaxBoxAccV2 does not survive eval.multi_contour=false; cls/map stays."""
    run_dir, cache, first = full_run
    rerun = _copy(run_dir, tmp_path / "b")
    args = [f"paths.data_dir={tiny_demo_tree}", *FAST, "stages=[evaluate]"]
    v2 = run_pipeline(rerun, *args, "eval.multi_contour=true", cache_dir=cache)
    assert {"loc/maxboxacc_v2", "loc/maxboxacc@30", "loc/maxboxacc@70"} <= set(v2)
    metrics = run_pipeline(rerun, *args, "eval.multi_contour=false", "eval.iou_thresholds=[50]",
                           cache_dir=cache)
    assert _written(rerun) == metrics
    for key in ("loc/maxboxacc_v2", "baseline/center/maxboxacc_v2", "loc/maxboxacc@30",
                "loc/maxboxacc@70", "faith/pairs"):  # faithfulness is off in this run
        assert key not in metrics, key
    assert metrics["loc/maxboxacc@50"] == metrics["loc/maxboxacc"]
    # the numbers evaluate does not feed stay: train, cam, localize and sanity of this model
    kept = ["cls/map", "train/seconds", "cam/images", "localize/images"]
    kept += [k for k in first if k.startswith("sanity/")]
    assert any(k.startswith("sanity/") for k in kept)  # the full run measured them
    for key in kept:
        assert metrics[key] == first[key], key


@pytest.mark.slow
def test_a_retrain_keeps_no_wsss_numbers_of_the_earlier_model(full_run, tiny_demo_tree,
                                                             tmp_path):
    """D2 (c): a run directory first used by demo_wsss, then retrained."""
    run_dir, cache, first = full_run
    wsss = _copy(run_dir, tmp_path / "w")
    made = run_pipeline(wsss, f"paths.data_dir={tiny_demo_tree}", "experiment=demo_wsss",
                        *FAST, "pseudo.max_images=4", "pseudo.refiner=none",
                        "pseudo.num_workers=0", "stages=[cam,pseudo]", cache_dir=cache)
    assert "seg/pseudo_miou" in made and made["cls/map"] == first["cls/map"]
    assert "loc/maxboxacc" not in made  # new maps (train split): evaluate's numbers went
    metrics = run_pipeline(wsss, f"paths.data_dir={tiny_demo_tree}", *FAST, "seed=5",
                           "stages=[train,cam,localize,evaluate]", cache_dir=cache)
    assert _written(wsss) == metrics
    assert not [k for k in metrics if k.startswith(("seg/pseudo", "pseudo/", "sanity/"))]
    assert {"cls/map", "train/seconds", "loc/maxboxacc"} <= set(metrics)
    assert np.isfinite(metrics["cls/map"])


@pytest.mark.slow
def test_an_evaluate_of_seeds_only_removes_the_files_of_an_earlier_evaluates_maps(
        full_run, tiny_demo_tree, tmp_path):
    """per_pair.csv, per_class.json and the curves describe maps; an evaluate that scored no
    maps (only eval.seeds_dir) must not leave an earlier evaluate's beside its numbers."""
    run_dir, _, first = full_run
    rerun = _copy(run_dir, tmp_path / "s")
    files = ("per_pair.csv", "per_class.json", "curves.csv", "figures/curves.png")
    assert all((rerun / name).is_file() for name in files)
    metrics = run_pipeline(rerun, f"paths.data_dir={tiny_demo_tree}", *FAST,
                           f"eval.seeds_dir={rerun / 'seeds'}", "stages=[evaluate]",
                           cache_dir=tmp_path / "empty_cache")  # no maps for this model here
    assert "seeds/miou" in metrics and metrics["cls/map"] == first["cls/map"]
    assert not [k for k in metrics if k.startswith(("loc/", "baseline/", "seg/"))]
    assert [name for name in files if (rerun / name).exists()] == []


@pytest.mark.slow
def test_new_maps_remove_the_files_of_the_results_they_make_stale(full_run, tiny_demo_tree,
                                                                  tmp_path):
    """After ``stages=[cam,report]`` with other maps, the report must not show the earlier
    evaluate's per-class table, pairs, curves or boxes beside numbers that are gone."""
    run_dir, cache, first = full_run
    rerun = _copy(run_dir, tmp_path / "m")
    stale = ("per_pair.csv", "per_class.json", "curves.csv", "figures/curves.png",
             "boxes.json", "seeds")
    assert all((rerun / name).exists() for name in stale)
    metrics = run_pipeline(rerun, f"paths.data_dir={tiny_demo_tree}", *FAST, "cam.flip=true",
                           "stages=[cam,report]", cache_dir=cache)
    assert [name for name in stale if (rerun / name).exists()] == []
    assert "loc/maxboxacc" not in metrics and metrics["cls/map"] == first["cls/map"]
    # what the new maps do not touch stays: the model, its class table, the sanity results
    for name in ("model.pt", "class_ap.json", "sanity.csv", "figures/sanity.png"):
        assert (rerun / name).is_file(), name
    assert "No per_pair.csv" in (rerun / "report.html").read_text()


@pytest.mark.slow
def test_a_cam_rerun_that_finds_its_maps_complete_keeps_every_result(full_run, tiny_demo_tree,
                                                                      tmp_path):
    """The README's resume advice (run the same command again) on a finished run: the cam
    stage computes nothing, so nothing made from its maps is stale."""
    run_dir, cache, first = full_run
    rerun = _copy(run_dir, tmp_path / "same")
    files = ("per_pair.csv", "per_class.json", "curves.csv", "boxes.json", "seeds")
    metrics = run_pipeline(rerun, f"paths.data_dir={tiny_demo_tree}", *FAST, *FAITH, *SANITY,
                           "stages=[cam]", cache_dir=cache)
    assert metrics == first
    assert all((rerun / name).exists() for name in files)
