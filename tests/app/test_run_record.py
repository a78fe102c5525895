"""run_info.json keeps, per stage, the command that made its results (shown beside those
numbers), and the report refuses to draw numbers made with other settings."""

from __future__ import annotations

import json

import pytest
from helpers.runs import build, run_pipeline

from wsol.app import pipeline, preflight, run_record
from wsol.app.report_rules import drawn_settings_findings
from wsol.errors import ConfigError
from wsol.report.tables import command_for, read_run


@pytest.fixture
def stub_stages(monkeypatch):
    """Stages that make nothing, and commands as a Hydra launch would record them."""
    monkeypatch.setattr(pipeline, "_load_stage", lambda name: lambda run: {})
    commands = iter([])

    def info(cfg):
        return {"experiment": "voc_resnet", "command": next(commands),
                "stages": ",".join(cfg.stages), "variant": ""}

    def launch(run_dir, command, *overrides, check=False):
        nonlocal commands
        commands = iter([command])
        if not check:
            monkeypatch.setattr(preflight, "require_inputs", lambda run: None)
        else:
            monkeypatch.undo()
            monkeypatch.setattr(pipeline, "_load_stage", lambda name: lambda run: {})
        monkeypatch.setattr(run_record, "run_info", info)
        return run_pipeline(run_dir, *overrides)

    return launch


def _records(run_dir):
    return json.loads((run_dir / "run_info.json").read_text())["by_stage"]


def test_each_stage_keeps_the_command_that_made_its_results(tmp_path, stub_stages):
    run_dir = tmp_path / "run"
    evaluate = "python scripts/run.py experiment=voc_resnet eval.bg_threshold=0.3"
    stub_stages(run_dir, evaluate, "stages=[evaluate]", "eval.bg_threshold=0.3")
    (run_dir / "metrics.json").write_text(json.dumps({"loc/maxboxacc": 50.0, "cls/map": 70.0}))
    report = "python scripts/run.py experiment=voc_resnet eval.bg_threshold=0.3 stages=[report]"
    stub_stages(run_dir, report, "stages=[report]", "eval.bg_threshold=0.3", check=True)
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["command"] == report  # the last run
    assert _records(run_dir)["evaluate"]["command"] == evaluate
    name, entry = read_run(run_dir)
    assert name == "voc_resnet"
    assert command_for(entry, "loc/maxboxacc") == evaluate  # not the report's command
    assert command_for(entry, "cls/map") == report  # no train record: the last command
    stub_stages(run_dir, "python scripts/run.py stages=[cam]", "stages=[cam]")
    assert set(_records(run_dir)) == {"cam"}  # new maps: the evaluate and report records go


def test_the_report_refuses_numbers_made_with_other_settings(tmp_path, stub_stages):
    run_dir = tmp_path / "run"
    evaluate = "python scripts/run.py experiment=voc_resnet stages=[cam,evaluate] cam.flip=true"
    stub_stages(run_dir, evaluate, "stages=[evaluate]", "cam.flip=true", "eval.bg_threshold=0.3")
    with pytest.raises(ConfigError) as err:
        stub_stages(run_dir, "python scripts/run.py stages=[report]", "stages=[report]",
                    check=True)
    message = str(err.value)
    assert "cam.flip: stored True, requested False" in message
    assert "eval.bg_threshold: stored 0.3, requested 0.15" in message
    # every differing setting spelled out, so settings from the environment or a default
    # (eval.bg_threshold here was never in the recorded command) are restored too
    assert (f"python scripts/run.py experiment=voc_resnet cam.flip=true eval.bg_threshold=0.3 "
            f"stages=[report] hydra.run.dir={run_dir}") in message
    # the same settings (or an evaluate in the same run) draw as asked
    stub_stages(run_dir, "x", "stages=[report]", "cam.flip=true", "eval.bg_threshold=0.3",
                check=True)
    both = build(run_dir, "stages=[evaluate,report]")
    assert [f.ok for f in drawn_settings_findings(both)] == [True]


def test_the_report_refuses_another_demo_tree(tmp_path, stub_stages):
    """A report typed without the run's data.generate override would regenerate the demo tree
    under the run's numbers; it stops before any data is touched."""
    run_dir = tmp_path / "run"
    stub_stages(run_dir, "python scripts/run.py data.generate.num_images=60",
                "stages=[evaluate]", "data.generate.num_images=60")
    with pytest.raises(ConfigError, match=r"data.generate.num_images: stored 60, requested 8000"):
        stub_stages(run_dir, "x", "stages=[report]", check=True)


def test_a_wsss_runs_report_is_checked_against_its_pseudo_and_segment_records(tmp_path,
                                                                             stub_stages):
    run_dir = tmp_path / "run"
    wsss = "python scripts/run.py experiment=demo_wsss data.cam_split=train"
    stub_stages(run_dir, wsss, "stages=[pseudo,segment]", "data.cam_split=train")
    with pytest.raises(ConfigError, match=r"the pseudo results .*data.cam_split: stored "
                                          r"'train', requested 'val'"):
        stub_stages(run_dir, "x", "stages=[report]", check=True)
    # the eval.* settings the WSSS stages do not draw with do not matter
    stub_stages(run_dir, "y", "stages=[report]", "data.cam_split=train",
                "eval.bg_threshold=0.4", check=True)
    name, entry = read_run(run_dir)
    assert name == "voc_resnet"  # the stub's experiment, read from the pseudo record
    assert command_for(entry, "seg/val_miou") == wsss


def test_settings_that_draw_alike_are_not_differences(tmp_path, stub_stages):
    """cam.topk means nothing to ground-truth maps, and eval.box_threshold=0.15 is what the
    gradcam protocol's null means: neither refuses the report."""
    run_dir = tmp_path / "run"
    stub_stages(run_dir, "e", "stages=[evaluate]")
    stub_stages(run_dir, "r", "stages=[report]", "cam.topk=5", "eval.box_threshold=0.15",
                check=True)
    with pytest.raises(ConfigError, match="eval.box_threshold: stored 0.15, requested 0.2"):
        stub_stages(run_dir, "r", "stages=[report]", "eval.box_threshold=0.2", check=True)


def test_a_stage_that_read_another_output_than_the_recorded_one_drops_it(tmp_path,
                                                                         monkeypatch):
    """A segmenter trained on another pseudo-label folder than the recorded pseudo stage's:
    the pseudo numbers describe labels it never saw (F11), so they go with it."""
    from wsol.app.carried import stale_stages
    from wsol.app.run_record import RunInfo

    run = build(tmp_path / "run", "stages=[segment]")
    info = RunInfo(run)
    info.by_stage = {"pseudo": {"command": "x", "output": "labels A"},
                     "cam": {"command": "y", "output": "store 1"}}
    monkeypatch.setattr(run_record, "read_identity",
                        lambda stage, run: {"pseudo": "labels B", "cam": "store 1"}.get(stage))
    assert info.changed_inputs("segment", info.inputs_read("segment")) == {"pseudo"}
    # the store it read is the recorded one
    assert info.changed_inputs("evaluate", info.inputs_read("evaluate")) == set()
    assert stale_stages("segment", run, info.by_stage, changed_inputs={"pseudo"}) >= \
        {"pseudo", "segment", "report"}


def test_the_maps_the_results_were_made_from_count_when_the_cam_stage_has_no_record(tmp_path):
    """Results made by stages=[localize,evaluate] on the keyed cache, then stages=[cam] finding
    that store complete: nothing made from it is stale (D2 of the fourth pass)."""
    from wsol.app.run_record import RunInfo

    info = RunInfo(build(tmp_path / "run", "stages=[cam]"))
    info.by_stage = {"localize": {"command": "x", "inputs": {"cam": "store 1"}},
                     "evaluate": {"command": "x", "inputs": {"cam": "store 1"}}}
    assert info.same_output("cam", "store 1") and not info.same_output("cam", "store 2")
    info.by_stage["evaluate"]["inputs"] = {"cam": "store 2"}  # read another store: not all
    assert not info.same_output("cam", "store 1")


def test_a_report_never_drops_results_and_refuses_maps_that_moved(tmp_path, stub_stages,
                                                                  monkeypatch):
    """A report run when the store its settings name is no longer the one the numbers were
    scored on (a regenerated tree, weights retrained in place) refuses, deleting nothing
    (D3 of the fourth pass)."""
    from wsol.app import report_rules
    from wsol.app.carried import stale_stages

    run_dir = tmp_path / "run"
    assert stale_stages("report", build(run_dir, "stages=[report]"), {},
                        changed_inputs={"cam", "pseudo"}) == {"report"}
    monkeypatch.setattr(run_record, "read_identity",
                        lambda stage, run: "/cache/cams/old" if stage == "cam" else None)
    stub_stages(run_dir, "e", "stages=[evaluate]")
    assert _records(run_dir)["evaluate"]["inputs"] == {"cam": "/cache/cams/old"}
    monkeypatch.setattr(report_rules, "read_identity", lambda stage, run: "/cache/cams/new")
    with pytest.raises(ConfigError, match=r"scored on the maps in /cache/cams/old, but these "
                                          r"settings read /cache/cams/new"):
        report_rules.require_drawn_settings(build(run_dir, "stages=[report]"))


def test_a_store_is_named_by_its_key_whatever_path_reaches_it(tmp_path):
    """The same maps through a symlinked or moved cache are the same store (D6)."""
    import numpy as np

    from wsol.app.run_record import _store_name
    from wsol.cam import CamStore

    store = CamStore(tmp_path / "cache" / "cams" / "abc", {"cam": {}}, key="abc")
    store.write("a", np.ones((1, 2, 2), np.float32), [0], (4, 4))
    (tmp_path / "link").symlink_to(tmp_path / "cache")
    assert _store_name(tmp_path / "link" / "cams" / "abc") == _store_name(store.directory) \
        == "abc"
    assert _store_name(tmp_path / "none") == str((tmp_path / "none").resolve())


def test_results_made_from_other_maps_than_an_evaluate_read_go_with_it(tmp_path, monkeypatch):
    """No cam record, boxes made from store 1, an evaluate of store 2: the boxes describe maps
    the numbers beside them no longer score (D7)."""
    from wsol.app.run_record import RunInfo

    info = RunInfo(build(tmp_path / "run", "stages=[evaluate]"))
    info.by_stage = {"localize": {"command": "x", "inputs": {"cam": "store 1"}},
                     "sanity": {"command": "x", "inputs": {}}}
    monkeypatch.setattr(run_record, "read_identity",
                        lambda stage, run: "store 2" if stage == "cam" else None)
    assert info.changed_inputs("evaluate", info.inputs_read("evaluate")) == {"localize"}
    info.by_stage["localize"]["inputs"]["cam"] = "store 2"
    assert info.changed_inputs("evaluate", info.inputs_read("evaluate")) == set()


def test_one_folder_spelled_two_ways_is_one_setting(tmp_path, stub_stages):
    run_dir = tmp_path / "run"
    (tmp_path / "x").mkdir()
    stub_stages(run_dir, "e", "stages=[evaluate]", f"paths.data_dir={tmp_path / 'x' / '..' / 'd'}")
    stub_stages(run_dir, "r", "stages=[report]", f"paths.data_dir={tmp_path / 'd'}", check=True)
