"""HaS, CutMix and ADL do what their papers define: which pixels are hidden, which region is
mixed and with what label weight, which feature positions are dropped — against loops written
from the definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.models import declared_method
from torch import nn

from wsol.models.backbones import adl_positions, build_backbone
from wsol.models.wsol_methods import ADL, adl_map, cutmix, hide_patches


def test_has_hides_whole_grid_cells_with_the_drop_rate():
    g = torch.Generator().manual_seed(0)
    images = torch.randn(20, 3, 18, 23) + 5.0  # no pixel is 0 by chance
    out = hide_patches(images, grid_size=4, drop_rate=0.5, generator=g)
    hidden = 0
    cells = 0
    for b in range(images.shape[0]):
        for y in range(0, 18, 4):
            for x in range(0, 23, 4):  # cells at the borders are cut by the image
                cell, orig = out[b, :, y:y + 4, x:x + 4], images[b, :, y:y + 4, x:x + 4]
                if (cell == 0).all():
                    hidden += 1
                else:
                    assert torch.equal(cell, orig)  # a cell is kept or hidden, never in part
                cells += 1
    assert 0.4 < hidden / cells < 0.6
    assert torch.equal(hide_patches(images, 4, 0.0), images)
    assert (hide_patches(images, 4, 1.0) == 0).all()


@pytest.mark.parametrize("loss", [nn.MultiLabelSoftMarginLoss(), nn.CrossEntropyLoss()])
def test_cutmix_pastes_one_box_and_weights_labels_by_its_area(loss):
    torch.manual_seed(3)
    g = torch.Generator().manual_seed(5)
    images = torch.rand(8, 3, 32, 40)
    labels = torch.eye(8, 5)[torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])]
    for _ in range(5):
        mixed, targets, kept = cutmix(images, labels, beta=1.0, generator=g)
        changed = (mixed != images).any(dim=1)  # (B, H, W)
        rows = changed.any(0).any(1).nonzero().flatten()
        cols = changed.any(0).any(0).nonzero().flatten()
        if len(rows) == 0:  # an empty box (lam near 1), or every image its own partner
            continue
        y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
        assert kept == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (32 * 40))
        outside = torch.ones(32, 40, dtype=torch.bool)
        outside[y0:y1, x0:x1] = False
        assert torch.equal(mixed[:, :, outside], images[:, :, outside])
        logits = torch.randn(8, 5)
        for i in range(8):  # the box comes whole from one partner; its label weighs 1 - kept
            j = next(j for j in range(8) if torch.equal(mixed[i, :, y0:y1, x0:x1],
                                                         images[j, :, y0:y1, x0:x1]))
            expected = kept * labels[i] + (1 - kept) * labels[j]
            torch.testing.assert_close(targets[i], expected)
            # the paper's loss, lam L(a) + (1 - lam) L(b), is the loss of the mixed target
            split = kept * loss(logits[i:i + 1], labels[i:i + 1]) + \
                (1 - kept) * loss(logits[i:i + 1], labels[j:j + 1])
            torch.testing.assert_close(loss(logits[i:i + 1], targets[i:i + 1]), split)


def test_cutmix_probability_and_plain_methods():
    images, labels = torch.rand(4, 3, 16, 16), torch.eye(4)
    never = declared_method("cutmix", cutmix_prob=0.0)
    assert never.augment(images, labels)[0] is images
    for name in ("cam", "adl"):
        out = declared_method(name).augment(images, labels)
        assert out[0] is images and out[1] is labels


def test_adl_drops_the_most_activated_positions_or_weighs_by_importance():
    features = torch.rand(3, 6, 7, 9)
    mean = features.numpy().mean(axis=1)
    dropped = adl_map(features, drop_rate=0.75, threshold=0.9, draw=0.5)  # 0.5 + 0.75 >= 1
    for b in range(3):
        peak = mean[b].max()
        for y in range(7):
            for x in range(9):
                assert dropped[b, 0, y, x] == (0.0 if mean[b, y, x] >= 0.9 * peak else 1.0)
    assert dropped[:, 0].numpy().min() == 0.0  # the maximum itself is always dropped
    importance = adl_map(features, drop_rate=0.75, threshold=0.9, draw=0.2)  # 0.95 < 1
    np.testing.assert_allclose(importance[:, 0].numpy(), 1 / (1 + np.exp(-mean)), rtol=1e-6)
    torch.manual_seed(0)
    drops = sum(bool((adl_map(features, 0.75, 0.9) == 0).any()) for _ in range(400))
    assert 0.68 < drops / 400 < 0.82  # the drop mask is chosen with probability drop_rate


POSITIONS = {  # wsolevaluation's ADL places (its vgg.py 'A' entries, resnet.py _ADL_POSITION,
    # inception.py ADL_5d / ADL_6e / ADL_A3_2b), in torchvision's module names
    ("vgg16_cam", 16): ("features.16", "features.22", "features.29"),  # pool3, relu4_3, relu5_3
    ("vgg16_cam", 8): ("features.16", "features.22", "features.28"),  # pool4 removed
    ("resnet50_cam", 8): ("layer3.0", "layer4.0", "layer4.2"),
    ("inception_v3_cam", 8): ("Mixed_5d", "Mixed_6e", "SPG_A3_2b"),
}


@pytest.mark.parametrize("arch, stride", sorted(POSITIONS))
def test_adl_acts_where_wsolevaluation_puts_it_and_only_while_training(arch, stride):
    net, _ = build_backbone(arch, 4, None, stride)
    positions = adl_positions(arch, stride)
    assert positions == POSITIONS[(arch, stride)]
    if arch == "vgg16_cam":
        kinds = [type(net.get_submodule(p)) for p in positions]
        assert kinds == [nn.MaxPool2d, nn.ReLU, nn.ReLU]
    raw, dropped = {}, {}
    record = [net.get_submodule(p).register_forward_hook(
        lambda m, a, out, p=p: raw.__setitem__(p, out.clone())) for p in positions]
    adl = ADL(drop_rate=1.0, threshold=0.5).attach(net, positions)  # always the drop mask
    after = [net.get_submodule(p).register_forward_hook(
        lambda m, a, out, p=p: dropped.__setitem__(p, out)) for p in positions]
    images = torch.rand(2, 3, 64, 64)
    net.train()
    with torch.no_grad():
        net(images)
    for p in positions:
        mean = raw[p].mean(1, keepdim=True)
        peak = mean.flatten(1).max(1).values.view(-1, 1, 1, 1)
        torch.testing.assert_close(dropped[p], raw[p] * (mean < 0.5 * peak))
    first = positions[0]  # (later ones may be all zero: random weights after earlier drops)
    assert (raw[first] != 0).any() and (dropped[first][raw[first] != 0] == 0).any()
    net.eval()
    with torch.no_grad():
        net(images)
    for p in positions:  # eval mode: ADL is the identity
        assert torch.equal(dropped[p], raw[p])
    for handle in record + after:
        handle.remove()
    adl.remove()


def test_adl_changes_training_forward_of_the_hooked_module():
    layer = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    adl = ADL(drop_rate=1.0, threshold=0.5).attach(layer, ["1"])
    x = torch.rand(2, 3, 8, 8)
    layer.train()
    trained = layer(x)
    layer.eval()
    plain = layer(x)
    mean = plain.mean(1, keepdim=True)
    peak = mean.flatten(1).max(1).values.view(-1, 1, 1, 1)
    torch.testing.assert_close(trained, plain * (mean < 0.5 * peak))
    adl.remove()
    layer.train()
    torch.testing.assert_close(layer(x), plain)
