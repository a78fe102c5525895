"""The whole pipeline through the real entry point on tiny generated trees."""

import json

import numpy as np
import pytest
from helpers.cli import error_lines
from helpers.runs import cam_store_path, run_pipeline

from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.errors import ConfigError

FAST = ["trainer.max_epochs=1", "data.input_size=64", "data.batch_size=16",
        "eval.num_figures=2"]
METRIC_KEYS = ("loc/gt_known", "loc/maxboxacc", "loc/mean_iou", "seg/miou", "seg/miou_best",
               "baseline/center/maxboxacc", "seg/best_threshold", "cls/map")


@pytest.mark.slow
def test_demo_runs_end_to_end_and_writes_every_output(tiny_demo_tree, tmp_path, run_cli):
    run_dir = tmp_path / "run"
    result = run_cli(f"paths.data_dir={tiny_demo_tree}", "data.generate.num_images=60",
                     "data.generate.val_fraction=0.2",
                     f"hydra.run.dir={run_dir}",
                     "stages=[train,cam,localize,evaluate,sanity,report]", *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in METRIC_KEYS:
        assert key in metrics, key
        assert 0.0 <= metrics[key] <= 100.0
    assert 0.0 <= metrics["seg/best_threshold"] < 1.0
    val = VOCDataset(tiny_demo_tree / "demo" / "VOCshapes", "val", SHAPE_CLASSES)
    store_dir = cam_store_path(run_dir)  # keyed cache
    assert sorted(CamStore(store_dir).ids()) == sorted(val.ids)
    assert sorted(p.stem for p in (run_dir / "seeds").glob("*.png")) == sorted(val.ids)
    boxes = json.loads((run_dir / "boxes.json").read_text())
    assert len(boxes) == sum(int(val.labels[i].sum()) for i in range(len(val)))
    for name in ("curves.csv", "figures/curves.png", "figures/examples.png", "tables.md",
                 "sanity.csv", "figures/sanity.png", "report.html", "per_class.json",
                 "per_pair.csv"):
        assert (run_dir / name).is_file(), name
    assert "faith/gradcam/deletion_auc" in metrics  # the demo scores faithfulness
    assert any(key.startswith("sanity/cascading/") for key in metrics)
    assert "seed mIoU" in result.stdout  # the summary table


def test_ground_truth_masks_as_cams_score_100_miou_and_localize_each_object(
        tiny_demo_tree, tmp_path):
    """Oracle: maps that are the GT masks give perfect seeds, and boxes that match the GT."""
    root = tiny_demo_tree / "demo" / "VOCshapes"
    run_dir = tmp_path / "run"
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    store = CamStore(run_dir / "cams")
    single_instance = 0
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        cams = np.stack([(mask == c + 1).astype(np.float32) for c in classes])
        store.write(image_id, cams, classes, mask.shape)
        single_instance += sum(1 for c in classes if (val[i].box_labels == c).sum() == 1)
    metrics = run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}",
                           "data.generate.num_images=60", "data.generate.val_fraction=0.2",
                           "stages=[localize,evaluate]",
                           f"cam.store_dir={run_dir / 'cams'}",
                           "eval.seeds_dir=" + str(root / "SegmentationClass"), *FAST)
    assert metrics["seg/miou_best"] == 100.0
    assert metrics["seg/miou"] == 100.0
    assert metrics["seeds/miou"] == 100.0
    # every single-instance class is boxed exactly by its mask (IoU 1 >= 0.5)
    assert metrics["loc/gt_known"] >= 100.0 * single_instance / metrics["loc/pairs"] - 1e-6


@pytest.mark.slow
def test_voc_resnet_runs_on_a_voc_tree_with_voc_class_names(tiny_voc_tree, tmp_path):
    metrics = run_pipeline(tmp_path / "run", "experiment=voc_resnet",
                           f"data.root={tiny_voc_tree}", "model.weights=null",
                           "trainer.max_epochs=1", "data.input_size=64", "data.batch_size=8",
                           "data.num_workers=0", "cam.batch_size=4", "eval.num_figures=1",
                           "trainer.limit_train_batches=2", "cam.scales=[1.0]",
                           "model.lr=0.001")  # IRN's 0.1 assumes ImageNet weights
    assert {"seg/miou", "seg/miou_best", "loc/maxboxacc"} <= set(metrics)


def test_user_mistakes_give_one_clear_message(tmp_path, run_cli):
    missing = run_cli("experiment=voc_resnet", f"data.root={tmp_path}/nope",
                      f"hydra.run.dir={tmp_path}/a", "stages=[cam]")
    assert missing.returncode != 0
    assert "data.root" in missing.stderr and "Traceback" not in missing.stderr
    assert error_lines(missing.stderr)[-1].startswith("wsol: error: ")
    with pytest.raises(ConfigError, match="model.arch"):
        run_pipeline(tmp_path / "b", "model.arch=resnet9000", f"paths.data_dir={tmp_path}/d",
                     "data.generate.num_images=10", "stages=[train]")
    with pytest.raises(ConfigError, match="experiment"):
        run_pipeline(tmp_path / "c", "experiment=nope")
    assert not (tmp_path / "d").exists()  # refused before the demo was generated
