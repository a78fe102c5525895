import math

import pytorch_lightning as pl
import torch
from helpers.models import declared_classifier
from torch.utils.data import DataLoader

from wsol.models.classifier import (
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
    model = declared_classifier("resnet18_quarter", 2, lr=3e-3, output_stride=16)
    trainer = pl.Trainer(max_epochs=6, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu")
    trainer.fit(model, DataLoader(_batches(), batch_size=None),
                DataLoader(_batches(seed=1), batch_size=None))
    assert float(trainer.callback_metrics["val/map"]) > 0.9


def _spy_training_step(model, batch):
    """(the images the network saw, the loss targets) of one training step."""
    seen = {}
    model.net.register_forward_pre_hook(lambda m, args: seen.update(images=args[0]))
    model.loss_fn.register_forward_pre_hook(lambda m, args: seen.update(targets=args[1]))
    model.log = lambda *args, **kwargs: None  # outside a Trainer
    model.train()
    model.training_step(batch, 0)
    return seen["images"], seen["targets"]


def test_training_step_feeds_the_wsol_method_and_the_softmax_targets():
    images = torch.rand(4, 3, 32, 32) + 1.0
    labels = torch.eye(3)[torch.tensor([0, 1, 2, 0])]
    hidden = declared_classifier("vgg16_cam", 3, output_stride=16, loss="softmax",
                                 wsol_method="has", has_drop_rate=1.0)
    fed, targets = _spy_training_step(hidden, {"image": images, "labels": labels})
    assert (fed == 0).all() and torch.equal(targets, labels)  # every HaS cell hidden
    mixed = declared_classifier("vgg16_cam", 3, output_stride=16, loss="softmax",
                                wsol_method="cutmix")
    torch.manual_seed(1)
    fed, targets = _spy_training_step(mixed, {"image": images, "labels": labels})
    assert not torch.equal(fed, images) and torch.allclose(targets.sum(1), torch.ones(4))
    multi = declared_classifier("resnet18_quarter", 3, output_stride=16)  # multi-hot stays so
    two = torch.tensor([[1.0, 1.0, 0.0]] * 4)
    assert torch.equal(_spy_training_step(multi, {"image": images, "labels": two})[1], two)
    soft = declared_classifier("resnet18_quarter", 3, output_stride=16, loss="softmax")
    assert torch.equal(_spy_training_step(soft, {"image": images, "labels": two})[1], two / 2)


def test_adl_leaves_the_saved_network_plain():
    from wsol.models.backbones import build_backbone

    model = declared_classifier("resnet50_cam", 3, output_stride=8, wsol_method="adl")
    assert len(model.adl.handles) == 3
    plain, _ = build_backbone("resnet50_cam", 3, None, 8)
    assert set(model.net.state_dict()) == set(plain.state_dict())  # checkpoints load as is
