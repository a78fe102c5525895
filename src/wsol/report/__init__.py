"""Paper tables: our measured numbers beside the published ones."""

from wsol.report.tables import PAPER_ROWS, build_table, find_runs, render_csv, render_markdown

__all__ = ["PAPER_ROWS", "build_table", "find_runs", "render_csv", "render_markdown"]
