"""``run(cfg)``: the configured stages in order, each a plain function over the run directory."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from wsol.errors import ConfigError
from wsol.io.atomic import atomic_write_json
from wsol.models.checkpoint import require_checkpoint
from wsol.stages.context import RunContext, absolute_path, checkpoint_path, data_root

log = logging.getLogger(__name__)

StageFn = Callable[[DictConfig, RunContext], dict]


# Stage name -> "module:function"; imported only when the stage runs, so a stage list never
# pays for (or breaks on) the imports of stages it does not use.
STAGES: dict[str, str] = {
    "train": "wsol.stages.train:train_stage",
    "cam": "wsol.stages.cam:cam_stage",
    "localize": "wsol.stages.localize:localize_stage",
    "evaluate": "wsol.stages.evaluate:evaluate_stage",
    "report": "wsol.stages.report:report_stage",
}


def _load_stage(name: str) -> StageFn:
    module, function = STAGES[name].split(":")
    return getattr(importlib.import_module(module), function)


def _read_metrics(path: Path) -> dict[str, float]:
    """Metrics of earlier stages of this run dir (so ``stages=[evaluate]`` keeps ``cls/map``)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def run(cfg: DictConfig) -> dict[str, float]:
    """Run ``cfg.stages`` in order in ``cfg.paths.run_dir``; returns the merged metrics.

    ``metrics.json`` is rewritten (atomically) after every stage, so a run killed in a later
    stage keeps what the earlier ones measured.
    """
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"stages={list(cfg.stages)}: unknown {unknown}; "
                          f"choose from {list(STAGES)}.")
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    store_dir = cfg.cam.get("store_dir")
    ctx = RunContext(absolute_path(cfg.paths.run_dir),
                     absolute_path(store_dir) if store_dir else None)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    check_inputs(cfg, ctx)
    atomic_write_json(ctx.run_dir / "run_info.json", run_info(cfg))
    metrics = _read_metrics(ctx.metrics_path)
    for name in cfg.stages:
        log.info("stage %s -> %s", name, ctx.run_dir)
        metrics.update(_load_stage(name)(cfg, ctx))
        atomic_write_json(ctx.metrics_path, metrics)
    print_summary(metrics, ctx)
    return metrics


def check_inputs(cfg: DictConfig, ctx: RunContext) -> None:
    """Fail before any work when the data root or the checkpoint a stage needs is missing."""
    if set(cfg.stages) & {"train", "cam", "evaluate"}:
        data_root(cfg)  # raises DataError naming data.root; generates the demo when configured
    if "cam" in cfg.stages and "train" not in cfg.stages:
        require_checkpoint(checkpoint_path(cfg, ctx))


def run_info(cfg: DictConfig) -> dict[str, str]:
    """The experiment name and the command line that reproduces this run (for the tables)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hydra_cfg = HydraConfig.get()
        experiment = hydra_cfg.runtime.choices.get("experiment") or ""
        overrides = " ".join(hydra_cfg.overrides.task)
    except ValueError:  # called as a library, outside a Hydra app
        experiment, overrides = "", ""
    return {"experiment": experiment,
            "command": f"python scripts/run.py {overrides}".strip(),
            "stages": ",".join(cfg.stages)}


SUMMARY_ROWS = (
    ("cls/map", "classifier mAP (val)", None),
    ("loc/gt_known", "GT-known loc (protocol box, IoU ≥ 0.5)", None),
    ("loc/maxboxacc", "MaxBoxAcc (IoU 0.5, best τ)", "loc/best_threshold"),
    ("loc/maxboxacc_v2", "MaxBoxAccV2", None),
    ("baseline/center/maxboxacc", "centre-Gaussian baseline MaxBoxAcc", None),
    ("loc/mean_iou", "mean box IoU", None),
    ("loc/pxap", "PxAP", None),
    ("seg/miou", "seed mIoU at eval.bg_threshold", None),
    ("seg/miou_best", "seed mIoU, best τ", "seg/best_threshold"),
)


def print_summary(metrics: dict[str, float], ctx: RunContext) -> None:
    """A short table of the headline metrics (percent) on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"wsol results  ({ctx.run_dir})")
    table.add_column("metric")
    table.add_column("%", justify="right")
    table.add_column("at τ", justify="right")
    for key, label, threshold_key in SUMMARY_ROWS:
        if key in metrics:
            at = f"{metrics[threshold_key]:.2f}" if threshold_key in metrics else ""
            table.add_row(label, f"{metrics[key]:.1f}", at)
    if table.row_count:
        Console().print(table)
