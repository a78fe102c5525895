"""model.recipe=irn trains what IRN's train_cam trains, with IRN's update (issue 10, parity b).

Our side: the Classifier LightningModule fitted by a Lightning Trainer for two steps (the real
training loop, poly schedule per step). The reference: helpers/reference_irn.py -- IRN's
Net.forward (features after layer2 detached, FixedBatchNorm, GAP, bias-free 1x1 conv head),
multilabel_soft_margin_loss and PolyOptimizer's SGD update written out -- on a copy of the same
initial network fed the same batches.
"""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from helpers.models import declared_classifier
from helpers.reference_irn import PolySGD
from torch import nn

IRN = {"optimizer": "sgd", "lr": 0.1, "weight_decay": 1e-4, "head_lr_mult": 10.0,
       "schedule": "poly", "warmup_fraction": 0.0, "freeze_bn": False, "recipe": "irn"}
C = 20


def irn_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """resnet50_cam.Net.forward on a torchvision-style ResNet (BN always in eval mode)."""
    x = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)(x)
    x = net.layer2(x).detach()
    x = net.layer4(net.layer3(x))
    x = x.flatten(2).mean(-1)[:, :, None, None]  # torchutils.gap2d(x, keepdims=True)
    return F.conv2d(x, net.fc.weight[:, :, None, None]).view(-1, C)


def irn_trained_names(net: nn.Module) -> set[str]:
    """What IRN trains: the parameters of stage3, stage4 and the classifier (no bias)."""
    return {n for n, _ in net.named_parameters() if n.split(".")[0] in ("layer3", "layer4", "fc")}


@pytest.fixture(scope="module")
def batches():
    g = torch.Generator().manual_seed(1)
    return [{"image": torch.randn(4, 3, 64, 80, generator=g),
             "labels": (torch.rand(4, C, generator=g) < 0.15).float()} for _ in range(2)]


def test_two_steps_change_exactly_irns_parameters_by_irns_update(batches):
    torch.manual_seed(0)
    model = declared_classifier("resnet18_quarter", C, output_stride=16, **IRN)
    assert model.net.fc.bias is None
    before = copy.deepcopy(model.net).eval()
    reference = copy.deepcopy(model.net).eval()  # FixedBatchNorm everywhere
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))

    names = irn_trained_names(reference)
    head = [reference.fc.weight]
    body = [p for n, p in reference.named_parameters() if n in names and not n.startswith("fc.")]
    optimizer = PolySGD([(body, 0.1), (head, 1.0)], weight_decay=1e-4, max_step=2)
    for batch in batches:
        reference.zero_grad(set_to_none=True)
        F.multilabel_soft_margin_loss(irn_forward(reference, batch["image"]),
                                      batch["labels"]).backward()
        optimizer.step()

    ours, start = dict(model.net.named_parameters()), dict(before.named_parameters())
    theirs = dict(reference.named_parameters())
    changed = {n for n, p in ours.items() if not torch.equal(p, start[n])}
    assert changed == names  # layer3, layer4 (BN scale/shift included) and the head
    assert any(".bn" in n for n in changed) and "fc.weight" in changed
    for name in names:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-7)
        assert not torch.equal(theirs[name], start[name])
    for name, buffer in model.net.named_buffers():  # BatchNorm statistics stay fixed
        assert torch.equal(buffer, dict(before.named_buffers())[name]), name


def test_resnet50_recipe_structure():
    """On IRN's own architecture: what requires grad, BN modes in training, the optimizer."""
    torch.manual_seed(0)
    model = declared_classifier("resnet50", C, output_stride=16, **IRN)
    model.train()
    trainable = {n for n, p in model.net.named_parameters() if p.requires_grad}
    assert trainable == irn_trained_names(model.net) and model.net.fc.bias is None
    bns = [m for m in model.net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)  # statistics fixed (FixedBatchNorm)
    assert model.net.layer3.training and model.net.fc.training
    assert model.net.layer4[0].conv2.stride == (1, 1)  # strides (2, 2, 2, 1): output stride 16
    # IRN's head init: nn.Conv2d(2048, 20, 1)'s default, uniform in +-1/sqrt(2048)
    assert model.net.fc.weight.abs().max() <= 2048 ** -0.5
    assert model.net.fc.weight.std() > 0.5 * (1 / 3) ** 0.5 * 2048 ** -0.5


@pytest.mark.parametrize("bad", [{"optimizer": "adamw"}, {"schedule": "cosine"},
                                 {"freeze_bn": True}])
def test_recipe_irn_refuses_settings_irn_does_not_use(bad):
    from wsol.errors import ConfigError

    with pytest.raises(ConfigError, match="model.recipe=irn"):
        declared_classifier("resnet18_quarter", C, output_stride=16, **{**IRN, **bad})
