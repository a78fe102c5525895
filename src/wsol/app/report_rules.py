"""Preflight rule of the report stage (a row of :data:`wsol.app.preflight.INPUTS`).

The report draws a run directory's results (gallery thumbnails from the CAM store, boxes at the
box protocol, seeds at ``eval.bg_threshold``, the header) with the configuration it is given.
When the directory's evaluate, pseudo or segment results were made with other settings
(``stages=[report]`` typed without the recipe's overrides), it would draw other maps, boxes or
data beside them, so it is refused, naming the differing settings and the command that keeps
them: before any stage for the records no earlier stage of the run replaces, and by the report
stage itself for what is recorded when it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsol.app.build import Run
from wsol.app.carried import stale_stages
from wsol.app.compose import override_key, override_text
from wsol.app.findings import Finding
from wsol.app.run_record import drawn_settings, read_identity, read_run_info, stage_records
from wsol.errors import ConfigError
from wsol.io.manifest import differences, flatten

CHECK = "report settings"


def report_command(recorded: str, run: Run, values: dict[str, Any] | None = None) -> str:
    """``recorded`` (``python scripts/run.py OVERRIDES``) with its stages replaced by the
    report alone, the run directory pinned (``hydra.run.dir``) and each of ``values`` (dotted
    key -> recorded value: settings that came from the environment, a relative path or a
    default, which the recorded overrides alone would not restore) set explicitly."""
    values = values or {}
    replaced = {"stages", "hydra.run.dir", *values}
    words = [w for w in recorded.split() if override_key(w) not in replaced]
    return " ".join([*words, *(override_text(k, v) for k, v in values.items()), "stages=[report]",
                     f"hydra.run.dir={run.run_dir}"])


# the records the report is checked against, and the setting sections it draws their results
# with: evaluate's gallery uses every drawn setting, the WSSS stages' header and tables the data,
# model and maps (localize's boxes and the sanity figure are files it shows as they are)
CHECKED = {"evaluate": ("data.", "model.", "cam.", "eval."),
           "pseudo": ("data.", "model.", "cam."), "segment": ("data.", "model.", "cam.")}


def settings_findings(run: Run, skip: set[str] = frozenset()) -> Iterator[Finding]:
    """One finding: whether ``run``'s drawn settings equal those recorded by each stage of
    :data:`CHECKED` whose results the run directory holds (``skip``: stages whose results this
    run replaces before the report). OK as well for run directories older than the records."""
    records = stage_records(read_run_info(run.run_dir))
    now = drawn_settings(run)
    for stage, sections in CHECKED.items():
        record = records.get(stage)
        if stage in skip or record is None or not isinstance(record.get("settings"), dict):
            continue
        recorded = {k: v for k, v in record["settings"].items() if k.startswith(sections)}
        diff = differences(recorded, {k: now.get(k) for k in recorded})
        if diff:
            was, asked = flatten(recorded), flatten({k: now.get(k) for k in recorded})
            command = report_command(record["command"], run,
                                     {k: v for k, v in was.items() if asked.get(k) != v})
            detail = (f"the {stage} results in {run.run_dir} were made with other settings "
                      f"({diff}), so the report would draw other maps, boxes or data beside "
                      "them")
            fix = f"report them with the settings that made them: {command}"
            yield Finding(CHECK, False, detail, fix, ConfigError(f"{detail}; {fix}"))
            return
    moved = _store_moved(run, records.get("evaluate") if "evaluate" not in skip else None)
    if moved:
        yield Finding(CHECK, False, moved, "", ConfigError(moved))
        return
    yield Finding(CHECK, True, "those of the runs that made the results it draws")


def _store_moved(run: Run, record: dict | None) -> str | None:
    """Why the CAM store these settings read now is not the one the evaluate numbers were
    scored on (the key covers the images' files and the model: a regenerated demo tree or a
    model retrained in place moves it); None when it is, or when nothing says which."""
    scored = (record or {}).get("inputs", {}).get("cam") if isinstance(record, dict) else None
    if not scored:
        return None
    now = read_identity("cam", run)
    if now is None or now == scored:
        return None
    return (f"the evaluate results in {run.run_dir} were scored on the maps in {scored}, but "
            f"these settings read {now} (the CAM key covers the images' files and the model: "
            "a regenerated demo tree or weights retrained in place move it), so the gallery "
            "would show other maps beside them; make and score the present maps "
            f"(stages=[cam,localize,evaluate,report] hydra.run.dir={run.run_dir}), or restore "
            "the inputs they were made from")


def drawn_settings_findings(run: Run) -> Iterator[Finding]:
    """The preflight row: :func:`settings_findings`, leaving out the records this run's own
    stages will replace (the report stage checks again with what is recorded by then)."""
    records = stage_records(read_run_info(run.run_dir))
    replaced = set().union(*(stale_stages(stage, run, records) for stage in run.stages
                             if stage != "report"))
    yield from settings_findings(run, replaced)


def require_drawn_settings(run: Run) -> None:
    """ConfigError unless the report draws with the settings that made the results it shows
    (called by the report stage, when this run's stages have updated the records)."""
    for finding in settings_findings(run):
        if not finding.ok:
            raise finding.exception()
