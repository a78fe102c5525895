"""Every CAM method against a slow, obviously-correct float64 reference.

The reference is plain autograd: the model in float64, one class at a time, a full forward and
a full backward of y^c summed over the batch, the target layer's output captured with
retain_grad; then each method's formula written out directly. The engine runs in float32 with
one forward and at most one batched head backward (or none, for a GAP + Linear head).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision

from wsol.cam import GradCAM

METHODS = ["gradcam", "gradcam++", "gradcam++lib", "xgradcam", "hirescam", "layercam"]


def reference_grads(model, layer_name, x, classes, to_grid=None):
    """A (B, D, *S) and {class: dy^c/dA (B, D, *S)} in float64, one full backward per class."""
    model64 = copy.deepcopy(model).double().eval()
    layer = dict(model64.named_modules())[layer_name]
    seen = {}

    def keep(module, inputs, output):
        output.retain_grad()
        seen["a"] = output

    handle = layer.register_forward_hook(keep)
    grads = {}
    for c in classes:
        model64.zero_grad()
        logits = model64(x.double())
        logits[:, c].sum().backward()
        a, g = seen["a"].detach(), seen["a"].grad.detach()
        grads[c] = to_grid(g) if to_grid else g
    handle.remove()
    acts = to_grid(a) if to_grid else a
    return acts, grads, model64


def reference_map(method, a, g, weight_row=None):
    """One class's map (B, *S) from A and G (B, D, *S), straight from the papers' formulas."""
    dims = tuple(range(2, a.dim()))
    relu = torch.relu
    if method == "gradcam":
        w = g.mean(dim=dims, keepdim=True)
        return relu((w * a).sum(1))
    if method == "gradcam++":
        sum_a = a.sum(dim=dims, keepdim=True)
        denom = 2 * g**2 + sum_a * g**3
        alpha = torch.where(denom != 0, g**2 / denom, torch.zeros_like(g))
        w = (alpha * relu(g)).sum(dim=dims, keepdim=True)
        return relu((w * a).sum(1))
    if method == "gradcam++lib":  # pytorch-grad-cam: eps in the denominator, 0 where G = 0
        sum_a = a.sum(dim=dims, keepdim=True)
        alpha = g**2 / (2 * g**2 + sum_a * g**3 + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(g))
        w = (alpha * relu(g)).sum(dim=dims, keepdim=True)
        return relu((w * a).sum(1))
    if method == "xgradcam":
        sum_a = a.sum(dim=dims, keepdim=True)
        w = torch.where(sum_a != 0, (a * g).sum(dim=dims, keepdim=True) / sum_a, 0.0)
        return relu((w * a).sum(1))
    if method == "hirescam":
        return relu((g * a).sum(1))
    if method == "layercam":
        return relu((relu(g) * a).sum(1))
    if method == "cam":
        w = weight_row.reshape(1, -1, *([1] * len(dims)))
        return relu((w * a).sum(1))
    raise AssertionError(method)


def reference_maps(method, a, grads, classes, fc_weight=None):
    """(B, K, *S) float64."""
    rows = [None] * len(classes) if fc_weight is None else [fc_weight[c] for c in classes]
    maps = [reference_map(method, a, grads[c], r) for c, r in zip(classes, rows, strict=True)]
    return torch.stack(maps, 1)


def assert_maps_close(ours, ref, rel=1e-5):
    """|ours - ref| <= rel * max|ref| + 1e-4 |ref| elementwise; the reference must not be ~0."""
    assert ours.dtype == torch.float32
    assert ours.shape == ref.shape
    ref = ref.float()
    scale = ref.abs().max()
    assert scale > 0 and (ref > 0).float().mean() > 0.05, "vacuous test: reference maps are ~0"
    torch.testing.assert_close(ours, ref, atol=rel * scale.item(), rtol=1e-4)


def _seeded(ctor):
    torch.manual_seed(0)
    return ctor().eval()


@pytest.fixture(scope="module")
def resnet():
    model = _seeded(lambda: torchvision.models.resnet18(weights=None, num_classes=6))
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    classes = list(range(6))
    a, grads, _ = reference_grads(model, "layer4", x, classes)
    return model, x, classes, a, grads


@pytest.fixture(scope="module")
def vgg():
    model = _seeded(lambda: torchvision.models.vgg16(weights=None, num_classes=4))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    classes = [0, 1, 2, 3]
    a, grads, _ = reference_grads(model, "features.29", x, classes)
    return model, x, classes, a, grads


@pytest.mark.parametrize(
    ("method", "closed_form"),
    [(m, cf) for m in METHODS for cf in (None, False)] + [("cam", None)],
    ids=lambda v: {None: "closed_form", False: "autograd"}.get(v, v),
)
def test_resnet_gap_head_matches_reference(resnet, method, closed_form):
    model, x, classes, a, grads = resnet
    with GradCAM(model, "layer4", method=method, closed_form=closed_form) as cam:
        ours = cam(x)
        assert cam.uses_closed_form == (closed_form is None)
    ref = reference_maps(method, a, grads, classes, model.fc.weight.detach().double())
    assert ours.shape == (3, 6, 2, 2)
    assert_maps_close(ours, ref)


def test_closed_form_equals_autograd_path(resnet):
    model, x, *_ = resnet
    for method in METHODS:
        with (
            GradCAM(model, model.layer4, method) as fast,
            GradCAM(model, "layer4", method, closed_form=False) as slow,
        ):
            torch.testing.assert_close(fast(x), slow(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", METHODS)
def test_vgg_fc_head_matches_reference(vgg, method):
    model, x, classes, a, grads = vgg
    with GradCAM(model, "features.29", method=method) as cam:
        assert cam.uses_closed_form == (method == "gradcam")  # pools + MLP head: α closed form
        ours = cam(x, classes=classes)
    assert_maps_close(ours, reference_maps(method, a, grads, classes))


@pytest.mark.parametrize("closed_form", [None, False], ids=["closed_form", "autograd"])
def test_per_image_class_lists(resnet, closed_form):
    model, x, _, a, grads = resnet
    wanted = [[4], [0, 5, 2], []]
    with GradCAM(model, "layer4", "gradcam++", closed_form=closed_form) as cam:
        ours = cam(x, classes=wanted)
    assert isinstance(ours, list) and [m.shape[0] for m in ours] == [1, 3, 0]
    for b, cls in enumerate(wanted):
        if cls:
            ref = torch.stack([reference_map("gradcam++", a, grads[c])[b] for c in cls])
            torch.testing.assert_close(ours[b], ref.float(), atol=1e-5 * ref.abs().max(), rtol=1e-4)


def test_per_image_class_lists_vgg(vgg):
    model, x, _, a, grads = vgg
    with GradCAM(model, "features.29") as cam:
        ours = cam(x, classes=[[3, 1], [2]])
    for b, cls in enumerate([[3, 1], [2]]):
        ref = torch.stack([reference_map("gradcam", a, grads[c])[b] for c in cls]).float()
        torch.testing.assert_close(ours[b], ref, atol=1e-5 * ref.abs().max(), rtol=1e-4)


def test_shared_class_subset_and_logits(vgg):
    model, x, _, a, grads = vgg
    with GradCAM(model, "features.29", "layercam") as cam:
        maps, logits = cam(x, classes=[2, 0], return_logits=True)
    assert_maps_close(maps, reference_maps("layercam", a, grads, [2, 0]))
    with torch.no_grad():
        torch.testing.assert_close(logits, model(x), atol=1e-4, rtol=1e-4)


def _vit_grid(tokens):
    b, t, d = tokens.shape
    side = int((t - 1) ** 0.5)
    return tokens[:, 1:].transpose(1, 2).reshape(b, d, side, side)


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_vit_tokens_match_reference(method, vit_case):
    model, x, classes, a, grads, layer = vit_case
    with GradCAM(model, layer, method) as cam:
        ours = cam(x, classes=classes)
    assert ours.shape == (2, len(classes), 4, 4)
    # LayerNorm outputs have channels whose spatial sum is ~0, and XGrad-CAM divides by it: the
    # float32 forward's rounding is amplified there, so that one case gets a 1e-3 tolerance.
    rel = 1e-3 if method == "xgradcam" else 1e-5
    assert_maps_close(ours, reference_maps(method, a, grads, classes), rel=rel)


@pytest.fixture(scope="module")
def vit_case():
    def build():
        model = torchvision.models.vit_b_16(weights=None, image_size=64, num_classes=5)
        torch.nn.init.normal_(model.heads.head.weight, std=0.05)  # torchvision zero-inits it
        return model

    model = _seeded(build)
    layer = "encoder.layers.encoder_layer_11.ln_1"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    classes = [0, 3, 4]
    a, grads, _ = reference_grads(model, layer, x, classes, to_grid=_vit_grid)
    return model, x, classes, a, grads, layer


@pytest.mark.slow
@pytest.mark.parametrize("closed_form", [None, False], ids=["closed_form", "autograd"])
def test_r3d_volumes_match_reference(closed_form, r3d_case):
    model, x, classes, a, grads = r3d_case
    for method in ["gradcam", "gradcam++", "layercam"]:
        with GradCAM(model, "layer4", method, closed_form=closed_form) as cam:
            ours = cam(x, classes=classes)
            assert cam.uses_closed_form == (closed_form is None)
        assert ours.shape == (1, 3, 2, 2, 2)
        assert_maps_close(ours, reference_maps(method, a, grads, classes))


@pytest.fixture(scope="module")
def r3d_case():
    model = _seeded(lambda: torchvision.models.video.r3d_18(weights=None, num_classes=5))
    x = torch.randn(1, 3, 16, 32, 32, generator=torch.Generator().manual_seed(4))
    classes = [1, 2, 4]
    a, grads, _ = reference_grads(model, "layer4", x, classes)
    return model, x, classes, a, grads
