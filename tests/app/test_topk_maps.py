"""cam.classes=topk: the ranked guesses give the top-k error and the predictions, and the maps of
labelled classes outside the top k keep every labelled class in the GT-known metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.models import random_shapes_checkpoint
from helpers.runs import build, cam_store_path, run_pipeline

from wsol.app.map_classes import check_map_classes, predicted, topk_then_labelled
from wsol.app.schema import CamConfig
from wsol.cam import CamStore
from wsol.errors import DataError

TINY = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.num_workers=0",
        "trainer.accelerator=cpu", "eval.num_figures=0", "data.cam_split=train",
        "data.input_size=64", "eval.cam_threshold_step=0.02", "eval.faithfulness=false",
        "stages=[cam,localize,evaluate]"]


def test_the_ranked_classes_come_first_then_the_labelled_ones_left_out():
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 2.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert topk_then_labelled(logits, labels, 2) == [[1, 2, 0, 3], [0, 3]]
    assert topk_then_labelled(logits, labels, 9) == [[1, 2, 0, 3], [0, 3, 2, 1]]
    cams, ids = np.zeros((4, 2, 2)), np.array([1, 2, 0, 3])
    top = CamConfig(classes="topk", topk=2)
    assert predicted(cams, ids, top)[1].tolist() == [1, 2]
    assert predicted(cams, ids, CamConfig(classes="gt"))[1].tolist() == [1, 2, 0, 3]


def test_maps_without_the_labelled_extras_are_refused(tmp_path):
    store, labels = CamStore(tmp_path), np.array([1.0, 0.0, 1.0, 1.0], np.float32)
    top = CamConfig(classes="topk", topk=2)
    check_map_classes(top, store, "a", np.array([1, 2, 0, 3]), labels)
    check_map_classes(top, store, "a", np.array([0, 2, 3]), labels)  # both guesses labelled
    with pytest.raises(DataError, match=r"'a'.*outside the top 2.*Rerun the cam stage"):
        check_map_classes(top, store, "a", np.array([1, 2]), labels)  # a store made before


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return random_shapes_checkpoint(tmp_path_factory.mktemp("model") / "model.pt")


def test_top1_maps_score_every_labelled_class_and_predict_one_box(tiny_demo_tree, checkpoint,
                                                                  tmp_path):
    common = [f"paths.data_dir={tiny_demo_tree}", f"model.checkpoint={checkpoint}", *TINY]
    gt = run_pipeline(tmp_path / "gt", *common, "cam.classes=gt")
    top = run_pipeline(tmp_path / "top", *common, "cam.classes=topk", "cam.topk=1")
    assert gt["loc/pairs"] > 48 and top["loc/pairs"] == gt["loc/pairs"]  # every labelled class
    for key in ("loc/gt_known", "loc/maxboxacc", "loc/pxap", "loc/corloc"):
        assert top[key] == pytest.approx(gt[key], abs=1e-6), key  # the same class maps
    assert "loc/top1_loc_err" in top and "loc/top1_loc_err" not in gt
    run = build(tmp_path / "top", *common, "cam.classes=topk", "cam.topk=1")
    images = run.data.open("train")
    store = CamStore(cam_store_path(tmp_path / "top"))
    extras = 0
    for image_id, labels in zip(images.ids, images.labels, strict=True):
        ids = store.read(image_id)[1].tolist()
        labelled = np.flatnonzero(labels).tolist()
        assert sorted(ids[1:]) == [c for c in labelled if c != ids[0]]
        extras += len(ids) - 1
    assert extras > 0  # the random classifier misses some labelled classes
    boxes = json.loads((tmp_path / "top" / "boxes.json").read_text())
    assert len(boxes) == len(images.ids)  # the guesses alone are predictions
