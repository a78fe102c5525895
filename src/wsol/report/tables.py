"""Build the paper-comparison table from run directories (``run_info.json`` + ``metrics.json``)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from wsol.app.run_record import numbers_record, stage_records
from wsol.app.stages import owners
from wsol.io.manifest import load_json_dict
from wsol.report.published import PAPER_ROWS, PaperRow

COLUMNS = ("table", "setting", "metric", "published", "source", "ours", "command")


def load_metrics(path: Path) -> dict[str, float] | None:
    """The finite numbers of a ``metrics.json`` (other entries dropped), or None when the file
    cannot be read as a JSON object."""
    metrics = load_json_dict(path)
    if metrics is None:
        return None
    return {str(k): float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def read_run(run_dir: Path) -> tuple[str, dict] | None:
    """``(experiment, entry)`` of a finished run directory, or None when it holds no readable
    ``run_info.json`` + ``metrics.json`` (not ours, or damaged by hand: our writes are atomic).

    experiment: the ``experiment=`` name of the run that made its evaluate numbers, else of its
    last run (``NAME+METHOD`` for a method variant of a CAM recipe; ``""`` for a run without
    ``experiment=``); entry: ``{"metrics", "command" (the last run's), "commands" (per stage:
    the run that made its results, see :mod:`wsol.app.run_record`), "run_dir"}``.
    """
    run_dir = Path(run_dir)
    info_path, metrics_path = run_dir / "run_info.json", run_dir / "metrics.json"
    if not (info_path.is_file() and metrics_path.is_file()):
        return None
    info, metrics = load_json_dict(info_path), load_metrics(metrics_path)
    if info is None or metrics is None:
        return None
    records = stage_records(info)
    made_by = numbers_record(info)
    name = made_by.get("experiment")
    name = name if isinstance(name, str) else ""
    variant = made_by.get("variant")
    if name and variant and isinstance(variant, str):  # a method on a CAM recipe
        name = f"{name}+{variant}"
    return name, {"metrics": metrics, "command": str(info.get("command", "")),
                  "commands": {stage: record["command"] for stage, record in records.items()},
                  "run_dir": str(run_dir)}


def command_for(run: dict, key: str) -> str:
    """The command that made ``run``'s number ``key`` (an entry of :func:`read_run`): the run of
    the stage that writes it, as ``run_info.json`` recorded it; the directory's last command
    for a run directory written before per-stage records."""
    for stage in owners(key):
        if stage in run.get("commands", {}):
            return run["commands"][stage]
    return run["command"]


def find_runs(roots: Iterable[Path], first: Path | None = None) -> dict[str, dict]:
    """One finished run per experiment under ``roots``: ``first``'s for its own experiment
    (the run a report is about, whatever ran since; ``""`` when it has no ``experiment=``),
    else the newest (by ``metrics.json`` time). Runs without ``experiment=`` other than
    ``first`` are left out (nothing says what they ran).

    Returns ``{experiment: {"metrics": {...}, "command": str, "run_dir": str}}``.
    """
    found: dict[str, tuple[float, dict]] = {}
    for root in roots:
        for info_path in Path(root).rglob("run_info.json"):
            read = read_run(info_path.parent)
            if read is None or not read[0]:
                continue
            name, entry = read
            stamp = (info_path.parent / "metrics.json").stat().st_mtime
            if name not in found or stamp > found[name][0]:
                found[name] = (stamp, entry)
    runs = {name: entry for name, (_, entry) in found.items()}
    own = read_run(first) if first is not None else None
    if own is not None:
        runs[own[0]] = own[1]
    return runs


def build_table(runs: dict[str, dict], rows: Sequence[PaperRow] = PAPER_ROWS,
                extra: dict[str, Sequence[str]] | None = None) -> list[dict[str, str]]:
    """One dict per published row, with ``ours`` filled from ``runs`` or saying why not.

    ``extra`` maps an experiment with no published number (e.g. the demo; ``""``: a run
    without ``experiment=``) to metric keys shown as additional rows, whose source is the run
    directory the numbers were read from.
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
            ours, command = f"{run['metrics'][row.metric]:.2f}", command_for(run, row.metric)
        table.append({"table": row.table, "setting": row.setting, "metric": row.metric_label,
                      "published": f"{row.published:.2f}", "source": row.source,
                      "ours": ours, "command": command})
    for experiment, keys in (extra or {}).items():
        run = runs.get(experiment)
        for key in keys:
            if run and key in run["metrics"]:
                label = experiment or "no experiment="
                table.append({"table": f"{label} (no published number)", "setting": key,
                              "metric": "%", "published": "—", "source": run["run_dir"],
                              "ours": f"{run['metrics'][key]:.2f}",
                              "command": command_for(run, key)})
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
