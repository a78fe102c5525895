"""Train stage: fit the multi-label classifier on image-level labels, write ``model.pt``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from wsol.app.build import Run
from wsol.app.carried import remove_run_files
from wsol.app.distributed import global_rank
from wsol.app.stages import STAGES
from wsol.app.threads import run_cpus
from wsol.datasets.records import LabelledImages
from wsol.io.atomic import atomic_write_json
from wsol.io.cpus import loader_workers
from wsol.models.checkpoint import save_classifier
from wsol.models.classifier import (
    Classifier,
    mean_average_precision,
    per_class_average_precision,
)
from wsol.training.datamodule import WSOLDataModule
from wsol.training.threads import KeepThreads

log = logging.getLogger(__name__)


def fit_classifier(run: Run, open_split: Callable[[str], LabelledImages] | None = None,
                   **trainer_overrides: Any) -> tuple[Classifier, WSOLDataModule, pl.Trainer,
                                                      float]:
    """Train a classifier with this run's recipe; returns (model, data, trainer, seconds).

    open_split: how splits are opened (default ``run.data.open``; the sanity stage passes one
    with permuted labels); trainer_overrides replace ``trainer.*`` keyword arguments.
    """
    cfg = run.config
    names = run.class_names()
    datamodule = WSOLDataModule(
        root=run.data.ensure_root(),
        class_names=names,
        train_split=cfg.data.train_split,
        val_split=cfg.data.val_split,
        image_set=cfg.data.image_set,
        input_size=cfg.data.input_size,
        batch_size=cfg.data.batch_size,
        num_workers=loader_workers(cfg.data.num_workers),
        cache_images=cfg.data.cache_images,
        crop_scale=tuple(cfg.data.crop_scale),
        crop_ratio=tuple(cfg.data.crop_ratio),
        seed=cfg.seed + global_rank(),  # DDP ranks draw different crops (rank 0: cfg.seed)
        open_split=open_split or run.data.open,
        augment=cfg.data.augment,
    )
    model_cfg = {k: v for k, v in asdict(cfg.model).items() if k != "checkpoint"}
    model = Classifier(num_classes=len(names), **model_cfg)
    trainer_args = {
        "default_root_dir": str(run.run_dir),
        "enable_checkpointing": False,
        "logger": pl.loggers.CSVLogger(str(run.run_dir), name="train_logs", version=""),
        "callbacks": [KeepThreads(run_cpus(run))],
        **asdict(cfg.trainer),
        **trainer_overrides,
    }
    trainer = pl.Trainer(**trainer_args)
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    return model, datamodule, trainer, time.perf_counter() - start


def train_stage(run: Run) -> dict[str, float]:
    """Train ``model`` on ``data.train_split``; returns ``train/*`` metrics and ``cls/map``."""
    cfg = run.config
    names = run.class_names()
    model, datamodule, trainer, seconds = fit_classifier(run)
    meta = {"arch": cfg.model.arch, "num_classes": len(names),
            "output_stride": cfg.model.output_stride, "class_names": list(names)}
    if trainer.is_global_zero:  # one writer; the file is complete before it has its name
        save_classifier(run.model_path, model.net, meta)
    trainer.strategy.barrier("wsol_model_saved")  # no rank loads model.pt before it exists
    metrics = {"train/seconds": round(seconds, 1)}
    if not trainer.is_global_zero:
        return metrics
    # an earlier model's class table must not outlive it when this one's mAP is left out
    remove_run_files(run.run_dir, STAGES["train"].files)
    # The reported mAP is the final model's over the whole split, scored once by rank 0: under
    # DDP the validation loop pads each rank's shard with repeated images, and with a sparse
    # validation schedule the last logged val/map may be epochs old.
    if cfg.data.val_split:
        logits, labels = validation_logits(model, datamodule.val_dataloader())
        score = mean_average_precision(logits, labels) if len(logits) else float("nan")
        if score == score:  # NaN: no class of the val split has a positive image
            metrics["cls/map"] = round(100.0 * score, 2)
            per_class = per_class_average_precision(logits, labels)
            atomic_write_json(run.run_dir / "class_ap.json", {  # for the report's class table
                name: (round(100.0 * ap, 2) if ap == ap else None)
                for name, ap in zip(names, per_class, strict=True)})
        else:
            log.warning("cls/map left out: no class has a positive image in split %r",
                        cfg.data.val_split)
    log.info("trained %s in %.0f s -> %s", cfg.model.arch, seconds, run.model_path)
    return metrics


def validation_logits(model: Classifier, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    """``model``'s logits (N, C) float32 and the labels (N, C) int64 over every batch of
    ``loader`` (each image once; N = 0 for an empty loader)."""
    model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for batch in loader:
            logits.append(model(batch["image"].to(model.device)).float().cpu())
            labels.append(batch["labels"].cpu())
    if not logits:
        return torch.zeros(0, 0), torch.zeros(0, 0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels).long()


def validation_map(model: Classifier, loader: DataLoader) -> float:
    """Macro mAP in [0,1] of ``model`` over every batch of ``loader`` (each image once)."""
    logits, labels = validation_logits(model, loader)
    return mean_average_precision(logits, labels) if len(logits) else float("nan")
