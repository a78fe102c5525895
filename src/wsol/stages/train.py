"""Train stage: fit the multi-label classifier on image-level labels, write ``model.pt``."""

from __future__ import annotations

import logging
import time

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from wsol.data.datamodule import WSOLDataModule
from wsol.models.checkpoint import save_classifier
from wsol.models.classifier import Classifier
from wsol.stages.context import RunContext, class_names, data_root, dataset

log = logging.getLogger(__name__)


def train_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Train ``cfg.model`` on ``cfg.data.train_split``; returns ``train/*`` metrics."""
    names = class_names(cfg)
    datamodule = WSOLDataModule(
        root=data_root(cfg),
        class_names=names,
        train_split=cfg.data.train_split,
        val_split=cfg.data.val_split,
        image_set=cfg.data.image_set,
        input_size=cfg.data.input_size,
        batch_size=cfg.data.batch_size,
        num_workers=cfg.data.num_workers,
        cache_images=cfg.data.get("cache_images", False),
        crop_scale=tuple(cfg.data.crop_scale),
        seed=cfg.seed,
        open_split=lambda split: dataset(cfg, split),
    )
    model_cfg = {k: v for k, v in OmegaConf.to_container(cfg.model).items() if k != "checkpoint"}
    model = Classifier(num_classes=len(names), **model_cfg)
    trainer = pl.Trainer(
        default_root_dir=str(ctx.run_dir),
        enable_checkpointing=False,
        logger=pl.loggers.CSVLogger(str(ctx.run_dir), name="train_logs", version=""),
        **OmegaConf.to_container(cfg.trainer),
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - start
    meta = {"arch": cfg.model.arch, "num_classes": len(names),
            "output_stride": cfg.model.output_stride, "class_names": list(names)}
    save_classifier(ctx.model_path, model.net, meta)
    if "val/map" not in trainer.callback_metrics and cfg.data.val_split:
        trainer.validate(model, datamodule=datamodule, verbose=False)  # val skipped by schedule
    val_map = trainer.callback_metrics.get("val/map")
    log.info("trained %s in %.0f s -> %s", cfg.model.arch, seconds, ctx.model_path)
    metrics = {"train/seconds": round(seconds, 1)}
    if val_map is not None:
        metrics["cls/map"] = round(100.0 * float(val_map), 2)
    return metrics
