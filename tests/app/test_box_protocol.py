"""eval.box_protocol decides the box threshold (gradcam 15 %, cam 20 % of the map's maximum)
unless eval.box_threshold is set; boxes.json, loc/gt_known and the report's label follow it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.runs import run_pipeline
from scipy.ndimage import find_objects, gaussian_filter, label

from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.demo.synthetic import ensure_demo_dataset

TREE = {"num_images": 60, "val_fraction": 0.2}  # the tiny_demo_tree fixture's tree
FAST = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.input_size=32",
        "data.batch_size=16", "eval.num_figures=0"]


@pytest.fixture(scope="module")
def store(tiny_demo_tree, tmp_path_factory):
    """(data_dir, store dir, {(image_id, class): map}) of widely blurred ground-truth masks, so
    that 15 % and 20 % of the maximum give different boxes."""
    root = ensure_demo_dataset(tiny_demo_tree / "demo" / "VOCshapes", progress=False, **TREE)
    folder = tmp_path_factory.mktemp("box_protocol") / "cams"
    val, cams, maps = VOCDataset(root, "val", SHAPE_CLASSES), CamStore(folder), {}
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        stack = np.stack([gaussian_filter((mask == c + 1).astype(np.float32), 6.0)
                          for c in classes])
        cams.write(image_id, stack, classes, mask.shape)
        read, class_ids = cams.read(image_id)  # the stored (possibly strided) maps
        maps.update({(image_id, c): m for m, c in zip(read, class_ids.tolist(), strict=True)})
    return tiny_demo_tree, folder, maps


def _run(store, tmp_path, name, *overrides, stages="[localize,evaluate]"):
    data_dir, folder, _ = store
    run_dir = tmp_path / name
    metrics = run_pipeline(run_dir, f"paths.data_dir={data_dir}", f"stages={stages}",
                           f"cam.store_dir={folder}", *FAST, *overrides)
    boxes = {(b["image_id"], SHAPE_CLASSES.index(b["category"])): b["bbox"]
             for b in json.loads((run_dir / "boxes.json").read_text())}
    return run_dir, metrics, boxes


def _oracle(cam: np.ndarray, fraction: float) -> list[int]:
    """[x, y, w, h] of the largest 8-connected region of pixels >= fraction * max (scipy)."""
    keep = cam >= fraction * cam.max()
    labels, count = label(keep, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    rows, cols = find_objects(labels)[int(np.argmax(sizes))]
    return [cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start]


def test_each_protocol_boxes_at_its_published_fraction(store, tmp_path):
    _, _, maps = store
    _, cam_metrics, cam_boxes = _run(store, tmp_path, "cam", "eval.box_protocol=cam")
    _, gc_metrics, gc_boxes = _run(store, tmp_path, "gradcam", "eval.box_protocol=gradcam")
    assert cam_boxes.keys() == gc_boxes.keys() == maps.keys()
    assert cam_boxes == {key: _oracle(cam, 0.20) for key, cam in maps.items()}
    assert gc_boxes == {key: _oracle(cam, 0.15) for key, cam in maps.items()}
    assert cam_boxes != gc_boxes
    assert cam_metrics["loc/mean_iou"] != gc_metrics["loc/mean_iou"]


def test_an_explicit_box_threshold_wins_over_the_protocol(store, tmp_path):
    _, _, maps = store
    _, _, own = _run(store, tmp_path, "own", "eval.box_protocol=cam")
    _, _, explicit = _run(store, tmp_path, "explicit", "eval.box_protocol=cam",
                          "eval.box_threshold=0.5")
    _, _, gradcam_at_20 = _run(store, tmp_path, "g20", "eval.box_protocol=gradcam",
                               "eval.box_threshold=0.2")
    assert explicit == {key: _oracle(cam, 0.5) for key, cam in maps.items()} != own
    assert gradcam_at_20 == own == {key: _oracle(cam, 0.20) for key, cam in maps.items()}


def test_the_report_names_the_threshold_used(store, tmp_path):
    for name, overrides, caption in (
            ("own", ("eval.box_protocol=cam",), "the cam protocol at 0.20"),
            ("explicit", ("eval.box_protocol=cam", "eval.box_threshold=0.35"),
             "the cam protocol at 0.35")):
        run_dir, _, _ = _run(store, tmp_path, name, *overrides,
                             stages="[localize,evaluate,report]")
        assert caption in (run_dir / "report.html").read_text(), name
