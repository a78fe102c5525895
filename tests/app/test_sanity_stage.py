"""The sanity stage on its own against a checkpoint: outputs, and nothing stored is touched."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.runs import run_pipeline

from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.models.backbones import build_backbone
from wsol.models.checkpoint import save_classifier
from wsol.sanity.permuted import PermutedLabels

DATA = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.input_size=32",
        "data.batch_size=16", "eval.num_figures=0", "sanity.num_images=3"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A model.pt of the demo's classes with a spread in every weight (no training needed)."""
    torch.manual_seed(0)
    net, _ = build_backbone("resnet18_quarter", len(SHAPE_CLASSES), output_stride=8)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_classifier(path, net, {"arch": "resnet18_quarter", "num_classes": len(SHAPE_CLASSES),
                                "output_stride": 8, "class_names": list(SHAPE_CLASSES)})
    return path


def _hashes(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under ``roots`` (or of the file itself)."""
    files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
             if p.is_file()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_sanity_alone_writes_its_outputs_and_touches_neither_model_nor_cache(
        tiny_demo_tree, checkpoint, tmp_path):
    cache = tmp_path / "cache"
    common = [f"paths.data_dir={tiny_demo_tree}", f"model.checkpoint={checkpoint}", *DATA]
    run_pipeline(tmp_path / "cam_run", "stages=[cam]", *common, cache_dir=cache)
    before = _hashes(checkpoint, cache)
    assert any(name.endswith(".npz") for name in before)  # the cache holds maps to protect
    run_dir = tmp_path / "sanity_run"
    metrics = run_pipeline(run_dir, "stages=[sanity]", "sanity.methods=[gradcam,cam,"
                           "guided_backprop,guided_gradcam]", *common, cache_dir=cache)
    assert _hashes(checkpoint, cache) == before
    with open(run_dir / "sanity.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    blocks = ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
    assert len(rows) == 2 * len(blocks) * 4 * 4  # tests x blocks x methods x measures
    assert [r["block"] for r in rows if (r["test"], r["method"], r["metric"]) ==
            ("cascading", "cam", "ssim")] == blocks
    # images whose trained map is constant are left out of that method's rows; guided
    # backprop's gradient never is
    assert all(0 <= int(r["n"]) <= 3 for r in rows)
    assert {r["n"] for r in rows if r["method"] == "guided_backprop"} == {"3"}
    assert all(-1.0 <= float(r["mean"]) <= 1.0 for r in rows)
    assert (run_dir / "figures" / "sanity.png").stat().st_size > 10_000
    assert metrics["sanity/images"] == 3.0
    assert -1.0 <= metrics["sanity/cascading/cam/spearman_abs"] <= 1.0
    assert not (run_dir / "model.pt").exists()


def test_permuted_labels_move_whole_rows_and_keep_everything_else(demo_root):
    split = VOCDataset(demo_root, "train", SHAPE_CLASSES)
    permuted = PermutedLabels(split, seed=3)
    assert sorted(map(tuple, permuted.labels.tolist())) == sorted(map(tuple,
                                                                       split.labels.tolist()))
    np.testing.assert_array_equal(permuted.labels, split.labels[permuted.permutation])
    assert not np.array_equal(permuted.permutation, np.arange(len(split)))
    assert permuted.ids == split.ids and len(permuted) == len(split)
    np.testing.assert_array_equal(permuted[2].labels, permuted.labels[2])
    np.testing.assert_array_equal(permuted[2].image, split[2].image)
    assert permuted.annotations is split.annotations


@pytest.mark.slow
def test_data_randomisation_trains_a_second_model_in_memory_only(tiny_demo_tree, checkpoint,
                                                                  tmp_path):
    before = _hashes(checkpoint)
    run_dir = tmp_path / "run"
    metrics = run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}",
                           f"model.checkpoint={checkpoint}", "stages=[sanity]",
                           "sanity.tests=[data]", "sanity.methods=[gradcam,guided_backprop]",
                           "trainer.max_epochs=1", "trainer.limit_train_batches=2", *DATA)
    assert _hashes(checkpoint) == before and not (run_dir / "model.pt").exists()
    with open(run_dir / "sanity.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["test"], r["block"]) for r in rows} == {("data", "permuted_labels")}
    assert len(rows) == 2 * 4
    assert 0.0 <= metrics["sanity/data/train_map_permuted"] <= 100.0
