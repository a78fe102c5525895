"""``run(cfg)``: the configured stages in order, each a plain function over the run directory."""

from __future__ import annotations

import importlib
import json
import logging
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from wsol.app.context import RunContext, data_root, require_model_inputs
from wsol.app.distributed import (
    barrier,
    is_global_zero,
    ranks_started_externally,
    requested_processes,
)
from wsol.errors import ConfigError, WsolError
from wsol.io.atomic import atomic_write_json

log = logging.getLogger(__name__)

StageFn = Callable[[DictConfig, RunContext], dict]


# Stage name -> "module:function"; imported only when the stage runs, so a stage list never
# pays for (or breaks on) the imports of stages it does not use.
STAGES: dict[str, str] = {
    "train": "wsol.app.stages.train:train_stage",
    "cam": "wsol.app.stages.cam:cam_stage",
    "localize": "wsol.app.stages.localize:localize_stage",
    "evaluate": "wsol.app.stages.evaluate:evaluate_stage",
    "report": "wsol.app.stages.report:report_stage",
}
# Stages every DDP rank runs (each on its share of the data); the others read their files and
# run on global rank 0 only, after a barrier.
DISTRIBUTED_STAGES = frozenset({"train", "cam"})


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
    stage keeps what the earlier ones measured. Under DDP every rank calls this: train and cam
    run on all ranks, each followed by a barrier; the other stages and every run-level file
    are global rank 0's, and the other ranks return ``{}``.
    """
    unknown = [s for s in cfg.stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"stages={list(cfg.stages)}: unknown {unknown}; "
                          f"choose from {list(STAGES)}.")
    check_launch(cfg)
    seed_everything(cfg)
    ctx = RunContext.from_config(cfg)  # run dir, cam.store_dir, paths.cache_dir
    require_writable_dir(ctx.run_dir)
    check_inputs(cfg, ctx)
    if is_global_zero():
        atomic_write_json(ctx.run_dir / "run_info.json", run_info(cfg))
    metrics = _read_metrics(ctx.metrics_path)
    for name in cfg.stages:
        distributed = name in DISTRIBUTED_STAGES
        if not distributed and not is_global_zero():
            continue
        log.info("stage %s -> %s", name, ctx.run_dir)
        result = _load_stage(name)(cfg, ctx)
        if distributed:
            barrier()  # every rank's files are on disk before anyone reads them
        if is_global_zero():
            metrics.update(result)
            atomic_write_json(ctx.metrics_path, metrics)
    if not is_global_zero():
        return {}
    print_summary(metrics, ctx)
    return metrics


def seed_everything(cfg: DictConfig) -> None:
    """Seed Python, NumPy and torch with ``cfg.seed``; through Lightning (which also seeds DDP
    ranks and loader workers) only when a Lightning stage runs, as importing it costs ~3 s
    that an evaluate-only sweep job need not pay."""
    if set(cfg.stages) & DISTRIBUTED_STAGES:
        import pytorch_lightning as pl

        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        return
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)


def require_writable_dir(run_dir: Path) -> None:
    """Create ``run_dir`` and prove a file can be made in it, before any work is done."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=run_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise WsolError(
            f"Run directory {run_dir} is not writable ({err.strerror or err}); choose another "
            "with hydra.run.dir=DIR (hydra.sweep.dir=DIR with -m) or paths.run_dir=DIR, or "
            "make it writable (chmod u+w / check the disk is mounted read-write).") from err


def check_launch(cfg: DictConfig) -> None:
    """Refuse DDP inside a local ``-m`` sweep: Lightning would re-execute the sweep command
    line (``-m`` included) for every extra rank. SLURM tasks and torchrun start ranks
    themselves, so there it is fine."""
    if requested_processes(cfg.trainer) <= 1 or ranks_started_externally():
        return
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra app
        return
    if multirun:
        raise ConfigError(
            f"trainer.devices={cfg.trainer.devices} (DDP) cannot run inside a local -m sweep; "
            "sweep with hydra/launcher=slurm (one SLURM task per device), or run each "
            "multi-device configuration without -m.")


def check_inputs(cfg: DictConfig, ctx: RunContext) -> None:
    """Fail before any work when the data root or the checkpoint a stage needs is missing."""
    if set(cfg.stages) & {"train", "cam", "evaluate"}:
        data_root(cfg)  # raises DataError naming data.root; generates the demo when configured
    require_model_inputs(cfg, ctx)  # pretrained weights file / checkpoint, named with the fix
    if set(cfg.stages) & {"localize", "evaluate"}:
        from wsol.app.stages.scoring import check_eval_config

        check_eval_config(cfg)  # eval.* thresholds: before hours of training, not after
    if "cam" in cfg.stages:  # cam.protocol and the settings it needs, before training
        from wsol.cam.protocols import check_protocol

        check_protocol(cfg.cam.protocol, cfg.cam.image_size, cfg.cam.scales, cfg.cam.flip)


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
