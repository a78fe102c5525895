"""DeepLabV3 (torchvision's) on a ResNet of :mod:`wsol.models.backbones`.

The backbone is any of :data:`SEGMENT_BACKBONES`, its later stages dilated instead of strided
for output stride 16 (layer4) or 8 (layer3 and layer4), as DeepLab does; its weights come from
torchvision's file in the local cache, from the stage-1 classifier's model.pt, or nowhere
(random). The head is torchvision's ASPP + 3x3 conv + 1x1 classifier at ``head_channels``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.segmentation.deeplabv3 import ASPP, DeepLabV3

from wsol.errors import ConfigError, WeightsError
from wsol.models.backbones import build_backbone

SEGMENT_BACKBONES = ("resnet18_quarter", "resnet18", "resnet34", "resnet50", "resnet101")
DEFAULT_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


def _strided_conv(block: nn.Module) -> nn.Conv2d:
    """The 3x3 convolution that carries a ResNet block's stride."""
    if isinstance(block, Bottleneck):
        return block.conv2
    if isinstance(block, BasicBlock):
        return block.conv1
    raise ConfigError(f"segment.arch: {type(block).__name__} blocks are not ResNet blocks")


def _set_dilation(conv: nn.Conv2d, rate: int) -> None:
    if conv.kernel_size == (3, 3):
        conv.dilation, conv.padding = (rate, rate), (rate, rate)


def set_output_stride(net: nn.Module, output_stride: int, dilate: bool = True) -> None:
    """Strides and dilations of layer2..layer4 for ``output_stride`` (8, 16 or 32), whatever
    they were before (a classifier trained at stride 16 without dilation is reset too).

    With ``dilate`` a stage that no longer downsamples dilates its 3x3 convolutions by the
    stride it gave up and its first block keeps the previous rate (torchvision's
    ``replace_stride_with_dilation``, DeepLab's choice for ImageNet weights); without, it keeps
    rate 1, the geometry of IRN-style classifiers trained at stride 16 / 8 (their weights then
    see the patterns they were trained on).
    """
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"segment.output_stride={output_stride}: use 8 or 16")
    stride, rate = 4, 1  # after conv1 and the max pool
    for name in ("layer2", "layer3", "layer4"):
        stage = getattr(net, name)
        previous = rate
        step = 2 if stride < output_stride else 1
        if step == 2:
            stride *= 2
        elif dilate:
            rate *= 2
        for index, block in enumerate(stage):
            for module in block.modules():
                if isinstance(module, nn.Conv2d):
                    _set_dilation(module, previous if index == 0 else rate)
            if index == 0:
                _strided_conv(block).stride = (step, step)
                if block.downsample is not None:
                    block.downsample[0].stride = (step, step)


def deeplab_head(in_channels: int, num_classes: int, rates: Sequence[int],
                 channels: int) -> nn.Sequential:
    """torchvision's DeepLabHead with a chosen width: ASPP, 3x3 conv, BN, ReLU, 1x1 conv."""
    return nn.Sequential(
        ASPP(in_channels, list(rates), out_channels=channels),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, num_classes, 1),
    )


def build_deeplabv3(arch: str, num_classes: int, output_stride: int = 16,
                    head_channels: int = 256, atrous_rates: Sequence[int] | None = None,
                    backbone_state: Mapping[str, torch.Tensor] | None = None,
                    dilate: bool = True) -> DeepLabV3:
    """DeepLabV3 mapping images (B, 3, H, W) to ``{"out": logits (B, num_classes, H, W)}``.

    num_classes: segmentation labels, background included (21 for VOC).
    backbone_state: a ResNet state dict (torchvision's, or a wsol classifier's); its ``fc``
    is dropped, every other weight must fit ``arch``. dilate: see :func:`set_output_stride`.
    """
    if arch not in SEGMENT_BACKBONES:
        raise ConfigError(f"segment.arch={arch!r}: use one of {list(SEGMENT_BACKBONES)}")
    net, _ = build_backbone(arch, 1)
    if backbone_state is not None:
        state = {k: v for k, v in backbone_state.items() if not k.startswith("fc.")}
        try:
            missing, unexpected = net.load_state_dict(state, strict=False)
            problem = [k for k in missing if not k.startswith("fc.")][:3] + unexpected[:3]
        except RuntimeError as err:  # same names, other shapes
            problem = [str(err).strip().splitlines()[-1].strip()[:160]]
        if problem:
            raise WeightsError(f"segment.weights do not fit segment.arch={arch!r} ({problem}); "
                               "name weights of that architecture or set segment.arch to the "
                               "classifier's.")
    set_output_stride(net, output_stride, dilate)
    channels = net.fc.in_features
    rates = tuple(atrous_rates) if atrous_rates else DEFAULT_RATES[output_stride]
    body = IntermediateLayerGetter(net, return_layers={"layer4": "out"})
    return DeepLabV3(body, deeplab_head(channels, num_classes, rates, head_channels))


def backbone_and_head(net: DeepLabV3) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The backbone's parameters and the head's (trained at ``head_lr_mult`` x the rate)."""
    return list(net.backbone.parameters()), list(net.classifier.parameters())
