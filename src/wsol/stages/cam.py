"""CAM stage: class activation maps for the configured classes of every image, into the CAM store.

Runs under ``trainer.predict`` (so DDP ranks each write their own images) with
``inference_mode=False``; the engine turns gradients on for its head-only backward.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader

from wsol.cam import CamStore, GradCAM, multiscale_cams
from wsol.data.datamodule import CamDataset
from wsol.errors import ConfigError
from wsol.models.checkpoint import load_classifier
from wsol.stages.context import RunContext, checkpoint_path, class_names, dataset

log = logging.getLogger(__name__)
CLASS_CHOICES = ("gt", "topk", "all")


class CamPredictor(pl.LightningModule):
    """Wraps a classifier and the CAM engine; ``predict_step`` returns one record per image."""

    def __init__(self, net: torch.nn.Module, target_layer: str, cam_cfg: DictConfig) -> None:
        super().__init__()
        if cam_cfg.classes not in CLASS_CHOICES:
            raise ConfigError(f"cam.classes={cam_cfg.classes!r}: choose one of {CLASS_CHOICES}.")
        self.net = net
        self.target_layer = target_layer
        self.cam_cfg = cam_cfg
        self.engine: GradCAM | None = None

    def on_predict_start(self) -> None:
        self.net.eval()
        self.engine = GradCAM(self.net, self.target_layer, method=self.cam_cfg.method,
                              precision=self.cam_cfg.precision,
                              channels_last=self.cam_cfg.channels_last)

    def on_predict_end(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def _classes_per_image(self, batch: dict) -> list[list[int]]:
        labels = batch["labels"]
        if self.cam_cfg.classes == "gt":
            return [torch.nonzero(row > 0).flatten().tolist() for row in labels]
        if self.cam_cfg.classes == "all":
            return [list(range(labels.shape[1]))] * labels.shape[0]
        with torch.no_grad():
            logits = self.net(batch["image"])
        k = min(int(self.cam_cfg.topk), logits.shape[1])
        return logits.topk(k, dim=1).indices.tolist()

    def predict_step(self, batch: dict, batch_idx: int) -> list[dict]:
        classes = self._classes_per_image(batch)
        size = batch["image"].shape[-1] // int(self.cam_cfg.store_stride)
        maps = multiscale_cams(self.engine, batch["image"], classes,
                               scales=tuple(self.cam_cfg.scales), flip=bool(self.cam_cfg.flip),
                               out_size=(size, size))
        return [{"image_id": image_id, "cams": m, "class_ids": c, "orig_size": tuple(orig)}
                for image_id, m, c, orig in zip(batch["image_id"], maps, classes,
                                                batch["orig_size"], strict=True)]


class CamStoreWriter(BasePredictionWriter):
    """Writes each batch's maps to the store as soon as they exist (a killed run keeps them)."""

    def __init__(self, store: CamStore) -> None:
        super().__init__(write_interval="batch")
        self.store = store

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch,
                           batch_idx, dataloader_idx=0) -> None:
        for record in prediction:
            self.store.write(record["image_id"], record["cams"].float().cpu(),
                             record["class_ids"], record["orig_size"])


def cam_stage(cfg: DictConfig, ctx: RunContext) -> dict[str, float]:
    """Make CAMs for ``cfg.data.cam_split`` into ``ctx.cam_dir``; images already stored are kept."""
    names = class_names(cfg)
    net, target_layer, _ = load_classifier(checkpoint_path(cfg, ctx), list(names))
    images = dataset(cfg, cfg.data.cam_split)
    store = CamStore(ctx.cam_dir)
    todo = [i for i, image_id in enumerate(images.ids) if not store.has(image_id)]
    if not todo:
        log.info("all %d images already have CAMs in %s", len(images), ctx.cam_dir)
        return {"cam/images": float(len(images))}
    cams = CamDataset(images, cfg.data.input_size)
    loader = DataLoader(torch.utils.data.Subset(cams, todo), batch_size=cfg.cam.batch_size,
                        shuffle=False, num_workers=cfg.data.num_workers,
                        collate_fn=CamDataset.collate)
    trainer = pl.Trainer(
        accelerator=cfg.trainer.accelerator, devices=cfg.trainer.devices, logger=False,
        inference_mode=False, callbacks=[CamStoreWriter(store)], enable_checkpointing=False,
        default_root_dir=str(ctx.run_dir),
    )
    predictor = CamPredictor(net, target_layer, cfg.cam)
    trainer.predict(predictor, loader, return_predictions=False)
    return {"cam/images": float(len(images))}
