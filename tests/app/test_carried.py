"""Which stage owns which metrics.json key, and what a rerun keeps of an earlier metrics.json
(:mod:`wsol.app.carried`); the in-process reruns are in test_metrics_carry.py."""

from __future__ import annotations

import pytest
from helpers.runs import build, run_pipeline

from wsol.app import pipeline
from wsol.app.carried import (
    UndeclaredMetricWarning,
    carried_metrics,
    owners,
    warn_undeclared,
)
from wsol.app.stages.report import DEMO_KEYS, WSSS_KEYS
from wsol.report.sweep import HEADLINE

# the stage that returns each key, read off each stage's code (``<split>/...``: select_split)
WRITER = {
    "train/seconds": "train", "cls/map": "train",
    "cam/images": "cam", "val/cam/images": "cam",
    "localize/images": "localize",
    "loc/maxboxacc@30": "evaluate", "loc/top5_loc_err": "evaluate", "cls/top1_err": "evaluate",
    "baseline/center/pxap": "evaluate", "seg/miou": "evaluate", "seg/best_threshold": "evaluate",
    "val/loc/pxap": "evaluate", "val/seg/miou_best": "evaluate", "protocol/boxacc@50": "evaluate",
    "protocol/pixel_iou": "evaluate", "faith/gradcam/deletion_auc": "evaluate",
    "faith/baseline/center/avg_drop": "evaluate", "faith/pairs": "evaluate",
    "seeds/miou": "evaluate", "data/clipped_boxes": "evaluate", "eval/images": "evaluate",
    "pseudo/images": "pseudo", "seg/pseudo_miou": "pseudo", "seg/pseudo_miou_unrefined": "pseudo",
    "segment/train_seconds": "segment", "seg/val_miou": "segment",
    "sanity/cascading/gradcam/ssim": "sanity", "sanity/data/val_map": "sanity",
}


def test_every_key_has_exactly_the_stage_that_writes_it_as_owner():
    for key, stage in WRITER.items():
        assert owners(key) == (stage,), key


def test_every_key_the_summary_report_and_sweep_read_has_one_owner():
    read = {k for row in pipeline.SUMMARY_ROWS for k in row if k and "/" in k}
    read |= set(DEMO_KEYS) | set(WSSS_KEYS) | set(HEADLINE)
    assert [k for k in sorted(read) if len(owners(k)) != 1] == []


OLD = {"cls/map": 60.0, "train/seconds": 3.0, "cam/images": 6.0, "localize/images": 6.0,
       "loc/maxboxacc_v2": 22.2, "faith/pairs": 9.0, "seg/pseudo_miou": 50.0,
       "seg/val_miou": 40.0, "sanity/cascading/gradcam/ssim": 0.5, "hand/written": 1.0}


ALL = set(OLD) - {"hand/written"}


@pytest.mark.parametrize(("stage", "kept"), [
    ("train", set()),
    ("cam", {"cls/map", "train/seconds", "sanity/cascading/gradcam/ssim"}),
    ("localize", ALL - {"localize/images"}),
    ("evaluate", ALL - {"loc/maxboxacc_v2", "faith/pairs"}),
    ("pseudo", ALL - {"seg/pseudo_miou", "seg/val_miou"}),
    ("segment", ALL - {"seg/val_miou"}),
    ("sanity", ALL - {"sanity/cascading/gradcam/ssim"}),
    ("report", ALL),
])
def test_a_stage_drops_its_own_keys_and_those_of_the_stages_using_its_outputs(tmp_path, stage,
                                                                              kept):
    run = build(tmp_path / "run", f"stages=[{stage}]")
    assert set(carried_metrics(OLD, stage, run)) == kept


def test_another_model_keeps_nothing_but_the_run_dirs_own_model_keeps_cls_map(tmp_path):
    run_dir = tmp_path / "run"
    other = build(run_dir, "stages=[evaluate]", f"model.checkpoint={tmp_path / 'b/model.pt'}")
    assert carried_metrics(OLD, "evaluate", other) == {}
    assert set(carried_metrics(OLD, "report", other)) == set(OLD) - {"hand/written"}
    own = build(run_dir, "stages=[evaluate]", f"model.checkpoint={run_dir / 'model.pt'}")
    assert carried_metrics(OLD, "evaluate", own)["cls/map"] == 60.0


def test_a_key_a_stage_does_not_declare_fails_the_tests():
    assert warn_undeclared("evaluate", {"loc/maxboxacc": 1.0, "faith/pairs": 2.0}) == []
    with pytest.raises(UndeclaredMetricWarning, match="'cls/map'"):  # train's, not evaluate's
        warn_undeclared("evaluate", {"loc/maxboxacc": 1.0, "cls/map": 2.0})


def test_the_pipeline_checks_every_stages_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_load_stage", lambda name: lambda run: {"new/key": 1.0})
    with pytest.raises(UndeclaredMetricWarning, match="stage report .*'new/key'"):
        run_pipeline(tmp_path / "run", "stages=[report]")
