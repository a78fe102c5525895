"""Report stage: ``tables.md`` / ``tables.csv`` with this run (for its own experiment) and the
newest runs of other experiments beside the papers, each extra row naming the run directory it
was read from; and ``report.html``, this run's browsable report (see
:mod:`wsol.app.stages.report_html`)."""

from __future__ import annotations

from wsol.app.build import Run, absolute_path
from wsol.app.report_rules import require_drawn_settings
from wsol.io.atomic import atomic_write_text
from wsol.report import build_table, find_runs, render_csv, render_markdown

DEMO_KEYS = ("loc/gt_known", "loc/maxboxacc", "baseline/center/maxboxacc", "seg/miou_best")
WSSS_KEYS = ("seg/pseudo_seed_miou", "seg/pseudo_miou_unrefined", "seg/pseudo_miou",
             "seg/pseudo_ignored", "seg/val_miou")
# the rows of runs with no published number: the demos, and a run without experiment=
EXTRA_ROWS = {"demo": DEMO_KEYS, "demo_wsss": WSSS_KEYS, "": DEMO_KEYS + WSSS_KEYS}


def report_stage(run: Run) -> dict[str, float]:
    """Write the paper tables from this run plus the runs under ``report.search_dirs``."""
    require_drawn_settings(run)  # what earlier stages of this run recorded, checked again
    roots = [absolute_path(p) for p in run.config.report.search_dirs]
    # this run's numbers stand for its experiment, even when a newer run of it exists; a run
    # without experiment= (the plain demo) gets its own rows
    runs = find_runs(dict.fromkeys(roots), first=run.run_dir)
    table = build_table(runs, extra=EXTRA_ROWS)
    atomic_write_text(run.run_dir / "tables.md", render_markdown(table))
    atomic_write_text(run.run_dir / "tables.csv", render_csv(table))
    from wsol.app.stages.report_html import write_report_html

    write_report_html(run)
    return {}
