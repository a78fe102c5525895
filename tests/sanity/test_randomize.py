"""Randomised copies: which blocks, in which order, what changes, and that the original stays."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.errors import ConfigError
from wsol.models.backbones import build_backbone
from wsol.sanity.randomize import model_blocks, randomizations, randomized_copy


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    """A quarter ResNet-18 whose every parameter tensor has a spread, as after training (at
    initialisation biases and BatchNorm scales are constant, and a redraw keeps constants)."""
    torch.manual_seed(0)
    net, _ = build_backbone("resnet18_quarter", 4)
    with torch.no_grad():
        for param in net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return net.eval()


class TinyVGG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.classifier = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_blocks_run_from_the_logits_down():
    net, _ = build_backbone("resnet18_quarter", 4)
    assert model_blocks(net) == ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
    # a Sequential of plain layers is split into its parameterised layers (VGG style)
    assert model_blocks(TinyVGG()) == ["classifier.2", "classifier.0", "features.3",
                                       "features.0"]
    with pytest.raises(ConfigError, match="no parameters"):
        model_blocks(nn.ReLU())


def test_copy_redraws_exactly_the_chosen_blocks_and_leaves_the_original(resnet):
    before = _snapshot(resnet)
    twin = randomized_copy(resnet, ["fc", "layer3"], seed=4)
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())
    assert not twin.training
    changed = {k for k, v in twin.state_dict().items() if not torch.equal(before[k], v)}
    params = {k for k, _ in resnet.named_parameters()}
    chosen = {k for k in params if k.startswith(("fc.", "layer3."))}
    assert changed == chosen  # buffers (BN running statistics) and other blocks are kept
    state = twin.state_dict()
    for name in ("layer3.0.conv1.weight", "fc.weight", "layer3.0.bn1.weight", "fc.bias"):
        old, new = before[name], state[name]  # new values with the trained tensor's spread,
        assert not torch.equal(old, new)
        if old.numel() > 100:  # enough values for the statistics to be tight
            assert abs(new.std() / old.std() - 1) < 0.1
            assert abs(torch.corrcoef(torch.stack([old.flatten(), new.flatten()]))[0, 1]) < 0.1
    # weights centred on 0, as an initialisation draws them; 1-D tensors keep their level
    assert abs(state["fc.weight"].mean()) < 0.1 * before["fc.weight"].std()
    bn_old, bn_new = before["layer3.0.bn1.weight"], state["layer3.0.bn1.weight"]
    assert abs(bn_new.mean() - bn_old.mean()) < bn_old.std()  # ~1: scales stay scales
    with pytest.raises(ConfigError, match="layer9"):
        randomized_copy(resnet, ["layer9"])
    fresh, _ = build_backbone("resnet18_quarter", 4)  # zero bias: no spread, nothing to redraw
    assert torch.equal(randomized_copy(fresh, ["fc"]).fc.bias, fresh.fc.bias)


def test_cascading_accumulates_and_independent_is_one_block(resnet):
    before = _snapshot(resnet)
    blocks = model_blocks(resnet)
    cascade = list(randomizations(resnet, "cascading", seed=1))
    independent = list(randomizations(resnet, "independent", seed=1))
    assert [b for _, b, _ in cascade] == [b for _, b, _ in independent] == blocks
    for (step, block, twin), (_, _, alone) in zip(cascade, independent, strict=True):
        state, single = twin.state_dict(), alone.state_dict()
        for name, _ in resnet.named_parameters():
            owner = next(b for b in blocks if name.startswith(b + "."))
            in_cascade = blocks.index(owner) < step
            assert torch.equal(state[name], before[name]) != in_cascade, (block, name)
            assert torch.equal(single[name], before[name]) != (owner == block), (block, name)
            if owner == block:  # a block is redrawn the same way in every copy
                assert torch.equal(state[name], single[name])
    with pytest.raises(ConfigError, match="unknown"):
        next(randomizations(resnet, "sideways"))
