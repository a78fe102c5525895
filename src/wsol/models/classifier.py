"""The multi-label image classifier trained from image-level labels (a LightningModule)."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.functional.classification import multilabel_average_precision

from wsol.errors import ConfigError
from wsol.models.backbones import build_backbone, freeze_batchnorm, head_parameter_names


def warmup_cosine(step: int, total_steps: int, warmup_steps: int) -> float:
    """Learning-rate factor in [0,1]: linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def poly_decay(step: int, total_steps: int, warmup_steps: int, power: float = 0.9) -> float:
    """IRN's polynomial decay factor ``(1 - step/total)^0.9`` (warm-up unused)."""
    del warmup_steps
    return (1.0 - min(step, total_steps - 1) / total_steps) ** power


SCHEDULES = {"cosine": warmup_cosine, "poly": poly_decay}


class Classifier(pl.LightningModule):
    """Backbone + multi-label head trained with a per-class sigmoid (multi-label soft margin) loss.

    ``self.net`` maps ``(B,3,H,W)`` ImageNet-normalised images to ``(B,C)`` logits and
    ``self.target_layer`` names its last convolutional block for Grad-CAM.
    Batches are dicts with ``"image"`` ``(B,3,H,W)`` and ``"labels"`` ``(B,C)`` in {0,1}.
    """

    def __init__(
        self,
        arch: str,
        num_classes: int,
        weights: str | None = None,
        output_stride: int = 32,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        head_lr_mult: float = 1.0,
        schedule: str = "cosine",
        warmup_fraction: float = 0.05,
        freeze_bn: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if optimizer not in ("adamw", "sgd"):
            raise ConfigError(f"model.optimizer={optimizer!r}: choose 'adamw' or 'sgd'.")
        if schedule not in SCHEDULES:
            raise ConfigError(f"model.schedule={schedule!r}: choose one of {sorted(SCHEDULES)}.")
        self.net, self.target_layer = build_backbone(arch, num_classes, weights, output_stride)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.loss_fn = nn.MultiLabelSoftMarginLoss()
        self._val_logits: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,C)`` for images ``(B,3,H,W)``."""
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images)

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_bn:  # Lightning puts the module in train mode every epoch
            freeze_batchnorm(self.net)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self(batch["image"]), batch["labels"])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["image"].shape[0])
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", self.loss_fn(logits, batch["labels"]), batch_size=logits.shape[0],
                 sync_dist=True)
        if self.trainer.world_size == 1:  # see on_validation_epoch_end
            self._val_logits.append(logits.detach().float().cpu())
            self._val_labels.append(batch["labels"].detach().cpu())

    def on_validation_epoch_end(self) -> None:
        # Under DDP each rank holds a shard padded with repeated images, so an mAP here would
        # be wrong; the train stage scores the final model on rank 0 instead.
        if not self._val_logits:
            return
        logits = torch.cat(self._val_logits)
        labels = torch.cat(self._val_labels).long()
        self._val_logits.clear()
        self._val_labels.clear()
        self.log("val/map", mean_average_precision(logits, labels), prog_bar=True)

    def configure_optimizers(self):
        hp = self.hparams
        head_prefix = "net." + head_parameter_names(hp.arch) + "."
        head, body = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (head if name.startswith(head_prefix) else body).append(p)
        groups = [{"params": body, "lr": hp.lr}, {"params": head, "lr": hp.lr * hp.head_lr_mult}]
        if hp.optimizer == "adamw":
            opt = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        else:
            opt = torch.optim.SGD(groups, lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(hp.warmup_fraction * total)
        factor = SCHEDULES[hp.schedule]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor(s, total, warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def mean_average_precision(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Macro mAP in [0,1] over classes with at least one positive; ``(N,C)`` logits and labels."""
    present = labels.sum(0) > 0
    if not bool(present.any()):
        return float("nan")
    ap = multilabel_average_precision(
        logits[:, present], labels[:, present], num_labels=int(present.sum()), average="macro"
    )
    return float(ap)


def per_class_average_precision(logits: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """AP in [0,1] of each class (C,) from ``(N,C)`` logits and labels; NaN for a class with no
    positive image. Their mean over the other classes is :func:`mean_average_precision`."""
    present = (labels.sum(0) > 0).tolist()
    out = [float("nan")] * labels.shape[1]
    if not any(present):
        return out
    cols = [c for c, p in enumerate(present) if p]
    ap = multilabel_average_precision(logits[:, cols], labels[:, cols], num_labels=len(cols),
                                      average=None)
    for c, value in zip(cols, ap.reshape(-1).tolist(), strict=True):
        out[c] = float(value)
    return out
