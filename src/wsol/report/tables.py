"""Build the paper-comparison table from run directories (``run_info.json`` + ``metrics.json``)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from wsol.report.published import PAPER_ROWS, PaperRow

COLUMNS = ("table", "setting", "metric", "published", "source", "ours", "command")


def load_json_dict(path: Path) -> dict | None:
    """The JSON object in ``path``, or None when it is unreadable, not JSON or not an object
    (a file damaged or written by hand; our own writes are atomic)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def load_metrics(path: Path) -> dict[str, float] | None:
    """The finite numbers of a ``metrics.json`` (other entries dropped), or None when the file
    cannot be read as a JSON object."""
    metrics = load_json_dict(path)
    if metrics is None:
        return None
    return {str(k): float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


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
            info, metrics = load_json_dict(info_path), load_metrics(metrics_path)
            if info is None or metrics is None:
                continue  # not ours or damaged by hand; our own writes are atomic
            stamp = metrics_path.stat().st_mtime
            name = info.get("experiment")
            name = name if isinstance(name, str) else None
            variant = info.get("variant")
            if name and variant and isinstance(variant, str):  # a method on a CAM recipe
                name = f"{name}+{variant}"
            if name and (name not in found or stamp > found[name][0]):
                found[name] = (stamp, {"metrics": metrics, "command": str(info.get("command", "")),
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
