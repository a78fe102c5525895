import json

from wsol.report.sweep import collect_sweep, render_sweep


def test_sweep_table_has_one_row_per_finished_job_in_job_order(tmp_path):
    for job, miou in (("0", 41.0), ("1", 47.5), ("10", 44.0), ("2", 40.0)):
        (tmp_path / job).mkdir()
        (tmp_path / job / "metrics.json").write_text(json.dumps({"seg/miou": miou}))
        (tmp_path / job / "run_info.json").write_text(
            json.dumps({"command": f"python scripts/run.py eval.bg_threshold=0.{job}"}))
    (tmp_path / "3").mkdir()  # a job that died before writing metrics
    rows = collect_sweep(tmp_path)
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
    markdown, _ = render_sweep(collect_sweep(tmp_path))
    assert markdown.splitlines()[-1].startswith(
        "Chosen on train-fullsup (val) by val/loc/maxboxacc_v2 = 66: job 1 (model.lr=0.1)")
    plain = render_sweep([{"job": "0", "overrides": "", "seg/miou": "40"}])[0]
    assert "Chosen" not in plain
