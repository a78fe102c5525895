"""wsolevaluation's CAM networks: their feature maps, their CAMs, their ImageNet weights, the
parts trained at 10x and the step schedule — each against what its code defines."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from wsol.cam import GradCAM
from wsol.errors import WeightsError
from wsol.models.backbones import build_backbone, head_parameter_prefixes
from wsol.models.classifier import step_decay

# (arch, output stride) -> the CAM map side at 224 x 224 (14x14; 28x28 with large_feature_map)
SIDES = {("vgg16_cam", 16): 14, ("vgg16_cam", 8): 28, ("inception_v3_cam", 16): 14,
         ("inception_v3_cam", 8): 28, ("resnet50_cam", 16): 14, ("resnet50_cam", 8): 28}


@pytest.mark.parametrize("arch, stride", sorted(SIDES))
def test_feature_map_sizes_at_224(arch, stride):
    net, layer = build_backbone(arch, 7, None, stride)
    seen = {}
    net.get_submodule(layer).register_forward_hook(lambda m, a, out: seen.update(a=out))
    with torch.no_grad():
        logits = net.eval()(torch.rand(1, 3, 224, 224))
    assert logits.shape == (1, 7)
    assert seen["a"].shape[-2:] == (SIDES[(arch, stride)],) * 2


@pytest.mark.parametrize("arch, head", [("vgg16_cam", "fc"), ("inception_v3_cam", "SPG_A4"),
                                        ("resnet50_cam", "fc")])
def test_cam_is_the_class_weights_times_the_features(arch, head):
    torch.manual_seed(0)
    net, layer = build_backbone(arch, 5, None, 16)
    net.eval()
    for p in net.parameters():
        p.data += 0.01 * torch.randn_like(p)  # bias terms away from 0
    seen = {}
    net.get_submodule(layer).register_forward_hook(lambda m, a, out: seen.update(a=out))
    images = torch.rand(2, 3, 96, 96)
    with GradCAM(net, layer, method="cam") as cam:
        maps, logits = cam(images, classes=[1, 3], return_logits=True)
        assert cam.uses_closed_form  # GAP + one linear layer (a 1x1 conv for Inception)
    weight = net.get_submodule(head).weight.detach().flatten(1)  # (C, D)
    expected = torch.relu(torch.einsum("kd,bdhw->bkhw", weight[[1, 3]], seen["a"]))
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(logits, net(images), rtol=1e-4, atol=1e-5)


def _save_state(tmp_path, monkeypatch, weights, state):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = tmp_path / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True)
    torch.save(state, path)


@pytest.mark.parametrize("stride", [16, 8])
def test_vgg_loads_imagenet_convolutions_in_order(tmp_path, monkeypatch, stride):
    features = tvm.vgg16().features  # the state dict a torchvision download holds (features)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    state["classifier.6.weight"] = torch.zeros(1000, 4)  # the classifier is left out
    _save_state(tmp_path, monkeypatch, tvm.VGG16_Weights.IMAGENET1K_V1, state)
    net, _ = build_backbone("vgg16_cam", 3, "VGG16_Weights.IMAGENET1K_V1", stride)
    ours = [m for m in net.features if isinstance(m, nn.Conv2d)]
    theirs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert len(ours) == len(theirs) == 13
    for mine, source in zip(ours, theirs, strict=True):
        assert torch.equal(mine.weight, source.weight) and torch.equal(mine.bias, source.bias)
    assert net.fc.out_features == 3 and float(net.fc.bias.detach().abs().sum()) == 0.0


def test_inception_loads_up_to_mixed_6e_and_refuses_a_foreign_file(tmp_path, monkeypatch):
    source = tvm.inception_v3(weights=None, aux_logits=True, init_weights=False)
    _save_state(tmp_path, monkeypatch, tvm.Inception_V3_Weights.IMAGENET1K_V1,
                source.state_dict())
    net, _ = build_backbone("inception_v3_cam", 3, "Inception_V3_Weights.IMAGENET1K_V1", 8)
    mine = net.state_dict()
    shared = [k for k in mine if not k.startswith("SPG_")]
    assert all(torch.equal(mine[k], source.state_dict()[k]) for k in shared)
    assert "Mixed_6a.branch3x3.conv.weight" in shared and net.Mixed_6a.branch3x3.conv.stride \
        == (1, 1) and net.Conv2d_1a_3x3.conv.padding == (1, 1)
    damaged = {k: v for k, v in source.state_dict().items() if not k.startswith("Mixed_6e.")}
    torch.save(damaged, next((tmp_path / "hub" / "checkpoints").iterdir()))
    with pytest.raises(WeightsError, match="Mixed_6e"):
        build_backbone("inception_v3_cam", 3, "Inception_V3_Weights.IMAGENET1K_V1", 8)


@pytest.mark.parametrize("arch, parts", [
    ("vgg16_cam", ("conv6.", "fc.")),
    ("inception_v3_cam", ("SPG_A3_1b.", "SPG_A3_2b.", "SPG_A4.")),
    ("resnet50_cam", ("layer4.", "fc.")),
])
def test_classifier_parts_at_ten_times_the_rate(arch, parts):
    """wsolevaluation's Trainer: VGG features.* and Inception's Conv2d_* / Mixed_* at lr, the
    rest at 10x; ResNet layer4.* and fc.* at 10x, the rest at lr."""
    net, _ = build_backbone(arch, 3, None, 16)
    prefixes = tuple(p + "." for p in head_parameter_prefixes(arch))
    fast = {n for n, _ in net.named_parameters() if n.startswith(prefixes)}
    assert fast == {n for n, _ in net.named_parameters() if n.startswith(parts)}
    slow = {n.split(".")[0] for n, _ in net.named_parameters()} - {p[:-1] for p in parts}
    expected_slow = {"vgg16_cam": {"features"}, "resnet50_cam": {"conv1", "bn1", "layer1",
                                                                 "layer2", "layer3"}}
    if arch in expected_slow:
        assert slow == expected_slow[arch]
    else:
        assert all(s.startswith(("Conv2d_", "Mixed_")) for s in slow)


def test_step_schedule_is_wsolevaluations_adjust_learning_rate():
    for every in (3, 15):
        lr = 1.0
        for epoch in range(1, 51):  # its loop: adjust (1-based epoch), then train that epoch
            if epoch != 0 and epoch % every == 0:
                lr *= 0.1
            assert step_decay(epoch - 1, every) == pytest.approx(lr)
    assert step_decay(40, 0) == 1.0


def test_resnet_keeps_the_imagenet_classifier_for_imagenets_classes(tmp_path, monkeypatch):
    """wsolevaluation loads ResNet-50's fc on ILSVRC (1,000 classes in torchvision's order) and
    drops it elsewhere; VGG and Inception always get new heads."""
    source = tvm.resnet50()
    _save_state(tmp_path, monkeypatch, tvm.ResNet50_Weights.IMAGENET1K_V1, source.state_dict())
    imagenet, _ = build_backbone("resnet50_cam", 1000, "ResNet50_Weights.IMAGENET1K_V1", 8)
    assert torch.equal(imagenet.fc.weight, source.fc.weight)
    assert imagenet.layer3[0].conv2.stride == (1, 1) == imagenet.layer4[0].conv2.stride
    cub, _ = build_backbone("resnet50_cam", 200, "ResNet50_Weights.IMAGENET1K_V1", 8)
    assert cub.fc.out_features == 200 and float(cub.fc.bias.detach().abs().sum()) == 0.0
    assert torch.equal(cub.layer4[2].conv3.weight, source.layer4[2].conv3.weight)
