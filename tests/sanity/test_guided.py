"""Guided backpropagation against the hand-derived rule on a two-layer network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.errors import ConfigError
from wsol.sanity.guided import guided_backprop, guided_copy, guided_gradcam


class TwoLayer(nn.Module):
    """x (N, 3, 2, 2) -> flatten -> Linear(12, 5) -> ReLU -> Linear(5, 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x.flatten(1))))


def test_guided_gradient_follows_the_rule_and_the_original_is_untouched():
    torch.manual_seed(0)
    net = TwoLayer().double().eval()
    guided = guided_copy(net)
    assert isinstance(net.relu, nn.ReLU)  # the copy, not the model, is guided
    images = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    classes = torch.tensor([0, 2, 1, 2])
    got = guided_backprop(guided, images, classes)
    w1, b1, w2 = net.fc1.weight, net.fc1.bias, net.fc2.weight
    for i in range(4):  # dx = W1^T (ReLU(W2[c]) * [W1 x + b1 > 0]), summed over colours
        hidden = w1 @ images[i].flatten() + b1
        upstream = w2[classes[i]].clamp(min=0) * (hidden > 0).double()
        expected = (w1.t() @ upstream).view(3, 2, 2).sum(0)
        torch.testing.assert_close(got[i].double(), expected.detach(), rtol=1e-5, atol=1e-6)
    # plain backprop differs: negative upstream gradient is not clamped there
    x = images.clone().requires_grad_(True)
    chosen = net(x).gather(1, classes[:, None]).sum()
    plain = torch.autograd.grad(chosen, x)[0].sum(1)
    assert not torch.allclose(plain.float(), got)
    assert torch.equal(guided_gradcam(got, 2 * torch.ones_like(got)), 2 * got)


def test_a_model_without_relu_modules_is_refused():
    with pytest.raises(ConfigError, match="no nn.ReLU"):
        guided_copy(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)))
