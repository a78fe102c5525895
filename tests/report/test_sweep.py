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
