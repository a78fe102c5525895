"""VGG-style heads (pools, then Linear/ReLU): Grad-CAM's α without autograd equals autograd's."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from wsol.cam import GradCAM
from wsol.cam.mlp_head import find_mlp_head


def _vgg(classes: int = 5) -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.vgg11(weights=None, num_classes=classes).eval()


def _float64_gradcam(model: nn.Module, layer: str, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (B, C, h, w) by a float64 per-class autograd loop on a copy of ``model``."""
    import copy

    net = copy.deepcopy(model).double()
    store = {}
    hook = net.get_submodule(layer).register_forward_hook(lambda m, i, o: store.update(a=o))
    logits = net(x.double())
    hook.remove()
    maps = []
    for c in range(logits.shape[1]):
        (grad,) = torch.autograd.grad(logits[:, c].sum(), store["a"], retain_graph=True)
        maps.append(torch.relu((grad.mean((2, 3), keepdim=True) * store["a"]).sum(1)))
    return torch.stack(maps, 1).float()


# 64 px: features.19 is 4x4, max-pooled to 2x2, adaptive-avg-pooled up to 7x7 (replication);
# 96 px: 6x6 -> 3x3 -> 7x7 (uneven windows); 256 px: 16x16 -> 8x8 -> 7x7 (overlapping windows)
@pytest.mark.slow  # VGG-16 features up to 256 px
@pytest.mark.parametrize("size", [64, 96, 256])
def test_closed_form_equals_the_batched_backward(size, monkeypatch):
    model = _vgg()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
    with GradCAM(model, "features.19", closed_form=False) as slow:
        reference = slow(x)
    truth = _float64_gradcam(model, "features.19", x)
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: pytest.fail("backward called"))
    with GradCAM(model, "features.19") as fast:
        ours = fast(x)
        assert fast.uses_closed_form
    # Both float32 paths are compared with a float64 per-class autograd loop (the truth).
    # Relative to each map's peak, but a map whose ReLU(Σ α A) nearly cancels (a peak 1e-3 of
    # the image's largest, seen at 96 px) is ill-conditioned in float32 whichever way α is
    # summed: there the image's largest map sets the scale (1e-2 of it). Measured on two CPUs,
    # the two float32 paths differ from the truth by up to 6e-5 of that scale and from each
    # other by 1e-5, so the closed form must be as accurate as autograd, not equal to it.
    peak = truth.flatten(2).amax(-1)
    scale = torch.maximum(peak, 1e-2 * peak.amax(1, keepdim=True))[..., None, None]
    ours_err = ((ours - truth).abs() / scale).max()
    autograd_err = ((reference - truth).abs() / scale).max()
    assert ours_err <= 2 * autograd_err + 1e-5
    assert ((ours - reference).abs() / scale).max() < 1e-4
    assert reference.amax() > 0  # the comparison is not between two zero tensors


def test_per_image_class_lists_and_logits():
    model = _vgg()
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    classes = [[4], [0, 2], []]
    with GradCAM(model, "features.19", closed_form=False) as slow:
        reference, ref_logits = slow(x, classes=classes, return_logits=True)
    with GradCAM(model, "features.19") as fast:
        ours, logits = fast(x, classes=classes, return_logits=True)
    torch.testing.assert_close(logits, ref_logits)
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=1e-5)


def test_only_gradcam_uses_it():
    model = _vgg()
    for method in ("gradcam++", "xgradcam", "hirescam", "layercam"):
        with GradCAM(model, "features.19", method) as cam:
            assert not cam.uses_closed_form


def test_heads_it_cannot_explain_are_not_proposed():
    with_bn = _vgg()
    with_bn.classifier[1] = nn.BatchNorm1d(4096)  # Linear, BN, ...: not Linear/ReLU layers
    assert find_mlp_head(with_bn, "features.19") is None
    assert find_mlp_head(_vgg(), "features.19") is not None
    assert find_mlp_head(_vgg(), "features.2") is None  # convolutions follow: not a head


class _ScaledLogits(nn.Module):
    """Looks like a VGG head in its module list, but its forward doubles the features."""

    def __init__(self) -> None:
        super().__init__()
        net = _vgg()
        self.features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(2 * self.features(x)), 1))


def test_a_forward_the_module_list_hides_falls_back_to_autograd():
    model = _ScaledLogits().eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with GradCAM(model, "features.19") as cam, pytest.warns(RuntimeWarning, match="autograd"):
        maps = cam(x)
    assert not cam.uses_closed_form
    with GradCAM(model, "features.19", closed_form=False) as slow:
        torch.testing.assert_close(maps, slow(x))


def test_hooks_on_the_head_are_removed_on_close():
    model = _vgg()
    hidden = [m for m in model.classifier if isinstance(m, nn.Linear)][:-1]
    with GradCAM(model, "features.19") as cam:
        assert all(m._forward_hooks for m in hidden)
        cam(torch.randn(1, 3, 64, 64))
    assert not any(m._forward_hooks for m in hidden)
