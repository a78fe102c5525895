"""Preflight rule of the report stage (a row of :data:`wsol.app.preflight.INPUTS`).

The report draws a run directory's results (gallery thumbnails from the CAM store, boxes at the
box protocol, seeds at ``eval.bg_threshold``, the header) with the configuration it is given.
When the directory's evaluate numbers were made with other settings (``stages=[report]``
typed without the recipe's overrides), it would draw other maps or other boxes beside them, so
it is refused, naming the differing settings and the command that keeps them.
"""

from __future__ import annotations

from collections.abc import Iterator

from wsol.app.build import Run
from wsol.app.carried import invalidated
from wsol.app.findings import Finding
from wsol.app.run_record import drawn_settings, read_run_info, stage_records
from wsol.errors import ConfigError
from wsol.io.manifest import differences

CHECK = "report settings"


def report_command(recorded: str, run: Run) -> str:
    """``recorded`` (``python scripts/run.py OVERRIDES``) with its stages replaced by the
    report alone and the run directory pinned (``hydra.run.dir``)."""
    words = [w for w in recorded.split() if not w.startswith(("stages=", "hydra.run.dir="))]
    return " ".join([*words, "stages=[report]", f"hydra.run.dir={run.run_dir}"])


def drawn_settings_findings(run: Run) -> Iterator[Finding]:
    """OK when this run's stages replace the evaluate numbers (an evaluate, new maps, another
    model: :func:`wsol.app.carried.invalidated`), when no earlier evaluate recorded its
    settings (a run directory older than the record), or when they equal this run's."""
    if any("evaluate" in invalidated(stage, run) for stage in run.stages):
        yield Finding(CHECK, True, "this run's stages replace the evaluate results it draws")
        return
    record = stage_records(read_run_info(run.run_dir)).get("evaluate")
    if record is None or not isinstance(record.get("settings"), dict):
        yield Finding(CHECK, True, "no evaluate stage recorded its settings here")
        return
    diff = differences(record["settings"], drawn_settings(run))
    if not diff:
        yield Finding(CHECK, True, f"those of the evaluate run: {record['command']}")
        return
    command = report_command(record["command"], run)
    detail = (f"the evaluate numbers in {run.run_dir} were made with other settings ({diff}), "
              "so the report would draw other maps or boxes beside them")
    fix = f"report them with the settings that made them: {command}"
    yield Finding(CHECK, False, detail, fix, ConfigError(f"{detail}; {fix}"))
