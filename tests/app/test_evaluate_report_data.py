"""What the evaluate stage adds for the report: per-class tables, per-pair rows, faithfulness."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from helpers.models import random_shapes_checkpoint
from helpers.runs import run_pipeline
from scipy.ndimage import gaussian_filter

from wsol.cam import CamStore
from wsol.datasets.classes import SHAPE_CLASSES
from wsol.datasets.voc import VOCDataset
from wsol.demo.synthetic import ensure_demo_dataset
from wsol.localize import boxes_from_cam, normalize_scoremap
from wsol.metrics import box_iou

# the tree of the tiny_demo_tree fixture (a run with other generate settings regenerates it)
TREE = {"num_images": 60, "val_fraction": 0.2}
FAST = ["data.generate.num_images=60", "data.generate.val_fraction=0.2", "data.input_size=32",
        "data.batch_size=16", "eval.num_figures=0"]


@pytest.fixture(scope="module")
def gt_run(tiny_demo_tree, tmp_path_factory):
    """(run_dir, val split, metrics) of evaluate on a store of blurred ground-truth masks."""
    root = ensure_demo_dataset(tiny_demo_tree / "demo" / "VOCshapes", progress=False, **TREE)
    run_dir = tmp_path_factory.mktemp("gt_run")
    val = VOCDataset(root, "val", SHAPE_CLASSES)
    store = CamStore(run_dir / "cams")
    for i, image_id in enumerate(val.ids):
        mask = val.mask(i)
        classes = np.flatnonzero(val.labels[i]).tolist()
        store.write(image_id, np.stack([gaussian_filter((mask == c + 1).astype(np.float32), 2.0)
                                        for c in classes]), classes, mask.shape)
    metrics = run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", "stages=[evaluate]",
                           f"cam.store_dir={run_dir / 'cams'}", *FAST)
    return run_dir, val, metrics


def _pairs(run_dir) -> list[dict]:
    with open(run_dir / "per_pair.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_per_pair_ious_equal_a_brute_force_box_at_the_best_threshold(gt_run):
    run_dir, val, metrics = gt_run
    tau = metrics["loc/best_threshold"]
    rows = _pairs(run_dir)
    expected = []
    for i, image_id in enumerate(val.ids):
        maps, class_ids = CamStore(run_dir / "cams").read(image_id)
        ann = val.annotations[i]
        for cam, c in zip(maps, class_ids.tolist(), strict=True):
            boxes = boxes_from_cam(normalize_scoremap(cam), [tau])[0]
            iou = box_iou(boxes, ann.boxes[ann.box_labels == c]).max()
            expected.append((image_id, c, 100 * iou))
    assert [(r["image_id"], int(r["class_id"])) for r in rows] == [e[:2] for e in expected]
    np.testing.assert_allclose([float(r["iou_best"]) for r in rows], [e[2] for e in expected],
                               atol=0.006)
    assert all(float(r["iou_max"]) >= float(r["iou_best"]) for r in rows)
    hits = np.mean([float(r["iou_best"]) >= 50 for r in rows])  # the dataset's MaxBoxAcc
    assert 100 * hits == pytest.approx(metrics["loc/maxboxacc"], abs=0.01)
    # the demo turns faithfulness on, but a pinned store has no classifier: skipped, not fatal
    assert not any(key.startswith("faith/") for key in metrics)


def _irn_seed(maps: np.ndarray, class_ids: np.ndarray, tau: float) -> np.ndarray:
    """IRN's seed: a constant background plane tau before the class maps, argmax."""
    padded = np.pad(maps, ((1, 0), (0, 0), (0, 0)), constant_values=tau)
    return np.pad(class_ids + 1, (1, 0))[np.argmax(padded, axis=0)]


def test_per_class_tables_agree_with_the_pairs_and_with_irn_seeds(gt_run):
    run_dir, val, metrics = gt_run
    per_class = json.loads((run_dir / "per_class.json").read_text())
    rows = _pairs(run_dir)
    assert sum(row["pairs"] for row in per_class.values()) == metrics["loc/pairs"]
    inter, union = {}, {}
    for i, image_id in enumerate(val.ids):  # seed IoU per pair and per class, by hand
        maps, class_ids = CamStore(run_dir / "cams").read(image_id)
        seed = _irn_seed(maps, class_ids, 0.15)  # the maps as read, as the seeds use them
        mask = val.mask(i)
        valid = mask != 255
        for c in class_ids.tolist():
            pred, gt = (seed == c + 1) & valid, (mask == c + 1) & valid
            inter[c] = inter.get(c, 0) + (pred & gt).sum()
            union[c] = union.get(c, 0) + (pred | gt).sum()
            row = next(r for r in rows if (r["image_id"], int(r["class_id"])) == (image_id, c))
            assert float(row["seed_iou"]) == pytest.approx(100 * (pred & gt).sum()
                                                           / (pred | gt).sum(), abs=0.006)
    for name, row in per_class.items():
        c = SHAPE_CLASSES.index(name)
        mine = [r for r in rows if r["class"] == name]
        assert row["pairs"] == len(mine)
        hit = 100 * np.mean([float(r["iou_best"]) >= 50 for r in mine])
        assert row["boxacc"] == pytest.approx(hit, abs=0.01)
        assert row["maxboxacc"] >= row["boxacc"]
        assert 0 <= row["pxap"] <= 100
        assert row["seed_iou"] == pytest.approx(100 * inter[c] / union[c], abs=0.01)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return random_shapes_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", seed=1)


def test_faithfulness_keys_per_method_and_equal_for_maps_equal_up_to_scale(
        tiny_demo_tree, checkpoint, tmp_path):
    """On a GAP + Linear head Grad-CAM is CAM / (h w): every faithfulness score, which reads
    only the maps' order and their shape scaled to [0, 1], must be the same for both."""
    metrics = run_pipeline(tmp_path / "run", f"paths.data_dir={tiny_demo_tree}",
                           f"model.checkpoint={checkpoint}", "stages=[cam,evaluate]",
                           "eval.faithfulness=true", "eval.faith_methods=[gradcam,cam]",
                           "eval.faith_images=4", "eval.faith_steps=4", *FAST,
                           cache_dir=tmp_path / "cache")
    val = VOCDataset(tiny_demo_tree / "demo" / "VOCshapes", "val", SHAPE_CLASSES)
    picked = np.linspace(0, len(val) - 1, 4).round().astype(int)
    assert metrics["faith/pairs"] == val.labels[picked].sum()
    for name in ("deletion_auc", "insertion_auc", "avg_drop", "avg_increase"):
        for method in ("gradcam", "cam", "baseline/center"):
            assert 0.0 <= metrics[f"faith/{method}/{name}"] <= 100.0
        assert metrics[f"faith/gradcam/{name}"] == pytest.approx(metrics[f"faith/cam/{name}"],
                                                                 abs=0.011)


def test_the_report_stage_writes_a_page_with_the_runs_tables_and_gallery(gt_run,
                                                                          tiny_demo_tree):
    from html.parser import HTMLParser

    run_dir, _, metrics = gt_run
    run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", "stages=[report]",
                 f"cam.store_dir={run_dir / 'cams'}", "report.gallery_per_class=1",
                 "report.thumb_height=40", f"report.search_dirs=[{run_dir}]", *FAST)
    html = (run_dir / "report.html").read_text()

    class Tags(HTMLParser):
        found: list = []

        def handle_starttag(self, tag, attrs):
            self.found.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(html)
    cards = [a for t, a in parser.found if t == "figure" and "data-tag" in a]
    per_class = json.loads((run_dir / "per_class.json").read_text())
    # one best and one worst per class (a class with a single pair shows it once)
    assert len(cards) == sum(min(2, int(row["pairs"])) for row in per_class.values())
    for t, a in parser.found:
        if t == "img" and a["src"].startswith("report_files/"):
            assert (run_dir / a["src"]).is_file() and a["height"] == "40"
    assert f"{metrics['loc/maxboxacc']:.2f}" in html
    assert all(name in html for name in per_class)
    assert "seed IoU" in html and "classifier AP" not in html  # no train stage: no AP column


def test_the_report_tables_show_this_runs_numbers_under_its_run_directory(
        gt_run, tiny_demo_tree, tmp_path):
    """A run without experiment= (as the plain demo, and every in-process run) appears in its
    own tables.md; a newer run elsewhere does not stand in for it."""
    run_dir, _, metrics = gt_run
    newer = tmp_path / "outputs" / "newer"
    newer.mkdir(parents=True)
    (newer / "run_info.json").write_text(json.dumps({"experiment": "", "command": "x"}))
    (newer / "metrics.json").write_text(json.dumps({"loc/maxboxacc": 1.0}))
    run_pipeline(run_dir, f"paths.data_dir={tiny_demo_tree}", "stages=[report]",
                 f"cam.store_dir={run_dir / 'cams'}", "report.gallery_per_class=1",
                 "report.thumb_height=40", f"report.search_dirs=[{tmp_path / 'outputs'}]",
                 *FAST)
    with open(run_dir / "tables.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["published"] == "—"]
    assert {r["setting"]: r["ours"] for r in rows} == {
        k: f"{metrics[k]:.2f}" for k in ("loc/gt_known", "loc/maxboxacc",
                                          "baseline/center/maxboxacc", "seg/miou_best")}
    assert {r["source"] for r in rows} == {str(run_dir)}
