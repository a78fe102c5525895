"""Report stage: ``tables.md`` / ``tables.csv`` with this run and earlier runs beside the papers."""

from __future__ import annotations

from omegaconf import DictConfig

from wsol.app.context import RunContext, absolute_path
from wsol.io.atomic import atomic_write_text
from wsol.report import build_table, find_runs, render_csv, render_markdown

DEMO_KEYS = ("loc/gt_known", "loc/maxboxacc", "baseline/center/maxboxacc", "seg/miou_best")


def report_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Write the paper tables from this run plus the runs under ``report.search_dirs``."""
    roots = [ctx.run_dir] + [absolute_path(p) for p in cfg.get("report", {}).get("search_dirs", [])]
    table = build_table(find_runs(dict.fromkeys(roots)), extra={"demo": DEMO_KEYS})
    atomic_write_text(ctx.run_dir / "tables.md", render_markdown(table))
    atomic_write_text(ctx.run_dir / "tables.csv", render_csv(table))
    return {}
