"""Any timm classifier by name: the Grad-CAM target found per family (checked against a plain
autograd Grad-CAM on that layer), ViT/DeiT tokens on their grid, weights from a local file only."""

from __future__ import annotations

import pytest
import torch

from wsol.cam import GradCAM
from wsol.errors import ConfigError, WeightsError
from wsol.models.backbones import build_backbone, head_parameter_prefixes

timm = pytest.importorskip("timm")

# timm name -> the target layer expected (the README's table of tested families)
FAMILIES = {
    "resnet18": "layer4",
    "convnext_atto": "stages.3",
    "efficientnet_b0": "bn2",
    "mobilenetv3_small_050": "blocks.5",
    "regnetx_002": "s4",
    "vit_tiny_patch16_224": "blocks.11.norm1",
    "deit_tiny_patch16_224": "blocks.11.norm1",
    "deit_tiny_distilled_patch16_224": "blocks.11.norm1",
}


def oracle_gradcam(net, layer: str, images: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """Grad-CAM by hand: one autograd.grad per class w.r.t. the layer's output; tokens (ViT)
    lose their ``num_prefix_tokens`` and are laid on the patch grid of the input."""
    captured = {}

    def keep(module, args, out):
        captured["a"] = out
        return out

    handle = net.get_submodule(layer).register_forward_hook(keep)
    try:
        logits = net(images)
    finally:
        handle.remove()
    acts = captured["a"]
    maps = []
    for c in classes:
        grad = torch.autograd.grad(logits[:, c].sum(), acts, retain_graph=True)[0]
        a, g = acts.detach(), grad
        if a.dim() == 3:  # tokens (B, T, D)
            prefix = net.num_prefix_tokens
            h, w = images.shape[-2] // 16, images.shape[-1] // 16
            a = a[:, prefix:].transpose(1, 2).reshape(a.shape[0], -1, h, w)
            g = g[:, prefix:].transpose(1, 2).reshape(g.shape[0], -1, h, w)
        alpha = g.mean(dim=(2, 3), keepdim=True)
        maps.append(torch.relu((alpha * a).sum(1)))
    return torch.stack(maps, 1)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_target_layer_and_gradcam_per_family(name):
    torch.manual_seed(0)
    net, layer = build_backbone(f"timm:{name}", 3)
    assert layer == FAMILIES[name]
    net.eval()
    images = torch.rand(2, 3, 64, 96)  # ViTs: any size (a 4 x 6 patch grid)
    with GradCAM(net, layer) as cam:
        maps = cam(images, classes=[0, 2])
    expected = oracle_gradcam(net, layer, images, [0, 2])
    assert maps.shape == expected.shape and maps.shape[:2] == (2, 2)
    torch.testing.assert_close(maps, expected, rtol=1e-3, atol=1e-5)
    assert head_parameter_prefixes(f"timm:{name}", net)  # the classifier trains at head_lr_mult


def test_weights_from_a_local_file_only(tmp_path, monkeypatch):
    from safetensors.torch import save_file
    from timm.models import _builder

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(_builder, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(_builder, "load_state_dict_from_hf", no_download)
    source = timm.create_model("resnet18", num_classes=1000)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    as_is, _ = build_backbone("timm:resnet18", 1000, str(path), replace_head=False)
    for key, value in source.state_dict().items():
        assert torch.equal(as_is.state_dict()[key], value), key
    tuned, _ = build_backbone("timm:resnet18", 4, str(path))  # a new 4-class head
    assert tuned.fc.out_features == 4
    assert torch.equal(tuned.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    fresh, _ = build_backbone("timm:resnet18", 1000, str(path))  # same count: still a new head
    assert not torch.equal(fresh.fc.weight, source.fc.weight)
    with pytest.raises(WeightsError, match=str(tmp_path / "absent.safetensors")):
        build_backbone("timm:resnet18", 4, str(tmp_path / "absent.safetensors"))
    with pytest.raises(ConfigError, match="1000-class"):
        build_backbone("timm:resnet18", 4, str(path), replace_head=False)
    with pytest.raises(WeightsError, match="does not load"):
        build_backbone("timm:resnet34", 4, str(path))


def test_unknown_and_unsupported_models_stop_with_the_fix():
    with pytest.raises(ConfigError, match="did you mean"):
        build_backbone("timm:resnet_18", 3)
    with pytest.raises(ConfigError, match="model.target_layer"):  # Swin: (B, H, W, C) features
        build_backbone("timm:swin_tiny_patch4_window7_224", 3)
