"""GradCAM engine behaviour: hooks, grad modes, one backward, errors, precision, layouts."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torchvision
from torch import nn

from wsol.cam import GradCAM
from wsol.errors import ConfigError


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=6).eval()


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(5))


def _no_hooks(module: nn.Module) -> bool:
    return not module._forward_hooks


def test_hooks_removed_by_context_close_and_errors(resnet, images):
    with GradCAM(resnet, "layer4") as cam:
        assert not _no_hooks(resnet.layer4)
        cam(images)
    assert _no_hooks(resnet.layer4)
    cam = GradCAM(resnet, resnet.layer4)
    cam.close()
    cam.close()
    assert _no_hooks(resnet.layer4)
    with pytest.raises(ConfigError), GradCAM(resnet, "layer4") as cam:
        cam(images, classes=[99])
    assert _no_hooks(resnet.layer4)


def test_requires_grad_flags_restored_and_no_param_grads(resnet, images):
    model = copy.deepcopy(resnet)
    model.conv1.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    for closed_form in (None, False):
        with GradCAM(model, "layer4", closed_form=closed_form) as cam:
            cam(images)
            with pytest.raises(ConfigError):
                cam(images, classes=[[1]])  # wrong number of lists, raised after the forward
        assert [p.requires_grad for p in model.parameters()] == flags
        assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("closed_form", [None, False])
def test_same_maps_under_no_grad_and_inference_mode(resnet, images, closed_form):
    with GradCAM(resnet, "layer4", "gradcam++", closed_form=closed_form) as cam:
        plain = cam(images)
        with torch.no_grad():
            no_grad = cam(images)
        with torch.inference_mode():
            frozen_input = images.clone()
            inference = cam(frozen_input)
    torch.testing.assert_close(no_grad, plain)
    torch.testing.assert_close(inference, plain)
    assert not inference.requires_grad


def test_one_batched_backward_for_all_classes(monkeypatch, images):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None, num_classes=7).eval()
    calls = []
    real_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        calls.append(kwargs.get("is_grads_batched", False))
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    # hirescam needs the gradient at every position, so VGG's head goes through autograd
    with GradCAM(vgg, "features.19", "hirescam") as cam:
        batched = cam(images)
    assert calls == [True]
    assert batched.shape == (3, 7, 4, 4)
    # Chunked by a tiny memory budget and the per-class fallback give the same maps.
    calls.clear()
    with GradCAM(vgg, "features.19", "hirescam", max_grad_bytes=1) as cam:
        torch.testing.assert_close(cam(images), batched)
    assert len(calls) == 7
    with GradCAM(vgg, "features.19", "hirescam") as cam:
        cam._vjp.batched_ok = False
        torch.testing.assert_close(cam(images), batched, atol=1e-6, rtol=1e-5)


def test_closed_form_needs_no_backward(monkeypatch, resnet, images):
    monkeypatch.setattr(torch.autograd, "grad", lambda *a, **k: pytest.fail("backward called"))
    with GradCAM(resnet, "layer4") as cam:
        assert cam.uses_closed_form
        assert cam(images).shape == (3, 6, 2, 2)


class _ReluBeforePool(nn.Module):
    """Looks like GAP + Linear in its module list, but its forward applies a ReLU first."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*list(net.children())[:-2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = net.fc

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(torch.tanh(self.body(x))), 1))


def test_closed_form_checked_against_logits(resnet, images):
    model = _ReluBeforePool(resnet).eval()
    with GradCAM(model, "body") as cam, pytest.warns(RuntimeWarning, match="autograd path"):
        maps = cam(images)
    assert not cam.uses_closed_form
    with GradCAM(model, "body", closed_form=False) as slow:
        torch.testing.assert_close(maps, slow(images))
    with pytest.raises(ConfigError, match="GAP \\+ Linear"), GradCAM(model, "body", "cam") as cam:
        cam(images)


def test_config_errors(resnet, images):
    with pytest.raises(ConfigError, match="layer4"):
        GradCAM(resnet, "layer5")
    with pytest.raises(ConfigError, match="not a submodule"):
        GradCAM(resnet, nn.Conv2d(3, 3, 1))
    with pytest.raises(ConfigError, match="gradcam"):
        GradCAM(resnet, "layer4", method="scorecam")
    with pytest.raises(ConfigError, match="precision"):
        GradCAM(resnet, "layer4", precision="int8")
    with pytest.raises(ConfigError, match="closed_form"):
        GradCAM(resnet, "layer4", "cam", closed_form=False)
    vgg = torchvision.models.vgg11(weights=None, num_classes=3).eval()
    with pytest.raises(ConfigError, match="GAP \\+ Linear"):
        GradCAM(vgg, "features.19", method="cam")
    with pytest.raises(ConfigError, match="closed_form=True"):
        GradCAM(vgg, "features.19", "hirescam", closed_form=True)  # needs per-position gradients
    with (
        GradCAM(resnet, "layer4.1.relu") as cam,
        pytest.raises(ConfigError, match="more than once"),
    ):
        cam(images)
    with GradCAM(resnet, "layer4") as cam:
        with pytest.raises(ConfigError, match="out of range"):
            cam(images, classes=[6])
        with pytest.raises(ConfigError, match="3"):
            cam(images, classes=[[0], [1]])


def test_methods_accept_aliases(resnet, images):
    with GradCAM(resnet, "layer4", "GradCAMpp") as a, GradCAM(resnet, "layer4", "gradcam++") as b:
        torch.testing.assert_close(a(images), b(images))


def test_callable_classes_topk(resnet, images):
    def top2(logits):
        return logits.topk(2, dim=1).indices

    with GradCAM(resnet, "layer4", closed_form=False) as cam:
        maps, logits = cam(images, classes=top2, return_logits=True)
        wanted = top2(logits).tolist()
        direct = cam(images, classes=wanted)
    assert [m.shape for m in maps] == [(2, 2, 2)] * 3
    for got, ref in zip(maps, direct, strict=True):
        torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("closed_form", [None, False], ids=["closed_form", "autograd"])
def test_bf16_within_tolerance_of_fp32(resnet, images, closed_form):
    """bf16 autocast forward, fp32 weighting: within 3% of each image's largest map value.

    (Random-init nets cancel heavily in Σ_k α_k A_k, so a per-class relative error is not
    meaningful for classes whose map is ~0; measured ~1% for ResNet-18 here.)
    """
    for method in ("gradcam", "gradcam++", "layercam"):
        with GradCAM(resnet, "layer4", method, closed_form=closed_form) as cam:
            ref = cam(images)
        with GradCAM(resnet, "layer4", method, closed_form=closed_form, precision="bf16") as cam:
            low = cam(images)
            assert cam.uses_closed_form == (closed_form is None)
        assert low.dtype == torch.float32
        err = (low - ref).abs().flatten(1).amax(1) / ref.flatten(1).amax(1)
        assert err.max() < 0.03, (method, err)


def test_channels_last_matches_default(resnet, images):
    model = copy.deepcopy(resnet)
    with GradCAM(resnet, "layer4", "hirescam", closed_form=False) as cam:
        ref = cam(images)
    with GradCAM(model, "layer4", "hirescam", closed_form=False, channels_last=True) as cam:
        out = cam(images)
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref, atol=1e-5 * ref.max().item(), rtol=1e-4)


def test_inplace_op_after_target_layer(images):
    """VGG's conv output feeds an in-place ReLU: the engine's leaf must not be modified."""
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None, num_classes=3).eval()
    with GradCAM(vgg, "features.18") as cam, warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = cam(images)  # features.19 is ReLU(inplace=True)
    assert maps.shape == (3, 3, 4, 4) and torch.isfinite(maps).all()


class _IrnStyle(nn.Module):
    """IRN's classifier: backbone, global average pool (functional), 1x1 conv, view."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        net = torchvision.models.resnet18(weights=None)
        self.stage = nn.Sequential(*list(net.children())[:-2])
        self.classifier = nn.Conv2d(512, 4, 1, bias=False)

    def forward(self, x):
        x = self.stage(x).mean((2, 3), keepdim=True)
        return self.classifier(x).view(x.shape[0], -1)


def test_closed_form_for_1x1_conv_classifier(images):
    model = _IrnStyle().eval()
    with GradCAM(model, "stage") as fast, GradCAM(model, "stage", closed_form=False) as slow:
        torch.testing.assert_close(fast(images), slow(images), atol=1e-6, rtol=1e-4)
        assert fast.uses_closed_form and not slow.uses_closed_form


@pytest.mark.parametrize("closed_form", [None, False])
def test_backbone_records_no_graph(resnet, images, closed_form):
    """Autograd is on only from the target layer: the backbone keeps no activations for backward."""
    seen = []
    handle = resnet.layer3.register_forward_hook(lambda m, i, out: seen.append(out.requires_grad))
    try:
        with GradCAM(resnet, "layer4", closed_form=closed_form) as cam:
            cam(images)
    finally:
        handle.remove()
    assert seen == [False]
    assert torch.is_grad_enabled()  # the caller's grad mode is restored


def test_closed_form_outputs_are_ordinary_tensors(resnet, images):
    """The closed form's forward runs in inference mode; what it returns must not be inference
    tensors (callers normalise maps in place)."""
    with GradCAM(resnet, "layer4") as cam:
        maps, logits = cam(images, return_logits=True)
    assert cam.uses_closed_form
    assert not maps.is_inference() and not logits.is_inference()
    maps.mul_(2.0)
    logits.add_(1.0)
