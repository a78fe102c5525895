"""``run_info.json``: what ran in a run directory, and which command made each stage's results.

Top level: the last run's ``experiment``, ``command``, ``stages`` and ``variant``. Under
``by_stage``, for each stage whose results the directory holds, the run that made them: its
``command``, ``experiment``, ``variant`` and ``settings``, the values of :data:`DRAWN_SETTINGS`
(what decides which maps were scored and how boxes and seeds were drawn). A stage's record goes
when its results go stale (the rule of :mod:`wsol.app.carried`), so a command shown beside a
number is the one that made it, not whatever ran last (``stages=[report]``), and the report
can refuse to draw a run with settings other than those its evaluate stage scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsol.io.atomic import atomic_write_json
from wsol.io.manifest import jsonable, load_json_dict

if TYPE_CHECKING:  # the tables read the records without the run layer's imports
    from wsol.app.build import Run
    from wsol.app.schema import RunConfig

RUN_INFO = "run_info.json"

# config keys that decide what a stage's results show: which data, model and maps, and how
# boxes and seeds are cut from them (speed and training settings are left out)
DRAWN_SETTINGS = (
    "data.name", "data.format", "data.root", "data.classes", "data.image_set", "data.mask_dir",
    "data.metadata_dir", "data.cam_split", "data.input_size", "data.blacklist",
    "model.arch", "model.weights", "model.output_stride", "model.checkpoint",
    "model.target_layer", "model.wsol_method",
    "cam.method", "cam.classes", "cam.topk", "cam.scales", "cam.flip", "cam.precision",
    "cam.store_stride", "cam.image_size", "cam.protocol", "cam.store_dir",
    "eval.box_protocol", "eval.box_threshold", "eval.multi_contour", "eval.bg_threshold",
    "eval.score_size",
)
_PATHS = ("data.root", "data.metadata_dir", "data.blacklist", "model.checkpoint",
          "cam.store_dir")


def run_info(cfg: RunConfig) -> dict[str, str]:
    """The experiment name, the command line that reproduces this run, its stages and its
    WSOL method variant (for the tables)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        experiment = hydra_cfg.runtime.choices.get("experiment") or ""
        overrides = " ".join(hydra_cfg.overrides.task)
    except ValueError:  # called as a library, outside a Hydra app
        experiment, overrides = "", ""
    method = cfg.model.wsol_method  # the tables tell a recipe's method variants apart
    return {"experiment": experiment,
            "command": f"python scripts/run.py {overrides}".strip(),
            "stages": ",".join(cfg.stages), "variant": "" if method == "cam" else method}


def drawn_settings(run: Run) -> dict[str, Any]:
    """The :data:`DRAWN_SETTINGS` of ``run`` as plain values, paths made absolute."""
    from wsol.app.build import absolute_path

    out: dict[str, Any] = {}
    for key in DRAWN_SETTINGS:
        section, name = key.split(".")
        value = getattr(getattr(run.config, section), name)
        if key == "data.root":
            value = str(run.data.root)
        elif key == "model.checkpoint" and value is not None and \
                absolute_path(value).resolve() == run.model_path.resolve():
            value = None  # the run directory's own model, named or not
        elif key in _PATHS and value is not None:
            value = str(absolute_path(value))
        out[key] = value
    return jsonable(out)


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """``run_dir``'s ``run_info.json`` ({} when absent or unreadable)."""
    path = Path(run_dir) / RUN_INFO
    return (load_json_dict(path) if path.is_file() else None) or {}


def stage_records(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``by_stage`` records of a read ``run_info.json`` (those that are well formed)."""
    records = info.get("by_stage")
    if not isinstance(records, dict):
        return {}
    return {str(stage): record for stage, record in records.items()
            if isinstance(record, dict) and isinstance(record.get("command"), str)}


class RunInfo:
    """The run directory's ``run_info.json`` as this run updates it, stage by stage."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.info = run_info(run.config)
        self.by_stage = stage_records(read_run_info(run.run_dir))

    def write(self) -> None:
        atomic_write_json(self.run.run_dir / RUN_INFO, {**self.info, "by_stage": self.by_stage})

    def stage_done(self, stage: str, fresh: set[str]) -> None:
        """Record ``stage`` as this run's and drop the records of the results it made stale
        (those of :func:`wsol.app.carried.invalidated` not in ``fresh``); then write."""
        from wsol.app.carried import invalidated

        for other in invalidated(stage, self.run) - fresh:
            self.by_stage.pop(other, None)
        self.by_stage[stage] = {key: self.info[key] for key in ("command", "experiment",
                                                                "variant")}
        self.by_stage[stage]["settings"] = drawn_settings(self.run)
        self.write()
