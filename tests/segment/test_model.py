"""DeepLabV3 on our backbones: dilation against torchvision's own, weights, shapes."""

import pytest
import torch
from torchvision.models.resnet import Bottleneck, ResNet

from wsol.errors import WeightsError
from wsol.models.backbones import build_backbone
from wsol.segment.model import build_deeplabv3, set_output_stride


@pytest.mark.parametrize("output_stride,dilate", [(16, [False, False, True]),
                                                  (8, [False, True, True])])
def test_dilation_matches_torchvision_replace_stride_with_dilation(output_stride, dilate):
    torch.manual_seed(0)
    ours = ResNet(Bottleneck, [2, 2, 2, 2], width_per_group=16)  # a small ResNet-50 cousin
    reference = ResNet(Bottleneck, [2, 2, 2, 2], width_per_group=16,
                       replace_stride_with_dilation=dilate)
    reference.load_state_dict(ours.state_dict())
    set_output_stride(ours, output_stride)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        ours.eval(), reference.eval()
        features = torch.nn.Sequential(*list(ours.children())[:-2])(x)
        expected = torch.nn.Sequential(*list(reference.children())[:-2])(x)
    assert features.shape[-2:] == (64 // output_stride, 48 // output_stride)
    torch.testing.assert_close(features, expected)


def test_a_classifier_trained_at_stride_16_is_reset_to_the_asked_stride():
    """IRN's classifier has layer4 at stride 1 without dilation; DeepLab at 8 dilates."""
    net, _ = build_backbone("resnet18_quarter", 8, output_stride=16)
    set_output_stride(net, 8)
    assert net.layer3[0].conv1.stride == (1, 1) and net.layer3[1].conv1.dilation == (2, 2)
    assert net.layer4[0].conv1.dilation == (2, 2) and net.layer4[1].conv2.dilation == (4, 4)
    set_output_stride(net, 32)
    assert net.layer4[0].conv1.stride == (2, 2) and net.layer4[1].conv2.dilation == (1, 1)
    set_output_stride(net, 8, dilate=False)  # the classifier's own geometry again
    reference, _ = build_backbone("resnet18_quarter", 8, output_stride=8)
    for ours, theirs in zip(net.modules(), reference.modules(), strict=True):
        if isinstance(ours, torch.nn.Conv2d):
            assert (ours.stride, ours.dilation, ours.padding) == \
                (theirs.stride, theirs.dilation, theirs.padding)


def test_deeplab_output_and_backbone_weights():
    classifier, _ = build_backbone("resnet18_quarter", 8, output_stride=8)
    net = build_deeplabv3("resnet18_quarter", 9, 8, head_channels=16, atrous_rates=[1, 2],
                          backbone_state=classifier.state_dict())
    torch.testing.assert_close(net.backbone.conv1.weight, classifier.conv1.weight)
    torch.testing.assert_close(net.backbone.layer4[1].conv2.weight,
                               classifier.layer4[1].conv2.weight)
    out = net.eval()(torch.randn(2, 3, 40, 32))["out"]
    assert out.shape == (2, 9, 40, 32)
    resnet18_state = build_backbone("resnet18", 8)[0].state_dict()
    with pytest.raises(WeightsError, match="segment.arch='resnet18_quarter'"):
        build_deeplabv3("resnet18_quarter", 9, 8, backbone_state=resnet18_state)
