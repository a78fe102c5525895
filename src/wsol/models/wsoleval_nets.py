"""The CAM backbones of wsolevaluation (Choe et al., CVPR 2020; its wsol/vgg.py, inception.py,
resnet.py), built from torchvision's modules so ImageNet weights load by module name.

- ``vgg16_cam``: VGG-16's convolutions without the last max pool (14x14 at 224; also without
  pool4 at output stride 8: 28x28), then conv6 (3x3, 512 -> 1024) + ReLU, global average
  pooling and one Linear. CAM target: ``relu`` (conv6's activation).
- ``inception_v3_cam``: Inception-V3 up to Mixed_6e with the first convolution padded by 1,
  Mixed_6a at stride 1 (padding 1) and, at output stride 8, no max pool after Mixed_5d; then two
  3x3 convolutions (768 -> 1024 -> 1024) with ReLU, dropout 0.5 before each and after, a 1x1
  convolution to the classes and global average pooling. CAM target: ``SPG_A3_2b``.
- ``resnet50_cam`` lives in :mod:`wsol.models.backbones` (torchvision's ResNet-50 with layer4
  at stride 1: output stride 16; 8 also sets layer3 to stride 1).

New layers are initialised as wsolevaluation does (VGG: He normal, fan-out; Inception: Xavier
uniform; biases 0; Linear N(0, 0.01)). Weights: a torchvision ImageNet state dict whose
backbone tensors must all load (the classifier and Inception's Mixed_7 / AuxLogits are left).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import BasicConv2d, InceptionA, InceptionC
from torchvision.models.vgg import cfgs, make_layers

from wsol.errors import WeightsError


def _vgg_config(output_stride: int) -> list:
    """torchvision's VGG-16 layer list without pool5 (and without pool4 at stride 8)."""
    config = list(cfgs["D"])[:-1]
    if output_stride == 8:
        pools = [i for i, v in enumerate(config) if v == "M"]
        del config[pools[3]]
    return config


class VGGCam(nn.Module):
    """VGG-16 GAP classifier: (B,3,H,W) -> (B,C); features at output stride 16 or 8."""

    def __init__(self, num_classes: int, output_stride: int = 16) -> None:
        super().__init__()
        self.features = make_layers(_vgg_config(output_stride))
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        self.relu = nn.ReLU(inplace=False)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1024, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv6(self.features(images)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def vgg_adl_positions(output_stride: int) -> tuple[str, ...]:
    """Where wsolevaluation puts ADL in VGG-16: after pool3, after conv4_3 and conv5_3."""
    config = _vgg_config(output_stride)
    index, layer_of = 0, []  # module index after each config entry
    for value in config:
        index += 1 if value == "M" else 2
        layer_of.append(index - 1)
    pools = [i for i, v in enumerate(config) if v == "M"]
    conv4_3 = pools[2] + 3  # the third 512 conv after pool3
    return (f"features.{layer_of[pools[2]]}", f"features.{layer_of[conv4_3]}",
            f"features.{layer_of[-1]}")


class _ReductionStrideOne(nn.Module):
    """Inception-V3's Mixed_6a (InceptionB) at stride 1 with padding 1: 288 -> 768 channels at
    the input's resolution (names match torchvision's, so its weights load)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=1, padding=1)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch3x3(x), double, pooled], 1)


class InceptionCam(nn.Module):
    """Inception-V3 GAP classifier: (B,3,H,W) -> (B,C); 14x14 maps at 224 (28x28 at stride 8)."""

    def __init__(self, num_classes: int, output_stride: int = 16) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.maxpool3 = nn.Identity() if output_stride == 8 else \
            nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.Mixed_6a = _ReductionStrideOne(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.dropout = nn.Dropout(0.5)
        self.SPG_A3_1b = nn.Sequential(nn.Conv2d(768, 1024, 3, padding=1), nn.ReLU(True))
        self.SPG_A3_2b = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1), nn.ReLU(True))
        # Registered before SPG_A4 although it runs after it: a 1x1 convolution and global
        # average pooling commute, and in this order the CAM engine finds its closed form.
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.SPG_A4 = nn.Conv2d(1024, num_classes, kernel_size=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(images)))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x))))
        x = self.maxpool3(self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(x)))))
        x = self.SPG_A3_1b(self.dropout(x))
        x = self.dropout(self.SPG_A3_2b(self.dropout(x)))
        return torch.flatten(self.avgpool(self.SPG_A4(x)), 1)


def _conv_order_state(features: nn.Sequential, state: dict[str, torch.Tensor]
                      ) -> dict[str, torch.Tensor]:
    """torchvision VGG ``features.*`` tensors renamed to ``features``' own indices, conv by conv
    (removing a pool shifts the indices after it)."""
    source = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
    target = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]
    renamed = {}
    for old, new in zip(source, target, strict=True):
        for leaf in ("weight", "bias"):
            renamed[f"features.{new}.{leaf}"] = state[f"features.{old}.{leaf}"]
    return renamed


def load_backbone_state(net: nn.Module, state: dict[str, torch.Tensor], new_parts: tuple[str, ...],
                        source: str) -> None:
    """Load ``state`` into ``net``; every tensor outside ``new_parts`` must be found, shaped
    alike (WeightsError naming ``source`` otherwise); tensors ``net`` lacks are left out."""
    if isinstance(net, VGGCam):
        state = _conv_order_state(net.features, state)
    own = net.state_dict()
    wanted = [k for k in own if not k.startswith(new_parts)]
    missing = [k for k in wanted if k not in state]
    shaped = [k for k in wanted if k in state and state[k].shape != own[k].shape]
    if missing or shaped:
        bad = (missing or shaped)[0]
        raise WeightsError(f"{source} does not fit {type(net).__name__}: "
                           f"{'no' if missing else 'a differently shaped'} tensor {bad!r}; "
                           "name the ImageNet weights of this architecture in model.weights.")
    net.load_state_dict({k: state[k] for k in wanted}, strict=False)
