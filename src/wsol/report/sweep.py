"""One summary table for a whole ``-m`` multirun sweep, written when the sweep ends: this
sweep's jobs only, naming any job folders of an earlier sweep in the same folder."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from wsol.app.run_record import numbers_record
from wsol.io.atomic import atomic_write_text

# a column appears when a job has the key: CAM recipes, the Grad-CAM paper's top-k errors, and
# the WSSS chain's pseudo-label and segmenter numbers
HEADLINE = ("loc/gt_known", "loc/maxboxacc", "loc/best_threshold", "loc/maxboxacc_v2",
            "seg/miou", "seg/miou_best", "seg/best_threshold", "cls/map",
            "val/loc/maxboxacc_v2", "protocol/boxacc_v2", "loc/pxap", "val/loc/pxap",
            "loc/top1_loc_err", "loc/top5_loc_err", "seg/pseudo_miou", "seg/val_miou")
# wsolevaluation's protocol: a sweep's hyperparameters are chosen on train-fullsup (val)
SELECT_ON = ("val/loc/maxboxacc_v2", "val/loc/pxap")


# The sweep's id: written into the sweep folder when the sweep starts and copied into each of
# its job folders when the job starts, so the summary can tell its jobs from an earlier sweep's
# in the same folder (Hydra reuses the job numbers 0, 1, ... and so the folder names).
MARKER = ".wsol_sweep"


@dataclass
class SweepJobs:
    """rows: one per job of the sweep that wrote metrics.json (its overrides and headline
    metrics); others: job folders with a metrics.json from another sweep, left out; missing:
    this sweep's jobs that wrote no metrics.json (failed or killed)."""

    rows: list[dict[str, str]]
    others: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _job_order(path: Path) -> tuple[int, str]:
    return len(path.name), path.name


def collect_sweep(sweep_dir: Path, sweep_id: str | None = None) -> SweepJobs:
    """The jobs of the sweep ``sweep_id`` under ``sweep_dir`` (None: every job folder).

    A job is this sweep's when its folder holds this sweep's :data:`MARKER`; its numbers count
    only when its metrics.json is no older than that marker (else the job stopped before its
    first stage ended and the file is an earlier sweep's job of the same number)."""
    jobs = SweepJobs([])
    folders = [p for p in Path(sweep_dir).iterdir() if p.is_dir()] if sweep_id else \
        [p.parent for p in Path(sweep_dir).glob("*/metrics.json")]
    for job_dir in sorted(folders, key=_job_order):
        metrics_path, marker = job_dir / "metrics.json", job_dir / MARKER
        if sweep_id and _read(marker) != sweep_id:
            if metrics_path.is_file():
                jobs.others.append(job_dir.name)
            continue
        if not metrics_path.is_file() or (
                sweep_id and metrics_path.stat().st_mtime_ns < marker.stat().st_mtime_ns):
            jobs.missing.append(job_dir.name)
            continue
        info_path = job_dir / "run_info.json"
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        metrics = json.loads(metrics_path.read_text())
        command = str(numbers_record(info).get("command", ""))  # what made them, not the last
        words = [w for w in command.split()[2:] if not w.startswith("hydra.run.dir=")]
        row = {"job": job_dir.name, "overrides": " ".join(words)}  # the job folder says where
        row.update({k: f"{metrics[k]:.4g}" for k in HEADLINE if k in metrics})
        jobs.rows.append(row)
    return jobs


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


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


def render_sweep(rows: list[dict[str, str]], others: Sequence[str] = (),
                 missing: Sequence[str] = ()) -> tuple[str, str]:
    """``(markdown, csv)`` text of the sweep table (markdown: with the val choice line, and
    lines naming the job folders of another sweep left out and this sweep's jobs without
    metrics)."""
    columns = ["job", "overrides"] + [k for k in HEADLINE if any(k in r for r in rows)]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r.get(c, "") for c in columns) + " |" for r in rows]
    choice = chosen_on_val(rows)
    if choice:
        lines += ["", choice]
    if missing:
        lines += ["", f"Job(s) of this sweep that wrote no metrics.json (see their run.log): "
                      f"{', '.join(missing)}."]
    if others:
        lines += ["", f"Left out: job folder(s) {', '.join(others)} in this folder hold "
                      "results of an earlier sweep, not of this one."]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return "\n".join(lines) + "\n", buffer.getvalue()


class SweepSummary(Callback):
    """Hydra callback: writes ``sweep_summary.md`` / ``.csv`` into the sweep directory, over
    this sweep's jobs only (see :data:`MARKER`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _sweep_dir(config)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(sweep_dir / MARKER, uuid.uuid4().hex + "\n")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """In the job's process (which may be a joblib worker or a SLURM task)."""
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        sweep_id = _read(_sweep_dir(config) / MARKER)
        if sweep_id:
            atomic_write_text(Path(config.hydra.runtime.output_dir) / MARKER, sweep_id + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = _sweep_dir(config)
        jobs = collect_sweep(sweep_dir, _read(sweep_dir / MARKER))
        markdown, table_csv = render_sweep(jobs.rows, jobs.others, jobs.missing)
        atomic_write_text(sweep_dir / "sweep_summary.md", markdown)
        atomic_write_text(sweep_dir / "sweep_summary.csv", table_csv)
        runs = f"{len(jobs.rows)} run" + ("" if len(jobs.rows) == 1 else "s")
        print(f"\nsweep of {runs} -> {sweep_dir / 'sweep_summary.md'}\n{markdown}")


def _sweep_dir(config: DictConfig) -> Path:
    """``hydra.sweep.dir`` from the launch directory (a job with hydra.job.chdir=true runs in
    its own folder)."""
    return Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)
