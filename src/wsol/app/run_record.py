"""``run_info.json``: what ran in a run directory, and which command made each stage's results.

Top level: the last run's ``experiment``, ``command``, ``stages`` and ``variant``. Under
``by_stage``, for each stage whose results the directory holds, the run that made them: its
``command``, ``experiment``, ``variant``, ``settings`` (the values of :data:`DRAWN_SETTINGS`:
what decides which maps were scored and how boxes and seeds were drawn), ``classifier`` (the
model it explained) and ``output`` (for cam and pseudo: what names the maps or labels made).
A stage's record goes when its results go stale (the rule of :mod:`wsol.app.carried`), so a
command shown beside a number is the one that made it, not whatever ran last
(``stages=[report]``), and the report can refuse to draw a run with settings other than those
that made its numbers (:mod:`wsol.app.report_rules`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wsol.app.stages import STAGE_ORDER, STAGES
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
    "data.metadata_dir", "data.cam_split", "data.input_size", "data.blacklist", "data.generate",
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
    """The experiment name, the command line that reproduces this run (its overrides and its
    ``hydra.run.dir``), its stages and its WSOL method variant (for the tables)."""
    from wsol.app.compose import quoted

    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        experiment = hydra_cfg.runtime.choices.get("experiment") or ""
        # Hydra's task overrides leave hydra.* out: pin the directory the results are in, so
        # the command of a rerun in a used directory runs where its inputs are
        where = f"hydra.run.dir={cfg.paths.run_dir}"
        overrides = " ".join([*hydra_cfg.overrides.task,
                              quoted(where) if " " in where else where])
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
        if dataclasses.is_dataclass(value):  # data.generate: the demo tree's parameters
            value = dataclasses.asdict(value)
        if key == "data.root":
            value = str(run.data.root.resolve())  # one spelling of one folder
        elif key == "model.checkpoint" and value is not None and \
                absolute_path(value).resolve() == run.model_path.resolve():
            value = None  # the run directory's own model, named or not
        elif key in _PATHS and value is not None:
            value = str(absolute_path(value).resolve())
        out[key] = value
    # equal drawings, equal records: top-k means nothing to other class rules, and a null box
    # threshold is its protocol's own fraction
    if out["cam.classes"] != "topk":
        out["cam.topk"] = None
    from wsol.localize.boxes import protocol_threshold

    out["eval.box_threshold"] = protocol_threshold(out["eval.box_protocol"],
                                                   out["eval.box_threshold"])
    out["eval.box_protocol"] = None  # a protocol only names its fraction, resolved above
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


def numbers_record(info: dict[str, Any]) -> dict[str, Any]:
    """The record of the run that made a directory's headline numbers: its evaluate stage's,
    else the last stage (in pipeline order) that recorded results, else the last command's
    (``info``: a read ``run_info.json``)."""
    records = stage_records(info)
    for stage in ("evaluate", *reversed(STAGE_ORDER)):
        if stage in records and stage != "report":
            return records[stage]
    return info


class RunInfo:
    """The run directory's ``run_info.json`` as this run updates it, stage by stage."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.info = run_info(run.config)
        self.by_stage = stage_records(read_run_info(run.run_dir))

    def write(self) -> None:
        atomic_write_json(self.run.run_dir / RUN_INFO, {**self.info, "by_stage": self.by_stage})

    def stage_done(self, stage: str, dropped: set[str], output: str | None,
                   inputs: dict[str, str]) -> None:
        """Record ``stage`` as this run's (with its ``output``: :func:`output_identity`, and the
        ``inputs`` it read: :meth:`inputs_read`) and drop the records of the ``dropped``
        stages, whose results went stale; then write."""
        from wsol.app.carried import classifier_identity

        for other in dropped:
            self.by_stage.pop(other, None)
        record = {key: self.info[key] for key in ("command", "experiment", "variant")}
        record.update(settings=drawn_settings(self.run),
                      classifier=classifier_identity(self.run), output=output,
                      inputs=inputs)
        self.by_stage[stage] = record
        self.write()

    def inputs_read(self, stage: str) -> dict[str, str]:
        """The outputs of earlier stages ``stage`` read (:func:`read_identity`): the CAM store,
        the pseudo-label folder; the ones it does not read are left out."""
        found = {upstream: read_identity(upstream, self.run) for upstream in STAGES[stage].uses}
        return {upstream: identity for upstream, identity in found.items() if identity}

    def changed_inputs(self, stage: str, inputs: dict[str, str]) -> set[str]:
        """The recorded stages whose results were made from another output than the one
        ``stage`` just read (``inputs``: :meth:`inputs_read`): the upstream stage itself when
        its recorded output differs (an evaluate of another store than the recorded cam
        stage's, a segmenter trained on another pseudo-label folder), and every other stage
        that read another one (boxes of the maps an evaluate no longer scores): a run directory
        holds one chain."""
        changed = set()
        for upstream, now in inputs.items():
            if self.by_stage.get(upstream, {}).get("output") not in (None, now):
                changed.add(upstream)
            changed |= {other for other, record in self.by_stage.items()
                        if other != stage and isinstance(record.get("inputs"), dict)
                        and record["inputs"].get(upstream) not in (None, now)}
        return changed

    def same_output(self, stage: str, output: str | None) -> bool:
        """Whether ``stage`` just produced what the results made from its output were made
        from: its last record's output, or with no record of it, the input every recorded
        stage that read its output names (then those results are still current)."""
        if output is None:
            return False
        record = self.by_stage.get(stage)
        if record is not None:
            return record.get("output") == output
        read = [r["inputs"][stage] for r in self.by_stage.values()
                if isinstance(r.get("inputs"), dict) and stage in r["inputs"]]
        return bool(read) and all(identity == output for identity in read)


def output_identity(stage: str, run: Run) -> str | None:
    """What names the output of ``stage`` once it has run, where one name tells it all: the
    cam stage's store (its content key, from ``cam_store.json``'s folder: the same maps reached
    through another path are the same store) and the pseudo stage's
    folder (its manifest); None for the others, whose every run counts as new results."""
    if stage == "cam":
        record = load_json_dict(run.cam_record_path) or {}
        return _store_name(Path(record["path"])) if record.get("path") else None
    return read_identity(stage, run)


def _store_name(store: Path) -> str:
    """A CAM store by its content key (the same maps through a symlinked or moved cache are
    the same store), else its resolved path."""
    from wsol.app.stages.pseudo import store_identity

    name = store_identity(store)
    return name if name != str(store) else str(Path(store).resolve())


def read_identity(stage: str, run: Run) -> str | None:
    """The :func:`output_identity` of the ``stage`` output that ``run`` reads now (the CAM
    store its settings name, the pseudo-label folder); None when it reads none."""
    if stage == "cam":
        from wsol.app.cam_cache import store_for_reading
        from wsol.errors import WsolError

        try:
            store = store_for_reading(run)
        except (WsolError, OSError):  # no store it could read: it read none
            return None
        return None if store is None else _store_name(store)
    if stage == "pseudo":
        from wsol.app.stages.pseudo import pseudo_dir
        from wsol.pseudo.folder import MANIFEST

        manifest = load_json_dict(pseudo_dir(run) / MANIFEST)
        return None if manifest is None else json.dumps(jsonable(manifest), sort_keys=True)
    return None
