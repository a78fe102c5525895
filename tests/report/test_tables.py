import json

from wsol.report import PAPER_ROWS, build_table, find_runs, render_csv, render_markdown


def _write_run(directory, experiment, metrics, command="python scripts/run.py x"):
    directory.mkdir(parents=True)
    (directory / "run_info.json").write_text(json.dumps({"experiment": experiment,
                                                         "command": command}))
    (directory / "metrics.json").write_text(json.dumps(metrics))


def test_rows_without_a_run_say_so_and_show_no_number(tmp_path):
    table = build_table(find_runs([tmp_path]))
    irn = next(r for r in table if r["setting"].startswith("ResNet-50, τ"))
    assert irn["published"] == "48.30"
    assert irn["ours"].startswith("not run here")
    assert "experiment=voc_resnet" in irn["command"]
    assert len(table) == len(PAPER_ROWS)


def test_our_number_and_command_come_from_the_newest_run_of_the_experiment(tmp_path):
    _write_run(tmp_path / "old", "voc_resnet", {"seg/miou": 40.0}, "old command")
    _write_run(tmp_path / "new", "voc_resnet", {"seg/miou": 47.91}, "new command")
    import os
    os.utime(tmp_path / "old" / "metrics.json", (1, 1))
    _write_run(tmp_path / "demo", "demo", {"loc/maxboxacc": 61.234})
    runs = find_runs([tmp_path])
    table = build_table(runs, extra={"demo": ["loc/maxboxacc", "absent/key"]})
    irn = next(r for r in table if r["setting"].startswith("ResNet-50, τ"))
    assert irn["ours"] == "47.91" and irn["command"] == "new command"
    demo = [r for r in table if r["table"].startswith("demo")]
    assert [(r["setting"], r["ours"]) for r in demo] == [("loc/maxboxacc", "61.23")]


def test_markdown_and_csv_have_one_line_per_row(tmp_path):
    table = build_table({})
    markdown = render_markdown(table)
    assert markdown.count("\n") == len(table) + 2
    assert render_csv(table).count("\n") == len(table) + 1


def test_irn_lineage_rows_take_the_wsss_run_numbers(tmp_path):
    _write_run(tmp_path / "wsss", "voc_wsss", {"seg/pseudo_miou": 60.0, "seg/val_miou": 58.25})
    table = build_table(find_runs([tmp_path]))
    rows = {r["published"]: r["ours"] for r in table if r["table"].startswith("IRN ")}
    assert rows["66.50"] == "60.00" and rows["63.50"] == "58.25"


def test_wsolevaluation_rows_tell_methods_apart(tmp_path):
    _write_run(tmp_path / "cam", "cub_vgg16_cam", {"loc/maxboxacc_v2": 61.0})
    (tmp_path / "adl").mkdir()
    (tmp_path / "adl" / "run_info.json").write_text(json.dumps(
        {"experiment": "cub_vgg16_cam", "variant": "adl", "command": "adl command"}))
    (tmp_path / "adl" / "metrics.json").write_text(json.dumps({"loc/maxboxacc_v2": 65.5}))
    table = build_table(find_runs([tmp_path]))
    rows = {r["setting"]: r for r in table if r["table"] == "wsolevaluation CUB"}
    assert (rows["CAM, VGG-16"]["published"], rows["CAM, VGG-16"]["ours"]) == ("63.70", "61.00")
    assert (rows["ADL, VGG-16"]["published"], rows["ADL, VGG-16"]["ours"]) == ("66.30", "65.50")
    assert rows["ADL, VGG-16"]["command"] == "adl command"
    has = rows["HaS, Inception-V3"]  # CAM 56.7 with the table's -3.3
    assert has["published"] == "53.40" and has["ours"].startswith("not run here")
    assert has["command"] == ("python scripts/run.py experiment=cub_inception_v3_cam "
                              "model.wsol_method=has")


def test_the_reported_run_stands_for_its_experiment_and_each_row_names_its_run(tmp_path):
    """D10: a newer smoke run of the same experiment does not replace the reported run's
    numbers, and the source column says which run directory they come from."""
    import os

    _write_run(tmp_path / "big", "demo", {"loc/maxboxacc": 70.0}, "big command")
    _write_run(tmp_path / "tiny", "demo", {"loc/maxboxacc": 20.0}, "tiny command")
    _write_run(tmp_path / "irn_old", "voc_resnet", {"seg/miou": 40.0}, "old command")
    _write_run(tmp_path / "irn_new", "voc_resnet", {"seg/miou": 47.91}, "new command")
    for name in ("big", "irn_old"):
        os.utime(tmp_path / name / "metrics.json", (1, 1))
    table = build_table(find_runs([tmp_path], first=tmp_path / "big"),
                        extra={"demo": ["loc/maxboxacc"]})
    demo = [r for r in table if r["table"].startswith("demo")]
    assert [(r["ours"], r["source"], r["command"]) for r in demo] == [
        ("70.00", str(tmp_path / "big"), "big command")]
    irn = next(r for r in table if r["setting"].startswith("ResNet-50, τ"))
    assert irn["ours"] == "47.91" and irn["command"] == "new command"  # others: the newest
    without_first = build_table(find_runs([tmp_path]), extra={"demo": ["loc/maxboxacc"]})
    assert [(r["ours"], r["source"]) for r in without_first if r["table"].startswith("demo")] \
        == [("20.00", str(tmp_path / "tiny"))]


def test_a_run_without_experiment_appears_in_its_own_tables_only(tmp_path):
    _write_run(tmp_path / "plain", "", {"loc/maxboxacc": 33.3, "seg/miou_best": 44.4})
    _write_run(tmp_path / "other_plain", "", {"loc/maxboxacc": 99.0})
    extra = {"demo": ["loc/maxboxacc"], "": ["loc/maxboxacc", "seg/miou_best"]}
    table = build_table(find_runs([tmp_path], first=tmp_path / "plain"), extra=extra)
    rows = [r for r in table if r["published"] == "—"]
    assert [(r["table"], r["setting"], r["ours"], r["source"]) for r in rows] == [
        ("no experiment= (no published number)", "loc/maxboxacc", "33.30", str(tmp_path / "plain")),
        ("no experiment= (no published number)", "seg/miou_best", "44.40", str(tmp_path / "plain"))]
    assert not [r for r in build_table(find_runs([tmp_path]), extra=extra)
                if r["published"] == "—"]  # nothing says what the other plain runs ran
