"""The wsolevaluation benchmark end to end: each dataset x backbone CAM experiment on small trees
in the real format (random init, one tiny training step), the train-fullsup protocol read back
from the curves it wrote, the recipes' published settings, and the data checker's findings."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from helpers.runs import build, compose, run_pipeline

from wsol.app.preflight import check_run
from wsol.errors import WsolError

pytestmark = pytest.mark.slow

DATASETS = {"cub": "CUB", "ilsvrc": "ILSVRC", "openimages": "OpenImages"}
BACKBONES = ("vgg16", "inception_v3", "resnet50")
# Shrinks a recipe to seconds on a 2-core CPU without changing what it computes.
TINY = ("model.weights=null", "data.input_size=32", "data.batch_size=4", "data.num_workers=0",
        "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.accelerator=cpu",
        "eval.num_figures=1", "cam.batch_size=9")


def _tree_overrides(tree) -> tuple[str, str]:
    return f"data.root={tree.root}", f"data.metadata_dir={tree.extra['metadata']}"


def _curve(path, name) -> tuple[np.ndarray, np.ndarray]:
    rows = [r for r in csv.DictReader(path.open()) if r["curve"] == name]
    return (np.array([float(r["threshold"]) for r in rows]),
            np.array([float(r["value"]) for r in rows]))


def _check_protocol(metrics: dict, run_dir) -> None:
    """The protocol/ numbers, recomputed from the two splits' curves.csv: tau = the first
    threshold of val's best BoxAcc; the test BoxAcc at that tau; never above test's maximum."""
    for delta in (30, 50, 70):
        grid, val = _curve(run_dir / "select_val" / "curves.csv", f"loc/boxacc@{delta}")
        test_grid, test = _curve(run_dir / "curves.csv", f"loc/boxacc@{delta}")
        assert len(grid) == 1000 and np.array_equal(grid, test_grid)  # the 0.001 grid
        best = int(np.argmax(val))
        assert metrics[f"protocol/threshold@{delta}"] == pytest.approx(grid[best], abs=1e-4)
        assert metrics[f"protocol/boxacc@{delta}"] == pytest.approx(test[best], abs=0.01)
        assert metrics[f"val/loc/maxboxacc@{delta}"] == pytest.approx(val.max(), abs=0.01)
        assert metrics[f"loc/maxboxacc@{delta}"] == pytest.approx(test.max(), abs=0.01)
        assert metrics[f"protocol/boxacc@{delta}"] <= metrics[f"loc/maxboxacc@{delta}"]
    assert metrics["protocol/boxacc_v2"] == pytest.approx(np.mean(
        [metrics[f"protocol/boxacc@{d}"] for d in (30, 50, 70)]), abs=0.01)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("backbone", BACKBONES)
def test_experiment_runs_end_to_end(dataset, backbone, wsoleval_trees, tmp_path):
    tree = wsoleval_trees[DATASETS[dataset]]
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, f"experiment={dataset}_{backbone}_cam",
                           *_tree_overrides(tree), *TINY)
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    assert metrics["protocol/chosen_on"] == "val" and metrics["protocol/scored_on"] == "test"
    assert metrics["eval/images"] == len(tree.splits["test"])
    assert metrics["val/cam/images"] == len(tree.splits["val"])
    if dataset == "openimages":  # masks with ignore regions: PxAP, no boxes
        keys = ("loc/pxap", "val/loc/pxap", "baseline/center/pxap", "protocol/pixel_iou")
        assert "loc/maxboxacc_v2" not in metrics
    else:
        keys = ("loc/maxboxacc_v2", "val/loc/maxboxacc_v2", "protocol/boxacc_v2",
                "baseline/center/maxboxacc_v2", *(f"protocol/boxacc@{d}" for d in (30, 50, 70)))
        assert metrics["data/clipped_boxes"] == tree.extra["clipped"]["test"]
        _check_protocol(metrics, run_dir)
    for key in keys:
        assert 0.0 <= metrics[key] <= 100.0, (key, metrics[key])


RECIPES = {  # experiment -> (arch, output stride, lr, epochs, decay every, weight decay)
    "cub_vgg16_cam": ("vgg16_cam", 16, 1.268269e-5, 50, 15, 5e-4),
    "cub_inception_v3_cam": ("inception_v3_cam", 8, 2.24844746e-3, 50, 15, 5e-4),
    "cub_resnet50_cam": ("resnet50_cam", 8, 2.3222617e-4, 50, 15, 1e-4),
    "ilsvrc_vgg16_cam": ("vgg16_cam", 16, 1.654502e-5, 10, 3, 5e-4),
    "ilsvrc_resnet50_cam": ("resnet50_cam", 8, 3.108411e-5, 10, 3, 1e-4),
    "openimages_vgg16_cam": ("vgg16_cam", 16, 2.27913316e-3, 10, 3, 5e-4),
}


@pytest.mark.parametrize("experiment", sorted(RECIPES))
def test_recipes_compose_with_wsolevaluations_settings(experiment):
    cfg = compose(f"experiment={experiment}")
    arch, stride, lr, epochs, every, decay = RECIPES[experiment]
    m = cfg.model
    assert (m.arch, m.output_stride, m.lr, m.weight_decay) == (arch, stride, lr, decay)
    assert (m.optimizer, m.schedule, m.lr_decay_epochs, m.head_lr_mult, m.loss) == \
        ("sgd_nesterov", "step", every, 10.0, "softmax")
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, cfg.data.input_size) == (epochs, 32, 224)
    assert list(cfg.data.crop_scale) == [(224 / 256) ** 2] * 2 and list(cfg.data.crop_ratio) == \
        [1.0, 1.0]  # resize to 256, random 224 crop
    assert (cfg.cam.method, cfg.cam.classes, cfg.data.cam_split) == ("cam", "gt", "test")
    ev = cfg.eval
    assert (ev.select_split, ev.cam_threshold_step, ev.multi_contour, list(ev.iou_thresholds)) \
        == ("val", 0.001, True, [30, 50, 70])
    assert cfg.optimize_metric.startswith("val/")  # sweeps choose on train-fullsup, not test


@pytest.mark.parametrize("key, value, words", [
    ("paths.data_dir", "nowhere", ["data.root"]),
    ("data.metadata_dir", "nowhere/metadata", ["data.metadata_dir"]),
])
def test_missing_data_stops_before_work(wsoleval_trees, tmp_path, key, value, words):
    tree = wsoleval_trees["CUB"]
    run_dir = tmp_path / "run"
    overrides = [f"data.metadata_dir={tree.extra['metadata']}"] if key == "paths.data_dir" \
        else [f"data.root={tree.root}"]
    with pytest.raises(WsolError) as err:
        run_pipeline(run_dir, "experiment=cub_vgg16_cam", *overrides,
                     f"{key}={tmp_path / value}")
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)
    assert not (run_dir / "model.pt").exists() and not (run_dir / "metrics.json").exists()


def test_data_checker_lists_masks_and_the_selection_split(wsoleval_trees, tmp_path):
    tree = wsoleval_trees["OpenImages"]
    base = tmp_path / "copy"
    shutil.copytree(tree.root.parents[1], base)
    root, metadata = base / "dataset" / "OpenImages", base / "metadata" / "OpenImages"
    run = build(tmp_path / "run", "experiment=openimages_vgg16_cam", f"data.root={root}",
                f"data.metadata_dir={metadata}", "model.weights=null")
    findings = check_run(run, progress=False)
    assert all(f.ok for f in findings), [f for f in findings if not f.ok]
    checks = {f.check for f in findings}
    assert any("eval.select_split" in c and c.endswith("masks") for c in checks)
    victim = sorted(root.rglob("*_ignore.png"))[0]
    victim.unlink()
    run = build(tmp_path / "run2", "experiment=openimages_vgg16_cam", f"data.root={root}",
                f"data.metadata_dir={metadata}", "model.weights=null")
    bad = [f for f in check_run(run, progress=False) if not f.ok]
    assert len(bad) == 1 and "masks" in bad[0].check and str(victim) in bad[0].detail


@pytest.mark.parametrize("method", ["has", "adl", "cutmix"])
def test_training_time_methods_run_on_a_recipe(method, wsoleval_trees, tmp_path):
    """(Their behaviour is tested in tests/models; here: the recipe trains with each and the
    run says which, for the tables' method rows.)"""
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, "experiment=cub_vgg16_cam", f"model.wsol_method={method}",
                           *_tree_overrides(wsoleval_trees["CUB"]), *TINY)
    assert 0.0 <= metrics["loc/maxboxacc_v2"] <= 100.0
    assert metrics["protocol/chosen_on"] == "val"
    assert json.loads((run_dir / "run_info.json").read_text())["variant"] == method


def test_evaluate_alone_rereads_both_splits_and_needs_the_selection_maps(wsoleval_trees,
                                                                         tmp_path):
    tree = wsoleval_trees["CUB"]
    cache = tmp_path / "cache"
    first = run_pipeline(tmp_path / "run", "experiment=cub_vgg16_cam", *_tree_overrides(tree),
                         *TINY, cache_dir=cache)
    again = tmp_path / "again"
    evaluate = ("stages=[evaluate]", f"model.checkpoint={tmp_path / 'run' / 'model.pt'}")
    second = run_pipeline(again, "experiment=cub_vgg16_cam", *_tree_overrides(tree), *TINY,
                          *evaluate, cache_dir=cache)
    shared = [k for k in first if k.startswith(("loc/", "val/loc/", "protocol/"))]
    assert shared and all(second[k] == first[k] for k in shared)
    record = json.loads((tmp_path / "run" / "select_val" / "cam_store.json").read_text())
    shutil.rmtree(record["path"])  # the val maps are gone: stop before scoring anything
    with pytest.raises(WsolError, match="No CAMs"):
        run_pipeline(tmp_path / "third", "experiment=cub_vgg16_cam", *_tree_overrides(tree),
                     *TINY, *evaluate, cache_dir=cache)
    assert not (tmp_path / "third" / "metrics.json").exists()
    run = build(tmp_path / "fourth", "experiment=cub_vgg16_cam", *_tree_overrides(tree), *TINY,
                *evaluate, f"paths.cache_dir={cache}")
    bad = [f for f in check_run(run, progress=False) if not f.ok]  # the preflight's finding
    assert [f.check for f in bad] == ["CAM store (eval.select_split=val)"]
