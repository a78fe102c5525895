"""The multi-label image classifier trained from image-level labels (a LightningModule)."""

from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.functional.classification import multilabel_average_precision

from wsol.errors import ConfigError
from wsol.models.backbones import (
    adl_positions,
    build_backbone,
    fix_batchnorm_statistics,
    freeze_batchnorm,
    freeze_irn_stages,
    head_parameter_prefixes,
)
from wsol.models.wsol_methods import ADL, METHODS, WsolMethod


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


def step_decay(epoch: int, decay_epochs: int) -> float:
    """wsolevaluation's ``adjust_learning_rate``: x0.1 at the start of every ``decay_epochs``-th
    1-based epoch, so 0-based epoch e trains at 0.1 ** ((e + 1) // decay_epochs)."""
    return 0.1 ** ((epoch + 1) // decay_epochs) if decay_epochs > 0 else 1.0


SCHEDULES = {"cosine": warmup_cosine, "poly": poly_decay, "step": step_decay}
OPTIMIZERS = ("adamw", "sgd", "sgd_nesterov")
LOSSES = ("multilabel", "softmax")
RECIPES = ("default", "irn")


class Classifier(pl.LightningModule):
    """Backbone + head trained with a per-class sigmoid (multi-label soft margin) loss, or
    (``loss="softmax"``) softmax cross-entropy for one-class-per-image datasets (CUB, ILSVRC,
    OpenImages in wsolevaluation), optionally with a training-time WSOL method
    (:mod:`wsol.models.wsol_methods`: ``wsol_method`` has | adl | cutmix).

    ``self.net`` maps ``(B,3,H,W)`` ImageNet-normalised images to ``(B,C)`` logits and
    ``self.target_layer`` names its last convolutional block for Grad-CAM.
    Batches are dicts with ``"image"`` ``(B,3,H,W)`` and ``"labels"`` ``(B,C)`` in {0,1}.
    ``schedule="step"`` multiplies the rate by 0.1 every ``lr_decay_epochs`` epochs.
    Every argument is one ``model.*`` key and is required: the defaults are declared once, in
    ``wsol.app.schema.ModelConfig`` (the train stage passes the whole resolved ``model``).

    ``recipe``: ``default`` (every layer trains; ``freeze_bn`` fixes BatchNorm whole; SGD
    momentum 0.9) or ``irn``, IRN's train_cam (ResNets): conv1 .. layer2 frozen, BatchNorm's
    running statistics fixed everywhere while its affine scale/shift train in layer3/layer4, a
    bias-free head, and SGD whose momentum is the weight decay (IRN's PolyOptimizer passes
    weight_decay as SGD's third positional argument, momentum); needs optimizer=sgd,
    schedule=poly (per step) and freeze_bn=false.
    """

    def __init__(
        self,
        arch: str,
        num_classes: int,
        weights: str | None,
        output_stride: int,
        optimizer: str,
        lr: float,
        weight_decay: float,
        head_lr_mult: float,
        schedule: str,
        warmup_fraction: float,
        freeze_bn: bool,
        channels_last: bool,
        loss: str,
        lr_decay_epochs: int,
        target_layer: str | None,
        wsol_method: str,
        adl_drop_rate: float,
        adl_threshold: float,
        has_grid_size: int,
        has_drop_rate: float,
        cutmix_beta: float,
        cutmix_prob: float,
        recipe: str,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"model.optimizer={optimizer!r}: choose one of {list(OPTIMIZERS)}.")
        if schedule not in SCHEDULES:
            raise ConfigError(f"model.schedule={schedule!r}: choose one of {sorted(SCHEDULES)}.")
        if loss not in LOSSES or wsol_method not in METHODS:
            raise ConfigError(f"model.loss={loss!r} / model.wsol_method={wsol_method!r}: choose "
                              f"from {list(LOSSES)} / {list(METHODS)}.")
        if recipe not in RECIPES:
            raise ConfigError(f"model.recipe={recipe!r}: choose one of {RECIPES}.")
        irn = recipe == "irn"
        if irn and (optimizer, schedule, freeze_bn) != ("sgd", "poly", False):
            raise ConfigError("model.recipe=irn is IRN's training: set model.optimizer=sgd "
                              "model.schedule=poly model.freeze_bn=false (IRN trains the "
                              "BatchNorm scale/shift of layer3/layer4 and fixes only its "
                              "statistics).")
        self.net, layer = build_backbone(arch, num_classes, weights, output_stride,
                                         head_bias=not irn)
        self.target_layer = target_layer or layer
        if irn:
            freeze_irn_stages(self.net, arch)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.loss_fn = nn.MultiLabelSoftMarginLoss() if loss == "multilabel" else \
            nn.CrossEntropyLoss()  # targets as class probabilities (one-hot, or CutMix's mix)
        self.method = WsolMethod(
            wsol_method, adl_drop_rate=adl_drop_rate, adl_threshold=adl_threshold,
            has_grid_size=has_grid_size, has_drop_rate=has_drop_rate, cutmix_beta=cutmix_beta,
            cutmix_prob=cutmix_prob)
        if wsol_method == "adl":  # hooks act in training mode only; the saved net is plain
            self.adl = ADL(adl_drop_rate, adl_threshold).attach(
                self.net, adl_positions(arch, output_stride))
        self._val_logits: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(B,C)`` for images ``(B,3,H,W)``."""
        if self.hparams.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.net(images)

    def train(self, mode: bool = True) -> Classifier:
        """Train mode, except BatchNorm under freeze_bn or recipe=irn."""
        super().train(mode)
        if mode:
            self._fix_batchnorm()
        return self

    def on_train_epoch_start(self) -> None:
        # Lightning's fit loop does not call train(): the modules keep the mode they had (and
        # validation restores it), so BatchNorm is fixed here too, before every epoch.
        self._fix_batchnorm()

    def _fix_batchnorm(self) -> None:
        if self.hparams.freeze_bn:
            freeze_batchnorm(self.net)
        elif self.hparams.recipe == "irn":
            fix_batchnorm_statistics(self.net)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        images, targets = self.method.augment(batch["image"], self._targets(batch["labels"]))
        loss = self.loss_fn(self(images), targets)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["image"].shape[0])
        return loss

    def _targets(self, labels: torch.Tensor) -> torch.Tensor:
        """Multi-hot labels (B,C) as the loss takes them: as they are, or (softmax) each row
        made a distribution over the image's classes."""
        if self.hparams.loss == "multilabel":
            return labels
        return labels / labels.sum(dim=1, keepdim=True).clamp_min(1.0)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val/loss", self.loss_fn(logits, self._targets(batch["labels"])),
                 batch_size=logits.shape[0], sync_dist=True)
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
        heads = tuple(f"net.{p}." for p in head_parameter_prefixes(hp.arch, self.net))
        head, body = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (head if name.startswith(heads) else body).append(p)
        groups = [{"params": body, "lr": hp.lr}, {"params": head, "lr": hp.lr * hp.head_lr_mult}]
        if hp.optimizer == "adamw":
            opt = torch.optim.AdamW(groups, lr=hp.lr, weight_decay=hp.weight_decay)
        else:  # sgd, or sgd_nesterov (wsolevaluation's optimizer)
            # IRN's PolyOptimizer quirk: SGD(params, lr, weight_decay) makes momentum = wd
            momentum = hp.weight_decay if hp.recipe == "irn" else 0.9
            opt = torch.optim.SGD(groups, lr=hp.lr, momentum=momentum,
                                  weight_decay=hp.weight_decay,
                                  nesterov=hp.optimizer == "sgd_nesterov")
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(hp.warmup_fraction * total)
        if hp.schedule == "step":
            per_epoch = max(1, total // max(1, int(self.trainer.max_epochs or 1)))
            sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda s: step_decay(s // per_epoch, hp.lr_decay_epochs))
        else:
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
