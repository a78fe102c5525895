"""timm classifiers through the whole pipeline: a DeiT (Grad-CAM on its token grid) trained and
explained on the demo tree, one loaded from a local weights file on a wsolevaluation tree, and a
missing weights file stopping before any work with its path."""

from __future__ import annotations

import pytest
import torch
from helpers.runs import cam_store_path, run_pipeline

from wsol.cam import CamStore
from wsol.errors import WeightsError

timm = pytest.importorskip("timm")
pytestmark = pytest.mark.slow

TINY = ("data.input_size=64", "data.batch_size=8", "data.num_workers=0", "trainer.max_epochs=1",
        "trainer.limit_train_batches=1", "trainer.accelerator=cpu", "eval.num_figures=1")


def test_deit_trains_and_is_explained_on_its_token_grid(tiny_demo_tree, tmp_path):
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}",
                           "data.generate.num_images=60", "data.generate.val_fraction=0.2",
                           "data.cache_images=false",
                           "model.arch=timm:deit_tiny_distilled_patch16_224", "model.weights=null",
                           "model.output_stride=32", *TINY)
    for key in ("loc/maxboxacc", "seg/miou", "cls/map"):
        assert 0.0 <= metrics[key] <= 100.0, key
    store = CamStore(cam_store_path(run_dir))
    ids = store.ids()
    assert len(ids) == metrics["eval/images"]
    maps, _, _ = store.read_compact(ids[0])
    assert maps.shape[-2:] == (32, 32)  # 64 px / the demo's cam.store_stride 2
    assert any(store.read_compact(i)[0].max() > 0 for i in ids)  # not all-zero token maps


def test_weights_file_loads_for_a_benchmark_run(wsoleval_trees, tmp_path):
    from safetensors.torch import save_file

    source = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "weights" / "resnet18.safetensors"
    path.parent.mkdir()
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    tree = wsoleval_trees["CUB"]
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, "experiment=cub_resnet50_cam", f"data.root={tree.root}",
                           f"data.metadata_dir={tree.extra['metadata']}",
                           "model.arch=timm:resnet18", f"model.weights={path}",
                           "model.output_stride=32", "cam.batch_size=9", *TINY)
    assert 0.0 <= metrics["loc/maxboxacc_v2"] <= 100.0
    saved = torch.load(run_dir / "model.pt", weights_only=True)
    assert saved["arch"] == "timm:resnet18"
    # the train stage started from the file: conv1 moved little from it in one step
    drift = (saved["state_dict"]["conv1.weight"] - source.conv1.weight.detach()).abs().max()
    assert float(drift) < 0.05


def test_missing_weights_file_stops_before_any_work(wsoleval_trees, tmp_path):
    tree = wsoleval_trees["CUB"]
    run_dir = tmp_path / "run"
    missing = tmp_path / "nowhere" / "deit.safetensors"
    with pytest.raises(WeightsError) as err:
        run_pipeline(run_dir, "experiment=cub_vgg16_cam", f"data.root={tree.root}",
                     f"data.metadata_dir={tree.extra['metadata']}",
                     "model.arch=timm:deit_tiny_patch16_224", f"model.weights={missing}")
    assert str(missing) in str(err.value) and "huggingface.co/timm" in str(err.value)
    assert not (run_dir / "model.pt").exists() and not (run_dir / "metrics.json").exists()
