"""Which stage owns which metrics.json key, and what a rerun keeps of an earlier metrics.json
(:mod:`wsol.app.carried`); the in-process reruns are in test_metrics_carry.py."""

from __future__ import annotations

import pytest
from helpers.runs import build, run_pipeline

from wsol.app import pipeline
from wsol.app.carried import (
    OWN_MODEL,
    UndeclaredMetricWarning,
    carried_metrics,
    owners,
    remove_stale_files,
    stale_stages,
    warn_undeclared,
)
from wsol.app.stages import STAGE_ORDER, STAGES
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
    assert set(carried_metrics(OLD, stale_stages(stage, run))) == kept


def test_another_model_keeps_nothing_but_the_run_dirs_own_model_keeps_cls_map(tmp_path):
    run_dir = tmp_path / "run"
    other = build(run_dir, "stages=[evaluate]", f"model.checkpoint={tmp_path / 'b/model.pt'}")
    assert carried_metrics(OLD, stale_stages("evaluate", other)) == {}
    assert set(carried_metrics(OLD, stale_stages("report", other))) == set(OLD) - {"hand/written"}
    own = build(run_dir, "stages=[evaluate]", f"model.checkpoint={run_dir / 'model.pt'}")
    assert carried_metrics(OLD, stale_stages("evaluate", own))["cls/map"] == 60.0


def test_a_key_a_stage_does_not_declare_fails_the_tests():
    assert warn_undeclared("evaluate", {"loc/maxboxacc": 1.0, "faith/pairs": 2.0}) == []
    with pytest.raises(UndeclaredMetricWarning, match="'cls/map'"):  # train's, not evaluate's
        warn_undeclared("evaluate", {"loc/maxboxacc": 1.0, "cls/map": 2.0})


def test_the_pipeline_checks_every_stages_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_load_stage", lambda name: lambda run: {"new/key": 1.0})
    with pytest.raises(UndeclaredMetricWarning, match="stage report .*'new/key'"):
        run_pipeline(tmp_path / "run", "stages=[report]")


def _results(run_dir):
    """Every stage's declared files in ``run_dir`` (names without a suffix are folders)."""
    for stage in STAGE_ORDER:
        for name in STAGES[stage].files:
            path = run_dir / name
            if "." in path.name:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(stage)
            else:
                path.mkdir(parents=True, exist_ok=True)
                (path / "x.png").write_text(stage)
    (run_dir / "model.pt").write_text("a model is never removed")
    (run_dir / "segmenter.pt").write_text("nor is a segmenter")


def _left(run_dir):
    return {stage for stage in STAGE_ORDER for name in STAGES[stage].files
            if (run_dir / name).exists()}


@pytest.mark.parametrize(("stage", "left"), [
    ("train", {"train"}),
    ("cam", {"train", "sanity"}),
    ("localize", set(STAGE_ORDER) - {"report"}),
    ("evaluate", set(STAGE_ORDER) - {"report"}),
    ("pseudo", set(STAGE_ORDER) - {"segment", "report"}),
    ("segment", set(STAGE_ORDER) - {"report"}),
    ("sanity", set(STAGE_ORDER) - {"report"}),
    ("report", set(STAGE_ORDER)),
])
def test_a_stage_removes_the_files_of_the_stages_using_its_outputs(tmp_path, stage, left):
    run = build(tmp_path / "run", f"stages=[{stage}]")
    run.run_dir.mkdir(parents=True)
    _results(run.run_dir)
    remove_stale_files(run, stale_stages(stage, run) - {stage})
    assert _left(run.run_dir) == left & {s for s in STAGE_ORDER if STAGES[s].files}
    assert (run.run_dir / "model.pt").is_file() and (run.run_dir / "segmenter.pt").is_file()


def test_another_models_run_keeps_the_files_its_own_stages_wrote(tmp_path, monkeypatch):
    """Explaining another model invalidates every stage's results, but not the ones the
    stages of this very run just wrote (localize's boxes before evaluate ends)."""
    from wsol.app import preflight

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _results(run_dir)

    def stage(name):
        def write(run):
            for file in STAGES[name].files:
                path = run.run_dir / file
                if path.is_dir():
                    (path / "x.png").write_text("new")
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("new")
            return {}
        return write

    monkeypatch.setattr(pipeline, "_load_stage", stage)
    monkeypatch.setattr(preflight, "require_inputs", lambda run: None)
    run_pipeline(run_dir, "stages=[localize,evaluate]",
                 f"model.checkpoint={tmp_path / 'b/model.pt'}")
    assert _left(run_dir) == {"localize", "evaluate"}
    assert (run_dir / "boxes.json").read_text() == "new"
    assert (run_dir / "seeds" / "x.png").read_text() == "new"


def test_a_stage_that_made_what_its_record_names_leaves_the_results_made_from_it(tmp_path):
    """A cam stage that found the same store complete (or a pseudo stage resuming the same
    folder) changes nothing downstream: rerunning it must not drop the evaluate numbers."""
    run = build(tmp_path / "run", "stages=[cam]")
    assert stale_stages("cam", run, same_output=True) == {"cam"}
    assert set(carried_metrics(OLD, {"cam"})) == ALL - {"cam/images"}


def test_results_recorded_with_another_classifier_go_stale(tmp_path):
    """Maps of model B evaluated in model A's run directory, then a stage on A's own model:
    B's numbers must not stay beside A's (the reverse of 'another model keeps nothing')."""
    run_dir = tmp_path / "run"
    own = build(run_dir, "stages=[sanity]", f"model.checkpoint={run_dir / 'model.pt'}")
    other = f"checkpoint {(tmp_path / 'b' / 'model.pt').resolve()}"
    mine = OWN_MODEL
    records = {"train": {"classifier": mine}, "cam": {"classifier": other},
               "evaluate": {"classifier": other}, "pseudo": {"classifier": None}}
    # with what was made from them (pseudo reads cam's maps) and the report that drew them
    assert stale_stages("sanity", own, records) == {"sanity", "cam", "localize", "evaluate",
                                                    "pseudo", "segment", "report"}
    assert stale_stages("report", own, records) == {"report"}  # it makes no numbers


def test_weights_retrained_in_place_are_another_classifier(tmp_path):
    """The same checkpoint path with new weights (D1 of the fourth pass): its results and the
    old weights' are not one classifier's."""
    from wsol.app.carried import classifier_identity

    checkpoint = tmp_path / "m" / "model.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"old weights")
    run = build(tmp_path / "run", "stages=[sanity]", f"model.checkpoint={checkpoint}")
    before = classifier_identity(run)
    checkpoint.write_bytes(b"new weights, retrained")
    assert classifier_identity(run) != before and str(checkpoint.resolve()) in before
