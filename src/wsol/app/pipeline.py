"""``run(cfg)``: the configured stages in order, each a plain function of the run objects."""

from __future__ import annotations

import importlib
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from wsol.app.build import Run, build_run
from wsol.app.carried import carried_metrics, remove_stale_files, warn_undeclared
from wsol.app.distributed import (
    barrier,
    is_global_zero,
    ranks_started_externally,
    requested_processes,
)
from wsol.app.run_record import RunInfo
from wsol.app.schema import RunConfig
from wsol.app.stages import STAGES
from wsol.app.threads import apply_threads
from wsol.errors import ConfigError, WsolError
from wsol.io.atomic import atomic_write_json

log = logging.getLogger(__name__)

StageFn = Callable[[Run], dict]


DISTRIBUTED_STAGES = frozenset(name for name, spec in STAGES.items() if spec.distributed)


def _load_stage(name: str) -> StageFn:
    module, function = STAGES[name].function.split(":")
    return getattr(importlib.import_module(module), function)


def _read_metrics(path: Path) -> dict[str, float]:
    """Metrics of earlier runs in this run dir (so ``stages=[evaluate]`` keeps ``cls/map``;
    what each stage drops of them: :mod:`wsol.app.carried`): its finite numbers; nothing
    from a file that is damaged, not an object, or a folder."""
    from wsol.report.tables import load_metrics

    return (load_metrics(path) if path.is_file() else None) or {}


def run(cfg: DictConfig | RunConfig) -> dict[str, float]:
    """Run ``cfg.stages`` in order in ``cfg.paths.run_dir``; returns the merged metrics.

    Each stage's results replace the carried-over numbers it invalidates: its own keys and
    every later stage's (:func:`wsol.app.carried.carried_metrics`). ``metrics.json`` is
    rewritten (atomically) after every stage, so a run killed in a later
    stage keeps what the earlier ones measured. Under DDP every rank calls this: train and cam
    run on all ranks, each followed by a barrier; the other stages and every run-level file
    are global rank 0's, and the other ranks return ``{}``.
    """
    run_objects = build_run(cfg)  # typed, validated: a bad value stops here, before any work
    check_launch(run_objects)
    seed_everything(run_objects.config)
    require_writable_dir(run_objects.run_dir)
    from wsol.app.preflight import require_inputs

    require_inputs(run_objects)  # every input the stages read, before any of them starts
    apply_threads(run_objects)  # torch / OpenCV threads from the CPUs this run may use
    info = RunInfo(run_objects)  # the last command, and per stage the one that made it
    if is_global_zero():
        info.write()
    earlier = _read_metrics(run_objects.metrics_path)  # thinned as stages run
    made: dict[str, float] = {}  # by this run's stages
    ran: set[str] = set()  # stages of this run whose files are fresh
    metrics = earlier
    for name in run_objects.stages:
        distributed = name in DISTRIBUTED_STAGES
        if not distributed and not is_global_zero():
            continue
        log.info("stage %s -> %s", name, run_objects.run_dir)
        start = time.perf_counter()
        result = _load_stage(name)(run_objects)
        log.info("stage %s done in %.2f s", name, time.perf_counter() - start)
        if distributed:
            barrier()  # every rank's files are on disk before anyone reads them
        if is_global_zero():
            warn_undeclared(name, result)
            earlier = carried_metrics(earlier, name, run_objects)
            ran.add(name)
            removed = remove_stale_files(run_objects, name, ran)
            info.stage_done(name, ran)
            if removed:
                log.info("stage %s: removed the earlier results it made stale: %s", name,
                         ", ".join(removed))
            made.update(result)
            metrics = {**earlier, **made}
            atomic_write_json(run_objects.metrics_path, metrics)
    if not is_global_zero():
        return {}
    print_summary(metrics, run_objects.run_dir)
    return metrics


def seed_everything(cfg: RunConfig) -> None:
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
            "with hydra.run.dir=DIR (hydra.sweep.dir=DIR with -m), or "
            "make it writable (chmod u+w / check the disk is mounted read-write).") from err


def check_launch(run: Run) -> None:
    """Refuse DDP inside a local ``-m`` sweep: Lightning would re-execute the sweep command
    line (``-m`` included) for every extra rank. SLURM tasks and torchrun start ranks
    themselves, so there it is fine."""
    trainer = run.config.trainer
    if requested_processes(trainer) <= 1 or ranks_started_externally():
        return
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:  # not inside a Hydra app
        return
    if multirun:
        raise ConfigError(
            f"trainer.devices={trainer.devices} (DDP) cannot run inside a local -m sweep; "
            "sweep with hydra/launcher=slurm (one SLURM task per device), or run each "
            "multi-device configuration without -m.")


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
    ("seg/pseudo_seed_miou", "seed mIoU on the pseudo-labelled images", None),
    ("seg/pseudo_miou", "pseudo-label mIoU (255 left out)", None),
    ("seg/pseudo_ignored", "pseudo-label pixels ignored (255)", None),
    ("seg/val_miou", "segmenter mIoU on val", None),
)


def print_summary(metrics: dict[str, float], run_dir: Path) -> None:
    """A short table of the headline metrics (percent) on stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"wsol results  ({run_dir})")
    table.add_column("metric")
    table.add_column("%", justify="right")
    table.add_column("at τ", justify="right")
    for key, label, threshold_key in SUMMARY_ROWS:
        if key in metrics:
            at = f"{metrics[threshold_key]:.2f}" if threshold_key in metrics else ""
            table.add_row(label, f"{metrics[key]:.1f}", at)
    if table.row_count:
        Console().print(table)
