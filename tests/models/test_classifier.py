import math

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from wsol.models.classifier import (
    Classifier,
    mean_average_precision,
    per_class_average_precision,
    warmup_cosine,
)


def test_warmup_cosine_rises_then_decays_to_zero():
    values = [warmup_cosine(s, 100, 10) for s in range(100)]
    assert values[0] == 0.1 and values[9] == 1.0
    assert all(a >= b for a, b in zip(values[10:], values[11:], strict=False))
    assert math.isclose(warmup_cosine(100, 100, 10), 0.0, abs_tol=1e-12)


def test_mean_average_precision_of_perfect_and_reversed_scores():
    labels = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert mean_average_precision(labels.float(), labels) == 1.0
    assert mean_average_precision(-labels.float(), labels) < 0.7


def test_per_class_average_precision_by_hand():
    # class 0: scores 0.9 (pos), 0.8 (neg), 0.3 (pos) -> AP = (1/1 + 2/3) / 2; class 1 perfect;
    # class 2 has no positive image: NaN, and the mean over the others is the mAP
    logits = torch.tensor([[0.9, 0.1, 0.5], [0.8, 0.7, 0.2], [0.3, 0.2, 0.1]])
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    ap = per_class_average_precision(logits, labels)
    assert math.isclose(ap[0], (1 + 2 / 3) / 2, rel_tol=1e-6) and ap[1] == 1.0
    assert math.isnan(ap[2])
    assert math.isclose((ap[0] + ap[1]) / 2, mean_average_precision(logits, labels), rel_tol=1e-6)


def _batches(n=64, seed=0):
    # class k is present iff channel k's mean brightness is high: learnable in a few steps
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, 2, generator=gen) > 0.5).float()
    images = torch.randn(n, 3, 32, 32, generator=gen) * 0.1
    images[:, :2] += labels[:, :, None, None] * 2.0
    return [{"image": images[i:i + 16], "labels": labels[i:i + 16]} for i in range(0, n, 16)]


def test_classifier_learns_a_separable_multilabel_task():
    pl.seed_everything(0)
    model = Classifier("resnet18_quarter", num_classes=2, lr=3e-3, output_stride=16)
    trainer = pl.Trainer(max_epochs=6, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(model, DataLoader(_batches(), batch_size=None),
                DataLoader(_batches(seed=1), batch_size=None))
    assert float(trainer.callback_metrics["val/map"]) > 0.9
