"""One summary table for a whole ``-m`` multirun sweep, written when the sweep ends."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from wsol.io.atomic import atomic_write_text

HEADLINE = ("loc/gt_known", "loc/maxboxacc", "loc/best_threshold", "loc/maxboxacc_v2",
            "seg/miou", "seg/miou_best", "seg/best_threshold", "cls/map",
            "val/loc/maxboxacc_v2", "protocol/boxacc_v2", "loc/pxap", "val/loc/pxap")
# wsolevaluation's protocol: a sweep's hyperparameters are chosen on train-fullsup (val)
SELECT_ON = ("val/loc/maxboxacc_v2", "val/loc/pxap")


def collect_sweep(sweep_dir: Path) -> list[dict[str, str]]:
    """One row per finished job under ``sweep_dir``: its overrides and headline metrics."""
    rows = []
    for metrics_path in sorted(Path(sweep_dir).glob("*/metrics.json"),
                               key=lambda p: (len(p.parent.name), p.parent.name)):
        job_dir = metrics_path.parent
        info_path = job_dir / "run_info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        metrics = json.loads(metrics_path.read_text())
        row = {"job": job_dir.name,
               "overrides": info.get("command", "").replace("python scripts/run.py", "").strip()}
        row.update({k: f"{metrics[k]:.4g}" for k in HEADLINE if k in metrics})
        rows.append(row)
    return rows


def chosen_on_val(rows: list[dict[str, str]]) -> str | None:
    """The line naming the job whose train-fullsup number is best (the first of equals), for
    sweeps whose runs scored a selection split; None otherwise."""
    for key in SELECT_ON:
        scored = [r for r in rows if key in r]
        if scored:
            best = max(scored, key=lambda r: float(r[key]))  # max keeps the first of equals
            return (f"Chosen on train-fullsup (val) by {key} = {best[key]}: job {best['job']} "
                    f"({best['overrides'] or 'no overrides'}); report its test numbers, not the "
                    "best test row.")
    return None


def render_sweep(rows: list[dict[str, str]]) -> tuple[str, str]:
    """``(markdown, csv)`` text of the sweep table (markdown: with the val choice line)."""
    columns = ["job", "overrides"] + [k for k in HEADLINE if any(k in r for r in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in rows]
    choice = chosen_on_val(rows)
    if choice:
        lines += ["", choice]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return "\n".join(lines) + "\n", buffer.getvalue()


class SweepSummary(Callback):
    """Hydra callback: writes ``sweep_summary.md`` / ``.csv`` into the sweep directory."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = collect_sweep(sweep_dir)
        markdown, table_csv = render_sweep(rows)
        atomic_write_text(sweep_dir / "sweep_summary.md", markdown)
        atomic_write_text(sweep_dir / "sweep_summary.csv", table_csv)
        print(f"\nsweep of {len(rows)} runs -> {sweep_dir / 'sweep_summary.md'}\n{markdown}")
