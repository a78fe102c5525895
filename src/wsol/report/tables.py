"""Build the paper-comparison table from run directories (``run_info.json`` + ``metrics.json``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from wsol.report.published import PAPER_ROWS, PaperRow

COLUMNS = ("table", "setting", "metric", "published", "source", "ours", "command")


def find_runs(roots: Iterable[Path]) -> dict[str, dict]:
    """The newest finished run per experiment under ``roots``.

    Returns ``{experiment: {"metrics": {...}, "command": str, "run_dir": str}}``.
    """
    found: dict[str, tuple[float, dict]] = {}
    for root in roots:
        for info_path in Path(root).rglob("run_info.json"):
            metrics_path = info_path.with_name("metrics.json")
            if not metrics_path.is_file():
                continue
            try:
                info = json.loads(info_path.read_text())
                metrics = json.loads(metrics_path.read_text())
            except json.JSONDecodeError:
                continue  # not ours or damaged by hand; our own writes are atomic
            stamp = metrics_path.stat().st_mtime
            name = info.get("experiment")
            if name and info.get("variant"):  # a training-time method on a CAM recipe
                name = f"{name}+{info['variant']}"
            if name and (name not in found or stamp > found[name][0]):
                found[name] = (stamp, {"metrics": metrics, "command": info.get("command", ""),
                                       "run_dir": str(info_path.parent)})
    return {name: entry for name, (_, entry) in found.items()}


def build_table(runs: dict[str, dict], rows: Sequence[PaperRow] = PAPER_ROWS,
                extra: dict[str, Sequence[str]] | None = None) -> list[dict[str, str]]:
    """One dict per published row, with ``ours`` filled from ``runs`` or saying why not.

    ``extra`` maps an experiment with no published number (e.g. the demo) to metric keys shown
    as additional rows.
    """
    table = []
    for row in rows:
        run = runs.get(row.experiment) if row.experiment else None
        if row.experiment is None:
            ours, command = "no recipe in wsol (different model)", ""
        elif run is None or row.metric not in run["metrics"]:
            ours = f"not run here: needs the data of experiment={row.experiment}"
            command = f"python scripts/run.py {_overrides(row.experiment)}"
        else:
            ours, command = f"{run['metrics'][row.metric]:.2f}", run["command"]
        table.append({"table": row.table, "setting": row.setting, "metric": row.metric_label,
                      "published": f"{row.published:.2f}", "source": row.source,
                      "ours": ours, "command": command})
    for experiment, keys in (extra or {}).items():
        run = runs.get(experiment)
        for key in keys:
            if run and key in run["metrics"]:
                table.append({"table": f"{experiment} (no published number)", "setting": key,
                              "metric": "%", "published": "—", "source": "this run",
                              "ours": f"{run['metrics'][key]:.2f}", "command": run["command"]})
    return table


def _overrides(experiment: str) -> str:
    """``NAME+METHOD`` (see PaperRow) as command-line overrides."""
    name, _, method = experiment.partition("+")
    return f"experiment={name}" + (f" model.wsol_method={method}" if method else "")


def render_markdown(table: list[dict[str, str]]) -> str:
    """A GitHub-markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        cells = [row[c].replace("|", "\\|") if c != "command" or not row[c] else f"`{row[c]}`"
                 for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_csv(table: list[dict[str, str]]) -> str:
    """The same table as CSV."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()
