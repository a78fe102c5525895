"""The Lightning module that trains the segmenter on pseudo-labels (255 ignored)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

from wsol.localize.seeds import UNLABELLED
from wsol.models.classifier import poly_decay
from wsol.segment.model import backbone_and_head


def ignoring_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over labelled pixels; 0 (with gradient) when none is labelled.

    logits (B, C, H, W), labels (B, H, W) int64 with 255 = ignored.
    """
    if not bool((labels != UNLABELLED).any()):
        return logits.sum() * 0.0  # F.cross_entropy would give NaN
    return F.cross_entropy(logits, labels, ignore_index=UNLABELLED)


class SegmentModule(pl.LightningModule):
    """SGD (momentum 0.9) with DeepLab's poly schedule per step; the head at ``head_lr_mult``
    times the backbone's rate. Batches are ``(images (B,3,S,S), labels (B,S,S))``."""

    def __init__(self, net: nn.Module, lr: float, head_lr_mult: float,
                 weight_decay: float) -> None:
        super().__init__()
        self.net = net
        self.lr, self.head_lr_mult, self.weight_decay = lr, head_lr_mult, weight_decay

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, C, H, W) at the input's size."""
        return self.net(images)["out"]

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        images, labels = batch
        loss = ignoring_cross_entropy(self(images), labels)
        self.log("segment/loss", loss, prog_bar=True, batch_size=images.shape[0])
        return loss

    def configure_optimizers(self):
        body, head = backbone_and_head(self.net)
        groups = [{"params": body, "lr": self.lr},
                  {"params": head, "lr": self.lr * self.head_lr_mult}]
        opt = torch.optim.SGD(groups, lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: poly_decay(s, total, 0))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
