import pytest
import torch

from wsol.errors import ConfigError, WeightsError
from wsol.models.backbones import BACKBONES, build_backbone, count_parameters
from wsol.models.weights import cached_weights_path, resolve_weights_enum


@pytest.mark.parametrize("arch,size", [("resnet18_quarter", 64), ("resnet18", 64), ("vgg16", 64),
                                       ("resnet50", 64)])
def test_backbone_maps_images_to_class_logits_and_names_a_real_target_layer(arch, size):
    net, target = build_backbone(arch, num_classes=5)
    net.eval()
    with torch.no_grad():
        logits = net(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 5)
    features = {}
    net.get_submodule(target).register_forward_hook(lambda m, i, o: features.update(a=o))
    with torch.no_grad():
        net(torch.randn(1, 3, size, size))
    assert features["a"].dim() == 4  # a convolutional map (B, C, h, w)


def test_quarter_resnet18_has_quarter_widths_and_about_0_7m_parameters():
    net, _ = build_backbone("resnet18_quarter", num_classes=8)
    assert [net.get_submodule(f"layer{i}")[0].conv1.out_channels for i in range(1, 5)] == \
        [16, 32, 64, 128]
    assert 0.6e6 < count_parameters(net) < 0.8e6


@pytest.mark.parametrize("arch", ["resnet18_quarter", "resnet50"])
def test_smaller_output_strides_raise_the_cam_resolution(arch):
    sizes = {}
    for stride in (32, 16, 8):
        net, target = build_backbone(arch, 3, output_stride=stride)
        net.eval()
        net.get_submodule(target).register_forward_hook(
            lambda m, i, o, s=stride: sizes.update({s: o.shape[-2:]}))
        with torch.no_grad():
            net(torch.randn(1, 3, 128, 128))
    assert tuple(sizes[32]) == (4, 4)
    assert tuple(sizes[16]) == (8, 8)
    assert tuple(sizes[8]) == (16, 16)


def test_unknown_backbone_and_bad_stride_are_config_errors():
    with pytest.raises(ConfigError, match="model.arch"):
        build_backbone("resnet9000", 3)
    with pytest.raises(ConfigError, match="output_stride"):
        build_backbone("vgg16", 3, output_stride=16)
    with pytest.raises(ConfigError, match="output_stride"):
        build_backbone("resnet18", 3, output_stride=4)


def test_missing_pretrained_weights_name_the_file_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as err:
        build_backbone("resnet18", 3, weights="ResNet18_Weights.IMAGENET1K_V1")
    message = str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert "https://download.pytorch.org/models/resnet18" in message


def test_default_weights_are_refused():
    with pytest.raises(WeightsError, match="DEFAULT"):
        resolve_weights_enum("resnet50", "ResNet50_Weights.DEFAULT")


def test_pretrained_weights_load_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference, _ = build_backbone("resnet18", 1000)
    reference_state = BACKBONES["resnet18"].build().state_dict()
    path = cached_weights_path(resolve_weights_enum("resnet18", "IMAGENET1K_V1"))
    path.parent.mkdir(parents=True)
    torch.save(reference_state, path)
    net, _ = build_backbone("resnet18", 4, weights="IMAGENET1K_V1")
    assert torch.equal(net.conv1.weight, reference_state["conv1.weight"])
    assert net.fc.out_features == 4
    del reference
