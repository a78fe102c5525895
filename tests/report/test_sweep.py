import csv
import json
import os

from hydra.types import RunMode
from omegaconf import OmegaConf

from wsol.report.sweep import SweepSummary, collect_sweep, render_sweep


def test_sweep_table_has_one_row_per_finished_job_in_job_order(tmp_path):
    for job, miou in (("0", 41.0), ("1", 47.5), ("10", 44.0), ("2", 40.0)):
        (tmp_path / job).mkdir()
        (tmp_path / job / "metrics.json").write_text(json.dumps({"seg/miou": miou}))
        (tmp_path / job / "run_info.json").write_text(
            json.dumps({"command": f"python scripts/run.py eval.bg_threshold=0.{job}"}))
    (tmp_path / "3").mkdir()  # a job that died before writing metrics
    rows = collect_sweep(tmp_path).rows
    assert [r["job"] for r in rows] == ["0", "1", "2", "10"]
    assert rows[1] == {"job": "1", "overrides": "eval.bg_threshold=0.1", "seg/miou": "47.5"}
    markdown, table_csv = render_sweep(rows)
    assert markdown.count("\n") == 6 and "47.5" in markdown
    assert table_csv.splitlines()[0] == "job,overrides,seg/miou"


def test_sweep_chooses_on_val_not_on_test(tmp_path):
    values = {"0": (60.0, 70.0), "1": (66.0, 61.0), "2": (66.0, 65.0)}  # (val, test)
    for job, (val, test) in values.items():
        (tmp_path / job).mkdir()
        (tmp_path / job / "metrics.json").write_text(json.dumps(
            {"val/loc/maxboxacc_v2": val, "loc/maxboxacc_v2": test}))
        (tmp_path / job / "run_info.json").write_text(
            json.dumps({"command": f"python scripts/run.py model.lr=0.{job}"}))
    markdown, _ = render_sweep(collect_sweep(tmp_path).rows)
    assert markdown.splitlines()[-1].startswith(
        "Chosen on train-fullsup (val) by val/loc/maxboxacc_v2 = 66: job 1 (model.lr=0.1)")
    plain = render_sweep([{"job": "0", "overrides": "", "seg/miou": "40"}])[0]
    assert "Chosen" not in plain


def _config(sweep, job=None):
    """The parts of a job's (or the sweep's) Hydra config the callback reads."""
    return OmegaConf.create({"hydra": {
        "mode": RunMode.MULTIRUN, "sweep": {"dir": str(sweep)},
        "runtime": {"cwd": "/elsewhere", "output_dir": str(sweep / job) if job else None}}})


def _sweep(sweep, jobs: dict[str, float | None]) -> None:
    """One sweep through the callback as Hydra drives it; ``None``: the job failed before
    writing metrics.json."""
    callback = SweepSummary()
    callback.on_multirun_start(_config(sweep))
    for job, miou in jobs.items():
        (sweep / job).mkdir(parents=True, exist_ok=True)
        # in a launcher's worker: another object, as Hydra calls it
        SweepSummary().on_job_start(_config(sweep, job), task_function=print)
        (sweep / job / "run_info.json").write_text(
            json.dumps({"command": f"python scripts/run.py job={job} miou={miou}"}))
        if miou is not None:
            (sweep / job / "metrics.json").write_text(json.dumps({"seg/miou": miou}))
    callback.on_multirun_end(_config(sweep))


def test_the_summary_holds_only_this_sweeps_jobs_and_names_the_left_out_folders(tmp_path):
    sweep = tmp_path / "sw"
    _sweep(sweep, {"0": 10.0, "1": 20.0, "2": 30.0, "3": 40.0})
    first = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [(r["job"], r["seg/miou"]) for r in first] == [("0", "10"), ("1", "20"), ("2", "30"),
                                                          ("3", "40")]
    for job in "0123":  # the earlier sweep's files are older than the next sweep's markers
        os.utime(sweep / job / "metrics.json", ns=(1, 1))
    _sweep(sweep, {"0": 55.0, "1": None})  # job 1 stops before writing metrics.json
    rows = list(csv.DictReader((sweep / "sweep_summary.csv").open()))
    assert [(r["job"], r["seg/miou"]) for r in rows] == [("0", "55")]
    markdown = (sweep / "sweep_summary.md").read_text()
    assert "job=0 miou=55" in markdown and "miou=30" not in markdown
    assert "wrote no metrics.json (see their run.log): 1." in markdown
    assert "Left out: job folder(s) 2, 3 in this folder hold results of an earlier sweep" \
        in markdown


def test_a_job_outside_a_sweep_writes_no_marker(tmp_path):
    config = _config(tmp_path / "sw", "0")
    config.hydra.mode = RunMode.RUN
    SweepSummary().on_job_start(config, task_function=print)
    assert not (tmp_path / "sw").exists()


def test_a_wsss_sweep_shows_its_numbers_and_the_command_that_made_them(tmp_path):
    """Each job's row: the pseudo-label and segmenter numbers, and the overrides of the run
    that made them (a later report-only sweep into the folder does not take their place)."""
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "metrics.json").write_text(
        json.dumps({"seg/pseudo_miou": 61.25, "seg/val_miou": 55.5}))
    made = "python scripts/run.py experiment=demo_wsss pseudo.fg_threshold=0.3 hydra.run.dir=/x/0"
    (tmp_path / "0" / "run_info.json").write_text(json.dumps({
        "command": "python scripts/run.py stages=[report] report.gallery_per_class=2",
        "by_stage": {"segment": {"command": made}, "report": {"command": "later"}}}))
    rows = collect_sweep(tmp_path).rows
    assert rows == [{"job": "0", "overrides": "experiment=demo_wsss pseudo.fg_threshold=0.3",
                     "seg/pseudo_miou": "61.25", "seg/val_miou": "55.5"}]
    assert render_sweep(rows)[1].splitlines()[0] == "job,overrides,seg/pseudo_miou,seg/val_miou"
