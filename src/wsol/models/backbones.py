"""Classification backbones by name, with a multi-label head and their Grad-CAM target layers.

Every backbone is a plain torchvision-style ``nn.Module`` mapping images ``(B,3,H,W)`` to
pre-sigmoid logits ``(B,C)``, so the CAM engine can hook it by module name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock, ResNet

from wsol.errors import ConfigError
from wsol.models.weights import load_pretrained_state
from wsol.models.wsoleval_nets import InceptionCam, VGGCam, load_backbone_state, vgg_adl_positions


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one named architecture and where its last convolutional block is.

    ``build`` makes a torchvision classifier whose ``head`` Linear is then resized; a
    ``builder(num_classes, output_stride)`` instead makes the whole network for the class count
    (wsolevaluation's CAM networks). ``head_parts``: module prefixes trained at
    ``model.head_lr_mult`` times the rate (default: the head); ``adl``: the modules after which
    ADL acts, per output stride (``model.wsol_method=adl``).
    """

    build: Callable[[], nn.Module] | None
    target_layer: str
    head: str  # attribute path of the final Linear layer to resize to the class count
    family: str  # "resnet" | "vgg" | "inception"
    builder: Callable[[int, int], nn.Module] | None = None
    head_parts: tuple[str, ...] = ()
    adl: Callable[[int], tuple[str, ...]] | None = None
    strides: tuple[int, ...] = (8, 16, 32)  # the output strides it can be built at
    # fine-tuning keeps the pretrained classifier when it has the run's class count
    # (wsolevaluation's ResNet-50 on ILSVRC, whose classes are torchvision's order)
    keeps_matching_head: bool = False


def _quarter_resnet18() -> nn.Module:
    """ResNet-18 at a quarter of the width (16/32/64/128 channels, ~0.7 M parameters).

    Small enough to train from scratch in minutes on two CPU cores; the demo's default.
    """
    net = ResNet(BasicBlock, [2, 2, 2, 2])
    widths = (16, 32, 64, 128)
    net.inplanes = widths[0]
    net.conv1 = nn.Conv2d(3, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.layer1 = net._make_layer(BasicBlock, widths[0], 2)
    net.layer2 = net._make_layer(BasicBlock, widths[1], 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, widths[2], 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, widths[3], 2, stride=2)
    net.fc = nn.Linear(widths[3], 1000)
    for module in net.modules():  # same initialisation torchvision applies to its own layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    return net


TIMM_PREFIX = "timm:"  # model.arch=timm:<name>: any timm classifier (wsol.models.timm_backbones)

BACKBONES: dict[str, BackboneSpec] = {
    "resnet18_quarter": BackboneSpec(_quarter_resnet18, "layer4", "fc", "resnet"),
    "resnet18": BackboneSpec(tvm.resnet18, "layer4", "fc", "resnet"),
    "resnet34": BackboneSpec(tvm.resnet34, "layer4", "fc", "resnet"),
    "resnet50": BackboneSpec(tvm.resnet50, "layer4", "fc", "resnet"),
    "resnet101": BackboneSpec(tvm.resnet101, "layer4", "fc", "resnet"),
    "vgg16": BackboneSpec(tvm.vgg16, "features.29", "classifier.6", "vgg"),
    # wsolevaluation's CAM networks (wsol.models.wsoleval_nets; stride 16 = its default,
    # 8 = its large_feature_map), their 10x learning-rate parts as its Trainer sets them
    "vgg16_cam": BackboneSpec(None, "relu", "fc", "vgg", VGGCam, ("conv6", "fc"),
                              vgg_adl_positions, (8, 16)),
    "inception_v3_cam": BackboneSpec(None, "SPG_A3_2b", "SPG_A4", "inception", InceptionCam,
                                     ("SPG_A3_1b", "SPG_A3_2b", "SPG_A4"),
                                     lambda _: ("Mixed_5d", "Mixed_6e", "SPG_A3_2b"), (8, 16)),
    "resnet50_cam": BackboneSpec(tvm.resnet50, "layer4", "fc", "resnet", None, ("layer4", "fc"),
                                 lambda _: ("layer3.0", "layer4.0", "layer4.2"), (8, 16), True),
}


def _set_stage_stride_one(stage: nn.Module) -> None:
    """The stage's first block keeps resolution (stride 1, no dilation), as IRN's ResNet-50."""
    for module in stage[0].modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)


def build_backbone(
    arch: str, num_classes: int, weights: str | None = None, output_stride: int = 32,
    replace_head: bool = True, head_bias: bool = True,
) -> tuple[nn.Module, str]:
    """Build a classifier network and name its Grad-CAM target layer.

    Args:
        arch: one of :data:`BACKBONES` (``model.arch``), or ``timm:<name>`` for any timm
            classifier (:mod:`wsol.models.timm_backbones`).
        num_classes: C, the size of the multi-label head.
        weights: a torchvision weights enum name such as ``"ResNet50_Weights.IMAGENET1K_V1"``
            read from the local torch cache (timm: a local weights file), or ``None`` for
            random initialisation.
        output_stride: 32 (torchvision default), 16 (ResNets: last stage stride 1, as IRN;
            wsolevaluation's networks' default) or 8 (ResNets: last two stages stride 1;
            wsolevaluation's large feature map); :attr:`BackboneSpec.strides` lists each's.
        replace_head: False keeps the pretrained classifier of ``weights`` (e.g. the 1000
            ImageNet classes, for explaining torchvision's model as it is); it must then have
            ``num_classes`` outputs. Without ``weights`` the head is always new.
        head_bias: True: a new head with a bias, weights N(0, 0.01), bias 0. False: IRN's
            bias-free head with PyTorch's default initialisation (that of IRN's 1x1 Conv2d:
            uniform in +-1/sqrt(fan_in)).

    Returns:
        ``(net, target_layer)``: ``net`` maps ``(B,3,H,W)`` images to ``(B,C)`` logits;
        ``target_layer`` is the dotted module name of the last convolutional block.
    """
    if str(arch).startswith(TIMM_PREFIX):  # timm models keep their own output stride
        from wsol.models.timm_backbones import build_timm

        return build_timm(arch[len(TIMM_PREFIX):], num_classes, weights, replace_head)
    if arch not in BACKBONES:
        close = difflib.get_close_matches(str(arch), list(BACKBONES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"model.arch={arch!r} is not a known backbone; choose one of {sorted(BACKBONES)} "
            f"or {TIMM_PREFIX}<any timm model name>." + hint
        )
    spec = BACKBONES[arch]
    if output_stride not in spec.strides:
        raise ConfigError(f"model.output_stride={output_stride} is not available for {arch!r}; "
                          f"use one of {list(spec.strides)}.")
    if spec.builder is not None:
        if weights and not replace_head:
            raise ConfigError(f"model.arch={arch!r} has no pretrained classifier to explain as "
                              "it is (only its backbone is ImageNet-trained); train it first "
                              "(stages=[train,...]).")
        net = spec.builder(num_classes, output_stride)
        if weights:
            load_backbone_state(net, load_pretrained_state(arch, weights), spec.head_parts,
                                str(weights))
        return net, spec.target_layer
    net = spec.build()
    if weights:
        net.load_state_dict(load_pretrained_state(arch, weights))
    if output_stride < 32:
        if spec.family != "resnet":
            raise ConfigError(f"model.output_stride={output_stride} is supported for ResNets "
                              f"only, not {arch!r}; use 32.")
        _set_stage_stride_one(net.layer4)
        if output_stride == 8:
            _set_stage_stride_one(net.layer3)
    parent_name, _, leaf = spec.head.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    old_head: nn.Linear = getattr(parent, leaf)
    if weights and spec.keeps_matching_head and old_head.out_features == num_classes:
        return net, spec.target_layer
    if weights and not replace_head:
        if old_head.out_features != num_classes:
            raise ConfigError(
                f"model.weights={weights} has a {old_head.out_features}-class classifier but "
                f"data.classes has {num_classes} classes; use the matching class list (e.g. "
                f"data.classes=imagenet) or train a new head (stages=[train,...])."
            )
        return net, spec.target_layer
    new_head = nn.Linear(old_head.in_features, num_classes, bias=head_bias)
    if head_bias:
        nn.init.normal_(new_head.weight, std=0.01)
        nn.init.zeros_(new_head.bias)
    setattr(parent, leaf, new_head)
    return net, spec.target_layer


def head_parameter_prefixes(arch: str, net: nn.Module | None = None) -> tuple[str, ...]:
    """Dotted prefixes of the parameters trained at ``model.head_lr_mult`` times the rate: the
    fresh head (IRN), or wsolevaluation's classifier parts; a timm model's classifier."""
    if str(arch).startswith(TIMM_PREFIX):
        from wsol.models.timm_backbones import timm_head_prefixes

        return timm_head_prefixes(net)
    spec = BACKBONES[arch]
    return spec.head_parts or (spec.head,)


def adl_positions(arch: str, output_stride: int) -> tuple[str, ...]:
    """Module names after which ADL acts in ``arch`` (ConfigError where none are defined)."""
    spec = BACKBONES.get(arch)
    if spec is None or spec.adl is None:
        with_adl = sorted(name for name, s in BACKBONES.items() if s.adl is not None)
        raise ConfigError(f"model.wsol_method=adl places ADL layers where wsolevaluation does, "
                          f"defined for {with_adl}, not model.arch={arch!r}.")
    return spec.adl(output_stride)


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def fix_batchnorm_statistics(net: nn.Module) -> None:
    """BatchNorm uses and keeps its running statistics (eval mode); its affine parameters still
    train where they require grad (IRN's FixedBatchNorm)."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


IRN_FROZEN = ("conv1", "bn1", "layer1", "layer2")  # IRN detaches the features after layer2


def freeze_irn_stages(net: nn.Module, arch: str) -> None:
    """Stop conv1 .. layer2 from training (IRN's ``stage2(x).detach()``): layer3, layer4 and
    the head train. ResNets only (ConfigError otherwise)."""
    if BACKBONES[arch].family != "resnet":
        raise ConfigError(f"model.recipe=irn trains a ResNet's layer3, layer4 and head; "
                          f"model.arch={arch!r} is not a ResNet, so use model.recipe=default.")
    for name in IRN_FROZEN:
        for p in net.get_submodule(name).parameters():
            p.requires_grad_(False)


def freeze_batchnorm(net: nn.Module) -> None:
    """Keep BatchNorm statistics and affine parameters fixed (IRN trains with frozen BN)."""
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)


__all__ = ["BACKBONES", "IRN_FROZEN", "TIMM_PREFIX", "adl_positions", "build_backbone",
           "count_parameters", "fix_batchnorm_statistics", "freeze_batchnorm",
           "freeze_irn_stages", "head_parameter_prefixes"]
